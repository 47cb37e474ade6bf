"""`autograder grade --nbgrader COURSE_DIR`: grade a collected nbgrader class with the kit.

For each `COURSE_DIR/submitted/<student>/<assignment>/`, the lab module is built from the
notebook (autograder/intake/notebooks.py, the read-only cells restored from nbgrader's gradebook)
or taken from a submitted `<module>.py` (autograder.intake), and graded with the kit's
own engine (runner.run_lab: sandboxed workers, time limits, hidden checks from
course.toml). No cell of the student's notebook runs outside the sandbox, and nothing the
notebook does can reach the grader. Then

- the kit's results go to OUT as for `autograder grade` (results.json, feedback.md,
  grades.csv), with every note on the notebook (deleted, copied, retyped or edited cells,
  a renamed notebook, huge outputs);
- nbgrader's gradebook gets the autograded score of every test cell (its points when
  every check it calls passed, else 0), the "No response." comments of untouched
  solution cells, the submission time and the late penalty: the kit's rule when
  course.toml has a [late] table (from timestamp.txt, course/late.py), else nbgrader's own;
- `autograded/<student>/<assignment>/<notebook>.ipynb` is written as nbgrader's
  autograde would: locked and test cells restored, each test cell's output the kit's
  verdict, the notes in a cell at the top; so formgrader, `nbgrader generate_feedback`
  and `nbgrader export` work on it.

A lab whose module, kit and device are unchanged since the last run keeps its grade.
"""
from __future__ import annotations

import copy
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.course import config
from autograder.course.late import Submitted
from autograder.engine import grading
from autograder.engine.executors import Executor
from autograder.intake import collect as intake
from autograder.intake import notebooks as nbextract
from autograder.intake.collect import LabIntake
from autograder.reports import escape
from autograder.reports.files import write_atomic
from autograder.reports.model import lab_grade


@dataclass
class NotebookSpec:
    name: str
    originals: list[nbextract.Original]
    points: dict[str, float]  # grade cell id -> max score
    checks: dict[str, list[str]]  # grade cell id -> the check ids it calls (empty: not a kit cell)
    checksums: dict[str, str]  # cell id -> the original's checksum


@dataclass
class AssignmentSpec:
    name: str
    lab: str
    notebooks: list[NotebookSpec]


@dataclass
class Summary:
    students: int
    graded: int
    reused: int
    grades_csv: Path
    gradebook: str
    skipped: list[str] = field(default_factory=list)


@dataclass
class Job:
    student: str
    spec: AssignmentSpec
    record: dict | None = None
    books: list[tuple[NotebookSpec, dict | None, str]] = field(default_factory=list)  # spec, parsed nb, file name
    notes: list[str] = field(default_factory=list)
    reused: bool = False
    course: config.Course | None = None
    lab: config.Lab | None = None


def _alembic_on_path() -> None:
    """nbgrader's Gradebook runs the `alembic` command: the one beside this Python."""
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def load_coursedir(course_dir: Path):
    """nbgrader's CourseDirectory with the course's nbgrader_config.py (read from the
    course folder itself, not Jupyter's config path), and that config."""
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    cfg = Config()
    if (course_dir / "nbgrader_config.py").is_file():
        cfg = PyFileConfigLoader("nbgrader_config.py", path=str(course_dir)).load_config()
    coursedir = CourseDirectory(config=cfg)
    coursedir.root = str(course_dir)  # the folder named on the command line, whatever the file says
    return coursedir, cfg


def assignment_spec(gb, course: config.Course, name: str) -> AssignmentSpec:
    """What the gradebook knows of an assignment: its notebooks, cells and checks."""
    assignment = gb.find_assignment(name)
    notebooks, labs = [], set()
    for nb in sorted(assignment.notebooks, key=lambda n: n.name):
        grade = {c.name: c.max_score for c in nb.grade_cells}
        solution = {c.name for c in nb.solution_cells}
        originals, checks, checksums = [], {}, {}
        for cell in nb.source_cells:
            originals.append(nbextract.Original(cell.name, cell.cell_type, cell.source or "", bool(cell.locked),
                                                cell.name in solution, cell.name in grade))
            checksums[cell.name] = cell.checksum
            if cell.name in grade:
                calls = nbextract.check_calls(cell.source or "")
                checks[cell.name] = [c for _, c in calls]
                labs |= {lab for lab, _ in calls}
        notebooks.append(NotebookSpec(nb.name, originals, grade, checks, checksums))
    if name in course.labs:
        lab = name
    elif len(labs) == 1:
        lab = labs.pop()
    else:
        raise KeyError(f"assignment {name!r} is not a lab of the course and its test cells call "
                       f"{'no' if not labs else 'several'} labs' checks")
    course.lab(lab)
    for nb in notebooks:  # test cells of another lab cannot be graded with this lab's run
        for cell, ids in nb.checks.items():
            known = {c.id for c in course.lab(lab).checks}
            nb.checks[cell] = ids if ids and set(ids) <= known else []
    return AssignmentSpec(name, lab, notebooks)


