"""Reports: what grading writes, each a writer on one results model (model.py).

A student writer takes (OUT/<student>/, student, course, lab records) and a class writer
takes (OUT, course); both rebuild their file from the records alone, so a resumed run
writes the same files. To add a report format, write a module with a `write` function and
list it below (docs/architecture.md).

May import: autograder.course.
"""
from __future__ import annotations

from pathlib import Path

from autograder.course import config
from autograder.reports import class_report, feedback_html, feedback_md, grades_csv, results_json, shared_files

STUDENT_WRITERS = [results_json.write, feedback_md.write, feedback_html.write]
CLASS_WRITERS = [grades_csv.write, class_report.write, shared_files.write]


def write_student(out: Path, student: str, course: config.Course, records: dict[str, dict]) -> None:
    """Every per-student report of `student` into OUT/<student>/ (records in course order)."""
    ordered = {lab: records[lab] for lab in course.labs if lab in records}
    for write in STUDENT_WRITERS:
        write(out / student, student, course, ordered)


def write_class(out: Path, course: config.Course) -> Path:
    """Every class report into OUT (grades.csv, report.html), rebuilt from the students'
    results; returns grades.csv's path (report.html is OUT/class_report.FILE)."""
    paths = [write(out, course) for write in CLASS_WRITERS]
    return paths[0]
