"""The pytest plugin that runs one lab's checks against one submission.

It runs inside the grading subprocess (see runner.py): it selects the checks, applies
their time limits, seeds every check, hands the checks their fixtures (the student's
module, the device, MNIST, the check's parameters from course.toml, a recorder for plot
data) and writes one JSON line per event to the report file, flushed at once so that
nothing is lost if the process dies. Messages are the checks' own words or a description
of the student's exception; check source and tracebacks never reach the report.
"""
from __future__ import annotations

import difflib
import json
import math
import os
import time
from pathlib import Path

import pytest

from autograder.boundary import remote
from autograder.boundary.student import missing_name, missing_package
from autograder.course import config as kitconfig
from autograder.course import mnist as mnist_data
from autograder.course import seeding

_state: dict = {}


def pytest_addoption(parser):
    group = parser.getgroup("autograder")
    group.addoption("--lab", help="lab id, e.g. lab09_3_dropout")
    group.addoption("--submission", help="folder holding the lab's module")
    group.addoption("--report", help="JSON-lines file the results are appended to")
    group.addoption("--only", default="", help="comma-separated check ids to run (default: all)")
    group.addoption("--public-only", action="store_true", help="run the public checks only")
    group.addoption("--device", default=None, help="cpu, cuda, cuda:N or auto (default: course.toml)")
    group.addoption("--course", default=None, help="course.toml to read")


def _emit(event: dict) -> None:
    out = _state.get("report")
    if out is not None:
        out.write(json.dumps(event) + "\n")
        out.flush()


def _resolve_device(name: str | None, course: kitconfig.Course) -> str:
    import torch

    name = kitconfig.resolve_device(name or course.device)
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise pytest.UsageError(f"device {name!r} was asked for but CUDA is not available here")
    return name


def pytest_configure(config):
    opt = config.option
    if not opt.lab:
        return
    import torch

    course = kitconfig.load_course(opt.course)
    lab = course.lab(opt.lab)
    torch.set_num_threads(kitconfig.TORCH_THREADS)
    hidden = [Path(p) for p in os.environ.get("AUTOGRADER_HIDE", "").split(os.pathsep) if p]
    _state.update(
        course=course,
        lab=lab,
        submission=Path(opt.submission).resolve(),
        device=_resolve_device(opt.device, course),
        report=open(opt.report, "a", encoding="utf-8") if opt.report else None,
        hidden=remote.hidden_paths(course, hidden),
    )
    # Started now, so that it imports torch while pytest collects the checks.
    shared = os.environ.get("AUTOGRADER_ZYGOTE")
    _state["zygote"] = (remote.Zygote.attach(Path(shared)) if shared
                        else remote.Zygote.start("autograder.boundary.zygote", *remote.zygote_args(course)))
    _emit(
        {
            "event": "session",
            "lab": lab.id,
            "device": _state["device"],
            "torch": torch.__version__,
            "seed": course.seed,
        }
    )


def pytest_unconfigure(config):
    z = _state.pop("zygote", None)
    if z is not None:
        z.close()
    out = _state.pop("report", None)
    if out is not None:
        out.close()


def _check_id(item) -> str:
    return item.originalname.removeprefix("test_") if hasattr(item, "originalname") else item.name


def pytest_collection_modifyitems(config, items):
    if "lab" not in _state:
        return
    lab: kitconfig.Lab = _state["lab"]
    only = {c for c in config.option.only.split(",") if c}
    keep, drop = [], []
    for item in items:
        cid = _check_id(item)
        try:
            check = lab.check(cid)
        except KeyError:
            drop.append(item)  # a check without points in course.toml is not graded
            continue
        wanted = (not only or cid in only) and (check.public or not config.option.public_only)
        if wanted:
            # A backstop only: the worker's own deadline (remote.py) stops the check first.
            item.add_marker(pytest.mark.timeout(check.timeout_s + _state["course"].import_timeout_s + 30))
            item.user_properties.append(("check", check))
            keep.append(item)
        else:
            drop.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep


