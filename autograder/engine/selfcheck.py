"""`autograder check LAB [PATH]`: a student's self-check with the public checks.

The messages quote the student's exceptions and the path is the student's: they are shown
as rich `Text` (never parsed as rich's [markup]) with their escape sequences removed
(reports/escape.py)."""
from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from autograder.course import config
from autograder.engine import runner
from autograder.reports import escape


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
               console: Console | None = None) -> bool:
    """Run the public checks, print a table; True when every public check passed."""
    console = console or Console()
    lab = course.lab(lab_id)
    lab_dir = find_lab_dir(lab, path)
    console.print(Text.assemble((lab.title, "bold"), ": checking ",
                                escape.terminal(lab_dir / (lab.module + ".py")), " ..."))
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
                      Text(outcome.status, style=style), Text(escape.terminal(outcome.message)))
    console.print(table)
    hidden = lab.hidden_count
    console.print(f"Public checks: {got:g} of {most:g} points on {run.device or 'cpu'}. "
                  f"{hidden} more checks are graded after you submit.")
    if got < most:
        console.print("Hint: read each message above; `raise NotImplementedError` means the function is not written yet.")
    return got == most
