"""`autograder experiments`: the lecture's claims on the reference and on a student's code.

Three runs on the --quick budget: the reference (all six experiments), a submission whose
Dropout stays on in eval mode (experiment 5 must say so), and a submission whose folder name
and exception message are HTML (lab 8-1 only). Every number of the reports is recomputed here,
independently, from the measurements.csv beside them; the pages open in headless Chromium.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import math
import shutil
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from autograder.experiments import lecture, stats
from autograder.experiments.reproduce import selected
from autograder.experiments.running import take_in_submission
from tests import browser as pages
from tests.conftest import ROOT

HOSTILE_FOLDER = "<img src=x onerror=alert(1)>"
HOSTILE_MESSAGE = "<img src=x onerror=\"document.title='pwned'\">"
# Dropout that stays on in eval mode: the classic bug of lab 9-3.
DROPOUT_ON_IN_EVAL = ("if not self.training or self.p == 0.0:", "if self.p == 0.0:")


def experiments(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "autograder", "experiments", *args, "--quick", "--no-progress",
                           "--workers", "2"], cwd=cwd, capture_output=True, text=True, timeout=900)


def run_into(out: Path, *args) -> Path:
    result = experiments(*args, "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"report: {out / 'report.html'}" in result.stdout
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory, mnist_cache) -> Path:
    return run_into(tmp_path_factory.mktemp("experiments") / "reference")


@pytest.fixture(scope="module")
def broken(tmp_path_factory, mnist_cache) -> Path:
    student = tmp_path_factory.mktemp("student")
    source = (ROOT / "solutions" / "lab09_3_dropout" / "dropout.py").read_text()
    assert DROPOUT_ON_IN_EVAL[0] in source
    (student / "lab09_3_dropout").mkdir()
    (student / "lab09_3_dropout" / "dropout.py").write_text(source.replace(*DROPOUT_ON_IN_EVAL))
    return run_into(student.parent / "broken-report", "lab09_3_dropout", "--submission", str(student))


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, mnist_cache) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    student = root / HOSTILE_FOLDER
    lab = student / "lab08_1_perceptron"
    lab.mkdir(parents=True)
    source = (ROOT / "solutions" / "lab08_1_perceptron" / "perceptron.py").read_text()
    (lab / "perceptron.py").write_text(source.replace(
        "        super().__init__()\n", f"        super().__init__()\n        raise ValueError({HOSTILE_MESSAGE!r})\n", 1))
    return run_into(root / "report", "lab08_1_perceptron", "--submission", str(student))


def data(out: Path) -> dict:
    return json.loads((out / "experiments.json").read_text(encoding="utf-8"))


def findings(out: Path):
    for section in data(out)["sections"]:
        for f in section["findings"]:
            yield section, f


# --- the numbers, recomputed from measurements.csv -----------------------------------------


def read_rows(out: Path) -> list[tuple[str, str, int, str, int, float]]:
    with open(out / "measurements.csv", newline="") as f:
        return [(r["experiment"], r["run"], int(r["seed"]), r["metric"], int(r["index"]), float(r["value"]))
                for r in csv.DictReader(f)]


def term(rows, experiment: str, t: dict) -> dict[int, float]:
    """Per seed the value at the term's index, or at the seed's largest index."""
    by_seed = defaultdict(dict)
    for e, r, seed, m, i, v in rows:
        if (e, r, m) == (experiment, t["run"], t["metric"]):
            by_seed[seed][i] = v
    if t["index"] is None:
        return {s: vals[max(vals)] for s, vals in by_seed.items()}
    return {s: vals[t["index"]] for s, vals in by_seed.items() if t["index"] in vals}


def recompute(rows, experiment: str, source: dict) -> dict[int, float]:
    """A finding's values from the rows, as docs/experiments.md defines its source."""
    op, terms = source["op"], source["terms"]
    if op == "rate":
        return {s: 1.0 - v for e, r, s, m, i, v in rows if (e, r, m) == (experiment, terms[0]["run"], terms[0]["metric"])}
    if op == "max":
        out = defaultdict(lambda: -math.inf)
        for e, r, s, m, i, v in rows:
            if (e, r, m) == (experiment, terms[0]["run"], terms[0]["metric"]):
                out[s] = max(out[s], v)
        return dict(out)
    vals = [term(rows, experiment, t) for t in terms]
    seeds = set.intersection(*(set(v) for v in vals))
    if op == "value":
        where = term(rows, experiment, source["where"]) if "where" in source else None
        return {s: vals[0][s] for s in seeds if where is None or where.get(s) == source["equals"]}
    if op == "minus":
        return {s: source["sign"] * (vals[0][s] - vals[1][s]) for s in seeds}
    if op == "ratio":
        return {s: vals[0][s] / vals[1][s] for s in seeds}
    if op == "gap":
        return {s: (vals[0][s] - vals[1][s]) - (vals[2][s] - vals[3][s]) for s in seeds}
    if op == "rank":
        return {s: 1.0 + sum(1 for v in vals if v[s] < vals[source["of"]][s]) for s in seeds}
    raise AssertionError(f"unknown op {op}")


