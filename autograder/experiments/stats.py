"""The statistics behind the experiments' verdicts, and the rules that turn them into words.

Verdicts: "holds", "does not hold", "unclear" (the seeds disagree, or too few tries to
tell), "not comparable" (a --quick budget cannot be held against the lecture's number) and
"not measured" (the run failed or the lab was not submitted). The rules (docs/experiments.md):

- A number of the lecture is reproduced when it lies within three of our seed-to-seed
  standard deviations of our mean, or within a tolerance of its own (half a point of
  accuracy; a factor of 2 for a loss, compared on a log scale), whichever is wider. The
  lecture's number is one run of an older PyTorch with another data loader, so it differs
  from ours by a seed as much as by anything: three standard deviations cover one more run
  of ours with about 99.7% probability under a normal model of the spread, and the floor
  keeps two or three nearly equal seeds from making the band absurdly narrow.
- A comparison ("Xavier trains better than normal_") is paired by seed: it holds when it
  goes the lecture's way on every seed, does not hold when the mean difference goes the
  other way, and is unclear otherwise. With n seeds all going one way by chance alone the
  probability is 2^-n (a sign test): 1/8 for the full run's 3 seeds, 1/4 for --quick's 2.
- A rate (how often a 2-2-1 network stays stuck on XOR) is given with its Wilson score
  interval (Wilson 1927), one-sided 95% bounds.
"""
from __future__ import annotations

import math
import statistics

from autograder.checks.common import normal_quantile

HOLDS, FAILS, UNCLEAR, NOT_COMPARABLE, NOT_MEASURED = (
    "holds", "does not hold", "unclear", "not comparable", "not measured")
VERDICTS = (HOLDS, FAILS, UNCLEAR, NOT_COMPARABLE, NOT_MEASURED)
SD_BAND = 3.0
ACCURACY_FLOOR = 0.005      # half a point of accuracy (and the rounding of numbers printed with two digits)
LOSS_FACTOR = 2.0           # a loss within a factor of 2 of the lecture's
Z_ONE_SIDED_95 = normal_quantile(0.10)  # 1.645: P(N(0, 1) > z) = 0.05


def summary(values: list[float]) -> dict:
    """{"n", "mean", "sd", "min", "max"} of the values (sd: the sample standard deviation,
    0 for one value). Raises ValueError for no values."""
    if not values:
        raise ValueError("no values to summarize")
    return {"n": len(values), "mean": statistics.fmean(values),
            "sd": statistics.stdev(values) if len(values) > 1 else 0.0, "min": min(values), "max": max(values)}


def wilson(count: int, n: int, z: float = Z_ONE_SIDED_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion count/n: each bound one-sided at the level of z."""
    if n == 0:
        return 0.0, 1.0
    p = count / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def number_verdict(lecture: float, values: list[float], log: bool = False) -> tuple[str, str]:
    """Whether our per-seed `values` reproduce the lecture's number (module docstring); the
    verdict and why, in plain words. Losses compare with log=True."""
    if log:
        if any(v <= 0 for v in values):
            return FAILS, "a loss was not positive"
        logs = [math.log(v) for v in values]
        s = summary(logs)
        factor = math.exp(abs(s["mean"] - math.log(lecture)))
        band = math.exp(max(SD_BAND * s["sd"], math.log(LOSS_FACTOR)))
        mean = math.exp(s["mean"])
        words = (f"our geometric mean {mean:.3g} is {factor:.2f} times {'above' if mean > lecture else 'below'} "
                 f"the lecture's {lecture:.3g}; the band is a factor of {band:.2f} (3 seed-to-seed standard "
                 f"deviations of the log, or a factor of {LOSS_FACTOR:g})")
        return (HOLDS if factor <= band else FAILS), words
    s = summary(values)
    diff = s["mean"] - lecture
    band = max(SD_BAND * s["sd"], ACCURACY_FLOOR)
    words = (f"our mean is {abs(diff) * 100:.2f} points {'above' if diff > 0 else 'below'} the lecture's "
             f"{lecture:g}; the band is {band * 100:.2f} points (3 seed-to-seed standard deviations, or half a "
             "point)")
    return (HOLDS if abs(diff) <= band else FAILS), words


def compare_verdict(diffs: list[float], what: str) -> tuple[str, str]:
    """A paired comparison by seed: `diffs` are (the lecture's better side - the other) per seed,
    positive where the lecture's claim goes its way; `what` says it in words ("Xavier's test
    accuracy was higher than normal_'s")."""
    n, wins = len(diffs), sum(1 for d in diffs if d > 0)
    mean = statistics.fmean(diffs)
    words = f"{what} on {wins} of {n} seed{'s' if n != 1 else ''} (mean difference {mean:+.4g})"
    if wins == n:
        return HOLDS, words
    return (FAILS if mean <= 0 else UNCLEAR), words


def all_verdict(flags: list[bool], what: str) -> tuple[str, str]:
    """A claim each seed must bear out (the perceptron never learns XOR): holds on all or does
    not hold; `what` says what each flag means."""
    n, ok = len(flags), sum(flags)
    return (HOLDS if ok == n else FAILS), f"{what} on {ok} of {n} seed{'s' if n != 1 else ''}"


def rate_verdict(count: int, n: int, limit: float, what: str) -> tuple[str, str, tuple[float, float]]:
    """Whether a rate count/n is at most `limit`: holds when the Wilson upper bound is below it,
    does not hold when the lower bound is above it, else unclear (too few tries to tell)."""
    low, high = wilson(count, n)
    words = (f"{what}: {count} of {n} ({count / max(n, 1):.3f}; 95% bounds {low:.3f} to {high:.3f}) against "
             f"at most {limit:.3f}")
    if high < limit:
        return HOLDS, words, (low, high)
    if low > limit:
        return FAILS, words, (low, high)
    return UNCLEAR, words + "; too few tries to tell", (low, high)