def pytest_runtest_logstart(nodeid, location):
    _emit({"event": "start", "check": nodeid.rsplit("::", 1)[-1].removeprefix("test_"), "time": time.time()})


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def course() -> kitconfig.Course:
    return _state["course"]


@pytest.fixture(scope="session")
def device() -> str:
    """The device the student's code runs on: CUDA when course.toml says auto and a GPU is there.
    The checks' own references are computed on the CPU."""
    return _state["device"]


@pytest.fixture(scope="session")
def zygote():
    """The process that forks a confined worker for every check (remote.py, zygote.py)."""
    z = _state.get("zygote")
    if z is None:
        raise RuntimeError("the grading zygote was not started (no --lab given?)")
    return z


class Student:
    """The student's module, on the far side of the boundary: `probe(name, **args)` runs
    probes/<lab>.py's probe_<name> in the confined worker and returns its plain result.
    `missing` maps each name of the lab's API that the module lacks to its closest name in
    the module ("" when none is close); `module` is the lab's module name."""

    def __init__(self, worker: remote.Worker, seed: int, module: str = "", missing: dict | None = None):
        self._worker, self._seed, self._calls = worker, seed, 0
        self.module, self.missing = module, dict(missing or {})

    def probe(self, name: str, **args):
        self._calls += 1
        return self._worker.probe(name, seeding.derive_seed(self._seed, "probe", str(self._calls)), **args)


@pytest.fixture
def student(request, zygote, _seeded):
    """A fresh confined worker holding the student's module, for this check alone."""
    lab: kitconfig.Lab = _state["lab"]
    if "import_error" in _state:  # the first check found the module broken: say so at once
        raise remote.ImportFailed(_state["import_error"])
    check = dict(request.node.user_properties)["check"]
    course: kitconfig.Course = _state["course"]
    spec = remote.spec_for(lab, _state["submission"], _state["device"],
                           forbidden=list(getattr(request.module, "FORBIDDEN", [])),
                           limits=course.limits, hidden=_state["hidden"],
                           gpu_share=float(os.environ.get("AUTOGRADER_GPU_SHARE") or 1.0),
                           gpu_index=int(os.environ["AUTOGRADER_GPU_INDEX"]) if os.environ.get("AUTOGRADER_GPU_INDEX") else None)
    worker = zygote.connect(spec)
    try:
        _note_confinement(worker.confinement)
        worker.deadline = time.monotonic() + course.import_timeout_s
        try:
            _state["missing"] = _missing(worker.probe("__import__", 0))
        except remote.WorkerTimeout:
            _state["import_error"] = (f"importing {lab.module}.py did not finish in time ({course.import_timeout_s:.0f} s); "
                                      "is there an endless loop or long work at module level?")
            raise remote.ImportFailed(_state["import_error"]) from None
        except remote.ImportFailed as e:
            _state["import_error"] = str(e)
            raise
        worker.deadline = time.monotonic() + check.timeout_s
        _state["timeout_s"] = check.timeout_s
        yield Student(worker, _seeded, lab.module, _state["missing"])
    finally:
        worker.close()


def _missing(report) -> dict[str, str]:
    """The worker's report of missing API names (worker.api_report) as {name: closest name
    the module defines, or ""}; the names are the student's data, matched by difflib here."""
    if not isinstance(report, dict):
        return {}
    defined = [d for d in report.get("defined", []) if isinstance(d, str) and d.isidentifier()]
    found = {}
    for name in report.get("missing", []):
        if isinstance(name, str):
            close = difflib.get_close_matches(name, defined, n=1, cutoff=0.6)
            found[name] = close[0] if close else ""
    return found


def _note_confinement(confinement: dict) -> None:
    if "confinement" not in _state:
        _state["confinement"] = confinement
        _emit({"event": "sandbox", **confinement})


