"""`autograder check LAB [PATH]`: a student's self-check with the public checks.

It finds the student's work exactly as grading does: the same intake (intake/collect.py)
reads PATH, so a notebook, a renamed file or a pasted notebook is found, or refused, the
same way, and the same code of it is checked (intake/graded.py). The messages quote the
student's exceptions and the path is the student's: they are shown with their escape
sequences removed, and never parsed as rich's [markup] (reports/escape.py).
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from rich.console import Console
from rich.markup import escape as rich_escape
from rich.table import Table
from rich.text import Text

from autograder.course import config
from autograder.engine import runner
from autograder.intake import collect
from autograder.reports import feedback_html
from autograder.reports.escape import terminal
from autograder.reports.files import write_atomic
from autograder.reports.model import counted, lab_record


def take_in(course: config.Course, lab: config.Lab, path: Path, dest: Path) -> collect.LabIntake:
    """The lab's clean folder under `dest`, from PATH as grading would take it in: PATH is a
    folder (the lab's folder, or one holding it: read with its own name, so that
    `lab09_3_dropout/` itself counts as the lab's folder), or a .py or .ipynb file, which is
    then the lab's file whatever its name (with the .py files beside it as helpers).
    Raises FileNotFoundError when PATH does not exist."""
    path = path.resolve()
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; pass your lab folder or your notebook: "
                                f"autograder check {lab.id} PATH")
    if path.is_file():
        staged = dest / "staged"
        folder = staged / lab.id
        folder.mkdir(parents=True)
        # In the lab's folder a notebook is the lab's whatever its name; a .py file takes the module's name.
        name = path.name if path.suffix == ".ipynb" else f"{lab.module}.py"
        for helper in path.parent.glob("*.py"):
            if (helper.is_file() and not helper.is_symlink() and helper != path
                    and not collect.names_lab(helper.name, lab)):
                shutil.copyfile(helper, folder / helper.name)
        shutil.copyfile(path, folder / name)
        got = collect.collect(staged, course, dest / "clean", [lab.id]).labs[lab.id]
        got.notes = [n for n in got.notes if not n.startswith("graded ")]
        got.graded = path.name
        return got
    taken = collect.collect(path, course, dest / "clean", [lab.id], inside=path.name)
    got = taken.labs[lab.id]
    got.notes[:0] = taken.notes
    return got


def self_check(course: config.Course, lab_id: str, path: Path, device: str | None = None,
               console: Console | None = None, html: Path | None = None) -> bool:
    """Run the public checks, print a table (and write the page of feedback_html to `html`,
    when given); True when every public check passed."""
    console = console or Console()
    lab = course.lab(lab_id)
    with tempfile.TemporaryDirectory(prefix=f"check-{lab.id}-") as tmp:
        got = take_in(course, lab, path, Path(tmp))
        if got.folder is None:
            raise FileNotFoundError(f"{got.message} (looked in {path.resolve()}; pass your lab folder or your "
                                    f"notebook: autograder check {lab.id} PATH)")
        graded = got.graded or f"{lab.id}/{lab.module}.py"
        console.print(f"[bold]{rich_escape(lab.title)}[/]: checking {rich_escape(terminal(graded))} in "
                      f"{rich_escape(terminal(path.resolve()))} ...")
        for note in got.notes:
            console.print(f"Note: {rich_escape(terminal(note))}")
        run = runner.run_lab(course, lab.id, got.folder, device=device, public_only=True)
    table = Table(show_lines=False)
    table.add_column("check")
    table.add_column("points", justify="right")
    table.add_column("result")
    table.add_column("what to look at", overflow="fold")
    got = most = 0.0
    for check in lab.checks:
        if check.id not in run.checks:
            continue
        outcome = run.checks[check.id]
        passed = outcome.status == "passed"
        got += check.points if passed else 0
        most += check.points
        style = "green" if passed else "red"
        table.add_row(check.id, f"{check.points if passed else 0:g}/{check.points:g}",
                      Text(outcome.status, style=style), Text(terminal(outcome.message)))
    console.print(table)
    hidden = lab.hidden_count
    console.print(f"Public checks: {got:g} of {most:g} points on {run.device or 'cpu'}. "
                  f"{counted(hidden, 'hidden check')} {'is' if hidden == 1 else 'are'} graded after you submit.")
    if got < most:
        console.print("Hint: read each message above; `raise NotImplementedError` means the function is not written yet.")
    if html is not None:
        page = feedback_html.feedback_page(graded, course, {lab.id: lab_record(run, "")}, self_check=True)
        write_atomic(html, page)
        console.print(f"The results with plots: {html}", markup=False, highlight=False)
    return got == most
