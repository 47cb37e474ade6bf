"""The Gradescope bundle, unpacked into a folder laid out like Gradescope's and run there.

`autograder gradescope` writes the zip; the fixture below unpacks it into ROOT/source (under
/var/tmp, outside the /tmp that workers never see, so that only the worker's hidden paths
and file modes keep the root out of its reach), copies the kit where setup.sh does, and
runs ROOT/run_autograder with the root, the kit and Python moved by its environment
variables. Each results file is validated against results.schema.json with jsonschema.
setup.sh itself needs Ubuntu and the network: its packages are resolved with pip's dry run.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

import nbformat
import pytest
from jsonschema import Draft202012Validator

from autograder.course import config
from autograder.integrations.gradescope import local
from autograder.reports import escape
from tests.conftest import ROOT

SCHEMA = json.loads((config.PACKAGE_DIR / "integrations" / "gradescope" / "results.schema.json").read_text())
VALIDATOR = Draft202012Validator(SCHEMA)
LAB = "lab08_1_perceptron"
REFERENCE = (ROOT / "solutions" / LAB / "perceptron.py").read_text()
HONEST = REFERENCE.replace("return self.sigmoid(self.linear(x))", "return self.linear(x)")  # loses some checks
assert HONEST != REFERENCE
DUE = dt.datetime(2026, 4, 10, 23, 59, tzinfo=dt.timezone(dt.timedelta(hours=9)))
LATE = "\n[late]\ntimezone = \"Asia/Seoul\"\ngrace_minutes = 10\npercent_per_day = 10\nmax_days = 3\n"


def errors(results: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATOR.iter_errors(results)]


@pytest.fixture(scope="module")
def base():
    parent = Path("/var/tmp") if os.access("/var/tmp", os.W_OK) else Path(tempfile.gettempdir())
    folder = Path(tempfile.mkdtemp(dir=parent, prefix="gradescope-test-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def late_course(base, mnist_cache) -> Path:
    """The kit's course.toml with a late rule (the due date comes from Gradescope)."""
    path = base / "course" / "course.toml"
    path.parent.mkdir()
    path.write_text((ROOT / "course.toml").read_text() + LATE)
    return path


