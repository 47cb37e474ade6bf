"""feedback.md: one student's readable report, lab by lab and check by check."""
from __future__ import annotations

import io
from pathlib import Path

from autograder.course import config
from autograder.reports.files import write_atomic
from autograder.reports.model import lab_grade

FILE = "feedback.md"


def feedback_markdown(student: str, course: config.Course, records: dict[str, dict]) -> str:
    out = io.StringIO()
    out.write(f"# Feedback for {student}\n\n{course.name}\n\n")
    out.write("| lab | score | status |\n| --- | --- | --- |\n")
    for lab_id, record in records.items():
        grade = lab_grade(course, lab_id, record)
        late = f" (late: {grade.raw:g} less {grade.penalty:g})" if grade.late.days else ""
        out.write(f"| {lab_id} | {grade.score:g} / {grade.max:g}{late} | {record['status']} |\n")
    for lab_id, record in records.items():
        lab = course.lab(lab_id)
        out.write(f"\n## {lab.title}\n\n")
        grade = lab_grade(course, lab_id, record)
        if grade.late.days:
            out.write(f"**Late:** {grade.late.reason}; {grade.penalty:g} of {grade.raw:g} points deducted.\n\n")
        if record.get("device"):
            out.write(f"Graded on {record['device']} with torch {record['torch']}.\n\n")
        for note in record.get("notes", []):
            out.write(f"> Note: {note}\n")
        if record.get("notes"):
            out.write("\n")
        if record.get("message"):  # not graded at all: one line for the lab, not one per check
            out.write(f"**{record['status'].upper()}** (0/{lab.max_points:g}): {record['message']}\n")
            continue
        for check in lab.checks:
            outcome = record["checks"].get(check.id, {"status": "error", "message": "not run"})
            mark = "PASS" if outcome["status"] == "passed" else outcome["status"].upper()
            points = check.points if outcome["status"] == "passed" else 0
            line = f"- **{check.id}** ({points:g}/{check.points:g}) {mark}"
            if outcome["status"] != "passed" and outcome["message"]:
                line += f": {outcome['message']}"
            out.write(line + "\n")
    return out.getvalue()


def write(folder: Path, student: str, course: config.Course, records: dict[str, dict]) -> None:
    write_atomic(folder / FILE, feedback_markdown(student, course, records))
