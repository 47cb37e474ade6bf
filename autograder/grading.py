"""Grade a class: every student folder, every lab, in parallel workers, resumable.

SUBMISSIONS holds one folder per student, each holding lab folders named by lab id.
A lab whose files, kit and device are unchanged since the last run keeps its grade; a
student's results are rewritten after every lab, so an interrupted run loses at most
the lab in progress.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
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
    return max(1, (os.cpu_count() or 1) // 2)


def grade_class(course: config.Course, submissions: Path, out: Path, *, labs: list[str] | None = None,
                workers: int = 1, device: str | None = None, progress: bool = True) -> ClassSummary:
    labs = labs or list(course.labs)
    for lab in labs:
        course.lab(lab)  # unknown lab ids fail before any work
    device = resolve_device(device or course.device)
    students = find_students(submissions)
    if any(check.id == "mnist_accuracy" for lab in labs for check in course.lab(lab).checks):
        mnist.ensure(course.mnist_cache)  # fail once, up front, rather than in every student's MNIST check
    out.mkdir(parents=True, exist_ok=True)
    kit = kit_fingerprint(course)
    threads = max(1, (os.cpu_count() or 1) // max(1, workers))
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
        for lab in labs:
            got = taken.labs[lab]
            notes = taken.notes + got.notes
            fp = lab_fingerprint(kit, device, got.folder, f"{got.status}\0{got.message}\0{notes}")
            if old.get(lab, {}).get("fingerprint") == fp:
                records[lab] = old[lab]
                kind = "reused"
            else:
                if got.folder is None:
                    run = runner.not_gradable(course, lab, got.status, got.message)
                else:
                    run = runner.run_lab(course, lab, got.folder, device=device, torch_threads=threads,
                                         hide=[submissions.resolve(), out.resolve()])
                records[lab] = results.lab_record(run, fp, notes)
                kind = "graded"
            ordered = {lab: records[lab] for lab in course.labs if lab in records}
            results.write_student(out, student.name, course, ordered)
            with lock:
                counts[kind] += 1
                bar.set_postfix_str(f"{student.name}/{lab}", refresh=False)
                bar.update()

    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for future in [pool.submit(grade_student, s) for s in students]:
                future.result()
    finally:
        bar.close()
        grades = results.write_grades_csv(out, course)
    return ClassSummary(len(students), counts["graded"], counts["reused"], grades)
