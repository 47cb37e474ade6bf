"""The zygote: a process that has imported torch and loaded MNIST once, and forks a
confined worker for every connection. It never runs student code itself.

Usage: python -m autograder.boundary.zygote SOCKET [MNIST_INPUTS_FILE] [PROBE_DIRS]
It prints "ready" when it accepts connections and exits when its stdin closes (the
grader went away, however it died): see forkserver.py. Per connection:
    grader -> spec {submission, lab, module, api, forbidden, hidden, limits, device, threads,
                gpu_share, gpu_index}
    worker -> {"hello": pid, "pgid": ..., "confinement": {...}}   (from the intermediate)
    grader <-> worker: probe requests and replies (worker.py)
    worker -> {"died": "..."}   when the worker process ends, whatever the reason
"""
from __future__ import annotations

import dataclasses
import importlib
import os
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path

from autograder.boundary import forkserver


def matplotlib_cache() -> Path:
    """The kit's cache folder for matplotlib (its font list, built once per machine)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "dnn-grading-kit" / "matplotlib"


def import_student_packages() -> None:
    """Import what student code may import (config.STUDENT_PACKAGES) once, here, before any
    fork, so that no check pays for it: matplotlib.pyplot with the Agg backend and its font
    list built into the kit's cache folder (about 1 s the first time on a machine; the
    workers inherit the list in memory), torchvision's datasets and transforms as the
    lecture imports them, tqdm. None of them starts a thread at import (checked for the
    pinned versions), which the fork requires (forkserver.serve)."""
    from autograder.course.config import STUDENT_PACKAGES

    os.environ["MPLCONFIGDIR"] = str(matplotlib_cache())
    os.environ["MPLBACKEND"] = "Agg"
    for name in STUDENT_PACKAGES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue  # the worker then reports a missing package by name
        if name == "matplotlib":
            module.use("Agg")
            importlib.import_module("matplotlib.pyplot")
        elif name == "torchvision":
            importlib.import_module("torchvision.datasets")
            importlib.import_module("torchvision.transforms")


def _sweep_uid(uid: int) -> None:
    """Kill every process left running as the worker's uid (what a PID namespace does when
    there is none): a process that moved to its own session would otherwise survive."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setresuid(uid, uid, uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _intermediate(conn: socket.socket, mnist) -> None:
    from autograder.boundary import sandbox, wire, worker

    conn.settimeout(30)
    spec = wire.recv(conn)
    conn.settimeout(None)
    limits = sandbox.Limits(**spec.get("limits", {}))
    files = sandbox.read_tree(Path(spec["submission"]))
    scratch = Path(tempfile.mkdtemp(prefix="worker-"))
    pid, root, state = sandbox.enter(files, [Path(p) for p in spec.get("hidden", [])], limits, scratch,
                                     slot=os.getpid() % 100_000, namespaces=bool(spec.get("namespaces", True)))
    if pid == 0:
        try:
            sandbox.lock_down(root, limits, state, spec["device"], int(spec.get("threads", 1)),
                              float(spec.get("gpu_share", 1.0)), spec.get("gpu_index"))
            worker.serve(conn, spec, root, mnist)
        except BaseException:  # noqa: BLE001 - the kit's fault, not the student's: tell the grader
            import traceback

            try:
                wire.send(conn, {"died": "the worker could not start: " + traceback.format_exc()[-1500:]})
            except OSError:
                pass
        finally:
            os._exit(0)
    wire.send(conn, {"hello": pid, "pgid": os.getpid(), "confinement": dataclasses.asdict(state)})
    _, status = os.waitpid(pid, 0)
    if state.uid is not None and not state.pid_namespace:
        _sweep_uid(state.uid)
    try:
        wire.send(conn, {"died": forkserver.status_text(status)})
    except OSError:
        pass
    shutil.rmtree(scratch, ignore_errors=True)


def main(argv: list[str]) -> None:
    sock_path = argv[0]
    inputs = Path(argv[1]) if len(argv) > 1 and argv[1] else None
    # Everything a worker needs is imported here, once, before any fork: the probes of a
    # course's own labs too, since the worker cannot see the course's folder.
    from autograder.boundary import sandbox, wire, worker  # noqa: F401
    from autograder.course import mnist as mnist_data

    forkserver.import_package("autograder.probes", argv[2] if len(argv) > 2 else "")
    forkserver.import_torch()
    import_student_packages()
    mnist = mnist_data.load_inputs(inputs) if inputs is not None and inputs.is_file() else None
    forkserver.serve(sock_path, lambda conn: _intermediate(conn, mnist))


if __name__ == "__main__":
    main(sys.argv[1:])
