"""report.html: the instructor's page on the whole class, rebuilt from every student's
results.json on every run (resumed runs included).

It holds the grades per lab (the table `autograder grade` prints), the labs that need a
look (error, timeout, oom, an ambiguous or unreadable submission) with the students, the
MNIST accuracies beside their thresholds, the slowest submissions, per lab the score
histogram and per check its pass rate and most common failure messages (grouped where
they differ only in their numbers), and every student's scores with a link to their
feedback.html. The instructor sees everything, hidden checks and thresholds included;
student names and messages are escaped.
"""
from __future__ import annotations

import math
import re
import statistics
import urllib.parse
from collections import Counter, defaultdict
from pathlib import Path

from autograder.course import config
from autograder.reports import escape, pages, plots
from autograder.reports.feedback_html import FILE as FEEDBACK_FILE
from autograder.reports.files import read_class, write_atomic
from autograder.reports.grades_csv import FILE as GRADES_FILE
from autograder.reports.model import counted, lab_grade, lab_records, outcomes
from autograder.reports.results_json import FILE as RESULTS_FILE
from autograder.reports.summary import lab_summaries, statuses_shown

FILE = "report.html"
LOOK_STATUSES = ("error", "timeout", "oom")  # a lab status that needs the instructor's eyes
LOOK_INTAKE = ("ambiguous", "unreadable")  # what intake could not decide
SLOWEST = 10  # submissions listed by grading time
FAILURE_GROUPS = 3  # most common failure messages shown per check
MESSAGE_CHARS = 300  # a message longer than this is cut in the tables
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def _student(name: str) -> str:
    """A student's name linking to their feedback.html (the folder name, escaped for the
    URL and for HTML)."""
    href = urllib.parse.quote(name, safe="") + "/" + FEEDBACK_FILE
    return f'<a href="{escape.html(href)}">{escape.html(name)}</a>'


def _cut(message: str) -> str:
    message = str(message)
    return message if len(message) <= MESSAGE_CHARS else message[:MESSAGE_CHARS] + "..."


def _first_problem(record: dict) -> str:
    if record.get("message"):  # not graded at all: the lab's one reason
        return str(record["message"])
    for outcome in outcomes(record).values():
        if outcome.get("status") != "passed" and outcome.get("message"):
            return str(outcome["message"])
    return ""


def failure_groups(messages: list[str]) -> list[tuple[int, str, int]]:
    """Failure messages grouped where they differ only in their numbers, most common first:
    (count, the group's most common message, how many distinct messages it holds)."""
    groups: dict[str, Counter] = defaultdict(Counter)
    for m in messages:
        groups[_NUMBER.sub("#", m)][m] += 1
    ranked = sorted(groups.values(), key=lambda c: (-sum(c.values()), c.most_common(1)[0][0]))
    return [(sum(c.values()), c.most_common(1)[0][0], len(c)) for c in ranked]


def final_accuracy(outcome: dict) -> float | None:
    """The last finite MNIST test accuracy an mnist_accuracy check recorded, if any."""
    for item in outcome.get("plots") or []:
        if isinstance(item, dict) and item.get("kind") == "mnist_accuracy":
            values = [a for a in item.get("accuracy") or []
                      if isinstance(a, (int, float)) and not isinstance(a, bool) and math.isfinite(a)]
            if values:
                return float(values[-1])
    return None


# --- the sections ------------------------------------------------------------------------


def _summary_table(summaries) -> str:
    shown = statuses_shown(summaries)
    rows = []
    for s in summaries:
        most = s.lab.max_points
        rows.append([f'<a href="#{s.lab.id}">{escape.html(s.lab.id)}</a>', str(len(s.scores)),
                     f"{s.mean:.2f} / {most:g}", f"{s.median:g} / {most:g}", str(s.full_marks)]
                    + [f'<span class="{st if s.statuses[st] else "zero"}">{s.statuses[st]}</span>' for st in shown])
    return pages.table(["lab", "students", "mean", "median", "full marks", *shown], rows,
                       numeric=set(range(1, 5 + len(shown))))


