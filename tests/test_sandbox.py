"""The worker's confinement, seen from inside, and its documented fallback."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from autograder.boundary import remote, rootfs
from autograder.course import config
from autograder.engine import runner
from tests.conftest import ROOT, make_submission
from tests.test_tamper import _processes_with

LAB = "lab08_1_perceptron"
REFERENCE = (ROOT / "solutions" / LAB / "perceptron.py").read_text()

# Put into accuracy(): what the student's code can see, raised as the check's message.
LOOK_AROUND = '''
    import json, os, socket
    seen = {"uid": os.getuid(), "cwd": os.getcwd(), "tmp": sorted(os.listdir("/tmp"))[:5],
            "pids": sum(1 for p in os.listdir("/proc") if p.isdigit()),
            "env": sorted(set(os.environ) & {"MNIST_DIR", "MNIST_CACHE", "AUTOGRADER_HIDE", "COURSE_TOML"}),
            "kit_files": sorted(os.listdir(KIT + "/solutions")) if os.path.isdir(KIT + "/solutions") else None,
            "checks": os.listdir(KIT + "/autograder/checks") if os.path.isdir(KIT + "/autograder/checks") else None,
            "interfaces": sorted(n for _, n in socket.if_nameindex())}
    try:
        socket.create_connection(("1.1.1.1", 53), timeout=2)
        seen["network"] = True
    except OSError as e:
        seen["network"] = str(e)
    raise ValueError("SEEN" + json.dumps(seen))
'''


def look_around(tmp_path, course) -> dict:
    source = REFERENCE.replace("def accuracy(model, X, Y):\n", "def accuracy(model, X, Y):\n" + LOOK_AROUND, 1)
    source = f"KIT = {str(ROOT)!r}\n" + source
    run = runner.run_lab(course, LAB, make_submission(tmp_path, LAB, "perceptron", source), device="cpu",
                         only=["predict_and_accuracy"])
    message = run.checks["predict_and_accuracy"].message
    assert "SEEN" in message, message
    return json.loads(message.split("SEEN", 1)[1].rsplit("}", 1)[0] + "}"), run


def test_the_worker_sees_only_its_own_submission(course, tmp_path):
    seen, run = look_around(tmp_path, course)
    assert run.sandbox.get("network") and run.sandbox.get("files") and run.sandbox.get("pid_namespace"), run.sandbox
    assert run.sandbox.get("init"), "the kit's init is PID 1, the student's code an ordinary process"
    # Only the student's own copy is in /tmp, besides the way to the kit's Python when the
    # kit itself lives under /tmp (a clone there, with its virtual environment).
    kit_way = ROOT.relative_to("/tmp").parts[0] if ROOT.is_relative_to("/tmp") else None
    assert set(seen["tmp"]) - {kit_way} == {"submission"}, seen["tmp"]
    assert seen["cwd"] == "/tmp/submission"
    assert not seen["kit_files"] and not seen["checks"], "the solutions and checks are hidden"
    assert seen["interfaces"] == ["lo"] and seen["network"] is not True, "no network"
    assert seen["pids"] <= 3, f"only its own processes are visible, found {seen['pids']}"
    assert not seen["env"], f"the grader's settings are not in the worker's environment: {seen['env']}"
    if os.getuid() == 0:
        assert seen["uid"] >= 200_000, "the worker runs as an unprivileged uid of its own"


# Put into accuracy(): walk everything the worker can see for a lab 8-1 module other than its
# own, and list its /. The test plants a clone of the kit and another student's lab outside
# the kit, world-readable; the worker must find neither.
WALK_FOR_ANSWERS = '''
    import json, os
    found, visited = [], 0
    for top, dirs, files in os.walk(START):
        if top in ("/proc", "/sys", "/dev"):
            dirs[:] = []
            continue
        visited += len(files)
        for name in dirs + files:
            path = os.path.join(top, name)
            if path.endswith("lab08_1_perceptron/perceptron.py") or "planted-" in name:
                found.append(path)
    raise ValueError("SEEN" + json.dumps({"found": found, "visited": visited, "root": sorted(os.listdir("/"))}))
'''


@pytest.fixture
def planted():
    """Outside the kit, world-readable: a second clone of the repository (its solutions
    included) and last term's class with a student's lab 8-1. Removed afterwards."""
    base = Path("/srv") if os.access("/srv", os.W_OK) else Path("/var/tmp")
    folder = Path(tempfile.mkdtemp(dir=base, prefix="planted-"))
    try:
        clone = folder / "dnn-kit"
        cloned = shutil.which("git") and subprocess.run(
            ["git", "clone", "--quiet", str(ROOT), str(clone)], capture_output=True).returncode == 0
        if not cloned:  # not a git checkout (a release tarball): a copy is the same attack
            shutil.copytree(ROOT, clone, ignore=shutil.ignore_patterns(".venv", ".git", "build"))
        student = folder / "last-term" / "bob" / LAB
        student.mkdir(parents=True)
        (student / "perceptron.py").write_text(REFERENCE)
        for path in [folder, *folder.rglob("*")]:
            if not path.is_symlink():
                path.chmod(0o755 if path.is_dir() else 0o644)
        assert (clone / "solutions" / LAB / "perceptron.py").is_file()
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _walk(course, tmp_path, start: str) -> dict:
    source = REFERENCE.replace("def accuracy(model, X, Y):\n",
                               "def accuracy(model, X, Y):\n" + WALK_FOR_ANSWERS, 1)
    folder = make_submission(tmp_path / start.strip("/").replace("/", "_"), LAB, "perceptron",
                             f"START = {start!r}\n" + source)
    run = runner.run_lab(course, LAB, folder, device="cpu", only=["predict_and_accuracy"])
    message = run.checks["predict_and_accuracy"].message
    assert "SEEN" in message, message
    return json.loads(message.split("SEEN", 1)[1].rsplit("}", 1)[0] + "}")


def test_a_walk_of_the_whole_file_system_finds_no_answers(course, tmp_path, planted, monkeypatch):
    seen = _walk(course, tmp_path, "/")
    assert seen["found"] == [], f"the worker found {seen['found']}"
    assert seen["visited"] > 1000, "the walk saw the Python installation, so it really walked"
    # / holds the allow list's entries and nothing else (docs/security.md)
    allowed = {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "dev", "proc", "sys", "tmp"}
    allowed |= {Path(p).resolve().parts[1] for p in (sys.base_prefix, sys.prefix, config.PACKAGE_DIR)}
    assert set(seen["root"]) <= allowed, f"unexpected entries in the worker's /: {set(seen['root']) - allowed}"
    # The same walk without the allow-list root finds both plants: the test can fail.
    monkeypatch.setenv("AUTOGRADER_SANDBOX", "none")
    control = _walk(course, tmp_path, str(planted))
    assert any(p.endswith(f"solutions/{LAB}/perceptron.py") for p in control["found"]), control
    assert any("last-term" in p for p in control["found"]), control


SELF_SIGNALS = {  # what the student's code does; at home each ends the process with that signal
    "SIGKILL": "os.kill(os.getpid(), signal.SIGKILL)\ntime.sleep(5)",
    "SIGTERM": "os.kill(os.getpid(), signal.SIGTERM)\ntime.sleep(5)",
    "SIGABRT": "os.abort()",
    "SIGALRM": "signal.alarm(1)\ntime.sleep(5)",
}


@pytest.mark.parametrize("name", sorted(SELF_SIGNALS))
def test_a_signal_to_itself_ends_the_student_code_as_at_home(name, course, tmp_path):
    code = "import os, signal, subprocess, time\n" + SELF_SIGNALS[name]
    home = subprocess.run([sys.executable, "-c", code], timeout=60)
    assert home.returncode == -getattr(signal, name), "at home the process dies of the signal"
    marker = str(31415 + sorted(SELF_SIGNALS).index(name))
    daemon = f"subprocess.Popen(['sleep', '{marker}'], start_new_session=True)\n"  # gone with the worker
    body = textwrap.indent("import os, signal, subprocess, time\n" + daemon + SELF_SIGNALS[name] + "\n", "    ")
    source = REFERENCE.replace("def accuracy(model, X, Y):\n", "def accuracy(model, X, Y):\n" + body, 1)
    run = runner.run_lab(course, LAB, make_submission(tmp_path, LAB, "perceptron", source), device="cpu",
                         only=["predict_and_accuracy", "perceptron_structure"])
    hit = run.checks["predict_and_accuracy"]
    assert hit.status == "error" and f"killed by signal {name}" in hit.message, hit
    assert run.checks["perceptron_structure"].status == "passed"
    assert not _processes_with(marker), "what the student's code started died with its namespace"


def test_workers_have_small_distinct_uids_and_the_grader_can_kill_them(course, tmp_path):
    zygote = remote.shared_zygote(course)
    folder = make_submission(tmp_path, LAB, "perceptron", "import os\nraise ValueError(f'UID{os.getuid()}')\n")
    spec = remote.spec_for(course.lab(LAB), folder, "cpu", forbidden=[], limits=course.limits, hidden=[])
    workers = [zygote.connect(spec) for _ in range(3)]  # alive at the same time
    try:
        uids = []
        for worker in workers:
            with pytest.raises(remote.ImportFailed) as raised:
                worker.probe("__import__", 0)
            uids.append(int(re.search(r"UID(\d+)", str(raised.value)).group(1)))
            # `hello` named PID 1 of the worker's PID namespace, numbered as this process sees it
            status = Path(f"/proc/{worker.pid}/status").read_text()
            nspid = next(line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:"))
            assert nspid[-1] == "1", nspid
        if os.getuid() == 0:
            assert len(set(uids)) == 3, uids
            assert all(rootfs.UID_BASE <= u < rootfs.UID_BASE + rootfs.NAMED_SLOTS for u in uids), uids
    finally:
        for worker in workers:
            worker.close()
    for worker in workers:  # killed: gone, or a zombie until the zygote's next fork reaps it
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                state = Path(f"/proc/{worker.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                break
            if state == "Z":
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"worker {worker.pid} still runs after kill()")


def test_fallback_without_namespaces_is_reported_and_still_grades(course, tmp_path, monkeypatch):
    """Where the kernel refuses namespaces (forced here), grading goes on and says what it lacks."""
    monkeypatch.setenv("AUTOGRADER_SANDBOX", "none")
    run = runner.run_lab(course, LAB, ROOT / "solutions" / LAB, device="cpu")
    assert {o.status for o in run.checks.values()} == {"passed"}
    assert run.sandbox["network"] is False and run.sandbox["files"] is False
    assert any("switched off" in n for n in run.sandbox["notes"])
    seen, _ = look_around(tmp_path, course)
    assert seen["kit_files"], "without a mount namespace the kit's folders are visible: documented in docs/security.md"


def test_memory_limit_is_its_own_status(course, tmp_path):
    source = REFERENCE.replace("def accuracy(model, X, Y):\n",
                               "def accuracy(model, X, Y):\n    keep = [torch.ones(1 << 28) for _ in range(64)]\n", 1)
    run = runner.run_lab(course, LAB, make_submission(tmp_path, LAB, "perceptron", source), device="cpu",
                         only=["predict_and_accuracy", "perceptron_structure"])
    hit = run.checks["predict_and_accuracy"]
    assert hit.status == "oom" and "ran out of memory" in hit.message, hit
    assert run.checks["perceptron_structure"].status == "passed"
    assert run.status == "oom"


def test_cuda_failure_costs_only_its_check(course, tmp_path):
    """A student's CUDA call that fails (no GPU here, or a bad device index there) is that
    check's failure; the next check gets a fresh process."""
    source = REFERENCE.replace("def accuracy(model, X, Y):\n",
                               "def accuracy(model, X, Y):\n    torch.cuda.set_device(7)\n    torch.zeros(1, device='cuda:7')\n", 1)
    run = runner.run_lab(course, LAB, make_submission(tmp_path, LAB, "perceptron", source), device="cpu")
    assert run.checks["predict_and_accuracy"].status in ("failed", "error")
    assert {o.status for c, o in run.checks.items() if c != "predict_and_accuracy"} == {"passed"}


