"""results.json in Gradescope's results format (the autograder specification's field names:
score, tests[].name/score/max_score/status/output/visibility/tags/extra_data)."""
from __future__ import annotations

import json
from pathlib import Path

from autograder.course import config
from autograder.reports.files import write_atomic

FILE = "results.json"


def student_results(course: config.Course, records: dict[str, dict]) -> dict:
    """results.json for one student, in Gradescope's format, from the lab records.
    Hidden checks are `after_published`; the lab records go under extra_data.labs. A lab
    that was not graded at all (not submitted, ambiguous) lists its checks at zero points
    and says why once, in the submission's top-level `output`."""
    tests, total, output = [], 0.0, []
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
            total += check.points if passed else 0.0
    results = {
        "score": total,
        "visibility": "visible",
        "tests": tests,
        "extra_data": {"course_seed": course.seed, "labs": records},
    }
    if output:
        results["output"] = "\n".join(output)
    return results


def write(folder: Path, student: str, course: config.Course, records: dict[str, dict]) -> None:
    write_atomic(folder / FILE, json.dumps(student_results(course, records), indent=2) + "\n")
