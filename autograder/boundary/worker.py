"""The untrusted side: import one submission and answer probe requests with plain data.

Runs in a confined process (sandbox.py) forked from the zygote. It knows nothing of
verdicts: a probe (autograder/probes/<lab>.py) calls the student's code on inputs the
grader chose and returns what came out. Every reply may be forged by the student's code,
so the grader judges replies, never trusts them.
"""
from __future__ import annotations

import importlib
import inspect
import os
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

from autograder.boundary import wire
from autograder.boundary.student import StudentImportError, import_module, student_frame
from autograder.boundary.traps import Trap
from autograder.course import seeding

_OOM_TEXT = ("out of memory", "can't allocate memory", "cannot allocate memory")


@dataclass
class Context:
    """What probes get besides the student's module."""

    device: str
    root: Path  # the submission folder
    mnist: dict | None  # train_images, train_labels, test_images (never the test labels)
    kept: dict = field(default_factory=dict)  # what a probe keeps for the check's next probe call


def is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError" or (
        isinstance(exc, RuntimeError) and any(t in str(exc).lower() for t in _OOM_TEXT))


def raised(exc: BaseException, root: Path) -> dict:
    """An exception as plain data: its type, the builtin it derives from, its message and
    where in the student's files it was raised."""
    builtin = next((c.__name__ for c in type(exc).__mro__ if c.__module__ == "builtins"), "BaseException")
    where = student_frame(exc.__traceback__, root)
    try:
        message = str(exc)[:2000]
    except Exception:  # noqa: BLE001 - a student's exception whose __str__ raises
        message = "<message could not be read>"
    name = getattr(exc, "name", None) if isinstance(exc, (AttributeError, ImportError)) else None
    return {
        "name": name[:200] if isinstance(name, str) else None,  # the missing attribute (an API name?) or module
        "type": type(exc).__name__[:200],
        "builtin": builtin,
        "message": message,
        "where": f"{Path(where[0].f_code.co_filename).name}, line {where[1]}, in {where[0].f_code.co_name}"
        if where else None,
        "student": where is not None,
        "oom": is_out_of_memory(exc),
    }


MAX_NAMES = 200  # names of the module reported for close matches of a missing API name


def private_matplotlib(tmp: Path) -> None:
    """Point matplotlib's configuration and cache folders at the worker's private /tmp, so
    that nothing the student's code makes matplotlib write lands elsewhere, and force the
    Agg backend (no display; plt.show() does nothing). The zygote imported matplotlib with
    the kit's cache folder (its font list built once, held in memory); matplotlib memoizes
    the folders, so the memo is reset here, in the worker only."""
    folder = tmp / "matplotlib"
    os.environ["MPLCONFIGDIR"] = str(folder)
    os.environ["MPLBACKEND"] = "Agg"
    matplotlib = sys.modules.get("matplotlib")
    if matplotlib is None:
        return
    for getter in (getattr(matplotlib, "get_configdir", None), getattr(matplotlib, "get_cachedir", None)):
        cells = dict(zip(getattr(getattr(getter, "__code__", None), "co_freevars", ()), getattr(getter, "__closure__", None) or ()))
        if "called" in cells:  # matplotlib's _logged_cached: computed again on the next call
            cells["called"].cell_contents = False


def api_report(module, api: list[str]) -> dict:
    """Which of the lab's API names the module lacks, and the names it does define (its
    public functions and classes, for the grader's close matches)."""
    missing = [name for name in api if not hasattr(module, name)]
    defined = []
    if missing:
        for name, value in list(vars(module).items()):
            if not name.startswith("_") and (inspect.isfunction(value) or inspect.isclass(value)):
                defined.append(name[:100])
            if len(defined) >= MAX_NAMES:
                break
    return {"missing": missing, "defined": defined}


def probes_module(spec: dict) -> str:
    """The module whose probes this worker serves: autograder.probes.<spec["probes"]> when the
    spec names one (the experiments' probes), else the lab's, autograder.probes.<lab>. Only
    modules of that package can be named."""
    return f"autograder.probes.{spec.get('probes') or spec['lab']}"


def serve(conn: socket.socket, spec: dict, root: Path, mnist: dict | None) -> None:
    """Import the student's module (traps first), then answer requests until the grader hangs up."""
    torch.set_num_threads(max(1, int(spec.get("threads", 1))))
    private_matplotlib(Path(os.environ.get("TMPDIR") or "/tmp"))
    trap = Trap(root).install(list(spec.get("forbidden", [])))
    probes = importlib.import_module(probes_module(spec))
    ctx = Context(spec["device"], root, mnist)
    module, import_error = None, None
    try:
        module = import_module(root / f"{spec['module']}.py", f"student_{spec['module']}")
        trap.disarm_reexports(module)
    except StudentImportError as e:
        import_error = str(e)
    except BaseException as e:  # noqa: BLE001 - KeyboardInterrupt and the like from the module body
        import_error = f"importing {spec['module']}.py raised {type(e).__name__}"
    while True:
        try:
            request = wire.recv(conn)
        except (wire.WireError, OSError):
            return
        if import_error is not None:
            wire.send(conn, {"import_error": import_error})
            continue
        if request.get("name") == "__import__":  # the module imported: say so, and which API names it lacks
            wire.send(conn, {"ok": api_report(module, [str(n) for n in spec.get("api", [])])})
            continue
        seeding.seed_everything(int(request["seed"]))
        before = len(trap.violations)
        try:
            fn = getattr(probes, "probe_" + request["name"])
            reply = {"ok": fn(module, ctx, **request.get("args", {}))}
        except BaseException as e:  # noqa: BLE001 - SystemExit and all: the grader decides
            reply = {"raised": raised(e, root)}
        reply["violations"] = list(trap.violations[before:])[:10]
        wire.send(conn, reply)
