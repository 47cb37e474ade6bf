"""The late rule: course.toml's [late] table, the rule of course/late.py, the --submitted-at
CSV, and penalties recomputed from stored submission times without regrading."""
from __future__ import annotations

import csv
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.course import config
from autograder.course.late import Submitted, assess
from autograder.engine import grading
from autograder.intake.submission_times import read_times
from tests.conftest import ROOT

SEOUL = dt.timezone(dt.timedelta(hours=9))
LAB = "lab08_1_perceptron"
POLICY = """
[late]
timezone = "Asia/Seoul"
due = 2026-04-10T23:59:00
grace_minutes = 10
percent_per_day = 10
max_days = 3

[late.due_dates]
lab08_1_perceptron = "2026-03-20 23:59"
"""


def course_with(tmp_path: Path, late: str) -> config.Course:
    path = tmp_path / "course.toml"
    path.write_text((ROOT / "course.toml").read_text() + late)
    return config.load_course(path)


def at(text: str) -> Submitted:
    return Submitted(dt.datetime.fromisoformat(text).replace(tzinfo=SEOUL))


# --- course.toml [late] ---------------------------------------------------------------------------

def test_policy_reads_dates_in_the_course_timezone(tmp_path):
    late = course_with(tmp_path, POLICY).late
    assert late.due == dt.datetime(2026, 4, 10, 23, 59, tzinfo=SEOUL)
    assert late.due_for(LAB) == dt.datetime(2026, 3, 20, 23, 59, tzinfo=SEOUL)
    assert late.due_for("lab09_1_relu") == late.due
    assert (late.grace_minutes, late.percent_per_day, late.max_days) == (10, 10, 3)


def test_no_late_table_no_policy(course):
    assert config.load_course(course.path).late is None


@pytest.mark.parametrize("table, message", [
    ('[late]\ndue_date = 2026-04-10T23:59:00+09:00\n', r"unknown keys \['due_date'\]"),
    ('[late]\ntimezone = "Seoul"\n', r"timezone must be an IANA time zone name .* found 'Seoul'"),
    ('[late]\ntimezone = "UTC"\ndue = 2026-04-10\n', r"due: expected a date and time .* found a date without a time"),
    ('[late]\ndue = 2026-04-10T23:59:00\n', r"has no time zone; add an offset"),
    ('[late]\ndue = "next friday"\n', r"'next friday' is not a date and time"),
    ('[late]\npercent_per_day = 120\n', r"percent_per_day must be a number from 0 to 100, found 120"),
    ('[late]\npercent_per_day = true\n', r"percent_per_day must be a number"),
    ('[late]\nmax_days = 2.5\n', r"max_days must be a whole number >= 0, found 2.5"),
    ('[late]\ngrace_minutes = -5\n', r"grace_minutes must be a number >= 0, found -5"),
    ('[late]\ntimezone = "UTC"\n[late.due_dates]\nlab99 = 2026-04-10T23:59:00\n', r"names labs the course does not have: \['lab99'\]"),
])
def test_bad_late_table_names_the_fault(tmp_path, table, message):
    with pytest.raises(ValueError, match=message):
        course_with(tmp_path, "\n" + table)


# --- the rule -------------------------------------------------------------------------------------

@pytest.mark.parametrize("handed_in, days, fraction", [
    ("2026-04-10T23:59:00", 0, 0.0),    # at the due date
    ("2026-04-11T00:09:00", 0, 0.0),    # within the grace period
    ("2026-04-11T00:09:01", 1, 0.1),    # one second after it: a started day
    ("2026-04-12T00:09:00", 1, 0.1),    # exactly one day after the deadline
    ("2026-04-12T00:09:01", 2, 0.2),
    ("2026-04-14T00:09:00", 3, 0.3),    # the most days accepted
    ("2026-04-14T00:09:01", 4, 1.0),    # beyond: zero
])
def test_days_late_are_started_days_after_the_grace_period(tmp_path, handed_in, days, fraction):
    late = assess(course_with(tmp_path, POLICY).late, "lab09_1_relu", at(handed_in))
    assert (late.days, late.fraction) == (days, pytest.approx(fraction))
    assert bool(late.reason) == bool(days)


