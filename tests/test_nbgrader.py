"""The nbgrader integration with the real nbgrader: the round trip, the kit's grader on the
same class, and notebooks that students took apart.

One course with lab 8-1 goes through generate_assignment, release_assignment,
fetch_assignment and submit (three students: correct, partly correct, untouched),
collect, autograde, generate_feedback and export, in a temporary course folder and a
temporary exchange; Jupyter's and IPython's folders (and HOME) are temporary too.
"""
from __future__ import annotations

import copy
import csv
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder import cli
from autograder.course import config
from autograder.intake import notebooks as nbextract
from autograder.integrations.nbgrader import course_dir as nbgrader_course
from autograder.integrations.nbgrader import gradebook
from tests.conftest import rendered_text

LAB = "lab08_1_perceptron"
COURSE_ID = "dnn-test"
BIN = Path(sys.executable).parent
STUDENTS = ("alice", "bob", "carol")  # correct, partly correct, untouched
PARTIAL = ("logic_gate_data", "Perceptron", "predict", "accuracy")  # bob's finished cells


def _run(args: list[str], cwd: Path, env: dict, timeout: float = 600) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _write(path: Path, nb: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")


def _cell(nb: dict, grade_id: str) -> dict:
    return next(c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)


def _export(course_dir: Path, env: dict, name: str) -> dict[str, tuple[float, float]]:
    target = course_dir.parent / name
    _run([str(BIN / "nbgrader"), "export", "--to", str(target)], course_dir, env)
    with open(target, newline="") as f:
        return {r["student_id"]: (float(r["score"]), float(r["max_score"])) for r in csv.DictReader(f)
                if r["assignment"] == LAB}


def _cell_scores(course_dir: Path) -> dict[tuple[str, str], float | None]:
    from nbgrader.api import Gradebook

    gradebook._alembic_on_path()
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}", COURSE_ID) as gb:
        return {(g.student.id, g.name): g.auto_score
                for s in gb.assignment_submissions(LAB) for nb in s.notebooks for g in nb.grades}


@pytest.fixture(scope="module")
def world(tmp_path_factory, mnist_cache):
    """The whole round trip, once; the tests below look at what it left."""
    base = tmp_path_factory.mktemp("nbgrader")
    env = dict(os.environ)
    for var, sub in [("JUPYTER_CONFIG_DIR", "jupyter-config"), ("JUPYTER_DATA_DIR", "jupyter-data"),
                     ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"), ("IPYTHONDIR", "ipython"), ("HOME", "home")]:
        (base / sub).mkdir()
        env[var] = str(base / sub)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(config.KIT_ROOT), env.get("PYTHONPATH")) if p)
    env["MNIST_CACHE"] = str(mnist_cache)
    env.pop("JPY_SESSION_NAME", None)
    course_dir, exchange = base / "course", base / "exchange"
    exchange.mkdir()
    nbg = str(BIN / "nbgrader")

    assert cli.main(["nbgrader", str(course_dir), "--exchange", str(exchange), "--course-id", COURSE_ID,
                     "--labs", LAB]) == 0
    _run([nbg, "generate_assignment", LAB], course_dir, env)
    _run([nbg, "release_assignment", LAB], course_dir, env)

    source = _read(course_dir / "source" / LAB / f"{LAB}.ipynb")
    for student in STUDENTS:
        home = base / "students" / student
        home.mkdir(parents=True)
        args = ["--course", COURSE_ID, f"--Exchange.root={exchange}"]
        _run([nbg, "fetch_assignment", LAB, *args], home, env)
        path = home / LAB / f"{LAB}.ipynb"
        nb = _read(path)
        for cell in source["cells"]:
            meta = cell["metadata"].get("nbgrader", {})
            if meta.get("solution") and (student == "alice" or (student == "bob" and meta["grade_id"] in PARTIAL)):
                _cell(nb, meta["grade_id"])["source"] = cell["source"]
        _write(path, nb)
        _run([nbg, "submit", LAB, *args, f"--student={student}"], home, env)
    _run([nbg, "collect", LAB], course_dir, env)

    t0 = time.monotonic()
    _run([nbg, "autograde", LAB], course_dir, env)
    nbgrader_s = time.monotonic() - t0
    _run([nbg, "generate_feedback", LAB], course_dir, env)
    by_nbgrader = _export(course_dir, env, "grades-nbgrader.csv")
    cells_by_nbgrader = _cell_scores(course_dir)

    out = base / "kit-results"
    t0 = time.monotonic()
    assert cli.main(["grade", "--nbgrader", str(course_dir), "--assignment", LAB, "--out", str(out),
                     "--no-progress", "--device", "cpu"]) == 0
    kit_s = time.monotonic() - t0
    by_kit = _export(course_dir, env, "grades-kit.csv")
    cells_by_kit = _cell_scores(course_dir)
    print(f"\nnbgrader autograde: {nbgrader_s:.1f} s; autograder grade --nbgrader: {kit_s:.1f} s "
          f"({len(STUDENTS)} students, {LAB})")
    return dict(base=base, env=env, course_dir=course_dir, exchange=exchange, out=out, source=source,
                by_nbgrader=by_nbgrader, by_kit=by_kit, cells_by_nbgrader=cells_by_nbgrader,
                cells_by_kit=cells_by_kit)


