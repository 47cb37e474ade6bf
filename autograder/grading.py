"""Grade a class: every student folder, every lab, several labs at a time, resumable.

SUBMISSIONS holds one folder per student, each holding lab folders named by lab id.
A lab whose files, kit and device are unchanged since the last run keeps its grade; a
student's results are rewritten after every lab, so an interrupted run loses at most
the lab in progress.
"""
from __future__ import annotations

import hashlib
import math
import os
import queue
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from autograder import config, intake, mnist, results, runner


@dataclass
class ClassSummary:
    students: int
    graded: int  # labs graded in this run
    reused: int  # labs whose earlier grade was kept
    grades_csv: Path


def find_students(submissions: Path) -> list[Path]:
    if not submissions.is_dir():
        raise FileNotFoundError(f"{submissions} is not a folder; expected one folder per student inside it")
    return sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def _hash_tree(h, folder: Path) -> None:
    if not folder.is_dir():
        h.update(b"<absent>")
        return
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")


def kit_fingerprint(course: config.Course) -> str:
    """Changes whenever the checks, the grading code or course.toml change."""
    h = hashlib.sha256(course.path.read_bytes())
    _hash_tree(h, config.PACKAGE_DIR)
    return h.hexdigest()


def lab_fingerprint(kit: str, device: str, lab_dir: Path | None, intake_text: str = "") -> str:
    """Changes whenever what would be graded changes: the kit, the device, the lab's clean
    folder after intake, or what intake had to say about it."""
    h = hashlib.sha256(f"{kit}\0{device}\0{intake_text}\0".encode())
    if lab_dir is not None:
        _hash_tree(h, lab_dir)
    return h.hexdigest()


def resolve_device(name: str) -> str:
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def auto_workers() -> int:
    """One worker per CPU core this process may use: a worker grades one lab at a time on one
    torch thread (config.TORCH_THREADS); on a GPU each drives its own share of the device."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, cores or 1)


def gpu_count(device: str) -> int:
    """The GPUs to spread workers over: all that are visible for "cuda", one for "cuda:N"."""
    if device != "cuda":
        return 1
    import torch

    return max(1, torch.cuda.device_count())


@dataclass
class Workers:
    """`n` labs graded at once on `device`. With several GPUs each worker slot keeps one
    (slot i on GPU i mod gpus); every worker's allocator gets an equal share of its GPU's
    memory, leaving room for the CUDA contexts, which the allocator does not count."""

    n: int
    device: str
    gpus: int = 1

    def __post_init__(self):
        self.n = max(1, self.n)
        self._slots: queue.SimpleQueue[int] = queue.SimpleQueue()
        for slot in range(self.n):
            self._slots.put(slot)

    @property
    def gpu_share(self) -> float:
        if not self.device.startswith("cuda"):
            return 1.0
        return 0.9 / math.ceil(self.n / self.gpus)

    def run_lab(self, course: config.Course, lab: str, folder: Path, **kwargs) -> runner.LabRun:
        """runner.run_lab in a free worker slot (at most `n` at once)."""
        slot = self._slots.get()
        try:
            return runner.run_lab(course, lab, folder, device=self.device, gpu_share=self.gpu_share,
                                  gpu_index=slot % self.gpus if self.gpus > 1 else None, **kwargs)
        finally:
            self._slots.put(slot)


def grade_class(course: config.Course, submissions: Path, out: Path, *, labs: list[str] | None = None,
                workers: int = 1, device: str | None = None, progress: bool = True) -> ClassSummary:
    """Grade every student's labs, `workers` labs at a time (labs of one student too)."""
    labs = labs or list(course.labs)
    for lab in labs:
        course.lab(lab)  # unknown lab ids fail before any work
    device = resolve_device(device or course.device)
    students = find_students(submissions)
    if any(check.id == "mnist_accuracy" for lab in labs for check in course.lab(lab).checks):
        mnist.ensure(course.mnist_cache)  # fail once, up front, rather than in every student's MNIST check
    out.mkdir(parents=True, exist_ok=True)
    kit = kit_fingerprint(course)
    pool = Workers(workers, device, gpu_count(device))
    counts = {"graded": 0, "reused": 0}
    lock = threading.Lock()
    bar = tqdm(total=len(students) * len(labs), unit="lab", disable=not progress, desc="grading")

    def grade_student(student: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="intake-") as tmp:
            grade_intake(student, intake.collect(student, course, Path(tmp), labs))

    def grade_intake(student: Path, taken: intake.Intake) -> None:
        previous = results.read_results(out / student.name / "results.json")
        old = previous["extra_data"]["labs"] if previous else {}
        # Labs outside this run keep their earlier grades.
        records: dict[str, dict] = {lab: old[lab] for lab in course.labs if lab in old}
        running = {}
        for lab in labs:
            got = taken.labs[lab]
            notes = taken.notes + got.notes
            fp = lab_fingerprint(kit, device, got.folder, f"{got.status}\0{got.message}\0{notes}")
            if old.get(lab, {}).get("fingerprint") == fp:
                records[lab] = old[lab]
                done(student, lab, records, "reused")
            elif got.folder is None:
                records[lab] = results.lab_record(runner.not_gradable(course, lab, got.status, got.message), fp, notes)
                done(student, lab, records, "graded")
            else:
                future = lab_pool.submit(pool.run_lab, course, lab, got.folder,
                                         hide=[submissions.resolve(), out.resolve()])
                running[future] = (lab, fp, notes)
        for future in as_completed(running):  # each lab's grade is written as soon as it is known
            lab, fp, notes = running[future]
            records[lab] = results.lab_record(future.result(), fp, notes)
            done(student, lab, records, "graded")

    def done(student: Path, lab: str, records: dict, kind: str) -> None:
        ordered = {lab: records[lab] for lab in course.labs if lab in records}
        results.write_student(out, student.name, course, ordered)
        with lock:
            counts[kind] += 1
            bar.set_postfix_str(f"{student.name}/{lab}", refresh=False)
            bar.update()

    try:
        # Student threads take in submissions and wait; lab threads grade. One more student
        # than workers keeps the next submission's intake ready when a worker frees up.
        with ThreadPoolExecutor(max_workers=pool.n, thread_name_prefix="lab") as lab_pool, \
                ThreadPoolExecutor(max_workers=pool.n + 1, thread_name_prefix="student") as student_pool:
            for future in [student_pool.submit(grade_student, s) for s in students]:
                future.result()
    finally:
        bar.close()
        grades = results.write_grades_csv(out, course)
    return ClassSummary(len(students), counts["graded"], counts["reused"], grades)
