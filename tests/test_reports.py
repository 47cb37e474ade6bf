"""The reports without a browser: plot data as the checks record it, every plot kind drawn
(and damaged data refused, never raised), results.json's Gradescope fields, the terminal
table, the class report's grouping, and what the pages may show of hidden checks."""
from __future__ import annotations

import io
import json
import math
import re

import pytest
import torch
from rich.console import Console

from autograder.course import config
from autograder.engine.plugin import PLOT_BYTES, Plots, plain
from autograder.reports import class_report, feedback_html, plots, results_json, summary
from autograder.reports.model import CheckOutcome, LabRun, lab_record
from tests.conftest import ROOT, check_source_lines

PNG = b"\x89PNG\r\n\x1a\n"
HOSTILE = "<img src=x onerror=document.title='pwned'>"


def sample_plots() -> dict[str, dict]:
    """One plausible item of every kind, as the checks record them."""
    grid = [0.5 + 0.4 * math.tanh(4 * (x + y - 1)) for y in range(33) for x in range(33)]
    return {
        "loss_curve": {"kind": "loss_curve", "data": "OR", "lr": 0.7, "curves": [
            {"label": "yours", "step": [1, 2, 3], "value": [0.69, 0.5, 0.3]},
            {"label": "reference", "step": [1, 2, 3], "value": [0.69, 0.52, 0.33]}]},
        "decision_map": {"kind": "decision_map", "data": "XOR", "limits": [-0.5, 1.5], "size": 33, "prob": grid,
                         "rows": [[0, 0], [0, 1], [1, 0], [1, 1]], "targets": [0, 1, 1, 0]},
        "grad_norm_depth": {"kind": "grad_norm_depth", "depths": [1, 2, 3], "sigmoid": [0.1, 0.01, 0.001],
                            "relu": [0.4, 0.2, 0.1]},
        "mnist_accuracy": {"kind": "mnist_accuracy", "accuracy": [0.9612], "epochs": 2, "stop_at_threshold": True},
        "init_histogram": {"kind": "init_histogram", "method": "xavier_uniform_", "family": "uniform", "scale": 0.088,
                           "shape": [256, 512], "gain": 1.0, "fan_in": 512, "fan_out": 256, "lo": -0.13, "hi": 0.13,
                           "counts": [0] * 10 + [100] * 40 + [0] * 10, "below": 0, "above": 0, "n": 4000,
                           "found_std": 0.051, "found_max": 0.088},
        "dropout_zero_fraction": {"kind": "dropout_zero_fraction", "p": [0.0, 0.5, 1.0], "fraction": [0.0, 0.5, 1.0],
                                  "n": 20000},
        "dropout_modes": {"kind": "dropout_modes", "p": 0.6, "x": [-1.0, 0.5, 2.0], "train": [0.0, 1.25, 5.0],
                          "eval": [-1.0, 0.5, 2.0]},
        "batchnorm_stats": {"kind": "batchnorm_stats", "features": 2, **{
            mode: {"yours": {"mean": [0.1, 0.2], "var": [1.0, 0.0]}, "torch": {"mean": [0.1, 0.2], "var": [1.0, 0.0]}}
            for mode in ("train", "eval")}},
        "series": {"kind": "series", "title": "Test accuracy per epoch", "xlabel": "epoch", "ylabel": "accuracy",
                   "log_y": False, "series": [
                       {"label": "ReLU", "x": [1, 2, 3], "mean": [0.9, 0.95, None], "low": [0.89, 0.94, None],
                        "high": [0.91, 0.96, None], "dashed": False, "color": 1},
                       {"label": "sigmoid", "x": [1, 2, 3], "mean": [0.1, 0.1, 0.2], "low": None, "high": None,
                        "dashed": True}], "marks": [{"y": 0.942, "label": "lecture: 0.942", "color": 1}]},
        "activation_histograms": {"kind": "activation_histograms", "edges": [0.01, 0.1, 1.0, 10.0], "seed": 777,
                                  "series": [{"label": "Xavier", "fractions": [[0.1, 0.3, 0.1], [0.2, 0.2, 0.1]],
                                              "zeros": [0.5, 0.5]}]},
    }


# --- the plot data the checks record -------------------------------------------------------


def test_plain_keeps_numbers_and_drops_objects():
    assert plain({"a": float("nan"), "b": [1, 2.123456, float("inf")], "c": True, "d": None}) == {
        "a": None, "b": [1, 2.123, None], "c": True, "d": None}
    assert plain(torch.tensor([0.5, float("nan")])) == [0.5, None]
    assert plain(torch.zeros(5000)) is None, "a tensor too large to keep whole"
    assert plain(object()) is None and plain(torch.nn.Linear(2, 1)) is None, "no student object is kept"
    assert plain("x" * 500) == "x" * 80


