"""The pages people look at, opened in headless Chromium (tests/browser.py): every student's
feedback.html, the class's report.html and the self-check's page, from a class graded end to
end. Each page: no console error or network request, every image loaded, the scores shown
equal to grades.csv, readable on a phone; a screenshot of each kind is kept under the
test's temporary folder. Student text (exception messages, folder names) stays text, and
damaged results still make a page."""
from __future__ import annotations

import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import reports
from autograder.course import config
from autograder.reports import escape, feedback_html
from tests import browser as pages
from tests.conftest import ROOT, check_source_lines

HOSTILE_NAME = "<img src=x onerror=alert(1)>"  # a student folder (no slash: a valid name)
HOSTILE_MESSAGE = "<img src=x onerror=\"document.title='pwned'\">"
DAMAGED = "zed_damaged"  # a student whose results were damaged by hand
REFERENCE = (ROOT / "solutions" / "lab08_1_perceptron" / "perceptron.py").read_text()
CHECK_SOURCE = check_source_lines()


def autograder(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=cwd, capture_output=True, text=True,
                          env=os.environ.copy(), timeout=900)


def damaged_records(course: config.Course) -> dict[str, dict]:
    """A crashed lab, a missing lab, NaN where numbers go, plot data of the wrong kind."""
    crashed = {c.id: {"status": "error", "message": "the grading process died during this check (killed by signal "
                      "SIGKILL): os._exit, a crash, or running out of memory", "seed": 1}
               for c in course.lab("lab08_2_xor_mlp").checks}
    missing = {c.id: {"status": "failed", "message": "relu_mlp.py was not submitted", "seed": None}
               for c in course.lab("lab09_1_relu").checks}
    odd = {c.id: {"status": "passed", "message": "", "seed": 1} for c in course.lab("lab09_3_dropout").checks}
    odd["dropout_zero_fraction"]["plots"] = [{"kind": "dropout_zero_fraction", "p": [0.1, 0.5], "fraction": [None, 0.5],
                                              "n": 100}]
    odd["mnist_accuracy"] = {"status": "failed", "message": "reached test accuracy nan after each epoch", "seed": 1,
                             "plots": [{"kind": "mnist_accuracy", "accuracy": [float("nan")], "epochs": 2},
                                       {"kind": "dropout_modes", "p": "x", "x": [1], "train": [], "eval": []}]}
    return {"lab08_2_xor_mlp": {"status": "error", "seconds": float("nan"), "checks": crashed},
            "lab09_1_relu": {"status": "missing", "checks": missing, "intake": "missing"},
            "lab09_3_dropout": {"status": "graded", "seconds": 3.0, "device": "cpu", "torch": "2", "checks": odd}}


@pytest.fixture(scope="module")
def graded(tmp_path_factory, mnist_cache, course):
    """The example class, a student whose code raises HTML in an exception and whose folder
    name is HTML, graded by `autograder grade`; then a student with damaged results."""
    tmp = tmp_path_factory.mktemp("pages")
    subprocess.run([sys.executable, str(ROOT / "examples" / "make_class.py"), str(tmp / "class")], check=True,
                   capture_output=True)
    hostile = tmp / "class" / HOSTILE_NAME / "lab08_1_perceptron"
    hostile.mkdir(parents=True)
    (hostile / "perceptron.py").write_text(REFERENCE.replace(
        "def logic_gate_data(gate", f"def logic_gate_data(gate, *a):\n    raise ValueError({HOSTILE_MESSAGE!r})\n\n\n"
                                    "def _unused(gate", 1))
    out = tmp / "out"
    result = autograder("grade", str(tmp / "class"), "--out", str(out), "--workers", "2", "--no-progress")
    assert result.returncode == 0, result.stdout + result.stderr
    reports.write_student(out, DAMAGED, course, damaged_records(course))
    reports.write_class(out, course)
    return out, result


def grades(out: Path) -> dict[tuple[str, str], dict]:
    with open(out / "grades.csv", newline="") as f:
        return {(r["student"], r["lab"]): r for r in csv.DictReader(f)}


