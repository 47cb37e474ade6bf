"""feedback.html: one student's page, lab by lab and check by check, with the plots.

Per lab the score, then each check with its points, its verdict, the message (what was
expected, what was found), for a failure the lecture topic to revisit (course.toml
[labs.<lab>.topics]), and the plots the check recorded. Hidden checks show their verdict
and message, as feedback.md does, and their plots only as course.toml's [reports] allows
(docs/reports.md); a hidden check's threshold is drawn only where it allows that too.
The same page is what `autograder check LAB --html PATH` writes for the public checks.
"""
from __future__ import annotations

from pathlib import Path

from autograder.course import config
from autograder.reports import escape, pages, plots
from autograder.reports.files import write_atomic
from autograder.reports.model import lab_grade, outcomes

FILE = "feedback.html"
NOT_RUN = {"status": "error", "message": "not run"}  # a check the record lacks (as feedback.md)


def plot_threshold(course: config.Course, check: config.Check) -> float | None:
    """The threshold a student's plot of `check` may draw: a public check's, a hidden one's
    only when [reports] hidden_thresholds allows it."""
    threshold = check.params.get("threshold")
    if not isinstance(threshold, (int, float)) or not (check.public or course.reports.hidden_thresholds):
        return None
    return float(threshold)


def _figures(course: config.Course, check: config.Check, outcome: dict) -> str:
    """The check's plots (each titled), then once per kind of plot what to look for in it."""
    items = outcome.get("plots")
    if not isinstance(items, list) or not (check.public or course.reports.hidden_plots):
        return ""
    figures, kinds = [], []
    for item in items:
        kind = item.get("kind") if isinstance(item, dict) else None
        if kind not in plots.TITLES:
            continue
        drawn = plots.png(item, plot_threshold(course, check))
        title = escape.html(plots.TITLES[kind])
        body = pages.image(drawn, plots.TITLES[kind]) if drawn else '<p class="muted">(This plot could not be drawn.)</p>'
        figures.append(f"<figure>{body}<figcaption>{title}</figcaption></figure>")
        kinds += [kind] if kind not in kinds else []
    if not figures:
        return ""
    captions = "".join(f'<p class="caption">{escape.html(plots.CAPTIONS[k])}</p>' for k in kinds)
    return f'<div class="plots">{"".join(figures)}</div>{captions}'


def _check(course: config.Course, lab: config.Lab, check: config.Check, outcome: dict, compact: bool = False) -> str:
    """One check's entry; `compact`: its head alone (the lab's one message is said above it)."""
    status = str(outcome.get("status", "error"))
    passed = status == "passed"
    css = status if status in ("passed", "failed", "error", "timeout", "oom") else "error"
    mark = "&#10003;" if passed else "&#10007;"
    hidden = "" if check.public else ' <span class="badge hidden-tag" title="graded after you submit">hidden</span>'
    head = (f'<div class="check-head"><span class="{css}">{mark}</span> <code>{escape.html(check.id)}</code>'
            f'<span class="score">{check.points if passed else 0:g} / {check.points:g}</span>'
            f"{pages.badge(status)}{hidden}</div>")
    message = outcome.get("message") or ""
    parts = [head]
    if not passed and message and not compact:
        parts.append(f'<p class="message">{escape.html(message)}</p>')
    if not passed and check.topic and not compact:
        parts.append(f'<p class="topic">Lecture topic to revisit: {escape.html(check.topic)}</p>')
    if not compact:
        parts.append(_figures(course, check, outcome))
    return f'<li class="check {css}" id="{lab.id}-{check.id}" data-check="{check.id}">{"".join(parts)}</li>'


