"""The trusted side of the boundary: start the zygote, open a confined worker per check,
send probe requests and turn replies into values or exceptions the checks understand.

Nothing here runs student code or loads anything that could run code: replies are
decoded by wire.py, and every failure of the worker becomes one of the exceptions below.
"""
from __future__ import annotations

import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from autograder.boundary import forkserver, wire
from autograder.course import config, mnist
from autograder.course.config import Limits


class StudentError(Exception):
    """The student's code raised `type` (deriving from the builtin `builtin`) during a probe."""

    def __init__(self, info: dict):
        self.info = info
        self.type = str(info.get("type", "Exception"))
        self.builtin = str(info.get("builtin", "Exception"))
        self.message = str(info.get("message", ""))
        self.where = info.get("where")
        self.name = info.get("name") if isinstance(info.get("name"), str) else None  # AttributeError, ImportError
        self.student = bool(info.get("student"))
        super().__init__(self.describe())

    def describe(self) -> str:
        text = f"{self.type}: {self.message}".rstrip(": ")
        return f"{text} ({self.where})" if self.where else text

    def is_a(self, *names: str) -> bool:
        """Whether the student's exception is (or derives from) one of these builtins."""
        return self.type in names or self.builtin in names


class OutOfMemory(Exception):
    """The worker ran out of memory (its address-space cap, or the GPU's)."""


class WorkerTimeout(Exception):
    """The check's time ran out while the worker was busy; the worker was killed."""


class WorkerDied(Exception):
    """The worker ended without answering: os._exit, a crash, a signal."""


class ImportFailed(Exception):
    """The student's module could not be imported; the message says why."""


class ForbiddenCall(AssertionError):
    """The student's code called a function the lab forbids."""


def hidden_paths(course: config.Course, extra: list[Path] = ()) -> list[Path]:
    """What a worker must not see besides what its root leaves out anyway (rootfs.py builds
    the root from an allow list, so none of these is in it as a rule): the checks (the
    course's own too), the course's solutions and course.toml, MNIST and its test labels, plus
    `extra` (the class, the results). The zygote covers any of them that lies inside a folder
    the root holds (defence in depth: a class folder inside the virtual environment)."""
    hidden = [*course.lab_dirs("checks"), course.root / "solutions", course.path]
    for var in ("MNIST_DIR", "MNIST_CACHE"):
        if os.environ.get(var):
            hidden.append(Path(os.environ[var]))
    hidden += [Path(p) for p in extra]
    needed = [Path(sys.prefix).resolve(), config.PACKAGE_DIR.resolve(), Path(os.__file__).resolve().parent]
    # Never hide a folder the worker's Python lives in, nor one of its parents.
    unique = dict.fromkeys(p.resolve() for p in hidden)
    return [p for p in unique if not any(n == p or n.is_relative_to(p) for n in needed)]


class Zygote(forkserver.Server):
    """The zygote (zygote.py), a fork server; `connect()` gives a fresh confined worker."""

    def connect(self, spec: dict, timeout: float = 60.0) -> "Worker":
        sock = self.open(timeout)
        wire.send(sock, spec)
        try:
            hello = wire.recv(sock)
        except (TimeoutError, wire.WireError) as e:
            sock.close()
            raise WorkerDied(f"the worker did not start ({e})") from None
        if not isinstance(hello, dict) or "hello" not in hello:
            sock.close()
            raise WorkerDied(str(hello.get("died") if isinstance(hello, dict) else hello))
        return Worker(sock, int(hello["hello"]), int(hello["pgid"]), hello.get("confinement", {}))


@dataclass
class Worker:
    sock: socket.socket
    pid: int
    pgid: int
    confinement: dict
    deadline: float = float("inf")
    timed_out: bool = False

    def probe(self, name: str, seed: int, **args):
        """Run probe `name` on the student's module in the worker and return its plain result.

        Raises StudentError (the student's code raised), ImportFailed, ForbiddenCall,
        OutOfMemory, WorkerTimeout or WorkerDied."""
        try:
            self.sock.settimeout(min(1e6, max(0.01, self.deadline - time.monotonic())))
            wire.send(self.sock, {"name": name, "seed": seed, "args": args})
            reply = wire.recv(self.sock)
        except (TimeoutError, socket.timeout):
            self.timed_out = True
            self.kill()
            raise WorkerTimeout(name) from None
        except (OSError, wire.WireError) as e:
            raise WorkerDied(self._death(str(e))) from None
        if not isinstance(reply, dict):
            raise WorkerDied("the worker sent something that is not a reply")
        if "died" in reply:
            died = str(reply["died"])
            if "SIGXCPU" in died:
                self.timed_out = True
                raise WorkerTimeout(name)
            raise WorkerDied(died)
        if "import_error" in reply:
            raise ImportFailed(str(reply["import_error"]))
        violations = reply.get("violations") or []
        if violations:
            raise ForbiddenCall(f"your code called {violations[0]}, which this lab asks you to write yourself")
        if "raised" in reply:
            info = reply["raised"] if isinstance(reply["raised"], dict) else {}
            if info.get("oom"):
                raise OutOfMemory(str(info.get("message", ""))[:300])
            raise StudentError(info)
        return reply.get("ok")

    def _death(self, why: str) -> str:
        try:  # PID 1's (or the intermediate's) last word says how the worker ended
            self.sock.settimeout(2)
            last = wire.recv(self.sock)
            if isinstance(last, dict) and "died" in last:
                return str(last["died"])
        except Exception:  # noqa: BLE001 - nothing more to learn
            pass
        return why

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)  # PID 1 of its namespace: all it started dies too
        except (ProcessLookupError, PermissionError):
            pass
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def close(self) -> None:
        self.kill()
        self.sock.close()


def zygote_args(course: config.Course) -> tuple[str, str, str]:
    """The zygote's arguments for `course`: the workers' MNIST file, the course's probe
    folders, and "none" when AUTOGRADER_SANDBOX=none forces the fallback without namespaces
    (docs/security.md). A different setting is a different shared zygote."""
    sandbox = "none" if os.environ.get("AUTOGRADER_SANDBOX") == "none" else "namespaces"
    return str(mnist.inputs_for(course) or ""), forkserver.extra_lab_dirs(course, "probes"), sandbox


def shared_zygote(course: config.Course, wait: bool = True) -> Zygote:
    """The zygote for this whole process (a class, a test session): workers are forked per
    check, so sharing it shares nothing between submissions."""
    return forkserver.shared(Zygote, "autograder.boundary.zygote", *zygote_args(course), wait=wait)


def spec_for(lab: config.Lab, submission: Path, device: str, *, forbidden: list[str], limits: Limits,
             hidden: list[Path], gpu_share: float = 1.0, gpu_index: int | None = None,
             probes: str | None = None) -> dict:
    """What the zygote needs to start a worker; `gpu_share` is the fraction of the GPU's memory
    its allocator may take (the grader gives each concurrent worker an equal share), and
    `gpu_index` the GPU it runs on when the grader spreads its workers over several.
    `probes` names the module of autograder.probes the worker serves (default: the lab's)."""
    import dataclasses

    return {
        "submission": str(submission), "lab": lab.id, "module": lab.module, "api": list(lab.api),
        "probes": probes,
        "forbidden": forbidden,
        "device": device, "threads": config.TORCH_THREADS, "gpu_share": gpu_share, "gpu_index": gpu_index, "limits": dataclasses.asdict(limits),
        "hidden": [str(p) for p in hidden],
    }
