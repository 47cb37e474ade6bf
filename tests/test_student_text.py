"""A student's text is data wherever it is shown: a student whose folder name, file names
and exception messages carry HTML, a spreadsheet formula, rich's [markup] and terminal
escape sequences gets no live element in the rendered feedback (checked in a headless
browser's DOM), no formula in grades.csv, and no escape sequence on the terminal of
`autograder grade` (progress bar included) or of the self-check. The nbgrader feedback page
is checked in tests/test_nbgrader.py."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import mistune
import pytest

from tests import browser
from tests.conftest import ROOT

LAB = "lab08_1_perceptron"
REFERENCE = (ROOT / "solutions" / LAB / "perceptron.py").read_text()
TAG = "<img src=x onerror=\"document.title='pwned'\">"
MESSAGE = TAG + "\x1b[31m\x1b]0;owned\x07=HYPERLINK(\"http://x.invalid\",\"y\") [bold red]rich[/] **bold**"
NAME = "=SUM(1+1)<img src=x onerror=document.title='pwned'>\x1b[31mmallory"  # a folder name: no "/"
LINK = "<img src=x onerror=document.title='pwned'>.py"  # a symlink: intake notes it
TITLE = "feedback page"


def _hostile_source() -> str:
    return REFERENCE.replace("def accuracy(model, X, Y):\n",
                             f"def accuracy(model, X, Y):\n    raise ValueError({MESSAGE!r})\n", 1)


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="200")
    return subprocess.run([sys.executable, "-P", "-m", "autograder", *args], cwd=cwd, env=env,
                          capture_output=True, timeout=900)


def _controls(data: bytes) -> list[str]:
    """Escape sequences and control characters other than newline, tab and the carriage
    return a progress bar redraws with."""
    text = data.decode("utf-8", errors="replace")
    return sorted({repr(c) for c in text if (ord(c) < 32 and c not in "\n\t\r") or 0x7f <= ord(c) <= 0x9f})


@pytest.fixture(scope="module")
def graded(tmp_path_factory, mnist_cache):
    tmp = tmp_path_factory.mktemp("student-text")
    klass = tmp / "class"
    lab = klass / NAME / LAB
    lab.mkdir(parents=True)
    (lab / "perceptron.py").write_text(_hostile_source())
    (klass / NAME / LINK).symlink_to("/etc/hostname")
    honest = klass / "alice" / LAB
    honest.mkdir(parents=True)
    (honest / "perceptron.py").write_text(REFERENCE)
    out = tmp / "out"
    result = _run(["grade", str(klass), "--out", str(out), "--labs", LAB], tmp)  # with its progress bar
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return tmp, out, result


@pytest.fixture(scope="module")
def chromium(browser):  # the session's browser (conftest): one Playwright per thread
    return browser


def _page(path: Path, body_html: str) -> Path:
    path.write_text(f"<!doctype html><html><head><meta charset=utf-8><title>{TITLE}</title></head>"
                    f"<body>{body_html}</body></html>", encoding="utf-8")
    return path


def test_feedback_md_renders_no_live_element(graded, chromium):
    tmp, out, _ = graded
    feedback = (out / NAME / "feedback.md").read_text(encoding="utf-8")
    # A markdown renderer that lets raw HTML through, as many do: only the escaping protects.
    seen = browser.dom_report(chromium, _page(tmp / "feedback.html", mistune.html(feedback)))
    assert seen["handlers"] == [] and seen["active"] == [] and seen["javascript_links"] == [], seen
    assert seen["title"] == TITLE and seen["dialogs"] == []
    text = seen["text"]
    assert "your code raised ValueError: " + TAG in text, "the message reads as the student wrote it"
    assert "[bold red]rich[/] **bold**" in text and "=HYPERLINK(" in text
    assert "Feedback for =SUM(1+1)<img src=x onerror=document.title='pwned'>mallory" in text
    assert f"{LINK}: a symbolic link was ignored" in text
    assert "\x1b" not in text and "\x07" not in text


def test_the_browser_check_sees_unescaped_markup(graded, chromium):
    """The same message unescaped does make a live element: the test above can fail."""
    tmp, _, _ = graded
    seen = browser.dom_report(chromium, _page(tmp / "raw.html", mistune.html(MESSAGE)))
    assert seen["handlers"] and seen["active"] and seen["title"] == "pwned", seen


def test_grades_csv_starts_no_formula(graded):
    _, out, _ = graded
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    cells = [cell for row in rows for cell in row]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))], cells
    names = {row[0] for row in rows[1:]}
    assert names == {"alice", "'" + NAME}, names


def test_terminal_output_of_grading_carries_no_escape_sequence(graded):
    _, _, result = graded
    assert b"mallory" in result.stderr, "the student is named (in the progress bar)"
    assert _controls(result.stdout) == [] and _controls(result.stderr) == [], result.stderr[-2000:]


def test_self_check_shows_the_message_as_text(graded, tmp_path):
    folder = tmp_path / ("\x1b[31m[bold]" + LAB)  # the student's own folder, named oddly too
    folder.mkdir()
    (folder / "perceptron.py").write_text(_hostile_source())
    result = _run(["check", LAB, str(folder)], tmp_path)
    assert result.returncode == 1, result.stderr.decode(errors="replace")
    assert _controls(result.stdout) == [] and _controls(result.stderr) == [], result.stdout
    shown = "".join(result.stdout.decode().split())  # without blanks: the table wraps long messages
    assert "[boldred]rich[/]**bold**" in shown, "rich's markup in the message is shown, not applied"
    assert "[bold]" + LAB in shown, "rich's markup in the path is shown, not applied"
    assert "<imgsrc=xonerror=" in shown