# --- the generated course -------------------------------------------------------------------------

def test_source_notebook_has_the_cells_nbgrader_needs(course):
    nb = nbgrader_course.build_notebook(course, LAB)
    lab = course.lab(LAB)
    cells = {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if "nbgrader" in c.metadata}
    setup = cells["setup"]
    assert setup.metadata["nbgrader"]["locked"] and not setup.metadata["nbgrader"]["grade"]
    for name in ("logic_gate_data", "Perceptron", "train_perceptron", "predict", "accuracy"):
        meta = cells[name].metadata["nbgrader"]
        assert meta["solution"] and not meta["grade"] and meta["schema_version"] == 3
        assert "### BEGIN SOLUTION" in cells[name].source and "### END SOLUTION" in cells[name].source
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert sum(c.metadata["nbgrader"]["points"] for c in tests) == lab.max_points
    assert len(tests) == len(lab.checks)
    for c, check in zip(tests, lab.checks):
        assert c.metadata["nbgrader"]["points"] == check.points
        assert nbextract.check_calls(c.source) == [(LAB, check.id)]
        code = [l for l in c.source.splitlines() if l and not l.startswith("#")]
        assert code[0] == "from autograder.notebook import check" and len(code) == 2
        assert ("### BEGIN HIDDEN TESTS" in c.source) == (not check.public)
    demo = next(c for c in nb.cells if c.metadata.get("autograder", {}).get("role") == "demo")
    assert "NBGRADER_EXECUTION" in demo.source
    assert f"autograder experiments {LAB} --submission" in demo.source, "the demo points to the experiments"
    # Every lab builds, and a rerun changes nothing.
    for lab_id in course.labs:
        nbgrader_course.build_notebook(course, lab_id)


def test_config_block_is_rewritten_and_own_settings_kept(course, tmp_path):
    d = tmp_path / "c"
    nbgrader_course.write_course(course, d, exchange="/x/exchange", labs=[LAB])
    cfg = d / "nbgrader_config.py"
    cfg.write_text(cfg.read_text() + "c.Execute.timeout = 1234\n")
    assert nbgrader_course.write_course(course, d, labs=[LAB]) == []  # nothing changed
    text = cfg.read_text()
    assert "c.Exchange.root = '/x/exchange'" in text and text.rstrip().endswith("c.Execute.timeout = 1234")
    assert f"c.Execute.timeout = {nbgrader_course.execution_timeout(course)}" in text
    coursedir, loaded = gradebook.load_coursedir(d)
    assert loaded.Execute.timeout == 1234 and loaded.IgnorePattern.enabled
    assert loaded.Exchange.root == "/x/exchange" and Path(coursedir.root) == d
    # the timeout covers the longest MNIST check with its startup
    assert nbgrader_course.execution_timeout(course) > max(c.timeout_s for lab in course.labs.values()
                                                           for c in lab.checks)


