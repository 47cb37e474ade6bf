"""Executors: where labs are graded. The per-student loop (grading.py) hands each lab to an
executor's `submit` and waits for its `LabRun`; an executor decides where and how many at
once. `Workers` grades on this machine; a cluster (integrations/ray) implements the same
`Executor` protocol (docs/architecture.md).
"""
from __future__ import annotations

import math
import queue
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from autograder.course import config
from autograder.engine import runner
from autograder.reports.model import LabRun


class Executor(Protocol):
    """Where labs are graded. `device` is what every lab runs on (it is part of each lab's
    fingerprint), `n` how many labs it grades at once (the class grader keeps that many
    submissions taken in and ready). `submit` returns at once; `folder` stays in place
    until the returned future is done, and its result is the lab's `LabRun`."""

    device: str
    n: int

    def submit(self, course: config.Course, lab: str, folder: Path, **kwargs) -> Future: ...

    def close(self) -> None: ...


class ExecutorError(RuntimeError):
    """An executor could not grade (a cluster that refuses or loses its nodes), through no
    fault of the submission; the message says what to do. Grades written so far are kept, and
    the same command resumes."""


def gpu_share(workers_per_gpu: float) -> float:
    """The fraction of a GPU's memory one worker's allocator may take when `workers_per_gpu`
    share it: an equal part of 90 %, leaving room for the CUDA contexts, which it does not count."""
    return 0.9 / max(1, math.ceil(workers_per_gpu))


def auto_workers(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """One worker per CPU this process may use (config.usable_cpus: the affinity, capped by a
    container's CPU quota): a worker grades one lab at a time on one torch thread
    (config.TORCH_THREADS); on a GPU each drives its own share of the device."""
    return config.usable_cpus(cgroup)


def gpu_count(device: str) -> int:
    """The GPUs to spread workers over: all that are visible for "cuda", one for "cuda:N"."""
    if device != "cuda":
        return 1
    import torch

    return max(1, torch.cuda.device_count())


class Workers:
    """`n` labs graded at once on `device`, in this process's threads (each lab's checks run in
    a judge session and confined workers of their own, runner.py). With several GPUs each
    worker slot keeps one (slot i on GPU i mod gpus); every worker's allocator gets an equal
    share of its GPU's memory, leaving room for the CUDA contexts, which it does not count."""

    def __init__(self, n: int, device: str, gpus: int = 1):
        self.n, self.device, self.gpus = max(1, n), device, gpus
        self._slots: queue.SimpleQueue[int] = queue.SimpleQueue()
        for slot in range(self.n):
            self._slots.put(slot)
        self._threads: ThreadPoolExecutor | None = None

    @property
    def gpu_share(self) -> float:
        """The fraction of its GPU's memory one worker's allocator may take (1.0 off CUDA)."""
        if not self.device.startswith("cuda"):
            return 1.0
        return gpu_share(self.n / self.gpus)

    def run_lab(self, course: config.Course, lab: str, folder: Path, **kwargs) -> LabRun:
        """runner.run_lab in a free worker slot (at most `n` at once), in the calling thread."""
        slot = self._slots.get()
        try:
            return runner.run_lab(course, lab, folder, device=self.device, gpu_share=self.gpu_share,
                                  gpu_index=slot % self.gpus if self.gpus > 1 else None, **kwargs)
        finally:
            self._slots.put(slot)

    def submit(self, course: config.Course, lab: str, folder: Path, **kwargs) -> Future:
        """Grade `folder` as lab `lab` in the background; the future's result is its LabRun."""
        if self._threads is None:
            self._threads = ThreadPoolExecutor(max_workers=self.n, thread_name_prefix="lab")
        return self._threads.submit(self.run_lab, course, lab, folder, **kwargs)

    def close(self) -> None:
        if self._threads is not None:
            self._threads.shutdown(wait=True)

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
