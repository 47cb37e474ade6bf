"""What grading writes: results.json (Gradescope's format), feedback.md and grades.csv.

Every file is written atomically (a temporary file, then os.replace), so a grade that
was written is never half there, whatever happens to the process afterwards.
"""
from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path

from autograder import config
from autograder.runner import LabRun

GRADES_COLUMNS = ["student", "lab", "score", "max_score", "status"]


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def lab_record(run: LabRun, fingerprint: str, notes: list[str] = ()) -> dict:
    """The per-lab record kept in results.json; enough to rebuild every other output."""
    return {
        "status": run.status,
        "fingerprint": fingerprint,
        "device": run.device,
        "torch": run.torch,
        "seconds": round(run.seconds, 2),
        "sandbox": run.sandbox,
        "notes": list(notes),
        "checks": {c.id: {"status": c.status, "message": c.message, "seed": c.seed} for c in run.checks.values()},
    }


def lab_score(lab: config.Lab, record: dict) -> tuple[float, float]:
    got = sum(c.points for c in lab.checks if record["checks"].get(c.id, {}).get("status") == "passed")
    return got, lab.max_points


def student_results(course: config.Course, records: dict[str, dict]) -> dict:
    """results.json for one student, in Gradescope's format, from the lab records."""
    tests, total = [], 0.0
    for lab_id, record in records.items():
        lab = course.lab(lab_id)
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
    return {
        "score": total,
        "visibility": "visible",
        "tests": tests,
        "extra_data": {"course_seed": course.seed, "labs": records},
    }


def feedback_markdown(student: str, course: config.Course, records: dict[str, dict]) -> str:
    out = io.StringIO()
    out.write(f"# Feedback for {student}\n\n{course.name}\n\n")
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
            out.write(f"> Note: {note}\n")
        if record.get("notes"):
            out.write("\n")
        for check in lab.checks:
            outcome = record["checks"].get(check.id, {"status": "error", "message": "not run"})
            mark = "PASS" if outcome["status"] == "passed" else outcome["status"].upper()
            points = check.points if outcome["status"] == "passed" else 0
            line = f"- **{check.id}** ({points:g}/{check.points:g}) {mark}"
            if outcome["status"] != "passed" and outcome["message"]:
                line += f": {outcome['message']}"
            out.write(line + "\n")
    return out.getvalue()


def read_results(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None  # absent or unreadable: the student is graded again


def write_student(out: Path, student: str, course: config.Course, records: dict[str, dict]) -> None:
    folder = out / student
    write_atomic(folder / "results.json", json.dumps(student_results(course, records), indent=2) + "\n")
    write_atomic(folder / "feedback.md", feedback_markdown(student, course, records))


def write_grades_csv(out: Path, course: config.Course) -> Path:
    """grades.csv rebuilt from every student's results.json: one row per student and lab."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(GRADES_COLUMNS)
    for folder in sorted(p for p in out.iterdir() if p.is_dir()):
        results = read_results(folder / "results.json")
        if not results:
            continue
        for lab_id, record in results["extra_data"]["labs"].items():
            got, most = lab_score(course.lab(lab_id), record)
            writer.writerow([folder.name, lab_id, f"{got:g}", f"{most:g}", record["status"]])
    path = out / "grades.csv"
    write_atomic(path, buf.getvalue())
    return path
