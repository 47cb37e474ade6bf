"""feedback.md: one student's readable report, lab by lab and check by check.

Everything the student controls (their name or folder name, the notes on what they handed
in, the checks' messages, which quote their exceptions) is escaped as markdown text
(reports/escape.py): it reads as written and never becomes markup."""
from __future__ import annotations

import io
from pathlib import Path

from autograder.course import config
from autograder.reports import escape
from autograder.reports.files import write_atomic
from autograder.reports.model import lab_score

FILE = "feedback.md"


def feedback_markdown(student: str, course: config.Course, records: dict[str, dict]) -> str:
    out = io.StringIO()
    out.write(f"# Feedback for {escape.markdown(student)}\n\n{course.name}\n\n")
    out.write("| lab | score | status |\n| --- | --- | --- |\n")
    for lab_id, record in records.items():
        got, most = lab_score(course.lab(lab_id), record)
        out.write(f"| {lab_id} | {got:g} / {most:g} | {record['status']} |\n")
    for lab_id, record in records.items():
        lab = course.lab(lab_id)
        out.write(f"\n## {lab.title}\n\n")
        if record.get("device"):
            out.write(f"Graded on {record['device']} with torch {record['torch']}.\n\n")
        for note in record.get("notes", []):
            out.write(f"> Note: {escape.markdown(note)}\n")
        if record.get("notes"):
            out.write("\n")
        for check in lab.checks:
            outcome = record["checks"].get(check.id, {"status": "error", "message": "not run"})
            mark = "PASS" if outcome["status"] == "passed" else outcome["status"].upper()
            points = check.points if outcome["status"] == "passed" else 0
            line = f"- **{check.id}** ({points:g}/{check.points:g}) {mark}"
            if outcome["status"] != "passed" and outcome["message"]:
                line += f": {escape.markdown(outcome['message'])}"
            out.write(line + "\n")
    return out.getvalue()


def write(folder: Path, student: str, course: config.Course, records: dict[str, dict]) -> None:
    write_atomic(folder / FILE, feedback_markdown(student, course, records))