def build(base: Path, course: Path, name: str, *args: str) -> Path:
    out = base / f"{name}.zip"
    proc = subprocess.run([sys.executable, "-m", "autograder", "--course", str(course), "gradescope", str(out), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def unit_zip(base, late_course):
    return build(base, late_course, "unit")


@pytest.fixture(scope="module")
def lab_zip(base, late_course):
    return build(base, late_course, "lab", "--labs", LAB)


def metadata(created_at: dt.datetime) -> dict:
    """submission_metadata.json as Gradescope documents it (examples: docs/gradescope.md)."""
    return {"id": 1, "created_at": created_at.isoformat(), "submission_method": "upload",
            "assignment": {"id": 2, "title": "DNN", "due_date": DUE.isoformat(), "late_due_date": None,
                           "total_points": "113.0"},
            "users": [{"email": "s@example.edu", "id": 3, "name": "S"}], "previous_submissions": []}


def run_autograder(base: Path, bundle: Path, name: str, upload: dict[str, bytes], created_at: dt.datetime,
                   python: Path = Path(sys.executable), env: dict | None = None) -> tuple[dict, Path, str]:
    """Lay out Gradescope's folders for one submission and run run_autograder there, as
    Gradescope does after building the image from the bundle; returns (results, root, log)."""
    with zipfile.ZipFile(bundle) as z:
        assert 'cp -r "$SOURCE/kit" "$KIT"' in z.read("setup.sh").decode(), "local.install copies the kit as setup.sh"
        assert f"KIT=/{local.KIT_IN_IMAGE} " in z.read("setup.sh").decode()
    image = local.install(bundle, base / name)
    local.submit(image, upload, metadata(created_at))
    proc = local.run(image, python, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((image.root / "results" / "results.json").read_text()), image.root, proc.stdout


def by_lab(results: dict) -> dict[str, float]:
    labs: dict[str, float] = {}
    for test in results["tests"]:
        labs[test["tags"][0]] = labs.get(test["tags"][0], 0.0) + test["score"]
    return labs


def zipped(folder: Path) -> bytes:
    path = Path(tempfile.mkdtemp()) / "upload.zip"
    with zipfile.ZipFile(path, "w") as z:
        for file in sorted(folder.rglob("*.py")):
            z.write(file, file.relative_to(folder).as_posix())
    data = path.read_bytes()
    shutil.rmtree(path.parent)
    return data


# --- the bundle -----------------------------------------------------------------------------------

def test_bundle_holds_what_gradescope_needs_and_no_solutions(unit_zip, late_course):
    with zipfile.ZipFile(unit_zip) as z:
        names = set(z.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in z.infolist()}
        assert {"setup.sh", "run_autograder"} <= names, "both at the root of the zip (Gradescope's spec)"
        assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
        assert json.loads(z.read("kit/bundle.json")) == {"labs": list(config.load_course(late_course).labs),
                                                         "workers": "auto"}
        assert z.read("kit/course.toml").decode() == late_course.read_text(), "the hidden checks' settings too"
        assert f"kit/autograder/checks/{LAB}.py" in names
    assert not [n for n in names if n.startswith(("solutions/", "assignments/", "tests/")) or "/solutions/" in n]
    assert not [n for n in names if "__pycache__" in n]


def test_bundle_refuses_an_unknown_lab(base, late_course):
    proc = subprocess.run([sys.executable, "-m", "autograder", "gradescope", str(base / "x.zip"), "--labs", "lab99"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "unknown lab 'lab99'" in proc.stderr
    assert not (base / "x.zip").exists()


def test_bundle_ships_verified_mnist(base, late_course):
    good = build(base, late_course, "with-mnist", "--labs", LAB, "--mnist", os.environ["MNIST_DIR"])
    with zipfile.ZipFile(good) as z:
        assert sorted(n for n in z.namelist() if n.startswith("mnist/")) == sorted(
            f"mnist/{p.name}" for p in Path(os.environ["MNIST_DIR"]).glob("*-ubyte*"))
    fake = base / "fake-mnist"
    fake.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (fake / name).write_bytes(b"not mnist")
    proc = subprocess.run([sys.executable, "-m", "autograder", "gradescope", str(base / "bad.zip"), "--mnist", str(fake)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "does not match the published MNIST file" in proc.stderr
    assert not (base / "bad.zip").exists()


# --- run_autograder ---------------------------------------------------------------------------------

def test_reference_as_a_zip_gets_full_marks_on_time(base, unit_zip, late_course):
    course = config.load_course(late_course)
    results, _, log = run_autograder(base, unit_zip, "reference", {"labs.zip": zipped(ROOT / "solutions")},
                                     DUE - dt.timedelta(hours=1))
    assert errors(results) == []
    assert results["score"] == sum(lab.max_points for lab in course.labs.values())
    assert all(t["status"] == "passed" for t in results["tests"])
    assert results["extra_data"]["late"] == {}
    assert "workers confined" in log
    print(f"\nrun_autograder, the reference (six labs): {results['execution_time']} s")


def test_partial_student_late_loses_a_share_of_what_it_earned(base, unit_zip, late_course):
    course = config.load_course(late_course)
    upload = {str(p.relative_to(ROOT / "examples" / "partial_student")): p.read_bytes()
              for p in (ROOT / "examples" / "partial_student").rglob("*.py")}
    # Due 23:59, 10 minutes' grace; submitted 1 day and 2 hours after the due date: 2 days, 20 %.
    results, _, _ = run_autograder(base, unit_zip, "partial", upload, DUE + dt.timedelta(days=1, hours=2))
    assert errors(results) == []
    earned = by_lab(results)
    assert 0 < earned[LAB] < course.lab(LAB).max_points
    assert earned["lab09_1_relu"] == 0  # not submitted
    raw = sum(earned.values())
    assert results["score"] == pytest.approx(0.8 * raw)
    assert results["extra_data"]["late"][LAB]["days"] == 2
    assert "2 days late" in results["output"] and "20% off; " in results["output"]
    assert results["output_format"] == "md"  # notes quote the student's file names, escaped


def test_notebook_alone_is_graded(base, lab_zip):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Lab 8-1"),
                                         nbformat.v4.new_code_cell(REFERENCE)])
    results, _, _ = run_autograder(base, lab_zip, "notebook", {"Lab 8-1 (final).ipynb": nbformat.writes(nb).encode()},
                                   DUE)
    assert errors(results) == []
    assert results["score"] == config.load_course().lab(LAB).max_points
    assert escape.markdown("graded lab08_1_perceptron/Lab 8-1 (final).ipynb") in results["output"]


def attack(root: Path, kit: Path) -> str:
    """The honest part, plus: write the results file (and a file beside it), and read the
    bundle's and the kit's course.toml and hidden checks and the metadata, taking the
    reference when anything can be read."""
    targets = [root / "results" / "results.json", root / "results" / "extra.txt", Path("/autograder/results/results.json"),
               root / "source" / "run_autograder"]
    secrets = [root / "source" / "kit" / "course.toml", root / "source" / "kit" / "autograder" / "checks" / f"{LAB}.py",
               root / "submission_metadata.json", kit / "course.toml", kit / "autograder" / "checks" / f"{LAB}.py"]
    return f"""
import os
for target in {[str(t) for t in targets]!r}:
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w") as f:
            f.write('{{"score": 1000, "tests": []}}')
    except OSError:
        pass
LEAKED = []
for secret in {[str(s) for s in secrets]!r}:
    try:
        with open(secret, "rb") as f:
            if f.read(1):
                LEAKED.append(secret)
    except OSError:
        pass
""" + HONEST + f"""
if LEAKED:
    exec(compile({REFERENCE!r}, "gain", "exec"), globals())
"""


def _attack_and_compare(base, lab_zip, name, python=Path(sys.executable), env=None):
    honest, _, _ = run_autograder(base, lab_zip, f"{name}-honest", {"perceptron.py": HONEST.encode()}, DUE,
                                  python=python, env=env)
    top = base / name
    source = attack(top / "autograder", top / local.KIT_IN_IMAGE)
    results, root, log = run_autograder(base, lab_zip, name, {"perceptron.py": source.encode()}, DUE,
                                        python=python, env=env)
    assert errors(results) == [] and errors(honest) == []
    assert 0 < honest["score"] < config.load_course().lab(LAB).max_points
    assert results["score"] == honest["score"], f"the attack scored {results['score']}, the honest part {honest['score']}"
    assert sorted(os.listdir(root / "results")) == ["results.json"]
    assert "1000" not in (root / "results" / "results.json").read_text()
    assert (root / "source" / "run_autograder").read_text().startswith("#!/usr/bin/env bash")
    for path, mode in [(root / "results", 0o700), (root / "source", 0o700), (root / "submission_metadata.json", 0o600),
                       (top / local.KIT_IN_IMAGE / "course.toml", 0o600)]:
        assert path.stat().st_mode & 0o777 == mode, path
    return results, log


def test_attacker_writing_results_gains_nothing(base, lab_zip):
    results, _ = _attack_and_compare(base, lab_zip, "attack")
    sandbox = results["extra_data"]["labs"][LAB]["sandbox"]
    if not sandbox.get("files"):
        pytest.skip(f"this machine refuses namespaces ({sandbox.get('notes')}); the fallback test covers it")


@pytest.fixture(scope="module")
def open_python(base):
    """A Python that other uids may enter (the machine's, in a virtual environment under
    `base` that sees the kit's packages), as on Gradescope, where Python 3.11 is the system's:
    without namespaces the workers then run as uids of their own."""
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if not system.is_file():
        pytest.skip(f"no {system}: the fallback needs a Python outside a closed home folder")
    venv = base / "venv"
    subprocess.run([str(system), "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = next(venv.glob("lib/python*/site-packages"))
    (site / "kit-deps.pth").write_text("".join(f"{p}\n" for p in sys.path if p.endswith("site-packages")))
    probe = subprocess.run([str(venv / "bin" / "python"), "-c", "import torch, pytest, safetensors, tqdm"],
                           capture_output=True, text=True, timeout=300)
    if probe.returncode != 0:
        pytest.skip(f"{system} cannot import the kit's packages: {probe.stderr[-300:]}")
    return venv / "bin" / "python"


def test_attacker_gains_nothing_without_namespaces(base, lab_zip, open_python):
    """Docker's default seccomp profile refuses namespaces, which may be Gradescope's case:
    then only the file modes set by run.py's `protect` and the workers' own uids stand
    between the attack and the results file, the bundle and the hidden checks."""
    results, log = _attack_and_compare(base, lab_zip, "attack-fallback", python=open_python,
                                       env={"AUTOGRADER_SANDBOX": "none"})
    sandbox = results["extra_data"]["labs"][LAB]["sandbox"]
    assert sandbox["files"] is False and "namespaces switched off" in " ".join(sandbox["notes"])
    assert not [n for n in sandbox["notes"] if "grader's uid" in n], "the workers must run as uids of their own"


# --- results.json against the schema -------------------------------------------------------------

@pytest.mark.parametrize("bad, message", [
    ({"tests": [{"name": "a", "max_score": 1}]}, "is not valid under any of the given schemas"),  # no score anywhere
    ({"score": 1, "visibility": "sometimes"}, "'sometimes' is not one of"),
    ({"score": 1, "tests": [{"score": 1, "status": "ok"}]}, "'ok' is not one of"),
    ({"score": 1, "output_format": "markdown"}, "'markdown' is not one of"),
    ({"score": "10"}, "'10' is not of type 'number'"),
])
def test_schema_rejects_what_the_spec_forbids(bad, message):
    assert any(message in e for e in errors(bad)), errors(bad)


# --- setup.sh -------------------------------------------------------------------------------------------

def test_setup_script_is_bash_and_installs_the_pinned_dependencies(unit_zip):
    with zipfile.ZipFile(unit_zip) as z:
        setup, requirements = z.read("setup.sh").decode(), z.read("kit/requirements.txt").decode()
        run = z.read("run_autograder").decode()
    for name, text in (("setup.sh", setup), ("run_autograder", run)):
        check = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True)
        assert check.returncode == 0, f"{name}: {check.stderr}"
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    torch_line = next(line for line in setup.splitlines() if "--index-url \"$TORCH_INDEX\"" in line)
    assert re.findall(r"'([^']+)'", torch_line) == [d for d in deps if d.startswith(("torch==", "torchvision=="))]
    assert sorted(requirements.split()) == sorted(d for d in deps if not d.startswith(("torch==", "torchvision==")))
    assert '-r "$KIT/requirements.txt"' in setup and "python3.11 -m venv" in setup
    assert "https://download.pytorch.org/whl/cpu" in setup


def test_setup_script_packages_resolve(unit_zip, tmp_path):
    """pip's dry run resolves requirements.txt (with its dependencies, for this Python 3.11 on
    Linux x86-64 like Gradescope's) and the torch pins against the configured index. torch's
    CPU index (download.pytorch.org/whl/cpu) cannot be reached from the kit's development
    machine, so the torch pins are resolved on the configured index without their
    dependencies (the CPU build's differ only by leaving CUDA out); the apt packages
    (deadsnakes' python3.11 for Ubuntu 22.04) cannot be resolved off Ubuntu."""
    with zipfile.ZipFile(unit_zip) as z:
        (tmp_path / "requirements.txt").write_bytes(z.read("kit/requirements.txt"))
        setup = z.read("setup.sh").decode()
    torch_pins = re.findall(r"'([^']+)'", next(line for line in setup.splitlines() if "$TORCH_INDEX\" " in line))
    pip = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
    resolved = {}
    for args, report in ((["-r", str(tmp_path / "requirements.txt")], "rest.json"), (["--no-deps", *torch_pins], "torch.json")):
        proc = subprocess.run([*pip, "--report", str(tmp_path / report), *args], capture_output=True, text=True,
                              timeout=600)
        if proc.returncode != 0 and re.search(r"(?i)connection|network|resolve host|timed out", proc.stderr):
            pytest.skip(f"the package index cannot be reached: {proc.stderr.strip()[-300:]}")
        assert proc.returncode == 0, proc.stderr
        for item in json.loads((tmp_path / report).read_text())["install"]:
            resolved[item["metadata"]["name"].lower().replace("_", "-")] = item["metadata"]["version"]
    named = [re.split(r"[<>=!~]", r)[0].lower() for r in (tmp_path / "requirements.txt").read_text().split()] + \
            [p.split("==")[0] for p in torch_pins]
    assert set(named) <= set(resolved), f"unresolved: {set(named) - set(resolved)}"
    for pin in torch_pins:
        name, version = pin.split("==")
        assert resolved[name] == version


# --- submission_metadata.json and the upload's shapes ----------------------------------------------

def test_metadata_gives_time_and_the_student_s_own_due_dates(tmp_path):
    from autograder.integrations.gradescope.metadata import read_submitted

    example = {  # the fields as Gradescope documents them, plus the per-user dates seen on the platform
        "created_at": "2026-04-11T00:30:00.123456+09:00",
        "assignment": {"due_date": "2026-04-10T23:59:00+09:00", "late_due_date": "2026-04-13T23:59:00+09:00"},
        "users": [{"name": "A", "assignment": {"due_date": "2026-04-11T23:59:00+09:00", "late_due_date": None}},
                  {"name": "B", "assignment": {"due_date": "2026-04-12T23:59:00+09:00"}}],
    }
    path = tmp_path / "submission_metadata.json"
    path.write_text(json.dumps(example))
    when, why = read_submitted(path)
    assert why == ""
    assert when.at == dt.datetime(2026, 4, 11, 0, 30, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    assert when.due == dt.datetime.fromisoformat("2026-04-12T23:59:00+09:00")  # the group's latest extension
    assert when.late_due == dt.datetime.fromisoformat("2026-04-13T23:59:00+09:00")  # the assignment's
    example["users"] = []
    path.write_text(json.dumps(example))
    assert read_submitted(path)[0].due == dt.datetime.fromisoformat("2026-04-10T23:59:00+09:00")


@pytest.mark.parametrize("text, reason", [
    (None, "is absent"), ("{not json", "could not be read"), ('{"created_at": null}', "has no created_at"),
    ('{"created_at": "2026-04-11T00:30:00"}', "no UTC offset"),
])
def test_unreadable_metadata_means_no_penalty_and_says_why(tmp_path, text, reason):
    from autograder.integrations.gradescope.metadata import read_submitted

    path = tmp_path / "submission_metadata.json"
    if text is not None:
        path.write_text(text)
    when, why = read_submitted(path)
    assert when is None and reason in why and "no late penalty" in why


@pytest.mark.parametrize("labs, upload, expected", [
    ([LAB], ["perceptron.py"], [f"{LAB}/perceptron.py"]),
    ([LAB], ["Lab 8-1.ipynb"], [f"{LAB}/Lab 8-1.ipynb"]),
    ([LAB], [f"{LAB}/perceptron.py"], [f"{LAB}/perceptron.py"]),  # the lab's folder is not nested again
    ([LAB, "lab09_3_dropout"], ["lab09_3_dropout.ipynb", "perceptron.py", "notes.txt", "lab08_2_xor_mlp/xor_mlp.py"],
     ["lab08_1_perceptron/perceptron.py", "lab08_2_xor_mlp/xor_mlp.py", "lab09_3_dropout/lab09_3_dropout.ipynb",
      "notes.txt"]),
])
def test_upload_is_laid_out_as_intake_expects(tmp_path, course, labs, upload, expected):
    from autograder.integrations.gradescope.run import stage

    submission = tmp_path / "submission"
    for rel in upload:
        (submission / rel).parent.mkdir(parents=True, exist_ok=True)
        (submission / rel).write_text("x")
    os.mkfifo(submission / "pipe")  # a FIFO would block the copy: left out
    student = stage(submission, tmp_path / "staged", labs, course)
    assert sorted(str(p.relative_to(student)) for p in student.rglob("*") if p.is_file()) == sorted(expected)
    assert stage(tmp_path / "nothing", tmp_path / "empty", labs, course).is_dir()


@pytest.mark.parametrize("files, expected", [
    ({"cpu.max": "50000 100000\n"}, 1),  # half a CPU, Gradescope's default: one worker
    ({"cpu.max": "max 100000\n"}, None),  # no quota: the CPUs this process may use
    ({"cpu/cpu.cfs_quota_us": "100000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 1),  # cgroup v1
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
    ({}, None),
])
def test_workers_follow_the_container_cpu_quota(tmp_path, files, expected):
    import os

    from autograder.engine.executors import auto_workers

    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    affinity = len(os.sched_getaffinity(0))
    assert auto_workers(tmp_path) == (expected or affinity)
    if expected is None and affinity > 1:
        (tmp_path / "cpu.max").write_text(f"{100000 * (affinity - 1) + 1} 100000\n")  # rounded up
        assert auto_workers(tmp_path) == affinity
