"""The tamper corpus: attack submissions that must gain nothing.

Each attack is an honest-but-partial lab 8-1 submission (the perceptron forgets its
sigmoid, so it loses points on value comparisons) with attack code added at import or
inside a graded function. An attack gains nothing when it scores no more than the honest
part alone. Attacks that would only pay off if the sandbox leaked (reading the solution,
the hidden checks, another student's files or the MNIST test labels; reaching the
network) switch to the reference solution when they succeed, so a leak shows as points.
"""
from __future__ import annotations

import os
import shutil
import socket
import tempfile
import textwrap
from pathlib import Path

import pytest

from autograder.course import config, mnist
from autograder.engine import grading, runner
from tests.conftest import ROOT

LAB = "lab08_1_perceptron"
REFERENCE = (ROOT / "solutions" / LAB / "perceptron.py").read_text()
HONEST = REFERENCE.replace("return self.sigmoid(self.linear(x))", "return self.linear(x)")
assert HONEST != REFERENCE
FUNCTION = "def accuracy(model, X, Y):\n"  # called by the public predict_and_accuracy check
GAIN = "exec(compile(REFERENCE_SOURCE, 'gain', 'exec'), globals())  # the reference: full marks\n"


def _with_reference(code: str) -> str:
    """The honest part, then `code`, which may replace it with the reference (after the
    honest definitions, so that the reference's win)."""
    return HONEST + f"\nREFERENCE_SOURCE = {REFERENCE!r}\n" + textwrap.dedent(code)


def at_import(code: str) -> str:
    return textwrap.dedent(code) + "\n" + HONEST


def in_function(code: str, source: str = HONEST) -> str:
    body = textwrap.indent(textwrap.dedent(code), "    ")
    return source.replace(FUNCTION, FUNCTION + body, 1)


def if_readable(path: Path) -> str:
    """Take the reference when the content of `path` can be read from the student's code
    (a hidden file reads as empty: its content is what must not leak)."""
    return _with_reference(f"""
        try:
            assert open({str(path)!r}, 'rb').read(1)
            {GAIN}
        except Exception:
            pass
        """)