def expected_text(values: list[float], rate: bool) -> str:
    """The measured column as the docs define it, written here from the values alone."""
    if rate:
        n, k, z = len(values), int(sum(values)), 1.6448536269514722
        p = k / n
        centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z / (1 + z * z / n) * math.sqrt(
            p * (1 - p) / n + z * z / (4 * n * n))
        return f"{p:.3f} ({k} of {n} tries; 95% bounds {max(0, centre - half):.3f} to {min(1, centre + half):.3f})"
    if len(values) == 1:
        return f"{values[0]:.4g} (1 seed)"
    return (f"{statistics.fmean(values):.4g} ± {statistics.stdev(values):.2g} ({len(values)} seeds; "
            f"{min(values):.4g} to {max(values):.4g})")


@pytest.mark.parametrize("run", ["reference", "broken"])
def test_every_number_comes_from_the_data_files(run, request):
    out = request.getfixturevalue(run)
    rows = read_rows(out)
    markdown = (out / "report.md").read_text(encoding="utf-8")
    checked = 0
    for section, f in findings(out):
        if f["source"] is None or f["verdict"] == stats.NOT_MEASURED:
            continue
        values = recompute(rows, section["id"], f["source"])
        assert {str(k): v for k, v in values.items()} == pytest.approx(f["values"], rel=1e-12), f["claim"]
        rate = f["source"]["op"] == "rate"
        text = expected_text(list(values.values()), rate)
        row = next(line for line in markdown.splitlines() if f"| {text} | **{f['verdict']}**" in line)
        if f["lecture"] is not None:
            assert f"| {f['lecture']:.4g} | {text} |" in row, f"the lecture's number in the row of {f['claim']}"
        checked += 1
    assert checked >= (20 if run == "reference" else 3)


def test_the_reference_runs_every_experiment(reference):
    d = data(reference)
    assert [s["id"] for s in d["sections"]] == [e.id for e in lecture.EXPERIMENTS]
    assert d["submission"]["reference"] and d["run"]["budget"]["name"] == "quick"
    verdicts = {(s["id"], f["claim"]): f["verdict"] for s, f in findings(reference)}
    assert all(v in stats.VERDICTS for v in verdicts.values())
    assert stats.NOT_MEASURED not in verdicts.values(), "every run of the reference worked"
    # Deterministic claims: a perceptron's XOR cost cannot leave ln 2, and the reference's
    # Dropout returns its input in eval mode (two passes agree exactly).
    perceptron = next(f for s, f in findings(reference) if f["claim"].startswith("A single perceptron"))
    assert perceptron["verdict"] == stats.HOLDS and perceptron["lecture"] == pytest.approx(math.log(2))
    eval_mode = next(f for s, f in findings(reference) if f["claim"].startswith("Dropout is off in eval mode"))
    assert eval_mode["verdict"] == stats.HOLDS and set(eval_mode["values"].values()) == {0.0}
    numbers = [f for s, f in findings(reference) if s["id"] == "init" and f["lecture"] is not None]
    assert numbers and {f["verdict"] for f in numbers} == {stats.NOT_COMPARABLE}, "quick MNIST runs are not the lecture's"
    assert len(list((reference / "plots").glob("*.png"))) == sum(len(s["plots"]) for s in d["sections"])


