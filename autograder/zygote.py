"""The zygote: a process that has imported torch and loaded MNIST once, and forks a
confined worker for every connection. It never runs student code itself.

Usage: python -m autograder.zygote SOCKET [MNIST_INPUTS_FILE]
It prints "ready" when it accepts connections and exits when its stdin closes (the
grader went away, however it died). Per connection:
    grader -> spec {submission, lab, module, forbidden, hidden, limits, device, threads}
    worker -> {"hello": pid, "pgid": ..., "confinement": {...}}   (from the intermediate)
    grader <-> worker: probe requests and replies (worker.py)
    worker -> {"died": "..."}   when the worker process ends, whatever the reason
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
from pathlib import Path


def _status_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit code {os.WEXITSTATUS(status)}"


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
    from autograder import sandbox, wire, worker

    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    sandbox._prctl(sandbox.PR_SET_PDEATHSIG, signal.SIGKILL)  # the zygote died: so do we
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
            sandbox.lock_down(root, limits, state, spec["device"], int(spec.get("threads", 1)))
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
        wire.send(conn, {"died": _status_text(status)})
    except OSError:
        pass
    shutil.rmtree(scratch, ignore_errors=True)


def _warm_up() -> None:
    """Pay torch's lazy imports once here rather than in every worker: an optimizer's first
    step imports torch._dynamo (about 2 s). No tensor operation runs: one that starts
    torch's thread pool here would leave every forked worker hanging at its first
    parallel operation (tests/test_sandbox.py catches that)."""
    import torch
    import torch._dynamo  # noqa: F401
    import torch.optim  # noqa: F401


def main(argv: list[str]) -> None:
    sock_path = argv[0]
    inputs = Path(argv[1]) if len(argv) > 1 and argv[1] else None
    # Everything a worker needs is imported here, once, before any fork.
    import torch  # noqa: F401

    import autograder.probes  # noqa: F401
    from autograder import mnist as mnist_data, sandbox, wire, worker  # noqa: F401
    from autograder.probes import load_all

    load_all()
    _warm_up()
    mnist = mnist_data.load_inputs(inputs) if inputs is not None and inputs.is_file() else None
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # intermediates are reaped by the kernel

    def watch_stdin():
        sys.stdin.buffer.read()
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    print("ready", flush=True)
    while True:
        conn, _ = server.accept()
        pid = os.fork()
        if pid == 0:
            try:
                server.close()
                _intermediate(conn, mnist)
            except BaseException:  # noqa: BLE001 - never return into the zygote's loop
                pass
            finally:
                os._exit(0)
        conn.close()


if __name__ == "__main__":
    main(sys.argv[1:])