# --- finding and reading the notebooks -----------------------------------------------------------

def _find_notebooks(folder: Path, spec: AssignmentSpec) -> tuple[list[tuple[NotebookSpec, Path | None]], list[str]]:
    """Each expected notebook's file: by name, else the one other notebook that has its cells."""
    notes = []
    present = sorted(p for p in folder.glob("*.ipynb") if p.is_file() and not p.is_symlink())
    expected = {f"{nb.name}.ipynb" for nb in spec.notebooks}
    spare = [p for p in present if p.name not in expected]
    found = []
    for nb in spec.notebooks:
        path = folder / f"{nb.name}.ipynb"
        if path.is_file() and not path.is_symlink():
            found.append((nb, path))
            continue
        ids = {o.grade_id for o in nb.originals if o.solution or o.grade}
        fits = []
        for p in spare:
            try:
                text = p.read_text(encoding="utf-8", errors="replace") if p.stat().st_size <= nbextract.MAX_NOTEBOOK else ""
            except OSError:
                text = ""
            if any(f'"grade_id": "{i}"' in text for i in ids):
                fits.append(p)
        if len(fits) == 1:
            notes.append(f"{nb.name}.ipynb was not submitted; graded {fits[0].name} instead "
                         f"(keep the notebook's name: {nb.name}.ipynb)")
            spare.remove(fits[0])
            found.append((nb, fits[0]))
        elif fits:
            notes.append(f"{nb.name}.ipynb was not submitted, and {len(fits)} notebooks could be it "
                         f"({', '.join(p.name for p in fits)}); none was graded. Submit one, named {nb.name}.ipynb")
            found.append((nb, None))
        else:
            found.append((nb, None))
    for p in spare:
        if not any(p == path for _, path in found):
            notes.append(f"{p.name} is not part of the assignment and was not graded")
    return found, notes


def _prepare(job: Job, folder: Path, dest: Path) -> tuple[str, str, Path | None]:
    """Write the lab module into `dest`; return (status, message, folder or None)."""
    course_lab = job.lab
    found, notes = _find_notebooks(folder, job.spec)
    job.notes += notes
    if not any(path for _, path in found):
        # No notebook: a submitted module (or archive) goes through the kit's intake.
        with tempfile.TemporaryDirectory(prefix="nbintake-") as tmp:
            staged = Path(tmp) / "student" / course_lab.id
            shutil.copytree(folder, staged, symlinks=True, ignore=shutil.ignore_patterns("*.ipynb"))
            taken = intake.collect(Path(tmp) / "student", job.course, dest, [course_lab.id])
        got = taken.labs[course_lab.id]
        job.notes += taken.notes + got.notes
        for nb, _ in found:
            job.books.append((nb, None, f"{nb.name}.ipynb"))
        if got.folder is None:
            names = ", ".join(f"{nb.name}.ipynb" for nb in job.spec.notebooks)
            return got.status, f"{names} was not submitted" + (f" ({got.message})" if got.message else ""), None
        return "ok", "", got.folder
    sources, problems = [], []
    for nb, path in found:
        if path is None:
            job.books.append((nb, None, f"{nb.name}.ipynb"))
            problems.append(f"{nb.name}.ipynb was not submitted")
            continue
        data = path.read_bytes()
        try:
            parsed = nbextract.read_notebook(data, path.name)
        except nbextract.NotebookError as e:
            job.books.append((nb, None, path.name))
            problems.append(str(e))
            continue
        got = nbextract.module_source(parsed, path.name, originals=nb.originals, size=len(data), api=course_lab.api)
        job.notes += got.notes
        job.books.append((nb, parsed, path.name))
        sources.append(got.source)
    if not sources:
        return "unreadable", "; ".join(problems), None
    job.notes += problems
    lab_dir = dest / course_lab.id
    lab_dir.mkdir(parents=True, exist_ok=True)
    (lab_dir / f"{course_lab.module}.py").write_text("\n\n".join(sources), encoding="utf-8")
    for helper in folder.glob("*.py"):  # helper modules beside the notebook come along
        if helper.is_file() and not helper.is_symlink() and helper.name != f"{course_lab.module}.py":
            shutil.copyfile(helper, lab_dir / helper.name)
    return "ok", "", lab_dir


