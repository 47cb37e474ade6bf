"""When each student handed each lab in: the `--submitted-at` CSV of `autograder grade`.

The file has a header row `student,lab,time` and one row per student and lab; an empty lab
(or `*`) gives the time of every lab of that student. Times are ISO 8601
("2026-04-10T23:59:00+09:00", "2026-04-10 23:59"); one written without an offset is in
course.toml's [late] timezone. What the late rule makes of them: course/late.py.
"""
from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from autograder.course import config

COLUMNS = ("student", "lab", "time")
EVERY_LAB = ("", "*")


def read_times(path: Path, course: config.Course) -> dict[tuple[str, str], dt.datetime]:
    """(student, lab) -> timezone-aware time, for every lab of the course a row covers (a
    row for one lab wins over the student's every-lab row). Raises ValueError naming the
    line for a missing header, an unknown lab, a time that does not parse, a time without
    offset when [late] has no timezone, or a row given twice."""
    zone = course.late.zone() if course.late else None
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or [n.strip().lower() for n in reader.fieldnames][:3] != list(COLUMNS):
            raise ValueError(f"{path}: the first row must be the header {','.join(COLUMNS)}, "
                             f"found {','.join(reader.fieldnames or [])!r}")
        reader.fieldnames = [n.strip().lower() for n in reader.fieldnames]
        given: dict[tuple[str, str], dt.datetime] = {}
        for row in reader:
            where = f"{path}, line {reader.line_num}"
            student, lab = (row.get("student") or "").strip(), (row.get("lab") or "").strip()
            if not student:
                raise ValueError(f"{where}: no student")
            if lab not in EVERY_LAB and lab not in course.labs:
                raise ValueError(f"{where}: unknown lab {lab!r}; the labs are {', '.join(course.labs)} "
                                 f"(or leave it empty for every lab)")
            key = (student, "*" if lab in EVERY_LAB else lab)
            if key in given:
                raise ValueError(f"{where}: a second time for {student}, {lab or 'every lab'}")
            given[key] = config.aware_time(row.get("time") or "", zone, where)
    times = {}
    for (student, lab), when in given.items():
        for one in (course.labs if lab == "*" else [lab]):
            if lab == "*" and (student, one) in given:
                continue
            times[student, one] = when
    return times
