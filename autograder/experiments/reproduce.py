"""`autograder experiments [LAB|all] [--submission PATH] [--quick] --out DIR`: the lecture's
claims reproduced on the reference solutions or on a student's code, with a report.

One path for both: the submission (the course's solutions folder for the reference) is
taken in as grading takes it, every training run runs the student's functions in a confined
worker (running.py), and the measurements, statistics, verdicts and plots are made here,
from plain data (findings.py, report.py).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import platform
import tempfile
import time
from pathlib import Path

import torch

from autograder.course import config, mnist
from autograder.experiments import findings, lecture, plan, report
from autograder.experiments.lecture import Budget
from autograder.experiments.running import Runner, limits_for, take_in_submission


def budget_for(quick: bool, seeds: int | None = None) -> Budget:
    """The lecture's budget, or --quick's; `seeds` replaces the number of seeds (777, 778, ...)."""
    budget = lecture.QUICK if quick else lecture.FULL
    if seeds is not None:
        if seeds < 1:
            raise ValueError(f"--seeds: expected at least 1, found {seeds}")
        budget = dataclasses.replace(budget, seeds=tuple(lecture.LECTURE_SEED + i for i in range(seeds)))
    return budget


def selected(course: config.Course, lab: str) -> list[lecture.Experiment]:
    """The experiments that run LAB's code ("all": every one), those whose labs the course has.
    Raises KeyError for a lab the course lacks."""
    labs = list(course.labs) if lab == "all" else [course.lab(lab).id]
    return [e for e in lecture.for_labs(labs) if all(l in course.labs for l in e.labs + e.uses)]


def machine() -> str:
    return f"{platform.node() or 'this machine'}, {config.usable_cpus()} CPU cores ({platform.machine()})"


def reproduce(course: config.Course, lab: str, out: Path, submission: Path | None = None, quick: bool = False,
              device: str | None = None, workers: int | None = None, seeds: int | None = None,
              progress: bool = True) -> dict:
    """Run the experiments of `lab` ("all": every one) on `submission` (None: the reference) and
    write the report into `out`; returns the report's data (experiments.json).

    Raises FileNotFoundError (no submission, or no solutions folder for the reference),
    KeyError (an unknown lab), ValueError, or course.mnist.MnistError when MNIST is not prepared."""
    budget = budget_for(quick, seeds)
    exps = selected(course, lab)
    if not exps:
        raise ValueError(f"no experiment runs the code of {lab}")
    if any(e.id != "xor" for e in exps):
        mnist.inputs_file(course.mnist_cache)  # MnistError with the remedy, before any work
    labs = [l for l in course.labs if any(l in e.labs + e.uses for e in exps)]
    device = config.resolve_device(device or course.device)
    workers = workers or config.usable_cpus()
    started, t0 = dt.datetime.now(dt.timezone.utc), time.monotonic()
    arms = [a for e in exps for a in plan.arms(e, budget, course)]
    with tempfile.TemporaryDirectory(prefix="experiments-") as tmp:
        sub = take_in_submission(course, labs, submission, Path(tmp), named=None if lab == "all" else lab)
        runner = Runner(course, sub, device, workers, limits_for(course, budget.cpu_s), budget.call_timeout_s,
                        Path(tmp) / "merged", hidden=[out.resolve()] + ([submission.resolve()] if submission else []))
        results = runner.run(arms, progress=progress)
    tensors = mnist.load(course.mnist_cache) if any(e.id != "xor" for e in exps) else None
    test_labels = tensors["test_labels"] if tensors else torch.empty(0, dtype=torch.int64)
    train_labels = tensors["train_labels"] if tensors else torch.empty(0, dtype=torch.int64)
    m = findings.Measurements()
    sections = [findings.section(findings.Context(e, budget, course, sub, results,
                                                  [a for a in arms if a.experiment == e.id], m, test_labels,
                                                  train_labels)) for e in exps]
    notes = []
    for lab_id, got in sub.labs.items():
        notes += [f"{lab_id}: {note}" for note in got.notes]
        if got.folder is None:
            notes.append(f"{lab_id}: {got.message}")
    data = {
        "submission": {"name": sub.name, "reference": sub.reference, "notes": notes,
                       "labs": {l: {"found": g.folder is not None, "graded": g.graded} for l, g in sub.labs.items()}},
        "run": {"budget": dataclasses.asdict(budget), "budget_text": budget.describe(), "device": device,
                "workers": workers, "torch": torch.__version__, "machine": machine(),
                "started": started.strftime("%Y-%m-%d %H:%M UTC"), "seconds": time.monotonic() - t0,
                "lab": lab},
        "sections": sections,
    }
    report.write(out, data, m)
    return data
