"""Grade students: every student's labs, several labs at a time, resumable.

`grade_students` is the one per-student loop: `autograder grade` (a class folder,
`grade_class` below) and `autograder grade --nbgrader` (integrations/nbgrader) differ only
in how a student's labs are taken in (`prepare`) and in what they write besides the reports.
A lab whose files, kit and device are unchanged since the last run keeps its grade; a
student's reports are rewritten after every lab, so an interrupted run loses at most the
labs in progress. Labs that intake turned into identical folders (untouched stubs, copies of
a handout, one file handed in by several students) are graded once per run and the result
written for each student, with the student's own intake notes. Where labs run is the
executor's business (executors.py; a cluster: integrations/ray); this process alone writes
the reports.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from autograder import reports
from autograder.course import config, mnist
from autograder.course.late import Submitted
from autograder.engine import runner
from autograder.engine.executors import Executor, Workers, gpu_count
from autograder.intake import collect as intake
from autograder.intake.collect import LabIntake
from autograder.reports import escape
from autograder.reports.files import read_results
from autograder.reports.model import lab_record
from autograder.reports.results_json import FILE as RESULTS_FILE

# prepare(student, labs, folder) -> one LabIntake per lab, its clean folder under `folder`
Prepare = Callable[[str, list[str], Path], dict[str, LabIntake]]
# on_lab(student, lab, record, reused): called in the student's thread after each lab
OnLab = Callable[[str, str, dict, bool], None]
# on_student(student, records): called in the calling thread once a student is done
OnStudent = Callable[[str, dict[str, dict]], None]


@dataclass
class ClassSummary:
    students: int
    graded: int  # labs graded in this run, `shared` included
    reused: int  # labs whose earlier grade was kept
    grades_csv: Path
    shared: int = 0  # labs identical to another student's in this run: graded once for all of them


def find_students(submissions: Path) -> list[Path]:
    """The student folders of a class folder (hidden and `_` folders left out), sorted."""
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


# course.toml tables that decide no grade: [late] only sets penalties, which the reports
# compute from the stored submission times, so changing it regrades nothing; nor does a
# lab's [labs.<lab>.resources] (what a cluster reserves for it).
NOT_GRADING = ("late",)


def kit_fingerprint(course: config.Course) -> str:
    """Changes whenever the checks, the grading code or course.toml's settings change
    (its [late] table, the labs' [resources] and its comments aside)."""
    settings = {k: v for k, v in course.raw.items() if k not in NOT_GRADING}
    if "labs" in settings:  # a lab's [resources] say where it may be graded, not how
        settings["labs"] = {lab: {k: v for k, v in table.items() if k != "resources"}
                            for lab, table in settings["labs"].items()}
    h = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    _hash_tree(h, config.PACKAGE_DIR)
    for kind in ("checks", "probes"):
        for folder in course.lab_dirs(kind)[1:]:  # a course's own labs
            _hash_tree(h, folder)
    return h.hexdigest()


def content_hash(lab: str, lab_dir: Path) -> str:
    """SHA-256 of what would be graded of a lab, whoever handed it in: the lab id and the
    files of its clean folder after intake (names and bytes). Equal for two students who
    handed in the same code; their notes may differ."""
    h = hashlib.sha256(f"{lab}\0".encode())
    _hash_tree(h, lab_dir)
    return h.hexdigest()


def lab_fingerprint(kit: str, device: str, content: str, intake_text: str = "") -> str:
    """Changes whenever what would be graded changes: the kit, the device, the lab's clean
    folder after intake (`content`: its content_hash, "" when intake found none), or what
    intake had to say about it."""
    return hashlib.sha256(f"{kit}\0{device}\0{intake_text}\0{content}".encode()).hexdigest()


def grade_students(course: config.Course, jobs: dict[str, list[str]], prepare: Prepare, out: Path, *,
                   executor: Executor | None = None, workers: int = 1, device: str = "cpu", progress: bool = True,
                   hide: list[Path] = (), on_lab: OnLab | None = None,
                   on_student: OnStudent | None = None) -> ClassSummary:
    """Grade `jobs` (student -> lab ids), writing every report into `out`; returns the counts.
    Labs run on `executor` (its `device`), which the caller closes; without one, on this
    machine's `workers` slots on `device` ("auto": CUDA when a GPU is visible). `hide` lists
    folders the workers must not see besides the kit's own (the class, the results)."""
    if any(course.lab(lab).trains_on_mnist for labs in jobs.values() for lab in labs):
        mnist.ensure(course.mnist_cache)  # fail once, up front, rather than in every student's MNIST check
    if executor is None:
        # The judge server and the zygote take seconds to import torch: they start first,
        # and this process's own work (finding the device, intake) overlaps with theirs.
        runner.start_servers(course)
        device = config.resolve_device(device)
    out.mkdir(parents=True, exist_ok=True)
    kit = kit_fingerprint(course)
    pool = executor or Workers(workers, device, gpu_count(device))
    device = pool.device
    counts = {"graded": 0, "reused": 0, "shared": 0}
    lock = threading.Lock()
    runs: dict[str, Future] = {}  # content hash -> the one grading of that content in this run
    bar = tqdm(total=sum(len(labs) for labs in jobs.values()), unit="lab", disable=not progress, desc="grading")
    hide = [Path(p).resolve() for p in hide] + [out.resolve()]

    def grade_once(lab: str, folder: Path, content: str) -> tuple[Future, bool]:
        """The grading of this content: started now, or the one another student's identical
        lab started (then True)."""
        with lock:
            if content in runs:
                return runs[content], True
            runs[content] = future = pool.submit(course, lab, folder, hide=hide)
            return future, False

    def grade_student(student: str) -> dict[str, dict]:
        previous = read_results(out / student / RESULTS_FILE)
        old = previous["extra_data"]["labs"] if previous else {}
        # Labs outside this run keep their earlier grades.
        records: dict[str, dict] = {lab: old[lab] for lab in course.labs if lab in old}
        with tempfile.TemporaryDirectory(prefix="intake-") as tmp:
            taken = prepare(student, jobs[student], Path(tmp))
            running = {}
            # The labs that train on MNIST first: the longest jobs started first leave no slot
            # idle at the end of a lone submission (longest-processing-time-first scheduling).
            for lab in sorted(jobs[student], key=lambda lab: not course.lab(lab).trains_on_mnist):
                got = taken[lab]
                # The submission time decides no grade (it is not in the fingerprint); a new one
                # replaces the stored one, which is kept when none is given.
                when = got.submitted.record() if got.submitted else old.get(lab, {}).get("submitted")
                content = content_hash(lab, got.folder) if got.folder is not None else ""
                fp = lab_fingerprint(kit, device, content, f"{got.status}\0{got.message}\0{got.notes}")
                if old.get(lab, {}).get("fingerprint") == fp:
                    finished(student, lab, records, _stamped(old[lab], when), reused=True)
                elif got.folder is None:
                    run = runner.not_gradable(course, lab, got.status, got.message)
                    finished(student, lab, records, _stamped(lab_record(run, fp, got.notes), when))
                else:
                    future, shared = grade_once(lab, got.folder, content)
                    running[future] = (lab, fp, got.notes, when, content, shared)
            for future in as_completed(running):  # each lab's grade is written as soon as it is known
                lab, fp, notes, when, content, shared = running[future]
                record = lab_record(future.result(), fp, notes, content)
                finished(student, lab, records, _stamped(record, when), shared=shared)
        return records

    def finished(student: str, lab: str, records: dict, record: dict, reused: bool = False,
                 shared: bool = False) -> None:
        records[lab] = record
        reports.write_student(out, student, course, records)
        if on_lab is not None:
            on_lab(student, lab, record, reused)
        with lock:
            counts["reused" if reused else "graded"] += 1
            counts["shared"] += shared
            bar.set_postfix_str(escape.terminal(f"{student}/{lab}"), refresh=False)
            bar.update()

    try:
        # Student threads take in submissions and wait; the executor grades. One more student
        # than the executor's slots keeps the next submission's intake ready when one frees up.
        with ThreadPoolExecutor(max_workers=pool.n + 1, thread_name_prefix="student") as students:
            futures = {students.submit(grade_student, s): s for s in jobs}
            for future in as_completed(futures):
                records = future.result()
                if on_student is not None:
                    on_student(futures[future], records)
    finally:
        if executor is None:
            pool.close()
        bar.close()
        grades = reports.write_class(out, course)
    return ClassSummary(len(jobs), counts["graded"], counts["reused"], grades, counts["shared"])


def intake_labs(folder: Path, course: config.Course, dest: Path, labs: list[str],
                submitted: Callable[[str], Submitted | None] = lambda lab: None) -> dict[str, LabIntake]:
    """What `folder` holds, taken in (intake.collect) as one LabIntake per lab under `dest`,
    with the notes on the submission as a whole in every lab's and `submitted(lab)` as the
    lab's submission time: the `prepare` of grade_students for a folder of one student."""
    taken = intake.collect(folder, course, dest, labs)
    return {lab: dataclasses.replace(got, notes=taken.notes + got.notes, submitted=submitted(lab))
            for lab, got in taken.labs.items()}


def _stamped(record: dict, submitted: dict | None) -> dict:
    """The lab record with its submission time (late.Submitted.record()), when one is known."""
    return {**record, "submitted": submitted} if submitted else record


def grade_class(course: config.Course, submissions: Path, out: Path, *, labs: list[str] | None = None,
                workers: int = 1, device: str | None = None, progress: bool = True,
                submitted_at: dict[tuple[str, str], dt.datetime] | None = None,
                executor: Executor | None = None) -> ClassSummary:
    """Grade a class folder (one folder per student, each holding what the student handed
    in: lab folders, archives, notebooks; intake sorts it out), on `executor` when given.
    `submitted_at` maps (student, lab) to the time the lab was handed in, for the late rule
    (course/late.py)."""
    labs = labs or list(course.labs)
    for lab in labs:
        course.lab(lab)  # unknown lab ids fail before any work
    students = {s.name: s for s in find_students(submissions)}
    like_labs = sorted(name for name in students if name in course.labs)
    if like_labs:  # one student's folder passed as the class: its labs would be graded as students
        raise ValueError(
            f"{submissions} holds folders named like labs ({', '.join(like_labs[:3])}): it looks like one "
            "student's work, not a class. Pass the class folder, which holds one folder per student "
            "(each with that student's lab folders, notebooks or zip files); to check one student, "
            "put their folder alone inside a class folder")

    times = submitted_at or {}

    def prepare(student: str, wanted: list[str], dest: Path) -> dict[str, LabIntake]:
        return intake_labs(students[student], course, dest, wanted,
                           lambda lab: Submitted(times[student, lab]) if (student, lab) in times else None)

    return grade_students(course, {s: list(labs) for s in students}, prepare, out, executor=executor,
                          workers=workers, device=device or course.device, progress=progress,
                          hide=[submissions])