def test_plot_data_is_capped():
    recorder = Plots()
    recorder.record("loss_curve", values=list(range(1000)))
    recorder.record("loss_curve", values=[0.5] * 10000)  # about 60 KiB of JSON
    assert recorder.items[0]["values"] == list(range(1000))
    assert recorder.items[1] == {"kind": "loss_curve", "omitted": f"more than {PLOT_BYTES // 1024} KiB of plot data"}
    assert len(json.dumps(recorder.items)) <= PLOT_BYTES


def test_deferred_gathering_never_raises():
    recorder, ran = Plots(), []

    def fails():
        ran.append(1)
        raise RuntimeError("the student's code broke")

    recorder.then(fails)
    recorder.then(lambda: recorder.record("mnist_accuracy", accuracy=[0.9]))
    recorder.finish()
    assert ran == [1] and recorder.items == [{"kind": "mnist_accuracy", "accuracy": [0.9]}]


def test_check_outcomes_carry_their_plots_into_the_record():
    run = LabRun("lab09_1_relu", "graded", {"mnist_accuracy": CheckOutcome(
        "mnist_accuracy", "passed", "", 7, [{"kind": "mnist_accuracy", "accuracy": [0.96], "epochs": 2}]),
        "build_mlp_structure": CheckOutcome("build_mlp_structure", "passed", "", 8)})
    record = lab_record(run, "fp")
    assert record["checks"]["mnist_accuracy"]["plots"][0]["accuracy"] == [0.96]
    assert "plots" not in record["checks"]["build_mlp_structure"], "no plots, no key: old records stay as they were"
    assert record["intake"] == "ok"


# --- drawing -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(sample_plots()))
def test_every_kind_draws_a_png(kind):
    assert set(sample_plots()) == set(plots.kinds()) == set(plots.TITLES) == set(plots.CAPTIONS)
    drawn = plots.png(sample_plots()[kind])
    assert drawn is not None and drawn.startswith(PNG)


@pytest.mark.parametrize("kind", sorted(sample_plots()))
def test_damaged_plot_data_is_refused_not_raised(kind):
    item = sample_plots()[kind]
    for key in [k for k in item if k != "kind"]:
        for bad in ("<b>text</b>", None, [["nested"]], {"a": 1}, float("nan")):
            damaged = {**item, key: bad}
            result = plots.png(damaged)  # must not raise
            assert result is None or result.startswith(PNG)
    assert plots.png({"kind": kind, "omitted": "too large"}) is None
    assert plots.png({"kind": "no such kind"}) is None and plots.png("not a dict") is None


def test_gaps_in_the_data_still_draw():
    item = sample_plots()["loss_curve"]
    item["curves"][0]["value"] = [0.69, None, 0.3]  # a NaN the student's loop returned, kept as None
    assert plots.png(item).startswith(PNG)


def test_class_plots():
    assert plots.score_histogram([0, 3.5, 10, float("nan")], 10).startswith(PNG)
    assert plots.class_accuracies({"lab09_1_relu": [0.95, 0.2]}, {"lab09_1_relu": 0.94}).startswith(PNG)


# --- what the students' pages may show of hidden checks ------------------------------------


@pytest.fixture
def course_with(tmp_path):
    """course.toml with extra [reports] settings."""
    def make(settings: str = "") -> config.Course:
        text = (ROOT / "course.toml").read_text()
        if settings:
            text = re.sub(r"\[reports\]\n(?:[^\[\n].*\n)*", f"[reports]\n{settings}\n", text)
        (tmp_path / "course.toml").write_text(text)
        return config.load_course(tmp_path / "course.toml")
    return make


def _mnist_record(lab: str, accuracy: float, status: str = "passed", message: str = "") -> dict:
    return {"status": "graded", "checks": {"mnist_accuracy": {
        "status": status, "message": message, "seed": 1,
        "plots": [{"kind": "mnist_accuracy", "accuracy": [accuracy], "epochs": 2, "stop_at_threshold": True}]}}}