def students(out: Path) -> list[str]:
    return sorted({student for student, _ in grades(out)})


def assert_sound(page, log, min_images: int = 0) -> None:
    """No console error, uncaught exception, network request or dialog; every image loaded."""
    assert log.problems() == []
    assert pages.broken_images(page) == []
    assert page.evaluate("document.images.length") >= min_images
    assert all(w > 0 for w in page.evaluate("Array.from(document.images).map(i => i.naturalWidth)"))


def assert_fits_a_phone(browser, path: Path) -> None:
    with pages.open_page(browser, path, pages.PHONE) as (page, log):
        assert log.problems() == []
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
            "the page scrolls sideways on a phone")
        widest = page.evaluate("Math.max(...Array.from(document.images).map(i => i.getBoundingClientRect().width), 0)")
        assert widest <= 390


def test_grade_ends_with_the_table_and_the_paths(graded):
    out, result = graded
    assert "student,lab,score,max_score,status" not in result.stdout, "no raw CSV dump"
    lines = result.stdout.splitlines()
    assert any(line.startswith("Grades per lab") for line in lines)
    rows = grades(out)
    for lab in config.load_course().labs:
        row = next(line for line in lines if f" {lab} " in line)
        scores = [float(r["score"]) for (s, l), r in rows.items() if l == lab and s != DAMAGED]
        cells = [c.strip() for c in row.strip("│ ").split("│")]
        assert cells[1] == str(len(scores)) and cells[2].startswith(f"{statistics.fmean(scores):.2f} /")
        assert cells[3].startswith(f"{statistics.median(scores):g} /")
    assert lines[-2] == f"grades:       {out / 'grades.csv'}"
    assert lines[-1] == f"class report: {out / 'report.html'}"


@pytest.mark.parametrize("who", ["reference", "partial_student", "untouched_stubs", HOSTILE_NAME, DAMAGED])
def test_feedback_page(browser, graded, who, tmp_path):
    out, _ = graded
    rows = {lab: r for (s, lab), r in grades(out).items() if s == who}
    path = out / who / feedback_html.FILE
    with pages.open_page(browser, path) as (page, log):
        assert_sound(page, log, min_images=20 if who == "reference" else 0)
        shown = page.evaluate("""() => Array.from(document.querySelectorAll('section.lab')).map(s => {
            const score = s.querySelector('h2 .score');
            return [s.dataset.lab, score.dataset.score, score.dataset.maxScore, score.textContent.trim()]; })""")
        assert {lab: (score, most) for lab, score, most, _ in shown} == {
            lab: (r["score"], r["max_score"]) for lab, r in rows.items()}, "the scores shown are grades.csv's"
        assert all(text == f"{score} / {most}" for _, score, most, text in shown)
        total = sum(float(r["score"]) for r in rows.values())
        assert pages.text(page, "#total").split(" / ")[0] == f"{total:g}"
        assert page.title() == f"Feedback for {who}", "the title is the student's name as text"
        body = page.evaluate("document.body.innerText")
        leaked = [line for line in CHECK_SOURCE if line in body]
        assert not leaked, f"check source in the page: {leaked[:3]}"
        pages.screenshot(page, tmp_path / "feedback.png")
    assert_fits_a_phone(browser, path)


def test_class_report(browser, graded, tmp_path):
    out, _ = graded
    rows = grades(out)
    with pages.open_page(browser, out / "report.html") as (page, log):
        assert_sound(page, log, min_images=len(config.load_course().labs) + 1)
        cells = page.evaluate("""() => Array.from(document.querySelectorAll('#scores ~ .table-wrap tbody tr')).map(tr =>
            [tr.querySelector('td a').textContent, Array.from(tr.querySelectorAll('.score')).map(
                s => [s.dataset.lab, s.dataset.score])])""")
        shown = {(student, lab): score for student, scores in cells for lab, score in scores}
        assert shown == {key: r["score"] for key, r in rows.items()}, "every score shown is grades.csv's"
        names = page.evaluate("Array.from(document.querySelectorAll('#scores ~ .table-wrap tbody td:first-child'))"
                              ".map(td => td.textContent)")
        assert sorted(names) == students(out)
        look = pages.text(page, "h2:has-text('Needs a look') + .table-wrap")
        assert DAMAGED in look and "lab08_2_xor_mlp" in look, "the crashed lab needs a look"
        pages.screenshot(page, tmp_path / "report.png")
    assert_fits_a_phone(browser, out / "report.html")