def test_ignore_pattern_drops_torch_warnings_only():
    from nbformat.v4 import new_code_cell, new_output
    from nbgrader.preprocessors import IgnorePattern

    warning = ("/venv/lib/python3.11/site-packages/torch/nn/modules/loss.py:608: UserWarning: Using a target "
               "size that is different to the input size.\n  return F.mse_loss(input, target)\n")
    cell = new_code_cell("check()", outputs=[new_output("stream", name="stderr", text=warning),
                                             new_output("stream", name="stderr", text="my own message\n")])
    pp = IgnorePattern(enabled=True, pattern=nbgrader_course.IGNORE_PATTERN)
    cell, _ = pp.preprocess_cell(cell, {}, 0)
    assert [o.text for o in cell.outputs] == ["my own message\n"]


def test_released_notebook_hides_solutions_and_hidden_checks(world, course):
    released = (world["course_dir"] / "release" / LAB / f"{LAB}.ipynb").read_text()
    for check in course.lab(LAB).checks:
        assert (f'"{check.id}"' in released or f'\\"{check.id}\\"' in released) == check.public, check.id
    assert "BCELoss()" not in released and "raise NotImplementedError()" in released
    assert "HIDDEN TESTS" not in released


# --- the round trip ---------------------------------------------------------------------------------

def test_round_trip_grades_match_course_points(world, course):
    lab = course.lab(LAB)
    full = lab.max_points
    partial = sum(c.points for c in lab.checks if c.id in (
        "logic_gate_data_shapes", "logic_gate_data_values", "perceptron_structure", "predict_and_accuracy"))
    assert world["by_nbgrader"] == {"alice": (full, full), "bob": (partial, full), "carol": (0.0, full)}
    for student in STUDENTS:
        assert (world["course_dir"] / "feedback" / student / LAB / f"{LAB}.html").is_file()
    # the gradebook's grade cells carry course.toml's points
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{world['course_dir'] / 'gradebook.db'}", COURSE_ID) as gb:
        cells = {c.name: c.max_score for c in gb.find_notebook(LAB, LAB).grade_cells}
    assert sorted(cells.values()) == sorted(c.points for c in lab.checks)


def test_kit_grader_gives_the_same_scores_as_nbgrader_autograde(world):
    assert world["by_kit"] == world["by_nbgrader"]
    assert world["cells_by_kit"] == world["cells_by_nbgrader"]
    rows = list(csv.DictReader((world["out"] / "grades.csv").open()))
    assert {r["student"]: float(r["score"]) for r in rows} == {s: v[0] for s, v in world["by_nbgrader"].items()}


# --- what students do to notebooks -------------------------------------------------------------------

