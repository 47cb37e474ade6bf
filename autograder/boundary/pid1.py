"""A minimal init for PID 1 of a worker's PID namespace; the student's code runs as PID 2.

Why: the kernel shields PID 1 of a namespace. A signal sent to it from inside the namespace,
itself included, is dropped unless PID 1 has a handler for it (pid_namespaces(7)), so student
code running as PID 1 survives `os.kill(os.getpid(), SIGKILL)`, an unhandled SIGALRM or a
default SIGTERM, and `os.abort()` ends in SIGSEGV instead of SIGABRT. As PID 2 it is an
ordinary process again and dies as it would at home.

What init does: forks the worker, reaps every process of the namespace (orphans are
re-parented to it), forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to the
worker, and returns the worker's exact wait status when it ends. Its caller reports that
status and exits; the kernel then kills whatever is left in the namespace, a daemon that
called setsid() included. PID 1 cannot die of a signal it sends itself, so the status is
reported as data, not re-raised.
"""
from __future__ import annotations

import os
import signal
from collections.abc import Callable

from autograder.boundary import linux

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def run(worker: Callable[[], object], started: Callable[[], object] = lambda: None) -> int:
    """Call as PID 1, once the namespaces and the root are set up: runs `worker()` in PID 2
    (which exits with os._exit(0) if `worker` returns), then `started()` in PID 1, and returns
    the worker's raw waitpid status when it ends. Init is not dumpable, so a worker of the
    same uid (a non-root grader's) can neither ptrace it nor open its file descriptors (the
    connection to the grader)."""
    linux.prctl(linux.PR_SET_DUMPABLE, 0)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    pid = os.fork()
    if pid == 0:
        try:
            for signum in FORWARDED:  # dispositions as in a fresh Python process
                signal.signal(signum, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            linux.prctl(linux.PR_SET_DUMPABLE, 1)
            linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
            worker()
        finally:
            os._exit(0)

    def forward(signum, _frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for signum in FORWARDED:
        signal.signal(signum, forward)
    started()
    while True:
        try:
            child, status = os.waitpid(-1, 0)  # Python retries after `forward` runs (PEP 475)
        except ChildProcessError:  # the worker is gone and nobody else is left
            return 255 << 8
        if child == pid:
            for signum in FORWARDED:
                signal.signal(signum, signal.SIG_IGN)
            return status


def status_text(status: int) -> str:
    """A waitpid status in words: "exit code 0", "killed by signal SIGKILL"."""
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = str(signum)
        return f"killed by signal {name}"
    return f"exit code {os.WEXITSTATUS(status)}"