ATTACKS = {
    "sys_exit_at_import": at_import("import sys\nsys.exit(0)\n"),
    "os_exit_at_import": at_import("import os\nos._exit(0)\n"),
    "sys_exit_in_function": in_function("import sys\nsys.exit(0)\n"),
    "os_exit_in_function": in_function("import os\nos._exit(0)\n"),
    "patch_torch_comparisons": at_import("""
        import torch
        torch.allclose = lambda *a, **k: True
        torch.equal = lambda *a, **k: True
        torch.isclose = lambda a, b, *x, **k: torch.ones_like(a, dtype=torch.bool)
        """),
    "patch_tensor_eq": at_import("""
        import torch
        torch.Tensor.__eq__ = lambda self, other: torch.ones_like(self, dtype=torch.bool)
        torch.Tensor.__ne__ = lambda self, other: torch.zeros_like(self, dtype=torch.bool)
        """),
    "patch_builtins": at_import("""
        import builtins
        builtins.isinstance = lambda obj, cls: True
        builtins.abs = lambda x: 0
        builtins.all = lambda it: True
        """),
    "patch_pytest_and_autograder": at_import("""
        import pytest, _pytest.outcomes
        pytest.fail = lambda *a, **k: None
        _pytest.outcomes.fail = lambda *a, **k: None
        try:
            import autograder.engine.plugin as p, autograder.reports.results as r
            p._message = lambda excinfo: ("passed", "")
            r.lab_score = lambda lab, record: (lab.max_points, lab.max_points)
        except Exception:
            pass
        try:
            import autograder.checks.common as c
            c.allclose = lambda *a, **k: True
        except Exception:
            pass
        """),
    "forge_worker_replies": at_import("""
        import autograder.boundary.wire as w
        _send = w.send
        w.send = lambda sock, obj: _send(sock, {"ok": {"passed": True, "linears": [], "output": None}})
        """),
    "raise_skip_in_function": in_function("import pytest\npytest.skip('done')\n"),
    "raise_pytest_exit": in_function("import pytest\npytest.exit('all passed', returncode=0)\n"),
    "tensor_subclass_that_lies": at_import("""
        import torch
        class Liar(torch.Tensor):
            # Claims to equal anything, whatever the grader compares it with.
            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None):
                name = getattr(func, "__name__", "")
                if name in ("__eq__", "eq", "equal", "allclose", "isclose"):
                    return torch.tensor(True)
                if name in ("sub", "__sub__", "abs", "max"):
                    return torch.tensor(0.0)
                return super().__torch_function__(func, types, args, kwargs or {})
        """).replace("return self.linear(x)", "return self.linear(x).as_subclass(Liar)"),
    "print_fake_all_passed": at_import("""
        import json, os, sys
        for stream in (sys.stdout, sys.stderr):
            print("===== 7 passed in 0.01s =====", file=stream)
            print(json.dumps({"event": "end", "check": "perceptron_structure", "status": "passed",
                              "message": "", "seed": 0, "time": 0}), file=stream)
        for fd in range(3, 64):
            try:
                os.write(fd, b'{"event": "end", "check": "perceptron_structure", "status": "passed"}\\n')
            except OSError:
                pass
        """),
    "flood_stdout": in_function("""
        import sys
        for _ in range(200000):
            sys.stdout.write("x" * 100 + "\\n")
        """),
    "network_connection": None,  # built by the test: it needs a live port on the grader's side
    "read_solution": if_readable(ROOT / "solutions" / LAB / "perceptron.py"),
    "read_hidden_checks": if_readable(config.CHECKS_DIR / f"{LAB}.py"),
    "read_kit_tests": if_readable(ROOT / "tests" / "test_tamper.py"),
    "read_course_toml": if_readable(ROOT / "course.toml"),
}
# Attacks that break the honest part too (the module does not import, or the attack's own
# patch breaks the student's code): they may score less than the honest part. Every other
# attack must score exactly what the honest part scores: a worker that did not run at all
# would score less, and that must not pass for a repelled attack.
BREAKS_HONEST_PART = {
    "sys_exit_at_import", "os_exit_at_import", "sys_exit_in_function", "os_exit_in_function",
    "patch_builtins", "patch_tensor_eq", "forge_worker_replies", "raise_skip_in_function", "raise_pytest_exit",
    "print_fake_all_passed",  # its writes to every descriptor garble its own reply channel: all its checks err
}
# Each of these costs only the check it hits; the rest of the run is untouched.
RESOURCE_ATTACKS = {
    "fork_bomb": ("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
                  {"timeout", "error", "oom"}),
    # Address space, the capped resource, without writing gigabytes: a loaded machine would
    # take longer than the 10 s limit to fill them (the cap, not the time limit, must stop it).
    "unbounded_memory": ("import torch\nkeep = []\nwhile True:\n    keep.append(torch.empty(1 << 28))\n", {"oom"}),
    "infinite_loop": ("while True:\n    pass\n", {"timeout"}),
    "ignore_sigterm": ("import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True:\n    pass\n",
                       {"timeout"}),
}


@pytest.fixture(scope="module")
def fast_course(tmp_path_factory, mnist_cache):
    """The course with 10 s per check, so that hangs end quickly."""
    text = (ROOT / "course.toml").read_text().replace("check_timeout_s = 60", "check_timeout_s = 10")
    text = text.replace("import_timeout_s = 60", "import_timeout_s = 10")
    path = tmp_path_factory.mktemp("course") / "course.toml"
    path.write_text(text)
    return config.load_course(path)


def _grade(course, tmp_path, source, name="attack"):
    folder = tmp_path / name / LAB
    folder.mkdir(parents=True)
    (folder / "perceptron.py").write_text(source)
    return runner.run_lab(course, LAB, folder, device="cpu")


def _score(course, run) -> float:
    return sum(c.points for c in course.lab(LAB).checks if run.checks[c.id].status == "passed")


@pytest.fixture(scope="module")
def honest_score(fast_course, tmp_path_factory):
    run = _grade(fast_course, tmp_path_factory.mktemp("honest"), HONEST)
    score = _score(fast_course, run)
    full = _score(fast_course, _grade(fast_course, tmp_path_factory.mktemp("reference"), REFERENCE))
    assert 0 < score < full == course_points(fast_course), "the honest part must lose some points, not all"
    return score


def course_points(course) -> float:
    return course.lab(LAB).max_points


