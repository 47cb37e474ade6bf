"""`autograder check LAB [PATH]`: a student's self-check with the public checks."""
from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from autograder.course import config
from autograder.engine import runner
from autograder.reports import feedback_html
from autograder.reports.files import write_atomic
from autograder.reports.model import lab_record


def find_lab_dir(lab: config.Lab, path: Path) -> Path:
    """PATH may be the lab folder itself or a folder that holds it."""
    if (path / f"{lab.module}.py").is_file():
        return path
    if (path / lab.id / f"{lab.module}.py").is_file():
        return path / lab.id
    raise FileNotFoundError(
        f"no {lab.module}.py in {path} or {path / lab.id}; run the check from your lab folder "
        f"or pass it: autograder check {lab.id} PATH")


def self_check(course: config.Course, lab_id: str, path: Path, device: str | None = None,
               console: Console | None = None, html: Path | None = None) -> bool:
    """Run the public checks, print a table (and write the page of feedback_html to `html`,
    when given); True when every public check passed."""
    console = console or Console()
    lab = course.lab(lab_id)
    lab_dir = find_lab_dir(lab, path)
    console.print(f"[bold]{lab.title}[/]: checking {lab_dir / (lab.module + '.py')} ...")
    run = runner.run_lab(course, lab.id, lab_dir, device=device, public_only=True)
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
                      f"[{style}]{outcome.status}[/]", outcome.message)
    console.print(table)
    hidden = lab.hidden_count
    console.print(f"Public checks: {got:g} of {most:g} points on {run.device or 'cpu'}. "
                  f"{hidden} more checks are graded after you submit.")
    if got < most:
        console.print("Hint: read each message above; `raise NotImplementedError` means the function is not written yet.")
    if html is not None:
        page = feedback_html.feedback_page(f"{lab_dir.name}/{lab.module}.py", course, {lab.id: lab_record(run, "")},
                                           self_check=True)
        write_atomic(html, page)
        console.print(f"The results with plots: {html}", markup=False, highlight=False)
    return got == most