def test_penalty_is_a_share_of_the_earned_score_capped_at_all_of_it(tmp_path):
    policy = course_with(tmp_path, POLICY.replace("percent_per_day = 10", "percent_per_day = 40")
                         .replace("max_days = 3", "max_days = 9")).late
    late = assess(policy, "lab09_1_relu", at("2026-04-13T12:00:00"))  # 3 days: 120 % capped at 100 %
    assert late.days == 3 and late.fraction == 1.0 and late.penalty(7) == 7
    assert assess(policy, "lab09_1_relu", at("2026-04-11T12:00:00")).penalty(9) == 3.6
    assert "40% off" in assess(policy, "lab09_1_relu", at("2026-04-11T12:00:00")).reason


def test_per_lab_due_date_and_the_platform_s_dates(tmp_path):
    policy = course_with(tmp_path, POLICY).late
    assert assess(policy, LAB, at("2026-03-21T12:00:00")).days == 1  # lab 8-1 is due in March
    # An extension on the platform (Gradescope's own due date for the student) wins.
    extended = Submitted(at("2026-03-21T12:00:00").at, due=dt.datetime(2026, 3, 22, tzinfo=SEOUL))
    assert assess(policy, LAB, extended).days == 0
    # After the platform's late due date: zero, whatever max_days says.
    cut = Submitted(at("2026-03-21T12:00:00").at, late_due=dt.datetime(2026, 3, 21, tzinfo=SEOUL))
    late = assess(policy, LAB, cut)
    assert late.fraction == 1.0 and "after the late due date" in late.reason


def test_on_time_without_policy_time_or_due_date(tmp_path):
    assert assess(None, LAB, at("2030-01-01T00:00:00")).days == 0
    assert assess(course_with(tmp_path, POLICY).late, LAB, None).days == 0
    no_due = course_with(tmp_path, '\n[late]\npercent_per_day = 10\n').late
    assert assess(no_due, LAB, at("2030-01-01T00:00:00")).days == 0


def test_submission_time_survives_the_record():
    when = Submitted(dt.datetime(2026, 4, 11, 0, 9, 1, tzinfo=SEOUL), late_due=dt.datetime(2026, 4, 20, tzinfo=dt.UTC))
    assert Submitted.from_record(json.loads(json.dumps(when.record()))) == when
    assert Submitted.from_record(None) is None


# --- the --submitted-at CSV -----------------------------------------------------------------------

def test_times_csv_every_lab_rows_and_one_lab_rows(tmp_path):
    course = course_with(tmp_path, POLICY)
    path = tmp_path / "times.csv"
    path.write_text("student,lab,time\nalice,,2026-04-11 00:30\nalice,lab08_1_perceptron,2026-03-20T23:00:00+09:00\n"
                    "bob,*,2026-04-10T15:00:00Z\n")
    times = read_times(path, course)
    assert times["alice", LAB] == dt.datetime(2026, 3, 20, 23, tzinfo=SEOUL)  # its own row wins
    assert times["alice", "lab09_1_relu"] == dt.datetime(2026, 4, 11, 0, 30, tzinfo=SEOUL)  # in [late] timezone
    assert times["bob", "lab09_4_batchnorm"] == dt.datetime(2026, 4, 11, 0, 0, tzinfo=SEOUL)
    assert len(times) == 2 * len(course.labs)


@pytest.mark.parametrize("text, message", [
    ("name,lab,when\n", "the first row must be the header student,lab,time"),
    ("student,lab,time\nalice,lab99,2026-04-11 00:30\n", r"line 2: unknown lab 'lab99'"),
    ("student,lab,time\nalice,,yesterday\n", r"line 2: 'yesterday' is not a date and time"),
    ("student,lab,time\nalice,,2026-04-11 00:30\nalice,*,2026-04-12 00:30\n", r"line 3: a second time for alice"),
])
def test_bad_times_csv_names_the_line(tmp_path, text, message):
    path = tmp_path / "times.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_times(path, course_with(tmp_path, POLICY))