@pytest.fixture
def params(request) -> dict:
    """This check's settings from course.toml (thresholds, budgets)."""
    check = dict(request.node.user_properties)["check"]
    return check.params


@pytest.fixture(scope="session")
def test_labels():
    """The MNIST test labels: held by the grader alone, to score the worker's predictions."""
    from autograder.course import mnist as mnist_data

    return mnist_data.load_test_labels(_state["course"].mnist_cache)


@pytest.fixture(autouse=True)
def _seeded(request):
    """Seed python, numpy and torch from the course seed and the check id; the same seed
    (one per probe call) goes to the worker."""
    seed = seeding.derive_seed(_state["course"].seed, _state["lab"].id, _check_id(request.node))
    seeding.seed_everything(seed)
    request.node.user_properties.append(("seed", seed))
    return seed


# --- plot data -----------------------------------------------------------------------------

PLOT_BYTES = 48 * 1024  # the most plot data (as JSON) one check keeps: results.json stays small
PLOT_VALUES = 4096  # the most values a tensor may hold to be kept whole (checks downsample)
PLOT_TEXT = 80  # the longest string kept: kit words (labels, a method's name), never a student's text


def plain(value):
    """`value` as JSON-able plain data for a plot: numbers and tensors of at most PLOT_VALUES
    values become floats rounded to 4 significant digits (non-finite ones None: JSON has no
    NaN), bools and ints stay, strings are cut to PLOT_TEXT characters, lists, tuples and
    dicts (str keys) are converted item by item; anything else is None, so that no student
    object is ever kept."""
    import torch

    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return float(f"{value:.4g}") if math.isfinite(value) else None
    if isinstance(value, str):
        return value[:PLOT_TEXT]
    if isinstance(value, torch.Tensor):
        return plain(value.detach().cpu().double().tolist()) if value.numel() <= PLOT_VALUES else None
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k)[:PLOT_TEXT]: plain(v) for k, v in value.items()}
    return None


class Plots:
    """What one check records for the reports' plots (reports/plots.py draws them on the
    grader's side). `record(kind, **data)`: `kind` names a plot of reports/plots.py, `data` is
    plain numbers the check computed or judged. `then(fn, *args)`: gather more data after the
    verdict (a small extra probe), whatever the verdict was; nothing that happens there can
    change the verdict or its message. The data goes out with the check's "end" event, into
    its lab record (reports/model.py)."""

    def __init__(self):
        self.items: list[dict] = []
        self._bytes = 0
        self._later: list = []

    def record(self, kind: str, **data) -> None:
        """Keep one plot's data; a plot that would take the check past PLOT_BYTES is left out
        (its kind is kept with "omitted", so that the page can say so)."""
        item = {"kind": kind, **plain(data)}
        size = len(json.dumps(item))
        if self._bytes + size > PLOT_BYTES:
            item = {"kind": kind, "omitted": f"more than {PLOT_BYTES // 1024} KiB of plot data"}
            size = len(json.dumps(item))
        self._bytes += size
        self.items.append(item)

    def then(self, fn, *args) -> None:
        """Call fn(*args) once the check's body has ended, before its worker closes."""
        self._later.append((fn, args))

    def finish(self) -> None:
        for fn, args in self._later:
            try:
                fn(*args)
            except Exception:  # the student's code failed or hung: the plot goes without it
                pass


@pytest.fixture
def plots(request, student) -> Plots:
    """The recorder of this check's plot data (Plots). It depends on `student` so that the
    gathering deferred with Plots.then runs while the check's worker is still open."""
    recorder = Plots()
    request.node.user_properties.append(("plots", recorder))
    yield recorder
    recorder.finish()


# --- reporting -----------------------------------------------------------------------------