@pytest.mark.parametrize("limit", ["memory_mb", "cpu_s", "processes"])
def test_limits_come_from_course_toml(tmp_path, limit):
    text = (ROOT / "course.toml").read_text().replace(f"{limit} = ", f"{limit} = 7 #", 1)
    path = tmp_path / "course.toml"
    path.write_text(text)
    assert getattr(config.load_course(path).limits, limit) == 7
    path.write_text(text.replace("[sandbox]", "[sandbox]\nbogus = 1"))
    with pytest.raises(ValueError, match="unknown keys"):
        config.load_course(path)


def _locked_down_env(root, device: str, share: float, index: int | None) -> dict:
    """What lock_down leaves of the GPU settings, seen from a child of its own; the allocator
    setting is handed to torch there (a misspelt key is refused, even without a GPU)."""
    from autograder.boundary import sandbox

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read)
            sandbox.lock_down(root, sandbox.Limits(), sandbox.Confinement(), device, 1, share, index)
            setting = os.environ.get("PYTORCH_CUDA_ALLOC_CONF")
            if setting is not None:
                import torch

                torch._C._accelerator_setAllocatorSettings(setting)  # raises on an unknown key
            seen = {"alloc": setting, "visible": os.environ.get("CUDA_VISIBLE_DEVICES")}
            os.write(write, json.dumps(seen).encode())
        except BaseException as e:  # noqa: BLE001 - report it to the test
            os.write(write, json.dumps({"error": repr(e)}).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        seen = json.loads(f.read())
    os.waitpid(pid, 0)
    return seen


def test_gpu_workers_get_their_share_and_their_gpu(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert _locked_down_env(tmp_path, "cuda", 0.3, None) == {
        "alloc": "per_process_memory_fraction:0.3000", "visible": None}
    assert _locked_down_env(tmp_path, "cuda", 0.45, 1)["visible"] == "1"
    assert _locked_down_env(tmp_path, "cpu", 0.3, 1) == {"alloc": None, "visible": None}
    # The grader's own restriction holds: index 1 of the GPUs it may use.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert _locked_down_env(tmp_path, "cuda", 0.45, 1)["visible"] == "5"
    assert _locked_down_env(tmp_path, "cuda", 0.9, None)["visible"] == "3,5"


def test_workers_spread_over_gpus_with_equal_shares(monkeypatch):
    import threading

    from autograder.engine import executors

    assert executors.Workers(3, "cpu").gpu_share == 1.0
    assert executors.Workers(4, "cuda", gpus=1).gpu_share == pytest.approx(0.9 / 4)
    assert executors.Workers(4, "cuda", gpus=2).gpu_share == pytest.approx(0.9 / 2)
    together = threading.Barrier(4, timeout=10)  # four labs running at once
    seen = []

    def fake_run_lab(course, lab, folder, *, device, gpu_share, gpu_index, **_):
        seen.append(gpu_index)
        together.wait()

    monkeypatch.setattr(executors.runner, "run_lab", fake_run_lab)
    workers = executors.Workers(4, "cuda", gpus=2)
    threads = [threading.Thread(target=workers.run_lab, args=(None, "lab", None)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == [0, 0, 1, 1], "two workers on each GPU"
    monkeypatch.setattr(executors.runner, "run_lab", lambda *a, gpu_index, **k: seen.append(gpu_index))
    executors.Workers(2, "cuda", gpus=1).run_lab(None, "lab", None)
    assert seen[-1] is None, "one GPU: the worker keeps the grader's view of it"