def _messy(nb: dict) -> dict:
    """Reordered, duplicated, retyped and edited cells, and megabytes of output."""
    nb = copy.deepcopy(nb)
    cells = nb["cells"]
    i, j = cells.index(_cell(nb, "predict")), cells.index(_cell(nb, "accuracy"))
    cells[i], cells[j] = cells[j], cells[i]  # reordered
    cells.insert(j + 1, copy.deepcopy(_cell(nb, "predict")))  # duplicated
    setup = _cell(nb, "setup")
    setup["source"] = "import torch\n"  # read-only cell edited: nn and the gate table gone
    acc = _cell(nb, "accuracy")
    acc["cell_type"] = "markdown"  # retyped
    acc.pop("outputs", None)
    acc.pop("execution_count", None)
    demo = next(c for c in cells if c.get("metadata", {}).get("autograder"))
    demo["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "x" * (6 << 20)}]  # huge output
    cells.append({"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                  "source": "def helper():\n    return 1\n\nfor _ in range(10**9):\n    pass\n"})  # scratch work
    return nb


def _experimenting(nb: dict) -> dict:
    """Every solution right, plus a cell as the lecture writes it: matplotlib, a training run,
    a plot, a Korean print, a saved plot in the outputs (issue 11, case 7)."""
    nb = copy.deepcopy(nb)
    nb["cells"].append({"cell_type": "code", "metadata": {}, "execution_count": 3, "source": (
        "import matplotlib.pyplot as plt\n"
        "X, Y = logic_gate_data('and')\n"
        "model = Perceptron()\n"
        "losses = train_perceptron(model, X, Y, steps=1000)\n"
        "plt.plot(losses)\n"
        "plt.title('AND 학습 곡선')\n"
        "plt.show()\n"
        "print('학습 끝! 정확도:', accuracy(model, X, Y))\n"),
        "outputs": [{"output_type": "display_data", "metadata": {}, "data": {"image/png": "iVBORw0KGgo=" * 1000}}]})
    return nb


def _torn(nb: dict) -> dict:
    """The Perceptron solution cell and a test cell deleted, another cell's source broken."""
    nb = copy.deepcopy(nb)
    nb["cells"] = [c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                   not in ("Perceptron", "test_perceptron_structure")]
    _cell(nb, "predict")["source"] = "def predict(model, X:\n"  # a syntax error
    return nb


@pytest.fixture(scope="module")
def tampered(world):
    """Four more students, put into submitted/ as collect would, graded by the kit."""
    course_dir = world["course_dir"]
    submitted = course_dir / "submitted"
    alice = _read(submitted / "alice" / LAB / f"{LAB}.ipynb")
    stamp = (submitted / "alice" / LAB / "timestamp.txt").read_text()
    folders = {}
    for student in ("dave", "erin", "frank", "gina", "hana"):
        folders[student] = submitted / student / LAB
        folders[student].mkdir(parents=True)
        (folders[student] / "timestamp.txt").write_text(stamp)
    _write(folders["dave"] / f"{LAB}.ipynb", _messy(alice))
    _write(folders["erin"] / f"{LAB}-Copy1.ipynb", _torn(alice))  # renamed, too
    (folders["frank"] / f"{LAB}.ipynb").write_text('{"cells": [', encoding="utf-8")  # cut short
    # gina: an empty submission
    _write(folders["hana"] / f"{LAB}.ipynb", _experimenting(alice))
    assert cli.main(["grade", str(course_dir), "--out", str(world["out"]), "--no-progress", "--device", "cpu"]) == 0
    _run([str(BIN / "nbgrader"), "generate_feedback", LAB, "--force"], course_dir, world["env"])
    return _export(course_dir, world["env"], "grades-all.csv")


def _feedback(world, student: str) -> str:
    return rendered_text(world["out"] / student / "feedback.md")


def test_messy_notebook_still_gets_full_marks_with_notes(world, tampered, course):
    full = course.lab(LAB).max_points
    assert tampered["dave"] == (full, full)
    text = _feedback(world, "dave")
    for flag in ("is a copy of", "was changed; the original was graded", "changed from code to markdown",
                 "not in their original order", "MiB, mostly cell outputs", "were not run when grading"):
        assert flag in text, flag


def test_torn_and_renamed_notebook_grades_what_is_left(world, tampered, course):
    score, full = tampered["erin"]
    assert 0 < score < full
    text = _feedback(world, "erin")
    assert f"graded {LAB}-Copy1.ipynb instead" in text
    assert "solution cell Perceptron is missing" in text and "syntax error" in text
    assert "test cell test_perceptron_structure was deleted" in text
    results = json.loads((world["out"] / "erin" / "results.json").read_text())
    assert f"{LAB}/perceptron_structure" in {t["name"] for t in results["tests"]}  # still graded
    # logic_gate_data survived the damage around it
    checks = results["extra_data"]["labs"][LAB]["checks"]
    assert checks["logic_gate_data_values"]["status"] == "passed"
    restored = _read(world["course_dir"] / "autograded" / "erin" / LAB / f"{LAB}.ipynb")
    assert _cell(restored, "test_perceptron_structure")["outputs"][0]["output_type"] == "error"


def test_added_experiment_cell_keeps_full_marks(world, tampered, course):
    full = course.lab(LAB).max_points
    assert tampered["hana"] == (full, full)
    text = _feedback(world, "hana")
    assert "`import matplotlib.pyplot as plt`" not in text  # an import is graded (matplotlib is there)
    assert "`X, Y = logic_gate_data('and')` and 6 more" in text


def test_unreadable_and_empty_submissions_do_not_stop_the_class(world, tampered, course):
    full = course.lab(LAB).max_points
    assert tampered["frank"] == (0.0, full) and tampered["gina"] == (0.0, full)
    rows = {r["student"]: r for r in csv.DictReader((world["out"] / "grades.csv").open())}
    assert set(rows) == set(STUDENTS) | {"dave", "erin", "frank", "gina", "hana"}
    assert rows["frank"]["status"] == "error" and "not a valid notebook" in _feedback(world, "frank")
    assert rows["gina"]["status"] == "missing"
    for student in ("dave", "erin", "frank"):  # nbgrader's feedback works on the kit's notebooks
        html = (world["course_dir"] / "feedback" / student / LAB / f"{LAB}.html").read_text()
        assert "Autograder notes" in html
    # the first three kept their grades (nothing of theirs changed)
    assert {s: tampered[s] for s in STUDENTS} == world["by_nbgrader"]


# --- extraction ------------------------------------------------------------------------------------

def test_module_from_a_notebook_leaves_out_tests_demos_and_scratch(world):
    nb = _messy(_read(world["course_dir"] / "release" / LAB / f"{LAB}.ipynb"))
    got = nbextract.module_source(nb, "x.ipynb")
    assert "check(" not in got.source and "def demo" not in got.source and "10**9" not in got.source
    assert "def helper" in got.source
    assert "the read-only cell 4 (setup) was changed" in " ".join(got.notes)
    compile(got.source, "x.py", "exec")
    # intake's notebook reader takes the same cells from an nbgrader notebook
    text = nbextract.module_source(nbextract.read_notebook(json.dumps(world["source"]).encode(), "x.ipynb")).source
    assert "check(" not in text and "def train_perceptron" in text


def test_statements_besides_definitions_are_left_out_of_solution_cells():
    nb = {"cells": [
        {"cell_type": "code", "metadata": {"nbgrader": {"grade_id": "a", "solution": True}},
         "source": "def f():\n    return 1\nf() + None\ndef g():\n    return 2\n"},
        {"cell_type": "code", "metadata": {"nbgrader": {"grade_id": "b", "solution": True}},
         "source": "%matplotlib inline\ndef h():\n    return 3\n"}]}
    got = nbextract.module_source(nb)
    namespace: dict = {}
    exec(got.source, namespace)  # the failing `f() + None` is not run
    assert namespace["f"]() == 1 and namespace["g"]() == 2 and namespace["h"]() == 3
    assert "cell 1 (a): `f() + None`; cell 2 (b): `%matplotlib inline`" in " ".join(got.notes)


def test_late_rule_reaches_grades_and_gradebook_without_regrading(world, tampered, course, tmp_path, capsys):
    """With [late] in course.toml, the kit's penalty, from nbgrader's timestamp.txt, goes to
    grades.csv and to nbgrader's gradebook (so `nbgrader export` agrees); every lab is kept."""
    from nbgrader.utils import parse_utc

    course_dir = world["course_dir"]
    stamp = parse_utc((course_dir / "submitted" / "alice" / LAB / "timestamp.txt").read_text().strip())
    due = stamp.replace(tzinfo=dt.timezone.utc) - dt.timedelta(days=1, hours=1)  # 2 started days late
    late_course = tmp_path / "course.toml"
    late_course.write_text(course.path.read_text() + f"\n[late]\ndue = {due.isoformat()}\npercent_per_day = 10\n")
    capsys.readouterr()
    assert cli.main(["--course", str(late_course), "grade", "--nbgrader", str(course_dir), "--assignment", LAB,
                     "--out", str(world["out"]), "--no-progress", "--device", "cpu"]) == 0
    assert " 0 labs graded" in capsys.readouterr().out
    full = course.lab(LAB).max_points
    with open(world["out"] / "grades.csv", newline="") as f:
        alice = next(r for r in csv.DictReader(f) if r["student"] == "alice")
    assert (alice["raw_score"], alice["late_days"]) == (f"{full:g}", "2")
    assert float(alice["score"]) == pytest.approx(0.8 * full)
    exported = _export(course_dir, world["env"], "grades-late.csv")
    assert exported["alice"] == (pytest.approx(0.8 * full), full)
    assert exported["carol"] == (0.0, full)  # nothing earned, nothing deducted


# --- a student's text in nbgrader's feedback page -----------------------------------------------------

HOSTILE_TAG = "<img src=x onerror=\"document.title='pwned'\">"
HOSTILE_NOTEBOOK = HOSTILE_TAG + ".ipynb"  # renamed (a file name may hold all of it): the notes cell names it


@pytest.fixture(scope="module")
def hostile(world, tampered):
    """mallory: a renamed notebook whose module raises, on import, a message holding HTML, a
    formula and escape sequences (a class body runs when the module is imported), so
    that the notes cell quotes it; graded by the kit, then nbgrader's generate_feedback
    renders the page."""
    course_dir = world["course_dir"]
    alice = _read(course_dir / "submitted" / "alice" / LAB / f"{LAB}.ipynb")
    nb = copy.deepcopy(alice)
    message = HOSTILE_TAG + "\x1b[31m=HYPERLINK(\"http://x.invalid\")"
    _cell(nb, "Perceptron")["source"] = f"class Perceptron:\n    raise ValueError({message!r})\n"
    folder = course_dir / "submitted" / "mallory" / LAB
    _write(folder / HOSTILE_NOTEBOOK, nb)
    (folder / "timestamp.txt").write_text((course_dir / "submitted" / "alice" / LAB / "timestamp.txt").read_text())
    assert cli.main(["grade", str(course_dir), "--out", str(world["out"]), "--no-progress", "--device", "cpu"]) == 0
    _run([str(BIN / "nbgrader"), "generate_feedback", LAB, "--force"], course_dir, world["env"])
    return course_dir / "feedback"


def test_feedback_page_shows_student_text_as_text(world, hostile, browser):
    from tests import browser as pages

    autograded = _read(world["course_dir"] / "autograded" / "mallory" / LAB / f"{LAB}.ipynb")
    assert "\x1b" not in json.dumps(autograded, ensure_ascii=False), "no escape sequence in the outputs"
    page = pages.dom_report(browser, hostile / "mallory" / LAB / f"{LAB}.html")
    usual = pages.dom_report(browser, hostile / "bob" / LAB / f"{LAB}.html")
    # nbgrader's page has scripts of its own: the student's page has exactly those, no more.
    assert page["handlers"] == usual["handlers"] == [], page["handlers"]
    assert len(page["active"]) == len(usual["active"]), set(page["active"]) - set(usual["active"])
    assert page["javascript_links"] == [] and page["dialogs"] == []
    assert page["title"] == usual["title"] and "pwned" not in page["title"]
    assert f"graded {HOSTILE_NOTEBOOK} instead" in page["text"], "the notes cell names the file as it is"
    assert "raised ValueError: " + HOSTILE_TAG + "=HYPERLINK(" in page["text"], "the notes and outputs quote it"