def _message(excinfo) -> tuple[str, str]:
    """(status, message) for a failed phase, in the student's terms, without check source."""
    exc = excinfo.value
    if isinstance(exc, remote.ImportFailed):
        return "error", f"could not import your module: {exc}"
    if isinstance(exc, mnist_data.MnistError):  # the grading machine's set-up, not the student's code
        return "error", f"MNIST is not available for this check: {exc}"
    if isinstance(exc, remote.WorkerTimeout) or (
            isinstance(exc, pytest.fail.Exception) and str(exc).startswith("Timeout")):
        limit = _state.get("timeout_s")
        return "timeout", (f"timed out after {limit:.0f} s and was stopped" if limit else "timed out") + (
            " (an endless loop, or far too slow?)")
    if isinstance(exc, remote.OutOfMemory):
        mb = _state["course"].limits.memory_mb
        return "oom", (f"your code ran out of memory (the limit is {mb} MiB, or the GPU's share): {exc}; "
                       "look for tensors that grow every step or batches far larger than asked")
    if isinstance(exc, remote.WorkerDied):
        return "error", (f"the process running your code ended during this check ({exc}): "
                         "os._exit, sys.exit in a thread, a crash, or a signal")
    if isinstance(exc, AssertionError):
        return "failed", str(exc) or "check failed"
    if isinstance(exc, remote.StudentError):
        missing = _state.get("missing", {})
        if exc.is_a("AttributeError") and not exc.student and exc.name in missing:
            # the probe asked the module for an API name it does not define
            return "failed", missing_name(_state["lab"].module, exc.name, missing[exc.name])
        if exc.is_a("ModuleNotFoundError") and exc.name and exc.name.split(".")[0] not in kitconfig.STUDENT_PACKAGES:
            return "failed", missing_package(f"{_state['lab'].module}.py", exc.name, exc.describe())
        if exc.is_a("NotImplementedError"):
            return "failed", "not implemented yet" + (f": {exc.message}" if exc.message else "")
        if exc.type in ("Skipped", "XFailed", "Exit", "Failed"):  # pytest's outcomes, raised by the student's code
            return "failed", f"your code raised pytest's {exc.type} ({exc.message}); a skipped check earns nothing"
        if exc.is_a("SystemExit"):
            return "failed", f"your code called sys.exit({exc.message or 'None'}) during the check"
        if not exc.student:  # raised in the probe, on something of the wrong kind the student's code returned
            return "failed", f"the check could not use what your code returned ({exc.type}: {exc.message})"
        return "failed", f"your code raised {exc.describe()}"
    # The check itself choked on what the worker sent back (a value of the wrong kind).
    return "failed", f"the check could not use what your code returned ({type(exc).__name__}: {exc})"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if call.when == "call" and call.excinfo is None:
        item.user_properties.append(("ran", True))
    if call.excinfo is None:
        return
    if call.excinfo.errisinstance(pytest.skip.Exception):
        # The checks never skip themselves: a skip comes from the student's code.
        status, message = "failed", "your code skipped the check (pytest.skip); a skipped check earns nothing"
    else:
        status, message = _message(call.excinfo)
    if "import_error" in _state and call.when == "setup" and status != "timeout":
        status, message = "error", f"could not import your module: {_state['import_error']}"
    item.user_properties.append(("failure", (status, message)))
    if call.when == "teardown":  # this report copied the item's properties before the failure
        report.user_properties.append(("failure", (status, message)))
    report.longrepr = message  # the terminal shows the message, never the check's source


def pytest_runtest_logreport(report):
    if report.when != "teardown":
        return
    props = dict(report.user_properties)
    failures = [v for k, v in report.user_properties if k == "failure"]
    failure = failures[0] if failures else None  # the first failing phase says what went wrong
    if failure is None and not props.get("ran"):
        failure = ("failed", "the check did not run to completion")  # only a finished check passes
    _emit(
        {
            "event": "end",
            "check": report.nodeid.rsplit("::", 1)[-1].removeprefix("test_"),
            "status": failure[0] if failure else "passed",
            "message": failure[1] if failure else "",
            "seed": props.get("seed"),
            "plots": props["plots"].items if "plots" in props else [],
            "time": time.time(),
        }
    )
