"""results.json in Gradescope's results format (the autograder specification's field names:
score, output, output_format, tests[].name/score/max_score/status/output/output_format/
visibility/tags/extra_data; the schema is integrations/gradescope/results.schema.json).

The tests carry what the checks earned; the top-level score is the final one, less any late
penalty (course/late.py), which overrides the tests' sum in Gradescope.

Gradescope renders an `output_format` of "md" as markdown (its specification, 2023), so
every message goes out as escaped markdown (escape.markdown: the student's text stays
text). The top-level `output`, shown to the student whatever the tests' visibility, sums
up the public checks alone: hidden checks are `after_published`, and their points must not
show before then; it also says why a lab was not graded and what lateness cost. Plots stay
in feedback.html: the specification says nothing of images in an output."""
from __future__ import annotations

import json
import re
from pathlib import Path

from autograder.course import config
from autograder.reports import escape
from autograder.reports.files import write_atomic
from autograder.reports.model import counted, lab_grade, outcomes

FILE = "results.json"
# A JSON array of numbers as json.dumps(indent=2) writes it, one number a line; no JSON string
# holds a raw newline, so this never matches inside a message.
_NUMBER_ARRAY = re.compile(r"\[\n\s*((?:-?[\d.eE+-]+|null)(?:,\n\s*(?:-?[\d.eE+-]+|null))*)\n\s*\]")


def dumps(results: dict) -> str:
    """results.json's text: indented, with arrays of numbers (the plots' data) on one line."""
    text = json.dumps(results, indent=2)
    return _NUMBER_ARRAY.sub(lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text) + "\n"


def student_results(course: config.Course, records: dict[str, dict]) -> dict:
    """results.json for one student, in Gradescope's format, from the lab records.
    Hidden checks are `after_published`; the lab records go under extra_data.labs, the late
    penalties under extra_data.late. A lab that was not graded at all (not submitted,
    ambiguous) lists its checks at zero points and says why once, in the submission's
    top-level `output`, which also says what was deducted for lateness."""
    tests, total, late, output, said = [], 0.0, {}, [], []
    for lab_id, record in records.items():
        lab = course.lab(lab_id)
        if record.get("message"):
            output.append(f"{lab_id}: {record['status']}: {record['message']}")
        for check in lab.checks:
            outcome = record["checks"].get(check.id, {"status": "error", "message": "not run", "seed": None})
            passed = outcome["status"] == "passed"
            tests.append({
                "name": check.name,
                "score": check.points if passed else 0.0,
                "max_score": check.points,
                "status": "passed" if passed else "failed",
                "output": escape.markdown(outcome["message"]) if not passed else "",
                "output_format": "md",
                "visibility": "visible" if check.public else "after_published",
                "tags": [lab_id],
                "extra_data": {"outcome": outcome["status"], "seed": outcome["seed"]},
            })
        grade = lab_grade(course, lab_id, record)
        total += grade.score
        if grade.late.days:
            late[lab_id] = {"days": grade.late.days, "raw_score": grade.raw, "penalty": grade.penalty,
                            "score": grade.score}
            said.append(f"{lab.title}: {grade.late.reason}; {grade.penalty:g} of {grade.raw:g} points deducted.")
    lines = [public_summary(course, records)] + [f"- {escape.markdown(line)}" for line in output]
    if said:
        lines += ["", "**Late penalty**", *(f"- {escape.markdown(line)}" for line in said)]
    return {
        "score": round(total, 6),
        "output": "\n".join(lines),
        "output_format": "md",
        "visibility": "visible",
        "tests": tests,
        "extra_data": {"course_seed": course.seed, "labs": records, "late": late},
    }


def public_summary(course: config.Course, records: dict[str, dict]) -> str:
    """Markdown, one line per lab: the points of its public checks, and how many hidden
    checks wait for the grades to be published. Nothing here depends on a hidden check's
    result (the lab's status does: only "missing" is said)."""
    lines = []
    for lab_id, record in records.items():
        lab = course.lab(lab_id)
        found = outcomes(record)
        public = [c for c in lab.checks if c.public]
        got = sum(c.points for c in public if found.get(c.id, {}).get("status") == "passed")
        hidden = [c for c in lab.checks if not c.public]
        line = f"- **{escape.markdown(lab.title)}**: public checks {got:g} / {sum(c.points for c in public):g}"
        if record.get("status") == "missing":
            line += " (not submitted)"
        if hidden:
            line += f"; {counted(len(hidden), 'hidden check')} ({sum(c.points for c in hidden):g} points) show when grades are published"
        lines.append(line)
    return "\n".join(lines)


def write(folder: Path, student: str, course: config.Course, records: dict[str, dict]) -> None:
    write_atomic(folder / FILE, dumps(student_results(course, records)))