def test_times_without_offset_need_a_timezone(tmp_path, course):
    path = tmp_path / "times.csv"
    path.write_text("student,lab,time\nalice,,2026-04-11 00:30\n")
    with pytest.raises(ValueError, match="has no time zone"):
        read_times(path, course)


# --- recomputed without regrading ----------------------------------------------------------------

def test_late_table_does_not_decide_regrading(tmp_path, course):
    late = course_with(tmp_path, POLICY)
    assert grading.kit_fingerprint(late) == grading.kit_fingerprint(course)
    points = tmp_path / "points" / "course.toml"
    points.parent.mkdir()
    points.write_text((ROOT / "course.toml").read_text().replace("points = 2\n", "points = 3\n", 1))
    assert grading.kit_fingerprint(config.load_course(points)) != grading.kit_fingerprint(course)


def _autograder(*args):
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=ROOT, capture_output=True, text=True,
                          env=os.environ.copy(), timeout=600)


def _rows(out: Path) -> dict[str, dict]:
    with open(out / "grades.csv", newline="") as f:
        return {r["student"]: r for r in csv.DictReader(f)}


def test_changing_the_due_date_recomputes_penalties_without_regrading(tmp_path):
    """Grade with submission times, then move the due date: every lab is kept, and grades.csv,
    results.json and feedback.md follow the new date."""
    students = tmp_path / "class"
    for name in ("early", "late"):
        (students / name / LAB).mkdir(parents=True)
        (students / name / LAB / "perceptron.py").write_text((ROOT / "solutions" / LAB / "perceptron.py").read_text())
    times = tmp_path / "times.csv"
    times.write_text("student,lab,time\nearly,,2026-03-20 12:00\nlate,lab08_1_perceptron,2026-03-22T09:00:00+09:00\n")
    course_file = course_with(tmp_path, POLICY).path
    out = tmp_path / "out"
    first = _autograder("--course", str(course_file), "grade", str(students), "--out", str(out), "--labs", LAB,
                        "--submitted-at", str(times), "--no-progress", "--workers", "2")
    assert first.returncode == 0, first.stderr
    full = config.load_course(course_file).lab(LAB).max_points
    rows = _rows(out)
    assert rows["early"]["score"] == rows["early"]["raw_score"] == f"{full:g}" and rows["early"]["late_days"] == "0"
    # Due 2026-03-20 23:59 + 10 min; handed in 2026-03-22 09:00: 2 started days, 20 %.
    assert (rows["late"]["raw_score"], rows["late"]["late_days"]) == (f"{full:g}", "2")
    assert float(rows["late"]["penalty"]) == pytest.approx(0.2 * full)
    assert float(rows["late"]["score"]) == pytest.approx(0.8 * full)
    results = json.loads((out / "late" / "results.json").read_text())
    assert results["score"] == pytest.approx(0.8 * full)
    assert sum(t["score"] for t in results["tests"]) == full  # the checks keep what they earned
    assert "2 days late" in results["output"] and results["output_format"] == "md"
    assert "**Late:**" in (out / "late" / "feedback.md").read_text()
    assert "**Late:**" not in (out / "early" / "feedback.md").read_text()

    # The due date moves a day later; no --submitted-at this time: the stored times count.
    course_file.write_text(course_file.read_text().replace('"2026-03-20 23:59"', '"2026-03-21 23:59"'))
    second = _autograder("--course", str(course_file), "grade", str(students), "--out", str(out), "--labs", LAB,
                         "--no-progress", "--workers", "2")
    assert second.returncode == 0, second.stderr
    assert "0 labs graded, 2 unchanged and kept" in second.stdout
    rows = _rows(out)
    assert rows["late"]["late_days"] == "1" and float(rows["late"]["score"]) == pytest.approx(0.9 * full)
    assert json.loads((out / "late" / "results.json").read_text())["score"] == pytest.approx(0.9 * full)
