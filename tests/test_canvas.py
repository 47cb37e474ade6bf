"""`autograder export canvas`: Canvas's gradebook import CSV from a graded class folder.

The results folder is written by the report writers from lab records (no grading needed):
five students, one of them late. The roster is a Canvas gradebook export with a student
missing from the results, one results student missing from the roster, a name with a comma
and one starting with '=' (quoted, and kept from running as a formula)."""
from __future__ import annotations

import csv
import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import reports
from autograder.course import config
from autograder.course.late import Submitted
from autograder.integrations.canvas import TITLE_WITH_ID, export_canvas
from tests.conftest import ROOT

LABS = ("lab08_1_perceptron", "lab08_2_xor_mlp")
ROSTER = '''Student,ID,SIS User ID,SIS Login ID,Section,Lab 8-1: Perceptron and the logic gates (10101),Current Score
    Points Possible,,,,,10,(read only)
"Doe, Jane",1234,S001,JDoe,Section 01,,
"O'Brien, ""Kit""",1235,S002,kobrien,Section 01,5,
"=HYPERLINK(""http://x""), Eve",1236,S003,eve,Section 02,,
"Smith, Alex",1237,S004,asmith,Section 02,,
'''
DUE = dt.datetime(2026, 3, 20, 23, 59, tzinfo=dt.timezone.utc)


def record(course: config.Course, lab: str, passed: int, submitted: dt.datetime | None = None) -> dict:
    """A lab record whose first `passed` checks passed."""
    checks = {c.id: {"status": "passed" if i < passed else "failed", "message": "", "seed": 1}
              for i, c in enumerate(course.lab(lab).checks)}
    rec = {"status": "graded", "fingerprint": "x", "device": "cpu", "torch": "t", "seconds": 0, "sandbox": {},
           "notes": [], "checks": checks}
    if submitted:
        rec["submitted"] = Submitted(submitted).record()
    return rec


@pytest.fixture
def graded(tmp_path):
    path = tmp_path / "course.toml"
    path.write_text((ROOT / "course.toml").read_text() + f"\n[late]\ndue = {DUE.isoformat()}\npercent_per_day = 50\n")
    course = config.load_course(path)
    out = tmp_path / "out"
    students = {
        "jdoe": {lab: record(course, lab, 99) for lab in LABS},  # full marks (login in another case)
        "kobrien": {LABS[0]: record(course, LABS[0], 3, DUE + dt.timedelta(hours=2))},  # late: 1 day, 50 %
        "eve": {lab: record(course, lab, 0) for lab in LABS},
        "zed": {LABS[0]: record(course, LABS[0], 99)},  # graded, not on the roster
    }  # asmith: on the roster, never graded
    for student, records in students.items():
        reports.write_student(out, student, course, records)
    reports.write_class(out, course)
    (tmp_path / "roster.csv").write_text(ROSTER)
    return course, out, tmp_path / "roster.csv"


def read(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_canvas_import_file(graded, tmp_path):
    course, out, roster = graded
    done = export_canvas(course, out, roster, tmp_path / "canvas.csv", assignment_ids={LABS[1]: "10102"})
    rows = read(tmp_path / "canvas.csv")
    header = rows[0]
    # Canvas's importer: Student first, ID second, Section last of the identity columns.
    assert header[:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert header[5:] == ["Lab 8-1: Perceptron and the logic gates (10101)",  # the roster's own column
                          "Lab 8-2: A multi-layer perceptron solves XOR (10102)"]  # from --assignment
    assert all(TITLE_WITH_ID.match(h) for h in header[5:])
    assert rows[1] == ["Points Possible", "", "", "", ""] + [f"{course.lab(lab).max_points:g}" for lab in LABS]
    by_login = {r[3]: r for r in rows[2:]}
    assert by_login["JDoe"][0] == "Doe, Jane"  # the comma survived, quoted
    assert by_login["JDoe"][5:] == [f"{course.lab(lab).max_points:g}" for lab in LABS]
    raw = sum(c.points for c in course.lab(LABS[0]).checks[:3])
    assert by_login["kobrien"][5:] == [f"{raw * 0.5:g}", ""]  # final score; lab 8-2 not graded: blank
    assert by_login["kobrien"][0] == "O'Brien, \"Kit\""
    assert by_login["eve"][0].startswith("'="), "a name that would run as a formula is quoted"
    assert by_login["eve"][5:] == ["0", "0"]
    assert by_login["asmith"][5:] == ["", ""]
    assert len(rows) == 2 + 4, "every roster student has a row, none twice; zed has none"
    assert sorted(done.matched) == ["eve", "jdoe", "kobrien"]
    assert done.not_graded == ["Smith, Alex (asmith)"]
    assert done.not_on_roster == ["zed"]
    assert done.new_assignments == []
    assert (tmp_path / "canvas.csv").read_text().count("\n\"Doe, Jane\",") == 1


def test_lab_without_canvas_id_is_offered_as_a_new_assignment(graded, tmp_path):
    course, out, roster = graded
    done = export_canvas(course, out, roster, tmp_path / "canvas.csv")
    assert done.new_assignments == [course.lab(LABS[1]).title]
    assert read(tmp_path / "canvas.csv")[0][-1] == course.lab(LABS[1]).title


@pytest.mark.parametrize("roster, message", [
    ("Name,Login\nJane,jdoe\n", r"the roster has no column Student, ID, SIS Login ID"),
    ("Student,ID,SIS Login ID,Section\nA,1,jdoe,\nB,2,JDOE,\n", r"rows 2 and 3 have the same SIS Login ID 'JDOE'"),
])
def test_bad_roster_says_what_is_expected(graded, tmp_path, roster, message):
    course, out, _ = graded
    (tmp_path / "bad.csv").write_text(roster)
    with pytest.raises(ValueError, match=message):
        export_canvas(course, out, tmp_path / "bad.csv", tmp_path / "canvas.csv")
    assert not (tmp_path / "canvas.csv").exists()


def test_command_lists_who_did_not_match(graded, tmp_path):
    course, out, roster = graded
    proc = subprocess.run([sys.executable, "-m", "autograder", "--course", str(course.path), "export", "canvas",
                           str(out), "--roster", str(roster), "--out", str(tmp_path / "canvas.csv"),
                           "--assignment", "lab08_2_xor_mlp=10102"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "3 students written" in proc.stdout
    assert re.search(r"on the roster but not graded \(1.*\): Smith, Alex \(asmith\)", proc.stderr)
    assert re.search(r"graded but not on the roster \(1.*\): zed", proc.stderr)
    bad = subprocess.run([sys.executable, "-m", "autograder", "export", "canvas", str(out), "--roster", str(roster),
                          "--out", str(tmp_path / "x.csv"), "--assignment", "lab08_2_xor_mlp"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "expected LAB=ID" in bad.stderr