# --- nbgrader's side: gradebook and autograded notebooks -------------------------------------------

def _passed(record: dict, check_ids: list[str]) -> bool:
    return bool(check_ids) and all(record["checks"].get(c, {}).get("status") == "passed" for c in check_ids)


def _cell_output(record: dict, check_ids: list[str], points: float) -> list[dict]:
    if not check_ids:
        return []
    if _passed(record, check_ids):
        text = "".join(f"{c}: passed\n" for c in check_ids) + f"({points:g} of {points:g} points)\n"
        return [{"output_type": "stream", "name": "stdout", "text": text}]
    failed = [c for c in check_ids if record["checks"].get(c, {}).get("status") != "passed"]
    # Outputs are shown as text (nbconvert escapes them as HTML) but their escape sequences
    # would be read as colours and cursor moves: the student's words lose them.
    message = "; ".join(f"{c}: {record['checks'].get(c, {}).get('status', 'not run')}: "
                        f"{escape.terminal(record['checks'].get(c, {}).get('message') or record.get('message', ''))}"
                        for c in failed)
    return [{"output_type": "error", "ename": "AssertionError", "evalue": message,
             "traceback": [f"AssertionError: {message}"]}]


def _canonical_meta(nb: NotebookSpec, o: nbextract.Original) -> dict:
    meta = {"grade": o.grade, "grade_id": o.grade_id, "locked": o.locked, "schema_version": 3,
            "solution": o.solution, "task": False, "checksum": nb.checksums.get(o.grade_id), "cell_type": o.cell_type}
    if o.grade:
        meta["points"] = nb.points[o.grade_id]
    return {k: v for k, v in meta.items() if v is not None}


def _as_type(cell: dict, cell_type: str) -> dict:
    cell["cell_type"] = cell_type
    if cell_type == "code":
        cell.setdefault("outputs", [])
        cell.setdefault("execution_count", None)
    else:
        cell.pop("outputs", None)
        cell.pop("execution_count", None)
    return cell


def _skeleton(nb: NotebookSpec) -> dict:
    """The assignment's notebook from the gradebook alone (its nbgrader cells)."""
    cells = []
    for o in nb.originals:
        source = "" if o.solution else o.source
        cells.append(_as_type({"cell_type": o.cell_type, "metadata": {}, "source": source}, o.cell_type))
        cells[-1]["metadata"]["nbgrader"] = {"grade_id": o.grade_id}
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}