def test_a_hidden_threshold_stays_out_of_the_plot(course_with):
    course = course_with()
    hidden, public = course.lab("lab09_2_xavier").check("mnist_accuracy"), course.lab("lab09_1_relu").check("mnist_accuracy")
    assert not hidden.public and public.public
    assert feedback_html.plot_threshold(course, hidden) is None
    assert feedback_html.plot_threshold(course, public) == public.params["threshold"]
    item = _mnist_record("lab09_2_xavier", 0.9612)["checks"]["mnist_accuracy"]["plots"][0]
    # The student's plot is the plot without a threshold, and a drawn threshold would show.
    assert plots.png(item, feedback_html.plot_threshold(course, hidden)) == plots.png(item, None)
    assert plots.png(item, hidden.params["threshold"]) != plots.png(item, None)
    allowed = course_with("hidden_plots = true\nhidden_thresholds = true")
    assert feedback_html.plot_threshold(allowed, allowed.lab("lab09_2_xavier").check("mnist_accuracy")) == \
        hidden.params["threshold"]


def _figures_of(page: str, check: str) -> int:
    entry = re.search(rf'<li class="check [^"]*" id="[^"]*" data-check="{check}">(.*?)</li>', page, re.S)
    return entry.group(1).count("<img") if entry else -1


def test_hidden_checks_plots_follow_the_setting(course_with):
    record = _mnist_record("lab09_2_xavier", 0.9612)
    shown = feedback_html.feedback_page("ann", course_with(), {"lab09_2_xavier": record})
    assert _figures_of(shown, "mnist_accuracy") == 1
    hidden = feedback_html.feedback_page("ann", course_with("hidden_plots = false"), {"lab09_2_xavier": record})
    assert _figures_of(hidden, "mnist_accuracy") == 0, "the instructor said no plots for hidden checks"
    public = feedback_html.feedback_page("ann", course_with("hidden_plots = false"),
                                         {"lab09_1_relu": _mnist_record("lab09_1_relu", 0.96)})
    assert _figures_of(public, "mnist_accuracy") == 1, "a public check's plots always show"


def test_no_check_source_and_no_private_threshold_in_the_pages(course_with, tmp_path):
    # A distinctive hidden threshold, so that any trace of it in a page or plot is found.
    text = (ROOT / "course.toml").read_text().replace("threshold = 0.95           # calibrated: see docs/calibration.md\n"
                                                      "stop_at_threshold = true   # stop at the first epoch end that "
                                                      "reaches it (docs/performance.md)\n\n# --- lab09_3",
                                                      "threshold = 0.9537\nstop_at_threshold = true\n\n# --- lab09_3", 1)
    assert "0.9537" in text
    (tmp_path / "course.toml").write_text(text)
    course = config.load_course(tmp_path / "course.toml")
    assert course.lab("lab09_2_xavier").check("mnist_accuracy").params["threshold"] == 0.9537
    records = {"lab09_2_xavier": _mnist_record("lab09_2_xavier", 0.9612)}
    page = feedback_html.feedback_page("ann", course, records)
    assert "0.9537" not in page
    item = records["lab09_2_xavier"]["checks"]["mnist_accuracy"]["plots"][0]
    assert plots.png(item, feedback_html.plot_threshold(course, course.lab("lab09_2_xavier").check("mnist_accuracy"))) \
        == plots.png(item, None)
    leaked = [line for line in check_source_lines() if line in page]
    assert not leaked, f"check source in the page: {leaked[:3]}"
    assert "0.9537" in class_report.class_page(course, {"ann": {"extra_data": {"labs": records}}}), (
        "the instructor's report shows the threshold: the search above can find it")


def test_results_json_speaks_markdown_and_hides_hidden_results(course_with):
    course = course_with()
    lab = course.lab("lab08_1_perceptron")
    hidden = next(c for c in lab.checks if not c.public)

    def record(hidden_status):
        checks = {c.id: {"status": "passed", "message": "", "seed": 1} for c in lab.checks}
        checks["logic_gate_data_values"] = {"status": "failed", "message": f"your code raised ValueError: {HOSTILE} *x*",
                                            "seed": 1}
        checks[hidden.id] = {"status": hidden_status, "message": "" if hidden_status == "passed" else "no", "seed": 1}
        return {lab.id: {"status": "graded", "checks": checks}}

    passed, failed = (results_json.student_results(course, record(s)) for s in ("passed", "failed"))
    assert passed["output_format"] == "md" and all(t["output_format"] == "md" for t in passed["tests"])
    assert passed["output"] == failed["output"], "the summary shown before publishing is blind to hidden checks"
    assert "public checks 6 / 7" in passed["output"] and "2 hidden checks (3 points)" in passed["output"]
    message = next(t["output"] for t in passed["tests"] if t["name"].endswith("logic_gate_data_values"))
    assert "<img" not in message and "&lt;img" in message and r"\*x\*" in message
    import mistune

    rendered = mistune.html(message)
    assert "<img" not in rendered and "<em>" not in rendered


