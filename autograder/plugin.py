"""The pytest plugin that runs one lab's checks against one submission.

It runs inside the grading subprocess (see runner.py): it selects the checks, applies
their time limits, seeds every check, hands the checks their fixtures (the student's
module, the device, MNIST, the check's parameters from course.toml) and writes one JSON
line per event to the report file, flushed at once so that nothing is lost if the
process dies. Messages are the checks' own words or a description of the student's
exception; check source and tracebacks never reach the report.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from autograder import config as kitconfig, seeding
from autograder.student import StudentImportError, describe, import_module, student_frame
from autograder.traps import ForbiddenFunctionError, Trap

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

    name = name or course.device
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
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
    threads = os.environ.get("AUTOGRADER_TORCH_THREADS")
    if threads:
        torch.set_num_threads(int(threads))
    _state.update(
        course=course,
        lab=lab,
        submission=Path(opt.submission).resolve(),
        device=_resolve_device(opt.device, course),
        report=open(opt.report, "a", encoding="utf-8") if opt.report else None,
    )
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
            item.add_marker(pytest.mark.timeout(check.timeout_s))
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
    """The device the checks run on: CUDA when course.toml says auto and a GPU is there."""
    return _state["device"]


@pytest.fixture(scope="module")
def trap(request) -> Trap:
    """Forbidden torch functions of this lab (the check module's FORBIDDEN), trapped."""
    forbidden = getattr(request.module, "FORBIDDEN", [])
    t = Trap(_state["submission"]).install(list(forbidden))
    yield t
    t.uninstall()


@pytest.fixture(scope="module")
def student(trap):
    """The student's module for this lab, imported once, after the traps are set."""
    lab: kitconfig.Lab = _state["lab"]
    path = _state["submission"] / f"{lab.module}.py"
    try:
        module = import_module(path, f"student_{lab.module}")
        trap.disarm_reexports(module)
        return module
    except pytest.fail.Exception as e:  # pytest-timeout fired during the import
        _state["import_error"] = (f"importing {path.name} did not finish in time ({e}); "
                                  "is there an endless loop or long work at module level?")
        raise StudentImportError(_state["import_error"]) from None
    except StudentImportError as e:
        _state["import_error"] = str(e)
        raise


@pytest.fixture
def params(request) -> dict:
    """This check's settings from course.toml (thresholds, budgets)."""
    check = dict(request.node.user_properties)["check"]
    return check.params


@pytest.fixture(scope="session")
def mnist(device):
    """MNIST tensors on the grading device (uint8 images, int64 labels)."""
    from autograder import mnist as mnist_data

    return mnist_data.load(_state["course"].mnist_cache, device)


@pytest.fixture(autouse=True)
def _seeded(request):
    """Seed python, numpy and torch (CUDA included) from the course seed and the check id."""
    seed = seeding.derive_seed(_state["course"].seed, _state["lab"].id, _check_id(request.node))
    seeding.seed_everything(seed)
    request.node.user_properties.append(("seed", seed))
    yield


@pytest.fixture(autouse=True)
def _no_forbidden_calls(request):
    """Fail any check during which the student's code called a forbidden function."""
    if "trap" not in request.fixturenames:
        yield
        return
    t = request.getfixturevalue("trap")
    before = len(t.violations)
    yield
    if len(t.violations) > before:
        raise ForbiddenFunctionError(
            f"your code called {t.violations[before]}, which this lab asks you to write yourself"
        )


# --- reporting -----------------------------------------------------------------------------


def _message(excinfo) -> tuple[str, str]:
    """(status, message) for a failed phase, in the student's terms, without check source."""
    exc = excinfo.value
    if isinstance(exc, StudentImportError):
        return "error", f"could not import your module: {exc}"
    if type(exc).__name__ == "MnistError":  # the grading machine's set-up, not the student's code
        return "error", f"MNIST is not available for this check: {exc}"
    if isinstance(exc, pytest.fail.Exception) and str(exc).startswith("Timeout"):
        return "timeout", f"timed out: {str(exc).split(' from ')[0]} (an endless loop, or far too slow?)"
    if isinstance(exc, (AssertionError, ForbiddenFunctionError)):
        return "failed", str(exc) or "check failed"
    if isinstance(exc, NotImplementedError):
        hint = f": {exc}" if str(exc) else ""
        return "failed", f"not implemented yet{hint}"
    if isinstance(exc, SystemExit):
        return "failed", f"your code called sys.exit({exc.code!r}) during the check"
    if student_frame(exc.__traceback__, _state["submission"]) is None:
        # Raised in the check itself, usually on something of the wrong kind that the
        # student's code returned; the check's source stays hidden.
        return "failed", f"the check could not use what your code returned ({type(exc).__name__}: {exc})"
    return "failed", f"your code raised {describe(exc, _state['submission'])}"


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
    if "import_error" in _state and call.when == "setup":
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
            "time": time.time(),
        }
    )
