"""The reference solutions score full marks on every check; the stubs score zero cleanly."""
from __future__ import annotations

import pytest

from autograder.course import config
from autograder.engine import runner
from tests.conftest import ROOT

LABS = list(config.load_course().labs)


@pytest.mark.parametrize("lab", LABS)
def test_reference_scores_full_marks(course, lab):
    run = runner.run_lab(course, lab, ROOT / "solutions" / lab, device="cpu")
    failed = {c: f"{o.status}: {o.message}" for c, o in run.checks.items() if o.status != "passed"}
    assert not failed, f"the reference fails {failed}"
    assert run.status == "graded"


@pytest.mark.parametrize("lab", LABS)
def test_stubs_score_zero_without_breaking_the_run(course, lab):
    run = runner.run_lab(course, lab, ROOT / "assignments" / lab, device="cpu")
    assert run.status == "graded", f"stubs should be graded, not {run.status}"
    passed = [c for c, o in run.checks.items() if o.status == "passed"]
    assert not passed, f"the untouched stubs pass {passed}"
    assert all(o.status == "failed" for o in run.checks.values())
