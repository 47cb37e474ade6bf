"""shared_files.csv: the students whose graded code is identical, lab by lab, for the
instructor. Untouched stubs show up here as a large group at zero points; a small group
with points is worth a look.

Rebuilt from every student's results.json: each lab record holds `content`, the hash of
what was graded (engine/grading.content_hash), which is how the class grader grades
identical labs once. Who shares code with whom is said here only: a student's own
results.json and feedback never name another student.
"""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from pathlib import Path

from autograder.course import config
from autograder.reports.escape import csv_cell
from autograder.reports.files import write_atomic
from autograder.reports.grades_csv import class_grades

FILE = "shared_files.csv"
# One row per student in a group: `group` (the first 12 hex digits of the content hash)
# ties a group's rows together, `students` is its size; `score` is what the code earned,
# before any late penalty (the same for the whole group).
COLUMNS = ["lab", "group", "students", "student", "score", "max_score"]


def write(out: Path, course: config.Course) -> Path:
    """OUT/shared_files.csv from every OUT/<student>/results.json: every group of two or
    more students whose graded code of a lab is the same; returns its path."""
    groups: dict[tuple[str, str], list[tuple[str, object]]] = defaultdict(list)
    for student, lab_id, record, grade in class_grades(out, course):
        if record.get("content"):
            groups[lab_id, record["content"]].append((student, grade))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    order = {lab: i for i, lab in enumerate(course.labs)}
    for (lab_id, content), members in sorted(groups.items(), key=lambda g: (order[g[0][0]], -len(g[1]), g[0][1])):
        if len(members) < 2:
            continue
        for student, grade in members:
            writer.writerow([lab_id, content[:12], len(members), csv_cell(student), f"{grade.raw:g}", f"{grade.max:g}"])
    path = out / FILE
    write_atomic(path, buf.getvalue())
    return path
