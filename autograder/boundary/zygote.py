"""The zygote: a process that has imported torch and loaded MNIST once, and forks a
confined worker for every connection. It never runs student code itself.

Usage: python -I -c ... autograder.boundary.zygote SOCKET [MNIST_INPUTS_FILE] [PROBE_DIRS] [SANDBOX]
(forkserver.helper_command; SANDBOX "none" forces the fallback without namespaces).
It prints "ready" when it accepts connections and exits when its stdin closes (the
grader went away, however it died): see forkserver.py. Per connection:
    grader -> spec {submission, lab, module, api, forbidden, hidden, limits, device, threads,
                gpu_share, gpu_index}
    worker -> {"hello": pid, "pgid": ..., "confinement": {...}}   (from PID 1, or the
              intermediate process of the fallback; pids as the grader numbers them)
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

from autograder.boundary import forkserver, linux, pid1, sandbox
from autograder.course import config


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


def _work(conn: socket.socket, spec: dict, limits: sandbox.Limits, state: sandbox.Confinement, root: Path,
          mnist) -> None:
    """The student's process: locked down, then the worker's request loop."""
    from autograder.boundary import wire, worker

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


def _confined(conn: socket.socket, spec: dict, slot: int, jail: sandbox.Jail, mnist) -> None:
    """PID 1 of the worker's namespaces: confine, say hello, then the init around the worker."""
    from autograder.boundary import wire

    limits = sandbox.Limits(**spec.get("limits", {}))
    files = sandbox.read_tree(Path(spec["submission"]))  # before the host's paths are gone
    me = linux.host_pid()  # before /proc shows only the new namespace
    try:
        state, root = sandbox.confine(jail, files, list(spec.get("hidden", [])), limits, slot)
    except OSError as e:
        wire.send(conn, {"died": f"the worker could not be confined ({e})"})
        return
    hello = {"hello": me, "pgid": me, "confinement": dataclasses.asdict(state)}
    # Hello once the student's process exists, as the fallback's intermediate says it.
    status = pid1.run(lambda: _work(conn, spec, limits, state, root, mnist),
                      started=lambda: wire.send(conn, hello))
    try:
        wire.send(conn, {"died": pid1.status_text(status)})
    except OSError:
        pass


def _intermediate(conn: socket.socket, spec: dict, slot: int, jail: sandbox.Jail, mnist) -> None:
    """The fallback without namespaces: fork the worker, wait for it, sweep its uid."""
    from autograder.boundary import wire

    limits = sandbox.Limits(**spec.get("limits", {}))
    files = sandbox.read_tree(Path(spec["submission"]))
    scratch = Path(tempfile.mkdtemp(prefix="worker-"))
    state, root = sandbox.fallback(files, scratch, slot, jail.notes)
    pid = os.fork()
    if pid == 0:
        try:
            _work(conn, spec, limits, state, root, mnist)
        finally:
            os._exit(0)
    wire.send(conn, {"hello": linux.host_pid(pid), "pgid": linux.host_pid(),
                     "confinement": dataclasses.asdict(state)})
    _, status = os.waitpid(pid, 0)
    if state.uid is not None:
        _sweep_uid(state.uid)
    try:
        wire.send(conn, {"died": pid1.status_text(status)})
    except OSError:
        pass
    shutil.rmtree(scratch, ignore_errors=True)


def _handle(conn: socket.socket, slot: int, jail: sandbox.Jail, mnist) -> None:
    from autograder.boundary import wire

    conn.settimeout(30)
    spec = wire.recv(conn)
    conn.settimeout(None)
    (_confined if jail.confined else _intermediate)(conn, spec, slot, jail, mnist)


def kit_folders_to_deny() -> list[Path]:
    """The kit's own root, when it is a checkout (solutions, tests, course.toml beside the
    package), as opposed to a Python installation the package was installed into."""
    root = config.KIT_ROOT.resolve()
    prefixes = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    installed = root.name in ("site-packages", "dist-packages") or any(root.is_relative_to(p) for p in prefixes)
    return [] if installed else [root]


def main(argv: list[str]) -> None:
    sock_path = argv[0]
    inputs = Path(argv[1]) if len(argv) > 1 and argv[1] else None
    probe_dirs = argv[2] if len(argv) > 2 else ""
    enabled = (argv[3] if len(argv) > 3 else "") != "none"
    # First, while this process has one thread (before torch): the workers' root.
    jail = sandbox.prepare(Path(sock_path).parent / "root", config.PACKAGE_DIR, kit_folders_to_deny(), enabled)
    # Everything a worker needs is imported here, once, before any fork: the probes of a
    # course's own labs too, since the worker cannot see the course's folder.
    from autograder.boundary import wire, worker  # noqa: F401
    from autograder.course import mnist as mnist_data

    forkserver.import_package("autograder.probes", probe_dirs)
    forkserver.import_torch()
    import_student_packages()
    mnist = mnist_data.load_inputs(inputs) if inputs is not None and inputs.is_file() else None
    forkserver.serve(sock_path, lambda conn, slot: _handle(conn, slot, jail, mnist), fork=jail.fork)


if __name__ == "__main__":
    main(sys.argv[1:])