def test_a_dropout_on_in_eval_mode_shows_in_experiment_5(broken, reference):
    d = data(broken)
    assert [s["id"] for s in d["sections"]] == ["dropout"], "lab 9-3's experiment alone"
    eval_mode = next(f for s, f in findings(broken) if f["claim"].startswith("Dropout is off in eval mode"))
    assert eval_mode["verdict"] == stats.FAILS
    assert "your Dropout still drops in eval mode" in eval_mode["why"]
    # 10000 test images through three layers dropped with p = 0.5 twice: the chance that no
    # prediction changes is far below anything measurable.
    assert min(eval_mode["values"].values()) > 0
    row = next(line for line in (broken / "report.md").read_text().splitlines() if "Dropout is off in eval" in line)
    assert "**does not hold**" in row


def test_student_text_stays_text(hostile):
    d = data(hostile)
    assert d["submission"]["name"] == HOSTILE_FOLDER, "the data file keeps the text as it was"
    notes = " ".join(n for s in d["sections"] for n in s["notes"])
    assert HOSTILE_MESSAGE in notes, "the student's exception is reported"
    markdown = (hostile / "report.md").read_text()
    assert "<img" not in markdown and "&lt;img src=x onerror=alert(1)&gt;" in markdown


def test_pages_render(browser, reference, broken, hostile, tmp_path):
    for out in (reference, broken, hostile):
        d = data(out)
        drawn = sum(len(s["plots"]) for s in d["sections"])
        with pages.open_page(browser, out / "report.html") as (page, log):
            assert log.problems() == []
            assert pages.broken_images(page) == []
            assert page.evaluate("document.images.length") == drawn
            shown = page.evaluate("Array.from(document.querySelectorAll('section.experiment td .badge'))"
                                  ".map(b => b.textContent)")
            assert shown == [f["verdict"] for _, f in findings(out)], "every verdict, as the data file has it"
            assert pages.live_markup(page) == []
            pages.screenshot(page, tmp_path / f"{out.name}.png")
        with pages.open_page(browser, out / "report.html", pages.PHONE) as (page, log):
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "sideways on a phone"
    with pages.open_page(browser, hostile / "report.html") as (page, log):
        body = page.evaluate("document.body.innerText")
        assert HOSTILE_FOLDER in body and HOSTILE_MESSAGE in body and log.dialogs == []
        assert "pwned" not in page.title()


# --- choosing what runs -----------------------------------------------------------------------


def test_a_lab_chooses_its_experiments(course):
    assert [e.id for e in selected(course, "all")] == [e.id for e in lecture.EXPERIMENTS]
    assert [e.id for e in selected(course, "lab09_3_dropout")] == ["dropout"]
    assert [e.id for e in selected(course, "lab08_2_xor_mlp")] == ["xor"]
    assert [e.id for e in selected(course, "lab09_1_relu")] == ["activations", "optimizers"]
    with pytest.raises(KeyError):
        selected(course, "lab99_nothing")


def test_what_is_taken_in(course, tmp_path):
    one_file = tmp_path / "dropout.py"
    shutil.copyfile(ROOT / "solutions" / "lab09_3_dropout" / "dropout.py", one_file)
    with pytest.raises(ValueError, match="one lab's work"):
        take_in_submission(course, ["lab09_3_dropout"], one_file, tmp_path / "a")
    got = take_in_submission(course, ["lab09_2_xavier", "lab09_3_dropout"], one_file, tmp_path / "b",
                             named="lab09_3_dropout")
    assert got.folder("lab09_3_dropout") is not None and got.folder("lab09_2_xavier") is None
    bundle_like = dataclasses.replace(course, path=tmp_path / "course.toml")  # a course root without solutions
    with pytest.raises(FileNotFoundError, match="not part of this bundle"):
        take_in_submission(bundle_like, ["lab09_3_dropout"], None, tmp_path / "c")


# --- the statistics behind the verdicts ----------------------------------------------------