def test_results_json_text_is_json_with_short_number_lists():
    results = {"score": 1.0, "tests": [{"output": "a [\n1, 2\n] b", "extra_data": {"plots": [[1, 2.5, None], []]}}]}
    text = results_json.dumps(results)
    assert json.loads(text) == results
    assert "[1, 2.5, null]" in text


# --- the terminal table and the class report -----------------------------------------------


def _results(course, scores: dict[str, dict[str, str]]) -> dict[str, dict]:
    """Results with the given lab status per student, every check passed for "graded"."""
    found = {}
    for student, labs in scores.items():
        records = {}
        for lab_id, status in labs.items():
            checks = {c.id: {"status": "passed" if status == "graded" else "failed", "message": "m", "seed": 1}
                      for c in course.lab(lab_id).checks}
            records[lab_id] = {"status": status, "seconds": 2.0, "checks": checks}
        found[student] = {"extra_data": {"labs": records}}
    return found


def test_terminal_table_counts_statuses(course):
    results = _results(course, {"a": {"lab08_1_perceptron": "graded"}, "b": {"lab08_1_perceptron": "missing"},
                                "c": {"lab08_1_perceptron": "timeout"}})
    summaries = summary.lab_summaries(course, results)
    assert [s.lab.id for s in summaries] == ["lab08_1_perceptron"]
    s = summaries[0]
    assert (s.mean, s.median, s.full_marks) == (10 / 3, 0, 1)
    console = Console(file=io.StringIO(), width=160, color_system=None)
    console.print(summary.terminal_table(summaries))
    row = next(line for line in console.file.getvalue().splitlines() if "lab08_1_perceptron" in line)
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    assert cells == ["lab08_1_perceptron", "3", "3.33 / 10", "0 / 10", "1", "1", "1", "0", "1", "0"]


def test_final_accuracy_skips_what_is_not_a_number():
    item = {"kind": "mnist_accuracy", "accuracy": [0.9, float("nan"), None], "epochs": 3}
    assert class_report.final_accuracy({"plots": [item]}) == 0.9
    assert class_report.final_accuracy({"plots": [{**item, "accuracy": [None]}]}) is None
    assert class_report.final_accuracy({}) is None


def test_failure_messages_group_by_their_words():
    groups = class_report.failure_groups(["found 0.5, expected 1", "found 0.25, expected 1", "not implemented yet",
                                          "found 0.5, expected 1"])
    assert groups == [(3, "found 0.5, expected 1", 2), (1, "not implemented yet", 1)]


def test_class_report_escapes_names_and_messages(course):
    results = _results(course, {HOSTILE: {"lab08_1_perceptron": "error"}})
    results[HOSTILE]["extra_data"]["labs"]["lab08_1_perceptron"]["checks"]["logic_gate_data_shapes"]["message"] = HOSTILE
    page = class_report.class_page(course, results)
    assert "<img src=x" not in page and "&lt;img src=x onerror=" in page
    assert "%3Cimg%20src%3Dx%20onerror%3D" in page, "the link to the student's page is URL-quoted"


def test_malformed_records_still_make_pages(course):
    records = {
        "lab08_1_perceptron": {"status": "error", "checks": "not a table"},
        "lab09_1_relu": {"status": "graded", "seconds": float("nan"), "checks": {
            "mnist_accuracy": {"status": "failed", "message": "accuracy nan",
                               "plots": [{"kind": "mnist_accuracy", "accuracy": [None, "x"], "epochs": 2}, "junk"]},
            "vanishing_gradient": ["not", "a", "table"]}},
        "no_such_lab": {"status": "graded", "checks": {}},
        "lab09_3_dropout": "not a record",
    }
    page = feedback_html.feedback_page("ann", course, records)
    assert "This plot could not be drawn" in page
    assert 'data-lab="lab08_1_perceptron"' in page and "no_such_lab" not in page
    report = class_report.class_page(course, {"ann": {"extra_data": {"labs": records}}, "bob": {"extra_data": 5},
                                              "cy": {}})
    assert "Class report" in report


def test_every_report_module_ships_in_the_bundle():
    """`autograder check --html` runs in the student bundle: every reports module goes there."""
    from autograder.authoring.release import BUNDLE_MODULES

    shipped = {m for m in BUNDLE_MODULES if m.startswith("reports/")}
    present = {f"reports/{p.name}" for p in (ROOT / "autograder" / "reports").glob("*.py")}
    assert present <= shipped, f"missing from the bundle: {present - shipped}"
