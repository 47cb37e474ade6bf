"""The threshold rule of `autograder calibrate` and the thresholds in course.toml."""
from __future__ import annotations

import math
import statistics

import pytest

from autograder.authoring import calibrate
from autograder.course import config


def test_sigma_upper_bound_exceeds_the_estimate_and_shrinks_with_more_seeds():
    assert calibrate.sigma_upper(0.002, 10) > 0.002
    assert calibrate.sigma_upper(0.002, 40) < calibrate.sigma_upper(0.002, 10)
    # chi-square(9) 0.1% quantile is 1.15; Wilson-Hilferty gives about 1.06 (errs large).
    assert calibrate.sigma_upper(1.0, 10) == pytest.approx(math.sqrt(9 / 1.06), rel=0.02)


def test_suggested_threshold_follows_the_stated_rule():
    accs = [0.970, 0.972, 0.971, 0.973, 0.969, 0.970, 0.972, 0.971, 0.974, 0.970]
    mean, std = statistics.fmean(accs), statistics.stdev(accs)
    margin = (4.753 + 3.090 / math.sqrt(10)) * calibrate.sigma_upper(std, 10)
    assert calibrate.suggested_threshold(accs) == pytest.approx(math.floor((mean - margin) * 1000) / 1000)
    assert calibrate.suggested_threshold(accs) < min(accs)


def test_course_thresholds_sit_above_a_linear_model():
    # A purely linear model reaches about 0.91 on this budget: a threshold at or below that
    # would let a network without activations pass.
    course = config.load_course()
    for lab in course.labs.values():
        for check in lab.checks:
            if "threshold" in check.params:
                assert 0.93 <= check.params["threshold"] < 1.0, f"{check.name}: threshold {check.params['threshold']}"


def test_too_few_seeds_are_refused():
    with pytest.raises(ValueError, match="at least 10 seeds"):
        calibrate.calibrate(config.load_course(), seeds=9)