def _needs_a_look(course: config.Course, results: dict[str, dict]) -> str:
    rows = []
    for student, student_results in results.items():
        for lab_id, record in lab_records(student_results).items():
            status, intake = str(record.get("status", "error")), str(record.get("intake", "ok"))
            if status in LOOK_STATUSES or intake in LOOK_INTAKE:
                what = intake if intake in LOOK_INTAKE else status
                rows.append([_student(student), escape.html(lab_id), pages.badge(what),
                             f'<span class="message">{escape.html(_cut(_first_problem(record)))}</span>'])
    if not rows:
        return "<p>No lab ended in error, timeout or out of memory, and intake was sure of every submission.</p>"
    return pages.table(["student", "lab", "status", "what happened"], rows)


def _mnist(course: config.Course, results: dict[str, dict]) -> str:
    accuracies: dict[str, list[float]] = {}
    thresholds: dict[str, float] = {}
    rows = []
    for lab in course.labs.values():
        check = next((c for c in lab.checks if c.id == "mnist_accuracy"), None)
        if check is None:
            continue
        found = [a for r in results.values() if lab.id in lab_records(r)
                 for a in [final_accuracy(outcomes(lab_records(r)[lab.id]).get(check.id, {}))] if a is not None]
        threshold = check.params.get("threshold")
        if isinstance(threshold, (int, float)):
            thresholds[lab.id] = float(threshold)
        if not found:
            continue
        accuracies[lab.id] = found
        reached = sum(1 for a in found if thresholds.get(lab.id) is not None and a >= thresholds[lab.id])
        rows.append([escape.html(lab.id), f"{threshold:g}" if lab.id in thresholds else "?",
                     "public" if check.public else "hidden", str(len(found)), str(reached),
                     f"{min(found):.4f}", f"{statistics.median(found):.4f}", f"{max(found):.4f}"])
    if not rows:
        return "<p>No MNIST accuracy was recorded (no MNIST lab was graded, or none trained).</p>"
    picture = pages.image(plots.class_accuracies(accuracies, thresholds), "The class's MNIST accuracies and the thresholds")
    return (f'<div class="plots"><figure>{picture}<figcaption>Each dot is a student\'s test accuracy after the last '
            "epoch trained (training stops at the first epoch that reaches the threshold); the dashed line is the "
            "threshold in course.toml.</figcaption></figure></div>"
            + pages.table(["lab", "threshold", "check", "students", "reached it", "lowest", "median", "highest"], rows,
                          numeric={1, 3, 4, 5, 6, 7}))


def _slowest(results: dict[str, dict]) -> str:
    times = []
    for student, student_results in results.items():
        seconds = {lab: float(r.get("seconds") or 0.0) for lab, r in lab_records(student_results).items()
                   if isinstance(r.get("seconds"), (int, float)) and not isinstance(r.get("seconds"), bool)}
        if seconds:
            slowest = max(seconds, key=seconds.get)
            times.append((sum(seconds.values()), student, slowest, seconds[slowest]))
    times.sort(key=lambda t: (-t[0], t[1]))
    rows = [[_student(student), f"{total:.1f}", escape.html(lab), f"{lab_s:.1f}"]
            for total, student, lab, lab_s in times[:SLOWEST]]
    if not rows:
        return "<p>No grading times were recorded.</p>"
    return ("<p class=\"muted\">Seconds spent grading each submission (labs kept from an earlier run count with "
            "the time they took then).</p>"
            + pages.table(["student", "seconds, all labs", "slowest lab", "its seconds"], rows, numeric={1, 3}))


