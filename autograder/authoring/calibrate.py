"""`autograder calibrate`: the MNIST thresholds, measured on the reference over seeds.

For every lab with an `mnist_accuracy` check, the reference solution is trained exactly
as the check trains a student's (the probe module's `mnist_training`, probes.common.MnistRun
and the course budget) once per seed, in this process: the reference is the kit's own code.
The suggested threshold, computed from the accuracy after the last epoch, keeps a correct
solution's false-fail probability at or below 1e-6 under a normal model of the seed-to-seed
spread (the check stops at the first epoch end that reaches the threshold, which only adds
passes; "stops early" counts the seeds where that happens before the last epoch):

    threshold = mean - (z + z_mean / sqrt(n)) * sigma_upper

z = 4.75 (one-sided 1e-6), z_mean = 3.09 covers the error of the estimated mean, and
sigma_upper is the 99.9% upper confidence bound of the standard deviation from n seeds
(chi-square, Wilson-Hilferty approximation, which errs on the large side).
"""
from __future__ import annotations

import importlib
import math
import statistics
import time

from torch import nn
from tqdm import tqdm

from autograder.boundary import forkserver
from autograder.boundary.student import import_module
from autograder.checks.common import mnist_accuracy, mnist_budget, normal_quantile
from autograder.course import config, mnist, seeding
from autograder.probes.common import MnistRun, textbook_train_epoch

Z_CHECK = normal_quantile(2e-6)  # two-sided 2e-6 = one-sided 1e-6
Z_SIGMA = normal_quantile(2e-3)  # one-sided 1e-3


def sigma_upper(std: float, n: int) -> float:
    k = n - 1
    chi2_low = k * (1 - 2 / (9 * k) - Z_SIGMA * math.sqrt(2 / (9 * k))) ** 3
    return std * math.sqrt(k / chi2_low)


def suggested_threshold(accuracies: list[float]) -> float:
    n = len(accuracies)
    mean, std = statistics.fmean(accuracies), statistics.stdev(accuracies)
    margin = (Z_CHECK + Z_SIGMA / math.sqrt(n)) * sigma_upper(std, n)
    return math.floor((mean - margin) * 1000) / 1000


def calibrate(course: config.Course, seeds: int = 10, labs: list[str] | None = None,
              device: str = "cpu") -> str:
    """Train the reference `seeds` times per lab; return a markdown table."""
    if seeds < 10:  # below that the chi-square bound on the spread is too loose to use
        raise ValueError(f"calibration needs at least 10 seeds, got {seeds}")
    inputs = mnist.load_inputs(mnist.inputs_file(course.mnist_cache))
    labels = mnist.load_test_labels(course.mnist_cache)

    def score(model, train_epoch, params) -> list[float]:
        """Every epoch's test accuracy: the check stops at the first that reaches the threshold."""
        run = MnistRun.start(model, train_epoch, inputs, device, **mnist_budget(params))
        return [mnist_accuracy(run.epoch(), labels, e + 1) for e in range(params["epochs"])]
    rows = ["| lab | model and budget | seeds | min | mean | max | std | suggested | threshold | "
            "stops early | s/run |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    targets = [(lab, lab.check("mnist_accuracy")) for lab in course.labs.values()
               if (not labs or lab.id in labs) and lab.trains_on_mnist]
    baseline_seeds = 3
    bar = tqdm(total=len(targets) * seeds + baseline_seeds, desc="calibrating", unit="run")
    for lab, check in targets:
        forkserver.import_package("autograder.probes", forkserver.extra_lab_dirs(course, "probes"))
        probes = importlib.import_module(f"autograder.probes.{lab.id}")
        solution = import_module(course.root / "solutions" / lab.id / f"{lab.module}.py", f"reference_{lab.module}")
        accs, early, t0 = [], 0, time.monotonic()
        for s in range(seeds):
            seeding.seed_everything(seeding.derive_seed(course.seed, "calibrate", lab.id, str(s)))
            model, train_epoch = probes.mnist_training(solution, check.params)
            per_epoch = score(model, train_epoch, check.params)
            accs.append(per_epoch[-1])  # the threshold is calibrated on the whole budget
            early += any(a >= check.params["threshold"] for a in per_epoch[:-1])
            bar.update()
        per_run = (time.monotonic() - t0) / seeds
        budget = ", ".join(f"{k}={v}" for k, v in mnist_budget(check.params).items())
        rows.append(
            f"| {lab.id} | {budget} | {seeds} | {min(accs):.4f} | {statistics.fmean(accs):.4f} | "
            f"{max(accs):.4f} | {statistics.stdev(accs):.4f} | {suggested_threshold(accs):.3f} | "
            f"{check.params.get('threshold')} | {early}/{seeds} | {per_run:.1f} |")
    if targets:
        # What a broken network reaches: a purely linear model on the first lab's budget.
        lab, check = targets[0]
        accs, t0 = [], time.monotonic()
        for s in range(baseline_seeds):
            seeding.seed_everything(seeding.derive_seed(course.seed, "calibrate", "linear", str(s)))
            accs.append(score(nn.Linear(784, 10), textbook_train_epoch, check.params)[-1])
            bar.update()
        rows.append(f"| linear model 784->10 (no hidden layer) | as {lab.id} | {baseline_seeds} | {min(accs):.4f} | "
                    f"{statistics.fmean(accs):.4f} | {max(accs):.4f} | {statistics.stdev(accs):.4f} | | | | "
                    f"{(time.monotonic() - t0) / baseline_seeds:.1f} |")
    bar.close()
    return "\n".join(rows)
