"""The judge server: the grader's pytest sessions, forked from one process that has already
imported torch, pytest, the plugin and every lab's checks, and loaded the MNIST test labels.

A lab's checks run in a pytest session of their own (plugin.py), so that a check that hangs
can be killed without losing the others (runner.py). Started fresh, such a session pays
about 3.5 s of imports before its first check; forked from here it starts in milliseconds.
The judges run no student code (that happens in the zygote's confined workers), so forking
them from a shared parent shares nothing a student could touch.

Usage: python -I -c ... autograder.engine.judge_server SOCKET [MNIST_CACHE_DIR] [CHECK_DIRS]
(forkserver.helper_command: isolated mode, the kit's root first on sys.path)
Per connection (forkserver.py forks a child for it, which forks the session):
    client -> {"args": pytest's arguments, "cwd": a folder of the kit's, "env": {...}}
    server -> {"pid": the session's pid, also its process group}
    server -> {"exit": returncode}   (negative: killed by that signal), when it ends
"""
from __future__ import annotations

import os
import select
import signal
import socket
import sys
from pathlib import Path

from autograder.boundary import forkserver, wire
from autograder.course import config


def _session(spec: dict) -> int:
    """In the forked child: become the session the client asked for and run pytest."""
    import pytest

    os.setpgid(0, 0)  # its own group: the watchdog kills the session and nothing else
    forkserver.die_with_parent()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the console output is not the result: the report file is
        os.dup2(devnull, fd)
    os.chdir(spec["cwd"])
    os.environ.clear()
    os.environ.update(spec["env"])
    return int(pytest.main(list(spec["args"])))


def _handle(conn: socket.socket, slot: int) -> None:
    conn.settimeout(30)
    spec = wire.recv(conn)
    conn.settimeout(None)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = _session(spec)
        finally:
            os._exit(code)
    try:  # the session's group exists before the client can signal it (the child sets it too)
        os.setpgid(pid, pid)
    except OSError:
        pass  # the child got there first, or has already ended
    wire.send(conn, {"pid": pid})
    _, status = os.waitpid(pid, 0)
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    try:
        wire.send(conn, {"exit": code})
    except OSError:
        pass


def main(argv: list[str]) -> None:
    sock_path = argv[0]
    cache = Path(argv[1]) if len(argv) > 1 and argv[1] else None
    # Everything a session imports, imported once here, before any fork.
    import pytest  # noqa: F401
    import pytest_timeout  # noqa: F401

    import autograder.engine.plugin  # noqa: F401
    from autograder.course import mnist

    forkserver.import_package("autograder.checks", argv[2] if len(argv) > 2 else "")
    forkserver.import_torch()
    if cache is not None:
        try:
            mnist.load_test_labels(cache)  # cached: every session reads them from memory
        except mnist.MnistError:
            pass  # the MNIST check reports it
    sys.dont_write_bytecode = True
    forkserver.serve(sock_path, _handle)


# --- the client's side ------------------------------------------------------------------------


class JudgeServer(forkserver.Server):
    def launch(self, args: list[str], cwd: Path, env: dict) -> "Session":
        """Start a pytest session with `args` in `cwd` with environment `env`."""
        sock = self.open(timeout=60)
        wire.send(sock, {"args": args, "cwd": str(cwd), "env": env})
        hello = wire.recv(sock)
        sock.settimeout(None)
        return Session(sock, int(hello["pid"]))


def shared_judge_server(course: config.Course, wait: bool = True) -> JudgeServer:
    """The judge server for this whole process (a class, a test session)."""
    return forkserver.shared(JudgeServer, "autograder.engine.judge_server", str(course.mnist_cache),
                             forkserver.extra_lab_dirs(course, "checks"), wait=wait)


class Session:
    """A running pytest session, with Popen's poll/wait/kill."""

    def __init__(self, sock: socket.socket, pid: int):
        self.sock, self.pid, self.returncode = sock, pid, None

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self.sock], [], [], 0)[0]:
            self._read_exit()
        return self.returncode

    def wait(self) -> int:
        if self.returncode is None:
            self._read_exit()
        return self.returncode

    def _read_exit(self) -> None:
        try:
            self.returncode = int(wire.recv(self.sock)["exit"])
        except (OSError, wire.WireError, KeyError, TypeError, ValueError):
            self.returncode = -signal.SIGKILL  # the server went away: so did the session
        self.sock.close()

    def kill(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)  # the session's group: it and anything it started
        except (ProcessLookupError, PermissionError):
            pass


if __name__ == "__main__":
    main(sys.argv[1:])
