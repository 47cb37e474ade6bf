"""grades.csv: one row per student and lab, rebuilt from every student's results.json."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from autograder.course import config
from autograder.reports.files import class_results, write_atomic
from autograder.reports.model import lab_score
from autograder.reports.results_json import FILE as RESULTS_FILE

FILE = "grades.csv"
COLUMNS = ["student", "lab", "score", "max_score", "status"]


def write(out: Path, course: config.Course) -> Path:
    """OUT/grades.csv from every OUT/<student>/results.json; returns its path."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for student, results in class_results(out, RESULTS_FILE):
        for lab_id, record in results["extra_data"]["labs"].items():
            got, most = lab_score(course.lab(lab_id), record)
            writer.writerow([student, lab_id, f"{got:g}", f"{most:g}", record["status"]])
    path = out / FILE
    write_atomic(path, buf.getvalue())
    return path