def _lab_section(course: config.Course, summary, results: dict[str, dict]) -> str:
    lab = summary.lab
    parts = [f'<section class="lab" id="{lab.id}" data-lab="{lab.id}"><h2>{escape.html(lab.title)}</h2>',
             f"<p>{counted(len(summary.scores), 'student')}: mean <b>{summary.mean:.2f}</b>, median <b>{summary.median:g}</b> "
             f"of {lab.max_points:g} points; {summary.full_marks} with full marks.</p>",
             '<div class="plots"><figure>'
             + pages.image(plots.score_histogram(list(summary.scores.values()), lab.max_points),
                           f"Score histogram of {lab.id}")
             + "<figcaption>How many students reached each score.</figcaption></figure></div>"]
    submitted = {s: lab_records(r)[lab.id] for s, r in results.items()
                 if lab.id in lab_records(r) and lab_records(r)[lab.id].get("status") != "missing"}
    rows = []
    for check in lab.checks:
        found = [outcomes(record).get(check.id, {"status": "error", "message": "not run"})
                 for record in submitted.values()]
        passed = sum(1 for o in found if o.get("status") == "passed")
        rate = passed / len(found) if found else 0.0
        failures = failure_groups([str(o.get("message") or o.get("status", "")) for o in found
                                   if o.get("status") != "passed"])
        listed = "".join(
            f'<li><span class="message">{escape.html(_cut(message))}</span> <span class="muted">'
            f"({count} {'time' if count == 1 else 'times'}"
            f"{f', {variants} variants differing in numbers' if variants > 1 else ''})</span></li>"
            for count, message, variants in failures[:FAILURE_GROUPS])
        more = f'<li class="muted">and {len(failures) - FAILURE_GROUPS} other kinds</li>' if len(failures) > FAILURE_GROUPS else ""
        rows.append([f"<code>{escape.html(check.id)}</code>", f"{check.points:g}",
                     "public" if check.public else "hidden",
                     f'<span class="nowrap">{pages.bar(rate)}{passed} of {len(found)}</span>',
                     f"<ul>{listed}{more}</ul>" if listed else '<span class="muted">none</span>'])
    parts.append(pages.table(["check", "points", "", "passed (of the submissions)", "most common failures"], rows,
                             numeric={1}))
    parts.append("</section>")
    return "\n".join(parts)


def _scores(course: config.Course, results: dict[str, dict]) -> str:
    labs = [lab for lab in course.labs.values() if any(lab.id in lab_records(r) for r in results.values())]
    rows = []
    for student, student_results in results.items():
        records = lab_records(student_results)
        cells, total = [], 0.0
        for lab in labs:
            if lab.id in records:
                got = lab_grade(course, lab.id, records[lab.id]).score  # as grades.csv: less any late penalty
                total += got
                cells.append(f'<span class="score" data-lab="{lab.id}" data-score="{got:g}">{got:g}</span> '
                             + pages.badge(str(records[lab.id].get("status", "error"))))
            else:
                cells.append('<span class="muted">-</span>')
        rows.append([_student(student), *cells, f"{total:g}"])
    return pages.table(["student", *(lab.id for lab in labs), "total"], rows, numeric={len(labs) + 1})


def class_page(course: config.Course, results: dict[str, dict]) -> str:
    """The whole report from `results` ({student: results.json}, files.read_class)."""
    summaries = lab_summaries(course, results)
    body = [f"<header><h1>Class report</h1><p class=\"muted\">{escape.html(course.name)}</p>",
            f"<p>{counted(len(results), 'student')}. Rebuilt from the results in this folder on every run; the grades are "
            f'also in <a href="{GRADES_FILE}">{GRADES_FILE}</a>, each student\'s page is their {FEEDBACK_FILE}.</p>'
            "</header>",
            "<h2>Grades per lab</h2>", _summary_table(summaries),
            "<h2>Needs a look</h2>", _needs_a_look(course, results),
            "<h2>MNIST: accuracies and thresholds</h2>", _mnist(course, results),
            "<h2>Slowest submissions</h2>", _slowest(results)]
    body += [_lab_section(course, s, results) for s in summaries]
    body += ['<h2 id="scores">Every student\'s scores</h2>', _scores(course, results)]
    return pages.page(f"Class report: {course.name}", "\n".join(body))


def write(out: Path, course: config.Course) -> Path:
    """OUT/report.html from every OUT/<student>/results.json; returns its path."""
    path = out / FILE
    write_atomic(path, class_page(course, read_class(out, RESULTS_FILE)))
    return path