def autograded_notebook(nb: NotebookSpec, student_nb: dict | None, record: dict, notes: list[str],
                        release: Path | None) -> dict:
    """The notebook as nbgrader's autograde would leave it, with the kit's verdicts as outputs."""
    if student_nb is None:
        base = json.loads(release.read_text(encoding="utf-8")) if release and release.is_file() else _skeleton(nb)
    else:
        base = copy.deepcopy(student_nb)
    by_id = {o.grade_id: o for o in nb.originals}
    cells, seen = [], set()
    for raw in base.get("cells", []):
        if not isinstance(raw, dict):
            continue
        cell_type = raw.get("cell_type") if raw.get("cell_type") in ("code", "markdown", "raw") else "raw"
        source = raw.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        meta = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
        meta = {k: v for k, v in meta.items() if k != "nbgrader"}
        cell = _as_type({"cell_type": cell_type, "metadata": meta, "source": source}, cell_type)
        if cell_type == "markdown" and isinstance(raw.get("attachments"), dict):
            cell["attachments"] = raw["attachments"]
        nbg = (raw.get("metadata") or {}).get("nbgrader") if isinstance(raw.get("metadata"), dict) else None
        gid = nbg.get("grade_id") if isinstance(nbg, dict) else None
        if gid in by_id and gid not in seen:
            seen.add(gid)
            o = by_id[gid]
            _as_type(cell, o.cell_type)
            if o.locked:
                cell["source"] = o.source
            cell["metadata"]["nbgrader"] = _canonical_meta(nb, o)
        cells.append(cell)
    # Cells the student deleted come back after the cell that preceded them.
    ids = [c["metadata"].get("nbgrader", {}).get("grade_id") for c in cells]
    for i, o in enumerate(nb.originals):
        if o.grade_id in seen or not (o.grade or o.locked):
            continue
        cell = _as_type({"cell_type": o.cell_type, "metadata": {"nbgrader": _canonical_meta(nb, o)},
                         "source": o.source}, o.cell_type)
        before = [p.grade_id for p in nb.originals[:i] if p.grade_id in ids]
        at = ids.index(before[-1]) + 1 if before else 0
        cells.insert(at, cell)
        ids.insert(at, o.grade_id)
        seen.add(o.grade_id)
    for cell in cells:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if cell["cell_type"] == "code" and gid in nb.checks:
            cell["outputs"] = _cell_output(record, nb.checks[gid], nb.points[gid])
    if notes or record["status"] != "graded":
        # A markdown cell: nbconvert renders it, raw HTML included, so the student's words in it
        # (file names, exception messages) are escaped as markdown text.
        text = "**Autograder notes** (the course's grader)\n\n"
        if record["status"] != "graded":
            first = next(iter(record["checks"].values()), {})
            text += f"- status: {record['status']}: {escape.markdown(record.get('message') or first.get('message', ''))}\n"
        text += "".join(f"- {escape.markdown(n)}\n" for n in notes)
        cells.insert(0, {"cell_type": "markdown", "metadata": {"autograder": {"role": "notes"}}, "source": text})
    for i, cell in enumerate(cells):
        cell["id"] = f"cell-{i}"
    out = {"nbformat": 4, "nbformat_minor": 5, "cells": cells,
           "metadata": base.get("metadata") if isinstance(base.get("metadata"), dict) else {}}
    node = nbformat.from_dict(out)
    try:
        nbformat.validate(node)
    except nbformat.ValidationError:
        node.metadata = nbformat.from_dict({"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
        nbformat.validate(node)
    return node


def write_gradebook(gb, cfg, job: Job, coursedir) -> None:
    """Scores, comments, timestamp and late penalty of one submission."""
    from nbgrader.preprocessors import AssignLatePenalties
    from sqlalchemy.exc import SAWarning

    folder = Path(coursedir.format_path(coursedir.submitted_directory, job.student, job.spec.name))
    timestamp = coursedir.get_existing_timestamp(str(folder))
    gb.update_or_create_student(job.student)
    with warnings.catch_warnings():  # nbgrader's add_submission autoflushes half-made rows: harmless
        warnings.simplefilter("ignore", SAWarning)
        if timestamp:
            gb.update_or_create_submission(job.spec.name, job.student, timestamp=timestamp)
        else:
            gb.update_or_create_submission(job.spec.name, job.student)
    for nb, parsed, _ in job.books:
        student_cells = {}
        for cell in nbextract.cells_of(parsed) if parsed else []:
            student_cells.setdefault(cell.grade_id, cell)
        for gid, points in nb.points.items():
            grade = gb.find_grade(gid, nb.name, job.spec.name, job.student)
            if nb.checks.get(gid):
                grade.auto_score = points if _passed(job.record, nb.checks[gid]) else 0.0
                grade.needs_manual_grade = grade.manual_score is not None
            else:  # not a kit test cell (a written answer): left to the graders
                grade.auto_score = None
                grade.needs_manual_grade = True
        for o in nb.originals:
            if o.solution:
                comment = gb.find_comment(o.grade_id, nb.name, job.spec.name, job.student)
                mine = student_cells.get(o.grade_id)
                untouched = mine is None or nbextract.checksum(mine) == nb.checksums.get(o.grade_id)
                comment.auto_comment = "No response." if untouched else None
        gb.db.commit()
    if job.course.late is not None:  # the kit's late rule (course/late.py), as in grades.csv
        fraction = lab_grade(job.course, job.lab.id, job.record).late.fraction
        for nb, _, _ in job.books:
            notebook = gb.find_submission_notebook(nb.name, job.spec.name, job.student)
            notebook.late_submission_penalty = round(notebook.score * fraction, 6) if fraction else None
        gb.db.commit()
        return
    for nb, _, _ in job.books:  # nbgrader's own late penalty (plugin and policy from the config)
        resources = {"nbgrader": {"notebook": nb.name, "assignment": job.spec.name, "student": job.student,
                                  "db_url": coursedir.db_url}}
        AssignLatePenalties(config=cfg).preprocess(nbformat.v4.new_notebook(), resources)


# --- the run ---------------------------------------------------------------------------------

def grade_nbgrader(course: config.Course, course_dir: Path, out: Path, *, assignments: list[str] | None = None,
                   students: list[str] | None = None, workers: int = 1, device: str | None = None,
                   progress: bool = True, executor: Executor | None = None) -> Summary:
    from nbgrader.api import Gradebook, MissingEntry

    _alembic_on_path()
    course_dir = course_dir.resolve()
    coursedir, cfg = load_coursedir(course_dir)
    submitted = Path(coursedir.root) / coursedir.submitted_directory
    if not submitted.is_dir():
        raise FileNotFoundError(f"{submitted} is not a folder: run `nbgrader collect` first")
    device = device or course.device  # resolved where grading starts its servers
    out.mkdir(parents=True, exist_ok=True)

    folders = sorted(p for p in submitted.iterdir() if p.is_dir() and not p.name.startswith("."))
    if students:
        folders = [p for p in folders if p.name in students]
    names = assignments or sorted({a.name for s in folders for a in s.iterdir() if a.is_dir()})
    skipped = []
    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        specs = {}
        for name in names:
            try:
                specs[name] = assignment_spec(gb, course, name)
            except MissingEntry:
                if assignments:
                    raise KeyError(f"assignment {name!r} is not in the gradebook: run "
                                   f"`nbgrader generate_assignment {name}` first") from None
                skipped.append(name)
            except KeyError:
                if assignments:
                    raise
                skipped.append(name)
    per_student = {s.name: {specs[a].lab: Job(s.name, specs[a], course=course, lab=course.lab(specs[a].lab))
                            for a in specs if (s / a).is_dir()} for s in folders}
    per_student = {k: v for k, v in per_student.items() if v}

    def prepare(student: str, labs: list[str], dest: Path) -> dict[str, LabIntake]:
        """Each assignment's module from its notebooks (or a submitted module), as intake would."""
        taken = {}
        for lab in labs:
            job = per_student[student][lab]
            folder = submitted / student / job.spec.name
            status, message, lab_dir = _prepare(job, folder, dest)
            stamp = coursedir.get_existing_timestamp(str(folder))  # timestamp.txt, in naive UTC
            when = Submitted(stamp.replace(tzinfo=dt.timezone.utc)) if stamp else None
            taken[lab] = LabIntake(lab, lab_dir, status, message, job.notes, submitted=when)
        return taken

    def autograded(student: str, lab: str, record: dict, reused: bool) -> None:
        """nbgrader's autograded notebooks, as `nbgrader autograde` would write them."""
        job = per_student[student][lab]
        job.record, job.reused = record, reused
        folder = submitted / student / job.spec.name
        dest = Path(coursedir.format_path(coursedir.autograded_directory, student, job.spec.name))
        dest.mkdir(parents=True, exist_ok=True)
        release = Path(coursedir.format_path(coursedir.release_directory, ".", job.spec.name))
        for nb, parsed, _ in job.books:
            node = autograded_notebook(nb, parsed, record, job.notes, release / f"{nb.name}.ipynb")
            write_atomic(dest / f"{nb.name}.ipynb", nbformat.writes(node) + "\n")
        if (folder / "timestamp.txt").is_file():
            shutil.copyfile(folder / "timestamp.txt", dest / "timestamp.txt")

    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        def to_gradebook(student: str, records: dict) -> None:  # in this thread: the gradebook is not shared
            for job in per_student[student].values():
                write_gradebook(gb, cfg, job, coursedir)

        summary = grading.grade_students(
            course, {s: list(jobs) for s, jobs in per_student.items()}, prepare, out, executor=executor,
            workers=workers, device=device, progress=progress, hide=[course_dir], on_lab=autograded,
            on_student=to_gradebook)
    return Summary(summary.students, summary.graded, summary.reused, summary.grades_csv, coursedir.db_url, skipped)