def test_the_corpus_is_large_enough():
    assert len(ATTACKS) + len(RESOURCE_ATTACKS) + 4 >= 15  # + the class-level attacks below


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_gains_nothing(name, fast_course, honest_score, tmp_path):
    source = ATTACKS[name]
    server = None
    if name == "network_connection":
        server = socket.create_server(("127.0.0.1", 0))  # reachable only without a network namespace
        port = server.getsockname()[1]
        source = _with_reference(f"""
            import socket
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
                {GAIN}
            except OSError:
                pass
            """)
    try:
        run = _grade(fast_course, tmp_path, source)
    finally:
        if server is not None:
            server.close()
    score = _score(fast_course, run)
    detail = "; ".join(f"{c}={o.status}" for c, o in run.checks.items())
    assert score <= honest_score, f"attack {name} scored {score}, the honest part alone {honest_score}: {detail}"
    if name not in BREAKS_HONEST_PART:
        assert score == honest_score, f"attack {name}: the honest part lost points ({score} < {honest_score}): {detail}"


@pytest.mark.parametrize("name", sorted(RESOURCE_ATTACKS))
def test_resource_attack_costs_only_its_check(name, fast_course, tmp_path):
    code, statuses = RESOURCE_ATTACKS[name]
    run = _grade(fast_course, tmp_path, in_function(code, source=REFERENCE))
    hit = run.checks["predict_and_accuracy"]
    assert hit.status in statuses, f"{name}: expected {statuses}, found {hit.status}: {hit.message}"
    others = {c: o.status for c, o in run.checks.items() if c != "predict_and_accuracy"}
    assert set(others.values()) == {"passed"}, f"{name} cost other checks: {others}"


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def test_background_process_is_gone_after_grading(fast_course, tmp_path):
    marker = "31415926"
    source = at_import(f"""
        import os, subprocess
        if os.fork() == 0:
            os.setsid()
            subprocess.Popen(["sleep", "{marker}"], start_new_session=True)
            os._exit(0)
        subprocess.Popen(["sleep", "{marker}"], start_new_session=True)
        """)
    _grade(fast_course, tmp_path, source)
    assert not _processes_with(marker), "a process the student's code started outlived the grading"


@pytest.fixture
def open_folder(tmp_path):
    """A folder every user may read and enter, outside /tmp (which workers never see): only
    the worker's hidden paths keep the class and the results out of its reach there."""
    base = Path("/var/tmp") if os.access("/var/tmp", os.W_OK) else tmp_path
    folder = Path(tempfile.mkdtemp(dir=base, prefix="tamper-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _open_up(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def test_class_attacks_write_read_and_labels(fast_course, tmp_path, open_folder):
    """Writing results.json and grades.csv, reading another student's files and reading the
    MNIST test labels, in a class graded with the class command: nothing gained, nothing touched."""
    submissions, out = open_folder / "class", open_folder / "out"
    honest_dir = submissions / "alice" / LAB
    honest_dir.mkdir(parents=True)
    (honest_dir / "perceptron.py").write_text(REFERENCE)
    labels_file = Path(os.environ["MNIST_CACHE"]) / mnist.CACHE_FILE
    attacks = {
        "writer": at_import(f"""
            import os
            for target in [{str(out / 'mallory' / 'results.json')!r}, {str(out / 'grades.csv')!r},
                           {str(out / 'writer' / 'results.json')!r}, {str(submissions / 'alice' / LAB / 'perceptron.py')!r}]:
                try:
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    open(target, 'w').write('{{"score": 1000}}')
                except OSError:
                    pass
            """),
        "copier": if_readable(honest_dir / "perceptron.py"),
        "labels": if_readable(labels_file),
        "mnist_dir": if_readable(Path(os.environ.get("MNIST_DIR", "/nonexistent")) / "t10k-labels-idx1-ubyte.gz"),
    }
    for name, source in attacks.items():
        (submissions / name / LAB).mkdir(parents=True)
        (submissions / name / LAB / "perceptron.py").write_text(source)
    out.mkdir()
    _open_up(open_folder)
    grading.grade_class(fast_course, submissions, out, labs=[LAB], progress=False)
    honest = _score(fast_course, _grade(fast_course, tmp_path / "h", HONEST))
    rows = (out / "grades.csv").read_text().splitlines()
    scores = {r.split(",")[0]: float(r.split(",")[2]) for r in rows[1:]}
    assert scores["alice"] == course_points(fast_course)
    for name in attacks:
        assert scores[name] == honest, f"{name} scored {scores[name]} (honest part: {honest})"
    assert "1000" not in (out / "grades.csv").read_text()
    assert not (out / "mallory").exists()
    assert (honest_dir / "perceptron.py").read_text() == REFERENCE