def test_student_text_stays_text(browser, graded):
    out, _ = graded
    for path in (out / HOSTILE_NAME / feedback_html.FILE, out / "report.html"):
        with pages.open_page(browser, path) as (page, log):
            assert pages.live_markup(page) == [], f"{path.name}: student text became markup"
            assert log.dialogs == [] and "pwned" not in page.title()
            body = page.evaluate("document.body.innerText")
            assert HOSTILE_NAME in body, f"{path.name}: the folder name is shown as text"
            if path.name == feedback_html.FILE:
                assert HOSTILE_MESSAGE in body, "the exception message is shown as text"


def test_an_unescaped_page_would_be_caught(browser, graded, monkeypatch, tmp_path):
    """The check above can fail: the same page with escaping switched off has live markup."""
    out, _ = graded
    course = config.load_course()
    records = json.loads((out / HOSTILE_NAME / "results.json").read_text())["extra_data"]["labs"]
    monkeypatch.setattr(escape, "html", lambda text: str(text))
    path = tmp_path / "unescaped.html"
    path.write_text(feedback_html.feedback_page(HOSTILE_NAME, course, records))
    with pages.open_page(browser, path) as (page, log):
        found = pages.live_markup(page)
        assert any(f.startswith("IMG") for f in found) and any("onerror" in f for f in found)
        assert page.title() == "pwned" or log.dialogs, "the injected handler ran"
        pages.screenshot(page, tmp_path / "unescaped.png")


def test_damaged_results_render(browser, graded):
    out, _ = graded
    with pages.open_page(browser, out / DAMAGED / feedback_html.FILE) as (page, log):
        assert_sound(page, log, min_images=1)
        body = page.evaluate("document.body.innerText")
        assert "This plot could not be drawn" in body and "killed by signal SIGKILL" in body
        assert "accuracy nan" in body


def test_reports_are_rebuilt_on_a_resumed_run(graded):
    out, _ = graded
    kept = (out / "reference" / "results.json").read_text()
    (out / "report.html").unlink()
    (out / "reference" / feedback_html.FILE).unlink()
    classroom = out.parent / "class"
    result = autograder("grade", str(classroom), "--out", str(out), "--labs", "lab08_1_perceptron", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "0 labs graded" in result.stdout, "every lab was kept from the first run"
    assert (out / "report.html").is_file() and (out / "reference" / feedback_html.FILE).is_file()
    assert json.loads((out / "reference" / "results.json").read_text()) == json.loads(kept)
    assert DAMAGED in (out / "report.html").read_text(), "the report holds every student's results"


def test_self_check_page(browser, tmp_path, mnist_cache):
    lab = tmp_path / "lab09_3_dropout"
    shutil.copytree(ROOT / "solutions" / "lab09_3_dropout", lab)
    path = tmp_path / "page.html"
    result = autograder("check", "lab09_3_dropout", str(lab), "--html", str(path), "--device", "cpu")
    assert result.returncode == 0, result.stdout + result.stderr
    course = config.load_course()
    public = [c for c in course.lab("lab09_3_dropout").checks if c.public]
    with pages.open_page(browser, path) as (page, log):
        assert_sound(page, log, min_images=3)  # zero fraction, the two modes, MNIST
        shown = page.evaluate("Array.from(document.querySelectorAll('li.check')).map(li => li.dataset.check)")
        assert shown == [c.id for c in public], "the public checks, and only they"
        assert page.locator(".hidden-tag").count() == 0
        points = sum(c.points for c in public)
        assert pages.text(page, "#total") == f"{points:g} / {points:g}"
        assert f"Public checks: {points:g} of {points:g} points" in " ".join(result.stdout.split())
        pages.screenshot(page, tmp_path / "self-check.png")
    assert_fits_a_phone(browser, path)
