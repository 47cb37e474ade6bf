"""The class in numbers, per lab: the scores' mean, median and full marks, and how many labs
ended in each status. `autograder grade` prints it as a table and report.html opens with it;
both are rebuilt from the students' results (files.read_class)."""
from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field

from rich.table import Table

from autograder.course import config
from autograder.reports.model import lab_grade, lab_records

# The statuses of a lab (grades.csv's status column), in the order the table shows them.
STATUSES = ("graded", "missing", "error", "timeout", "oom")


@dataclass
class LabSummary:
    lab: config.Lab
    scores: dict[str, float] = field(default_factory=dict)  # student -> points earned
    statuses: Counter = field(default_factory=Counter)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.scores.values()) if self.scores else float("nan")

    @property
    def median(self) -> float:
        return statistics.median(self.scores.values()) if self.scores else float("nan")

    @property
    def full_marks(self) -> int:
        return sum(1 for s in self.scores.values() if s >= self.lab.max_points)


def lab_summaries(course: config.Course, results: dict[str, dict]) -> list[LabSummary]:
    """One LabSummary per lab of the course that any student's results hold (course order);
    `results` is files.read_class's {student: results.json}. Labs no longer in the course
    are left out."""
    found = {lab_id: LabSummary(lab) for lab_id, lab in course.labs.items()}
    for student, student_results in results.items():
        for lab_id, record in lab_records(student_results).items():
            if lab_id not in found:
                continue
            found[lab_id].scores[student] = lab_grade(course, lab_id, record).score  # as grades.csv
            found[lab_id].statuses[record.get("status", "error")] += 1
    return [s for s in found.values() if s.scores]


def statuses_shown(summaries: list[LabSummary]) -> list[str]:
    """STATUSES, then any other status a lab ended in."""
    seen = set().union(*(s.statuses for s in summaries)) if summaries else set()
    return list(STATUSES) + sorted(seen - set(STATUSES))


def terminal_table(summaries: list[LabSummary]) -> Table:
    """The summary as a rich table: per lab the number of students, mean, median and full
    marks (of the points possible), then the count of labs in each status."""
    table = Table(title="Grades per lab", title_justify="left")
    table.add_column("lab", no_wrap=True)
    for name in ("students", "mean", "median", "full marks"):
        table.add_column(name, justify="right")
    shown = statuses_shown(summaries)
    for status in shown:
        table.add_column(status, justify="right")
    for s in summaries:
        most = s.lab.max_points
        counts = [str(s.statuses[st]) if s.statuses[st] else "[dim]0[/]" for st in shown]
        table.add_row(s.lab.id, str(len(s.scores)), f"{s.mean:.2f} / {most:g}", f"{s.median:g} / {most:g}",
                      str(s.full_marks), *counts)
    return table
