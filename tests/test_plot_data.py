"""The plot data the checks record is the student's behaviour: the reference's matches the
expected curves, a broken solution's shows its bug, and recording never changes a verdict."""
from __future__ import annotations

import re
import tomllib

import pytest

from autograder.checks.common import FALSE_FAIL, hoeffding_t
from autograder.course import config
from autograder.engine import runner
from tests.conftest import ROOT, make_submission

DROPOUT = "lab09_3_dropout"
PLOTTED = ["dropout_zero_fraction", "dropout_eval_identity"]


def _mutant(lab: str, name: str) -> str:
    spec = next(m for m in tomllib.loads((ROOT / "tests" / "mutants" / f"{lab}.toml").read_text())["mutant"]
                if m["name"] == name)
    source = (ROOT / "solutions" / lab / f"{lab.split('_', 2)[2]}.py").read_text()
    assert spec["find"] in source
    return source.replace(spec["find"], spec["replace"])


def _plots(course, tmp_path, lab: str, source: str, only: list[str]):
    run = runner.run_lab(course, lab, make_submission(tmp_path, lab, lab.split("_", 2)[2], source), device="cpu",
                         only=only)
    return run, {cid: {p["kind"]: p for p in o.plots} for cid, o in run.checks.items()}


def _fractions(item) -> list[tuple[float, float]]:
    return list(zip(item["p"], item["fraction"]))


@pytest.fixture(scope="module")
def reference_dropout(course, tmp_path_factory):
    source = (ROOT / "solutions" / DROPOUT / "dropout.py").read_text()
    return _plots(course, tmp_path_factory.mktemp("ref"), DROPOUT, source, PLOTTED)


def test_reference_dropout_plots(reference_dropout):
    run, found = reference_dropout
    assert all(o.status == "passed" for o in run.checks.values())
    item = found["dropout_zero_fraction"]["dropout_zero_fraction"]
    # Hoeffding over n drop indicators per p, FALSE_FAIL shared by the 11 values of p.
    t = hoeffding_t(item["n"], FALSE_FAIL / len(item["p"])) + 1e-3  # + the 4 significant digits kept
    assert len(item["p"]) == 11 and all(abs(f - p) <= t for p, f in _fractions(item))
    modes = found["dropout_eval_identity"]["dropout_modes"]
    assert modes["eval"] == modes["x"], "eval mode is the identity"
    scale = 1 / (1 - modes["p"])
    assert all(y == 0 or abs(y - x * scale) <= 1e-3 * max(1, abs(x * scale)) for x, y in zip(modes["x"], modes["train"]))


def test_a_bug_shows_in_the_plot(course, tmp_path, reference_dropout):
    run, found = _plots(course, tmp_path / "keep", DROPOUT, _mutant(DROPOUT, "p_is_keep_probability"), PLOTTED)
    assert run.checks["dropout_zero_fraction"].status == "failed", "the verdict is the check's, as before"
    item = found["dropout_zero_fraction"]["dropout_zero_fraction"]
    t = hoeffding_t(item["n"], FALSE_FAIL / len(item["p"])) + 1e-3
    # p = 0 and p = 1 are special cases the solution returns early for, mutant or not.
    assert all(abs(f - (1 - p)) <= t for p, f in _fractions(item) if 0 < p < 1), "the dots lie on the other diagonal"
    run, found = _plots(course, tmp_path / "eval", DROPOUT, _mutant(DROPOUT, "dropout_active_in_eval"), PLOTTED)
    assert run.checks["dropout_eval_identity"].status == "failed"
    modes = found["dropout_eval_identity"]["dropout_modes"]
    assert modes["eval"] != modes["x"] and 0.0 in modes["eval"], "dropout still drops in eval mode, and it shows"
    assert reference_dropout[0].checks["dropout_eval_identity"].status == "passed"


def test_batchnorm_plot_is_torchs_for_the_reference(course, tmp_path):
    lab = "lab09_4_batchnorm"
    run, found = _plots(course, tmp_path, lab, (ROOT / "solutions" / lab / "batchnorm.py").read_text(),
                        ["bn_train_forward"])
    assert run.checks["bn_train_forward"].status == "passed"
    item = found["bn_train_forward"]["batchnorm_stats"]
    for mode in ("train", "eval"):
        for stat in ("mean", "var"):
            yours, torch_ = item[mode]["yours"][stat], item[mode]["torch"][stat]
            assert len(yours) == item["features"]
            assert all(abs(a - b) <= 1e-3 * max(1.0, abs(b)) for a, b in zip(yours, torch_))


def test_plot_gathering_cannot_change_a_verdict(course, tmp_path):
    """A Dropout that hangs for p = 0.9, which only the zero-fraction sweep after the verdict
    asks for: the sweep runs into the check's time limit (10 s here), the check keeps its
    pass, the plot has gaps from there on."""
    text = re.sub(r"check_timeout_s = \d+", "check_timeout_s = 10", (ROOT / "course.toml").read_text())
    (tmp_path / "course.toml").write_text(text)
    course = config.load_course(tmp_path / "course.toml")
    source = (ROOT / "solutions" / DROPOUT / "dropout.py").read_text()
    hang = "        if 0.85 < self.p < 0.95:\n            while True:\n                pass\n"
    marker = "    def forward(self, x):\n"
    assert marker in source
    run, found = _plots(course, tmp_path, DROPOUT, source.replace(marker, marker + hang, 1), ["dropout_zero_fraction"])
    assert run.checks["dropout_zero_fraction"].status == "passed"
    item = found["dropout_zero_fraction"]["dropout_zero_fraction"]
    fractions = dict(_fractions(item))
    assert fractions[0.9] is None and fractions[1.0] is None, "the worker was stopped at the limit"
    assert all(fractions[p] is not None for p in item["p"] if p < 0.9)


def test_nothing_to_draw_records_no_plot(course, tmp_path):
    """The untouched stub raises NotImplementedError for every p: no empty plot."""
    stub = (ROOT / "assignments" / DROPOUT / "dropout.py").read_text()
    run, found = _plots(course, tmp_path, DROPOUT, stub, ["dropout_zero_fraction"])
    assert run.checks["dropout_zero_fraction"].status == "failed"
    assert found["dropout_zero_fraction"] == {}
