"""The untrusted side: import one submission and answer probe requests with plain data.

Runs in a confined process (sandbox.py) forked from the zygote. It knows nothing of
verdicts: a probe (autograder/probes/<lab>.py) calls the student's code on inputs the
grader chose and returns what came out. Every reply may be forged by the student's code,
so the grader judges replies, never trusts them.
"""
from __future__ import annotations

import importlib
import socket
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
    return {
        "type": type(exc).__name__[:200],
        "builtin": builtin,
        "message": message,
        "where": f"{Path(where[0].f_code.co_filename).name}, line {where[1]}, in {where[0].f_code.co_name}"
        if where else None,
        "student": where is not None,
        "oom": is_out_of_memory(exc),
    }


def serve(conn: socket.socket, spec: dict, root: Path, mnist: dict | None) -> None:
    """Import the student's module (traps first), then answer requests until the grader hangs up."""
    torch.set_num_threads(max(1, int(spec.get("threads", 1))))
    trap = Trap(root).install(list(spec.get("forbidden", [])))
    probes = importlib.import_module(f"autograder.probes.{spec['lab']}")
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
        if request.get("name") == "__import__":  # the module imported: say so
            wire.send(conn, {"ok": True})
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
