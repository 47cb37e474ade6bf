"""`autograder export canvas RESULTS --roster ROSTER.csv --out GRADES.csv`: grades for Canvas.

The file is Canvas's gradebook import format, as Canvas's own importer reads it
(instructure/canvas-lms lib/gradebook_importer.rb; Assignment#title_with_id):

- the identity columns `Student`, `ID`, then those of `SIS User ID`, `SIS Login ID`,
  `Integration ID`, `Root Account` the roster has, then `Section` (the importer requires
  `Student` first, `ID` second and `Section` last; the values are the roster's);
- one column per lab, headed `<assignment name> (<assignment id>)`: the roster's column for
  the assignment whose name is the lab's title (or the id given with --assignment), else
  the lab's title alone, which Canvas offers to create as a new assignment;
- a `Points Possible` row, then one row per roster student with the final score of each lab
  (late penalty deducted); a blank cell (a lab not graded for that student) leaves Canvas's
  grade as it is.

The roster is Canvas's gradebook export (Grades > Export > CSV), or any CSV with those
identity columns. Students are matched by login: the name of a student's folder in RESULTS
(the --out folder of `autograder grade`) against the roster's `SIS Login ID` (or another
column), ignoring case. Roster students without results and graded students missing from the
roster are returned, for the command to list: none is dropped silently.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course import config
from autograder.reports.escape import csv_cell
from autograder.reports.files import write_atomic
from autograder.reports.grades_csv import class_grades

IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Integration ID", "Root Account", "Section"]
REQUIRED = ["Student", "ID"]
LOGIN = "SIS Login ID"
POINTS_POSSIBLE = "Points Possible"
TITLE_WITH_ID = re.compile(r"\A(.*)\s\((\d+)\)\Z")  # Canvas's Assignment.title_and_id


@dataclass
class Export:
    path: Path
    matched: list[str] = field(default_factory=list)  # logins written with scores
    not_graded: list[str] = field(default_factory=list)  # roster students with no results ("Name (login)")
    not_on_roster: list[str] = field(default_factory=list)  # graded students the roster lacks
    new_assignments: list[str] = field(default_factory=list)  # lab columns Canvas will offer to create


def read_roster(path: Path, login: str = LOGIN) -> tuple[list[str], list[dict[str, str]]]:
    """(header, student rows) of a Canvas gradebook export or a CSV with its identity
    columns; Canvas's `Points Possible` row is left out. Raises ValueError when a required
    column is missing or two students share a login."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in reader.fieldnames or []]
        reader.fieldnames = header
        rows = [r for r in reader if POINTS_POSSIBLE not in (r.get("Student") or "")]
    missing = [c for c in REQUIRED + [login] if c not in header]
    if missing:
        raise ValueError(f"{path}: the roster has no column {', '.join(missing)}; expected Canvas's gradebook "
                         f"export (Grades > Export > Export Entire Gradebook) or a CSV with the columns "
                         f"{', '.join(REQUIRED + [login])}; found {', '.join(header) or 'no header'}")
    seen: dict[str, int] = {}
    for n, row in enumerate(rows, start=2):
        key = (row.get(login) or "").strip().casefold()
        if key and key in seen:
            raise ValueError(f"{path}: rows {seen[key]} and {n} have the same {login} {row[login]!r}; "
                             f"each student must appear once")
        seen[key] = n
    return header, rows


def _lab_column(lab: config.Lab, roster_header: list[str], ids: dict[str, str]) -> str:
    """The header of lab's column: Canvas's `name (id)`."""
    if lab.id in ids:
        return f"{lab.title} ({ids[lab.id]})"
    for header in roster_header:
        m = TITLE_WITH_ID.match(header)
        if m and m.group(1).strip() in (lab.title, lab.id):
            return header
    return lab.title


def export_canvas(course: config.Course, results: Path, roster: Path, out: Path, *, login: str = LOGIN,
                  assignment_ids: dict[str, str] | None = None) -> Export:
    """Write Canvas's gradebook import CSV to `out` for the students of `roster` from the
    graded folder `results` (OUT of `autograder grade`); returns who matched and who did
    not. `assignment_ids` maps lab ids to Canvas assignment ids, when the roster's columns
    do not name the labs' titles. Raises ValueError for a bad roster or an id that is not
    a number, FileNotFoundError when `results` has no graded students."""
    ids = dict(assignment_ids or {})
    for lab, number in ids.items():
        course.lab(lab)
        if not str(number).isdigit():
            raise ValueError(f"--assignment {lab}={number}: a Canvas assignment id is a number "
                             f"(the digits at the end of the assignment's address)")
    header, rows = read_roster(roster, login)
    if not results.is_dir():
        raise FileNotFoundError(f"{results} is not a folder; expected the --out folder of `autograder grade`")
    scores: dict[str, dict[str, str]] = {}
    logins: dict[str, str] = {}
    for student, lab_id, _, grade in class_grades(results, course):
        scores.setdefault(student.casefold(), {})[lab_id] = f"{grade.score:g}"
        logins[student.casefold()] = student
    if not scores:
        raise FileNotFoundError(f"{results} holds no graded students (no <student>/results.json); "
                                f"expected the --out folder of `autograder grade`")
    graded_labs = {lab for per in scores.values() for lab in per}
    labs = [course.labs[lab] for lab in course.labs if lab in graded_labs]
    identity = [c for c in IDENTITY if c in header or c == "Section"]
    columns = [_lab_column(lab, header, ids) for lab in labs]
    result = Export(out, new_assignments=[c for c in columns if not TITLE_WITH_ID.match(c)])

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(identity + columns)
    writer.writerow([POINTS_POSSIBLE] + [""] * (len(identity) - 1) + [f"{lab.max_points:g}" for lab in labs])
    on_roster = set()
    for row in rows:
        key = (row.get(login) or "").strip().casefold()
        mine = scores.get(key, {}) if key else {}
        writer.writerow([csv_cell((row.get(c) or "").strip()) for c in identity] + [mine.get(lab.id, "") for lab in labs])
        if mine:
            on_roster.add(key)
            result.matched.append(logins[key])
        else:
            result.not_graded.append(f"{(row.get('Student') or '').strip()} ({(row.get(login) or '').strip() or f'no {login}'})")
    result.not_on_roster = sorted(logins[k] for k in scores if k not in on_roster)
    write_atomic(out, buf.getvalue())
    return result
