"""The test cells of the course's nbgrader notebooks: `check(lab, check_id)`.

A test cell is a single call, `from autograder.notebook import check; check(LAB, CHECK)`;
the check's code stays in this package. The first call in a kernel reads the notebook
file (as saved) from the kernel's folder, builds the lab module from its setup and
solution cells (autograder/intake/notebooks.py), and grades it once with the kit's engine
(runner.run_lab, the sandboxed workers) for every check of the lab; each call then
raises AssertionError with the kit's message unless its own check passed. The result is
kept per module content: a saved change grades again, running the other test cells does not.

Used by `nbgrader autograde` (which runs the test cells in the student's kernel) and by
students (the public checks, with the student bundle). `autograder grade --nbgrader`
does not run notebooks at all.
"""
from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

from autograder.course import config
from autograder.intake import notebooks as nbextract

_RESULTS: dict[tuple[str, str], object] = {}  # (lab, module hash) -> runner.LabRun


def _notebook_for(lab_id: str) -> Path:
    """The notebook this kernel runs: Jupyter's session path when it names a notebook,
    else the notebook for `lab_id` in the kernel's folder (the newest, if several)."""
    session = os.environ.get("JPY_SESSION_NAME", "")
    if session.endswith(".ipynb"):
        for path in (Path(session), Path.cwd() / Path(session).name):
            if path.is_file():
                return path
    here = sorted(Path.cwd().glob("*.ipynb"))
    mine = [p for p in here if p.stem == lab_id]
    if not mine:
        mine = [p for p in here if f'"{lab_id}"' in p.read_text(encoding="utf-8", errors="replace")]
    if not mine:
        raise AssertionError(f"no notebook for {lab_id} in {Path.cwd()}: keep this notebook in the folder "
                             "it was released in, and save it")
    return max(mine, key=lambda p: p.stat().st_mtime)


def _device(course: config.Course) -> str:
    return config.resolve_device(os.environ.get("AUTOGRADER_DEVICE") or course.device)


def grade_notebook(lab_id: str, path: Path | None = None):
    """Grade the saved notebook once per content; return (LabRun, notes)."""
    course = config.load_course()
    lab = course.lab(lab_id)
    path = path or _notebook_for(lab_id)
    data = path.read_bytes()
    try:
        got = nbextract.module_source(nbextract.read_notebook(data, path.name), path.name, size=len(data),
                                      api=lab.api)
    except nbextract.NotebookError as e:
        raise AssertionError(str(e)) from None
    key = (lab_id, hashlib.sha256(got.source.encode()).hexdigest())
    if key not in _RESULTS:
        from autograder.engine import runner

        if not os.environ.get("NBGRADER_EXECUTION"):
            saved = time.strftime("%H:%M:%S", time.localtime(path.stat().st_mtime))
            print(f"Checking {path.name} as saved at {saved} (save the notebook after each change) ...",
                  flush=True)
        with tempfile.TemporaryDirectory(prefix=f"nb-{lab_id}-") as tmp:
            folder = Path(tmp) / lab_id
            folder.mkdir()
            (folder / f"{lab.module}.py").write_text(got.source, encoding="utf-8")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # nothing on stderr: nbgrader would take the points
                try:
                    run = runner.run_lab(course, lab_id, folder, device=_device(course))
                except KeyboardInterrupt:
                    # Under nbgrader this is its cell time limit: the other test cells fail at
                    # once rather than each start the whole lab again.
                    if os.environ.get("NBGRADER_EXECUTION"):
                        _RESULTS[key] = (None, got.notes)
                    raise
        _RESULTS[key] = (run, got.notes)
    return _RESULTS[key]


def check(lab_id: str, check_id: str) -> None:
    """Pass quietly (a line on stdout) or raise AssertionError with the kit's message."""
    __tracebackhide__ = True  # IPython leaves this frame out of the traceback
    lab = config.load_course().lab(lab_id)
    try:
        item = lab.check(check_id)
    except KeyError:
        raise AssertionError(f"{lab_id} has no check {check_id!r} here (hidden checks run only when "
                             "the course grades)") from None
    run, notes = grade_notebook(lab_id)
    if run is None:
        raise AssertionError(f"{check_id}: not graded; grading this notebook was stopped at nbgrader's "
                             "time limit for a cell (c.Execute.timeout)") from None
    outcome = run.checks.get(check_id)
    for note in notes:
        if note not in _SHOWN:
            _SHOWN.add(note)
            print(f"Note: {note}")
    if outcome is None:
        raise AssertionError(f"{check_id} did not run") from None
    if outcome.status != "passed":
        sys.stdout.flush()
        raise AssertionError(f"{check_id} ({_points(item.points)}): {outcome.status}: "
                             f"{outcome.message or run.message}") from None
    print(f"{check_id}: passed ({_points(item.points)})")


def _points(p: float) -> str:
    return f"{p:g} point" + ("" if p == 1 else "s")


_SHOWN: set[str] = set()
