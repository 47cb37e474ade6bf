"""/autograder/submission_metadata.json: when the submission was made, and its due dates.

Fields as Gradescope documents them (https://gradescope-autograders.readthedocs.io/en/latest/submission_metadata/):
`created_at` (ISO 8601 with offset) is the submission time, to be used rather than the
clock since Gradescope reruns old submissions; `assignment.due_date` and
`assignment.late_due_date` (null when not set). The live platform also gives each user an
`assignment` with their own dates, where an extension shows (autograder_samples issue #60);
those win, and for a group the latest of its members' dates counts.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from autograder.course.late import Submitted


def _time(value) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset")
    return when


def _date(meta: dict, key: str) -> dt.datetime | None:
    """The users' own `key` date (the latest, for a group), else the assignment's."""
    own = [_time(u.get("assignment", {}).get(key)) for u in meta.get("users") or [] if isinstance(u, dict)]
    own = [t for t in own if t is not None]
    return max(own) if own else _time((meta.get("assignment") or {}).get(key))


def read_submitted(path: Path) -> tuple[Submitted | None, str]:
    """(the submission's time and due dates, a note for the instructor's log). None and the
    reason when the file is absent or has no readable `created_at`: the late rule then
    treats the submission as on time."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        at = _time(meta.get("created_at"))
        if at is None:
            return None, f"{path} has no created_at: no late penalty"
        return Submitted(at, _date(meta, "due_date"), _date(meta, "late_due_date")), ""
    except FileNotFoundError:
        return None, f"{path} is absent: no late penalty"
    except (OSError, ValueError, TypeError, AttributeError) as e:
        return None, f"{path} could not be read ({type(e).__name__}: {e}): no late penalty"
