"""The results model: what grading found, as plain data every report is written from.

The engine produces a `LabRun` per graded lab; `lab_record` turns it into the record kept
in a student's results.json, from which every report (results.json, feedback.md,
grades.csv) is rebuilt, resumed runs included.
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
        "checks": {c.id: {"status": c.status, "message": c.message, "seed": c.seed} for c in run.checks.values()},
    }


def lab_score(lab: config.Lab, record: dict) -> tuple[float, float]:
    """(points earned, points possible) of one lab record."""
    got = sum(c.points for c in lab.checks if record["checks"].get(c.id, {}).get("status") == "passed")
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
