"""A fork server: a process that pays its imports once and forks a child per connection;
and the client's side (`Server`, `shared`).

The zygote (workers for student code) and the judge server (the grader's pytest sessions)
are both one: each preloads what its children need, then calls `serve`. The server
prints "ready" when it accepts connections and exits when its stdin closes, that is when
the process that started it goes away, however it died. Children die with the server
(PR_SET_PDEATHSIG), so nothing outlives the grader.

A server is a trusted process: it runs in Python's isolated mode (`python -I`: neither the
working folder, nor the script's folder, nor PYTHONPATH or any other PYTHON* variable, nor
the user's site-packages reach sys.path), in a working folder of the kit's own, with the
kit's own root put first on sys.path explicitly (`helper_command`). Nothing it imports can
come from the folder the grader was started in, a submission, or the environment.
"""
from __future__ import annotations

import gc
import importlib
import os
import pkgutil
import select
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from autograder.boundary import linux
from autograder.course import config

START_S = 120.0  # a server's imports, before it accepts connections


# Run in `python -I -B -c`: the kit's root first on sys.path, then the helper's main(argv).
_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); import importlib; "
         "importlib.import_module(sys.argv[2]).main(sys.argv[3:])")


def helper_command(module: str, *args: str) -> list[str]:
    """The command line of a trusted helper: `module`'s main(args) in this Python, isolated
    (-I: no working folder, script folder, PYTHON* variables or user site on sys.path; -B:
    no bytecode written), with the kit's own root (config.KIT_ROOT) put first on sys.path."""
    return [sys.executable, "-I", "-B", "-c", _BOOT, str(config.KIT_ROOT), module, *args]


def die_with_parent() -> None:
    """In a child: SIGKILL when the parent dies (Linux); elsewhere the stdin pipe does it."""
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)


def import_torch() -> None:
    """Import torch and pay its lazy imports once, in the server, rather than in every child:
    an optimizer's first step imports torch._dynamo (about 2 s). No tensor operation runs:
    one that started torch's thread pool here would leave a forked child that uses more than
    one thread hanging at its first parallel operation."""
    import torch  # noqa: F401
    import torch._dynamo  # noqa: F401
    import torch.optim  # noqa: F401


def import_package(name: str, extra_dirs: str = "") -> None:
    """Import package `name` and every module in it. `extra_dirs` (os.pathsep-separated
    folders) extend the package first: a course's own labs (config.Course.lab_dirs) are then
    importable as `name.<lab>` like the kit's."""
    package = importlib.import_module(name)
    for folder in (d for d in extra_dirs.split(os.pathsep) if d):
        if folder not in package.__path__:
            package.__path__.append(folder)
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{name}.{info.name}")


def _reap(live: dict[int, int]) -> None:
    """Collect every child that has ended; its slot is free again."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        live.pop(pid, None)


def serve(sock_path: str, handle: Callable[[socket.socket, int], None], fork: Callable[[], int] = os.fork) -> None:
    """Accept connections on `sock_path` forever; run `handle(conn, slot)` in a child made by
    `fork()` for each. `slot` is the smallest number no live child holds (a worker's uid is
    made from it: unique among live workers, and small). Call only after every import the
    children need, and before any thread pool starts: the children inherit the memory, not
    the threads."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(64)
    live: dict[int, int] = {}  # pid -> slot

    def watch_stdin():
        sys.stdin.buffer.read()
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    print("ready", flush=True)
    while True:
        conn, _ = server.accept()
        _reap(live)
        taken = set(live.values())
        slot = next(n for n in range(len(taken) + 1) if n not in taken)
        # Everything the server holds out of the garbage collector's sight: a collection in
        # the child would otherwise write to every object's header, copying page after page
        # of the parent's memory (gc.freeze's documented use; about 2000 page faults, 10 to
        # 40 ms, at a worker's first collection here).
        gc.freeze()
        pid = fork()
        if pid == 0:
            try:
                server.close()
                os.setsid()
                die_with_parent()
                handle(conn, slot)
            except BaseException:  # noqa: BLE001 - never return into the server's loop
                pass
            finally:
                os._exit(0)
        live[pid] = slot
        conn.close()


# --- the client's side ------------------------------------------------------------------------


@dataclass
class Server:
    """A running fork server (or one somebody else started: `attach`); `open()` connects."""

    proc: subprocess.Popen | None
    sock_path: Path
    _tmp: tempfile.TemporaryDirectory | None = None
    ready: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def start(cls, module: str, *args: str):
        """Start `module`'s main(SOCKET, *args) as an isolated helper (`helper_command`), in
        a folder of its own that holds its socket; it is ready after `wait_ready()`."""
        tmp = tempfile.TemporaryDirectory(prefix=module.rsplit(".", 1)[-1] + "-")
        os.chmod(tmp.name, 0o700)  # only this user reaches the socket
        sock_path = Path(tmp.name) / "server.sock"
        proc = subprocess.Popen(helper_command(module, str(sock_path), *args), cwd=tmp.name,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        return cls(proc, sock_path, tmp)

    @classmethod
    def attach(cls, sock_path: Path):
        """A server somebody else started and waited for (the class grader's, shared by its runs)."""
        return cls(None, Path(sock_path), ready=True)

    def alive(self) -> bool:
        return self.proc is None or self.proc.poll() is None

    def wait_ready(self) -> None:
        with self._lock:
            if self.ready:
                return
            waited = select.select([self.proc.stdout], [], [], START_S)[0]
            line = self.proc.stdout.readline() if waited else b""  # "ready", or the server's death
            if line.strip() != b"ready":
                module = self.proc.args[6]
                if self.proc.poll() is None:  # still importing after START_S: stuck
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
                again = shlex.join(helper_command(module, "/tmp/x.sock", *self.proc.args[8:]))
                raise RuntimeError(
                    f"the grading server {module} did not start (exit code {self.proc.poll()}); run "
                    f"`cd /tmp && {again}` to see why")
            self.ready = True

    def open(self, timeout: float) -> socket.socket:
        self.wait_ready()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(str(self.sock_path))
        return sock

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()  # the server exits when its stdin closes
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self._tmp is not None:
            self._tmp.cleanup()


_SHARED: dict[tuple, Server] = {}
_SHARED_LOCK = threading.Lock()  # the class grader's threads share each server


def extra_lab_dirs(course, kind: str) -> str:
    """The course's own folders of `kind` ("checks" or "probes"), as import_package takes them."""
    return os.pathsep.join(str(d) for d in course.lab_dirs(kind)[1:])


def shared(cls, module: str, *args: str, wait: bool = True):
    """One server per (module, args) for this whole process (a class, a test session),
    started on first use; it exits with this process (its stdin closes). Children are
    forked per request, so sharing a server shares nothing between requests."""
    key = (cls, module, args)
    with _SHARED_LOCK:
        server = _SHARED.get(key)
        if server is None or not server.alive():
            server = _SHARED[key] = cls.start(module, *args)
    if wait:
        server.wait_ready()
    return server