def test_number_verdicts():
    assert stats.number_verdict(0.9805, [0.9801, 0.9797, 0.9808])[0] == stats.HOLDS
    assert stats.number_verdict(0.9805, [0.9701, 0.9697, 0.9708])[0] == stats.FAILS, "a point away, tight seeds"
    assert stats.number_verdict(0.9805, [0.9601, 0.9997, 0.9808])[0] == stats.HOLDS, "wide seeds, wide band"
    assert stats.number_verdict(0.97, [0.9660])[0] == stats.HOLDS, "half a point: the lecture's two digits"
    assert stats.number_verdict(0.00123, [0.0012, 0.0013], log=True)[0] == stats.HOLDS
    assert stats.number_verdict(0.00123, [0.0030, 0.0031], log=True)[0] == stats.FAILS, "more than twice as high"


def test_compare_and_rate_verdicts():
    assert stats.compare_verdict([0.01, 0.02, 0.005], "x")[0] == stats.HOLDS
    assert stats.compare_verdict([0.01, -0.002, 0.005], "x")[0] == stats.UNCLEAR
    assert stats.compare_verdict([-0.01, 0.002, -0.005], "x")[0] == stats.FAILS
    assert stats.all_verdict([True, True], "x")[0] == stats.HOLDS and stats.all_verdict([True, False], "x")[0] == stats.FAILS
    low, high = stats.wilson(0, 24)
    assert low == 0.0 and 0 < high < 0.15
    assert stats.wilson(7, 24)[0] == pytest.approx(1 - stats.wilson(17, 24)[1]), "the bounds mirror"
    assert stats.rate_verdict(24, 24, 0.3455, "x")[0] == stats.FAILS, "a network that is always stuck"
    assert stats.rate_verdict(7, 24, 0.3455, "x")[0] == stats.UNCLEAR, "too few tries to tell"
    assert stats.rate_verdict(330, 1000, 0.3455, "x")[0] == stats.UNCLEAR
    assert stats.rate_verdict(290, 1000, 0.3455, "x")[0] == stats.HOLDS


# --- replies that are not what working code returns ------------------------------------------

DAMAGED = ("<b>text</b>", None, float("nan"), float("inf"), [float("nan")] * 3, {"losses": "x"},
           {"losses": [float("inf"), "x", None], "output": "x", "norms": [float("inf"), -1.0], "predictions": "x",
            "layers": ["x"]},
           {"predictions": {"bad_output": "(3,)"}, "layers": [None]})


@pytest.mark.parametrize("reply", DAMAGED, ids=range(len(DAMAGED)))
def test_damaged_replies_still_make_a_report(course, reply, tmp_path):
    """Replies are data a student's code may break or forge: whatever comes back, every
    experiment gives its findings (gaps and "not measured" where nothing could be read), the
    run says what was wrong, and the data file holds no NaN."""
    import torch

    from autograder.experiments import findings as F
    from autograder.experiments import plan, report
    from autograder.experiments.running import ArmResult, Submission
    from autograder.intake.collect import LabIntake

    sub = Submission("damaged", False, {lab: LabIntake(lab, tmp_path) for lab in course.labs})
    sections, m = [], F.Measurements()
    for exp in lecture.EXPERIMENTS:
        arms = plan.arms(exp, lecture.QUICK, course)
        results = {a.key: ArmResult(replies=[reply] * a.calls) for a in arms}
        ctx = F.Context(exp, lecture.QUICK, course, sub, results, arms, m, torch.zeros(10000, dtype=torch.int64),
                        torch.zeros(60000, dtype=torch.int64))
        section = F.section(ctx)
        assert section["status"] == "run" and section["findings"]
        assert all(f["verdict"] in stats.VERDICTS for f in section["findings"])
        sections.append(section)
    data = {"submission": {"name": "damaged", "reference": False, "notes": [], "labs": {}},
            "run": {"budget": {"name": "quick"}, "budget_text": "", "device": "cpu", "workers": 1, "torch": "",
                    "machine": "", "started": "", "seconds": 0.0, "lab": "all"}, "sections": sections}
    report.write(tmp_path / "out", data, m)  # allow_nan=False: raises on any NaN
    assert "not measured" in (tmp_path / "out" / "report.md").read_text()