def lab_section(course: config.Course, lab_id: str, record: dict, *, self_check: bool = False) -> tuple[str, float, float]:
    """One lab's section and its (points earned, points possible). In a self-check only the
    checks that ran are shown and counted (the public ones)."""
    lab = course.lab(lab_id)
    found = outcomes(record)
    shown = [c for c in lab.checks if c.id in found] if self_check else list(lab.checks)
    late = ""
    if self_check:
        got = sum(c.points for c in shown if found[c.id].get("status") == "passed")
        most = sum(c.points for c in shown)
    else:
        grade = lab_grade(course, lab_id, record)  # the final score, less any late penalty
        got, most = grade.score, grade.max
        if grade.late.days:
            late = f"Late: {grade.late.reason}; {grade.penalty:g} of {grade.raw:g} points deducted."
    status = str(record.get("status", "error"))
    parts = [f'<section class="lab" id="{lab.id}" data-lab="{lab.id}">',
             f'<h2>{escape.html(lab.title)} <span class="score" data-score="{got:g}" data-max-score="{most:g}">'
             f"{got:g} / {most:g}</span> {pages.badge(status)}</h2>"]
    if record.get("device"):
        parts.append(f'<p class="meta">Graded on {escape.html(record["device"])} with torch '
                     f'{escape.html(record.get("torch", "?"))} in {escape.html(record.get("seconds", "?"))} s.</p>')
    if late:
        parts.append(f'<p class="note late">{escape.html(late)}</p>')
    for note in record.get("notes") or []:
        parts.append(f'<p class="note">Note: {escape.html(note)}</p>')
    entries = [found.get(c.id, NOT_RUN) for c in shown]
    messages = {str(e.get("message") or "") for e in entries}
    if record.get("message"):  # not graded at all (not submitted, ambiguous): the lab's one reason
        messages = {str(record["message"])}
    # Not submitted, not importable, or ambiguous: one message for every check, said once.
    whole_lab = len(entries) > 1 and len(messages) == 1 and "" not in messages and all(
        e.get("status") != "passed" for e in entries)
    items = "".join(_check(course, lab, c, e, compact=whole_lab) for c, e in zip(shown, entries))
    if whole_lab:
        parts.append(f'<p class="note">{escape.html(messages.pop())}</p>'
                     f'<details class="collapsed"><summary>{len(shown)} checks, none passed</summary>'
                     f'<ol class="checks">{items}</ol></details>')
    else:
        parts.append(f'<ol class="checks">{items}</ol>')
    if self_check and lab.hidden_count:
        parts.append(f'<p class="muted">{lab.hidden_count} more checks are graded after you submit.</p>')
    parts.append("</section>")
    return "\n".join(parts), got, most


def feedback_page(student: str, course: config.Course, records: dict[str, dict], *, self_check: bool = False) -> str:
    """The whole page for `student` (a folder name: escaped) from their lab records, in
    course order; labs the course no longer has are left out."""
    sections, rows, total, possible = [], [], 0.0, 0.0
    for lab_id, record in records.items():
        if lab_id not in course.labs or not isinstance(record, dict):
            continue
        section, got, most = lab_section(course, lab_id, record, self_check=self_check)
        sections.append(section)
        total, possible = total + got, possible + most
        rows.append([f'<a href="#{lab_id}">{escape.html(course.lab(lab_id).title)}</a>',
                     f'<span class="score">{got:g} / {most:g}</span>', pages.badge(str(record.get("status", "error")))])
    title = f"Self-check: {student}" if self_check else f"Feedback for {student}"
    what = "Public checks" if self_check else "Total"
    body = (f"<header><h1>{escape.html(title)}</h1><p class=\"muted\">{escape.html(course.name)}</p>"
            f'<p class="total">{what}: <span class="score" id="total">{total:g} / {possible:g}</span></p></header>\n'
            + pages.table(["lab", "score", "status"], rows) + "\n" + "\n".join(sections))
    return pages.page(title, body)


def write(folder: Path, student: str, course: config.Course, records: dict[str, dict]) -> None:
    """OUT/<student>/feedback.html from the student's lab records."""
    write_atomic(folder / FILE, feedback_page(student, course, records))
