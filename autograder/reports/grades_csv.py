"""grades.csv: one row per student and lab, rebuilt from every student's results.json.

`score` is the final score; `raw_score` is what the checks earned and `penalty` what lateness
cost (course/late.py), so score = raw_score - penalty. The late columns come last so that
readers of the first five columns are unaffected."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from autograder.course import config
from autograder.reports.files import read_class, write_atomic
from autograder.reports.model import lab_grade, lab_records
from autograder.reports.results_json import FILE as RESULTS_FILE

FILE = "grades.csv"
COLUMNS = ["student", "lab", "score", "max_score", "status", "raw_score", "late_days", "penalty"]


def class_grades(out: Path, course: config.Course):
    """(student, lab id, record, LabGrade) for every lab in every OUT/<student>/results.json,
    students sorted, labs in each student's order: what every class report is written from."""
    for student, results in read_class(out, RESULTS_FILE).items():
        for lab_id, record in lab_records(results).items():
            yield student, lab_id, record, lab_grade(course, lab_id, record)


def write(out: Path, course: config.Course) -> Path:
    """OUT/grades.csv from every OUT/<student>/results.json; returns its path."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for student, lab_id, record, grade in class_grades(out, course):
        writer.writerow([student, lab_id, f"{grade.score:g}", f"{grade.max:g}", record["status"],
                         f"{grade.raw:g}", grade.late.days, f"{grade.penalty:g}"])
    path = out / FILE
    write_atomic(path, buf.getvalue())
    return path
