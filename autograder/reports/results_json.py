"""results.json in Gradescope's results format (the autograder specification's field names:
score, tests[].name/score/max_score/status/output/visibility/tags/extra_data; the schema is
integrations/gradescope/results.schema.json).

The tests carry what the checks earned; the top-level score is the final one, less any late
penalty (course/late.py), which overrides the tests' sum in Gradescope. The top-level output
says what was deducted and why."""
from __future__ import annotations

import json
from pathlib import Path

from autograder.course import config
from autograder.reports.files import write_atomic
from autograder.reports.model import lab_grade

FILE = "results.json"


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
                "output": outcome["message"] if not passed else "",
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
    results = {
        "score": round(total, 6),
        "visibility": "visible",
        "tests": tests,
        "extra_data": {"course_seed": course.seed, "labs": records, "late": late},
    }
    if said:
        output += ["Late penalty", *said]
    if output:
        results.update(output="\n".join(output), output_format="text")
    return results


def write(folder: Path, student: str, course: config.Course, records: dict[str, dict]) -> None:
    write_atomic(folder / FILE, json.dumps(student_results(course, records), indent=2) + "\n")
