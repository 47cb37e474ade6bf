"""The late rule: how many days late a lab was handed in, and what that costs.

The rule (course.toml [late], docs/late.md):

- The deadline is the lab's due date plus `grace_minutes`. A lab handed in at or before the
  deadline is on time. The due date is the platform's when it gives one for the student
  (Gradescope's, which carries the student's extension), else course.toml's.
- Days late = the days started after the deadline, rounded up: one second late is one day,
  24 hours and one second is two.
- The penalty is `percent_per_day` x days late, of the score the lab earned (not of its
  maximum), capped at 100 %.
- More than `max_days` days late, or after the platform's late due date (Gradescope's
  "late due date"), the lab scores zero.

Penalties are computed when the reports are written, from the submission time stored in the
lab's record, so a change of [late] takes effect on the next run without regrading.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from autograder.course.config import LatePolicy

DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Submitted:
    """When a lab was handed in (timezone-aware), with the platform's own dates for the
    student when it has them: `due` replaces course.toml's due date, and after `late_due`
    the lab scores zero."""

    at: dt.datetime
    due: dt.datetime | None = None
    late_due: dt.datetime | None = None

    def record(self) -> dict:
        """The form kept in a lab's record (ISO 8601 strings, None when absent)."""
        iso = lambda t: t.isoformat() if t else None  # noqa: E731
        return {"at": iso(self.at), "due": iso(self.due), "late_due": iso(self.late_due)}

    @classmethod
    def from_record(cls, record: dict | None) -> "Submitted | None":
        if not record or not record.get("at"):
            return None
        when = lambda k: dt.datetime.fromisoformat(record[k]) if record.get(k) else None  # noqa: E731
        return cls(when("at"), when("due"), when("late_due"))


@dataclass(frozen=True)
class Lateness:
    days: int = 0  # started days after the deadline; 0: on time
    fraction: float = 0.0  # of the earned score deducted, from 0 to 1
    reason: str = ""  # for the student: when it was due, when it came, what it costs; "" when on time

    def penalty(self, earned: float) -> float:
        """Points deducted from `earned` points (rounded to 1e-6, so 10 % of 9 is 0.9)."""
        return round(earned * self.fraction, 6)


ON_TIME = Lateness()


def _when(t: dt.datetime, zone: dt.tzinfo | None) -> str:
    return (t.astimezone(zone) if zone else t).strftime("%Y-%m-%d %H:%M %Z").strip()


def assess(policy: LatePolicy | None, lab_id: str, submitted: Submitted | None) -> Lateness:
    """How late lab `lab_id`, handed in as `submitted`, was under `policy`, and the fraction
    of its score that costs (the module's rule). On time when there is no policy, no
    submission time or no due date."""
    if policy is None or submitted is None:
        return ON_TIME
    due = submitted.due or policy.due_for(lab_id)
    if due is None:
        return ON_TIME
    zone = policy.zone()
    deadline = due + dt.timedelta(minutes=policy.grace_minutes)
    if submitted.at <= deadline:
        return ON_TIME
    days = math.ceil((submitted.at - deadline) / DAY)
    grace = f" plus {policy.grace_minutes:g} minutes' grace" if policy.grace_minutes else ""
    said = f"handed in {_when(submitted.at, zone)}, due {_when(due, zone)}{grace}: {days} day{'s' * (days != 1)} late"
    if submitted.late_due is not None and submitted.at > submitted.late_due:
        return Lateness(days, 1.0, f"{said}, after the late due date {_when(submitted.late_due, zone)}: scored zero")
    if policy.max_days is not None and days > policy.max_days:
        return Lateness(days, 1.0, f"{said}, more than the {policy.max_days} day{'s' * (policy.max_days != 1)} "
                                   f"accepted: scored zero")
    fraction = min(1.0, policy.percent_per_day * days / 100)
    return Lateness(days, fraction, f"{said}, {policy.percent_per_day:g}% per day: {fraction * 100:g}% off")
