"""The results model: what grading found, as plain data every report is written from.

The engine produces a `LabRun` per graded lab; `lab_record` turns it into the record kept
in a student's results.json, from which every report (results.json, feedback.md,
feedback.html, grades.csv, report.html) is rebuilt, resumed runs included. A check's
`plots` are the plain data it recorded for the reports' plots (engine/plugin.py's `plots`
fixture): lists of numbers, never the student's objects.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from autograder.course import config, late


@dataclass
class CheckOutcome:
    id: str
    status: str  # passed, failed, error, timeout, oom
    message: str = ""
    seed: int | None = None
    plots: list[dict] = field(default_factory=list)  # [{"kind": ..., ...plain data}] (reports/plots.py)
    seconds: float = 0.0  # wall time from the check's start to its end (not kept in results.json)


@dataclass
class LabRun:
    lab: str
    status: str  # graded, missing, error, timeout, oom
    checks: dict[str, CheckOutcome] = field(default_factory=dict)
    device: str = ""
    torch: str = ""
    seconds: float = 0.0
    sandbox: dict = field(default_factory=dict)  # how the workers were confined (sandbox.Confinement)
    # Why the lab was not graded at all (not submitted, ambiguous, unreadable): said once for
    # the lab, not once per check; empty when it was graded.
    message: str = ""
    intake: str = "ok"  # what intake said of the lab: ok, missing, ambiguous, unreadable


def check_record(outcome: CheckOutcome) -> dict:
    """One check's entry of a lab record: status, message, seed, and its plots when it has any."""
    record = {"status": outcome.status, "message": outcome.message, "seed": outcome.seed}
    if outcome.plots:
        record["plots"] = outcome.plots
    return record


def lab_record(run: LabRun, fingerprint: str, notes: list[str] = (), content: str = "") -> dict:
    """The per-lab record kept in results.json; enough to rebuild every other output.
    `content` is the hash of what was graded (engine/grading.content_hash), equal for
    students who handed in the same code; empty when nothing was graded."""
    return {
        "status": run.status,
        "fingerprint": fingerprint,
        "content": content,
        "device": run.device,
        "torch": run.torch,
        "seconds": round(run.seconds, 2),
        "sandbox": run.sandbox,
        "notes": list(notes),
        "message": run.message,
        "intake": run.intake,
        "checks": {c.id: check_record(c) for c in run.checks.values()},
    }


def lab_records(results: dict) -> dict[str, dict]:
    """The lab records of a student's results.json (extra_data.labs), {lab id: record};
    anything that is not a table (a damaged file) is left out."""
    extra = results.get("extra_data") if isinstance(results, dict) else None
    labs = extra.get("labs") if isinstance(extra, dict) else None
    return {k: v for k, v in labs.items() if isinstance(v, dict)} if isinstance(labs, dict) else {}


def outcomes(record: dict) -> dict[str, dict]:
    """The check entries of a lab record, {check id: entry}; entries that are not a table (a
    damaged results.json) are left out."""
    checks = record.get("checks") if isinstance(record, dict) else None
    return {k: v for k, v in checks.items() if isinstance(v, dict)} if isinstance(checks, dict) else {}


def lab_score(lab: config.Lab, record: dict) -> tuple[float, float]:
    """(points earned, points possible) of one lab record."""
    checks = outcomes(record)
    got = sum(c.points for c in lab.checks if checks.get(c.id, {}).get("status") == "passed")
    return got, lab.max_points


@dataclass
class LabGrade:
    """A lab's grade: what the checks earned, what lateness cost (course/late.py), the rest."""

    raw: float  # points the checks earned
    max: float
    late: late.Lateness

    @property
    def penalty(self) -> float:
        return self.late.penalty(self.raw)

    @property
    def score(self) -> float:
        """The final score: earned points less the late penalty."""
        return round(self.raw - self.penalty, 6)


def lab_grade(course: config.Course, lab_id: str, record: dict) -> LabGrade:
    """The grade of one lab record, its late penalty computed now from the stored submission
    time and course.toml's current [late] table."""
    raw, most = lab_score(course.lab(lab_id), record)
    return LabGrade(raw, most, late.assess(course.late, lab_id, late.Submitted.from_record(record.get("submitted"))))


def counted(n: int, noun: str) -> str:
    """'1 hidden check', '3 hidden checks', '1 student': a count with its noun (plural in -s)."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
