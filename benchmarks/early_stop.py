"""Does stopping MNIST training at the threshold change any verdict? And what does it save?

Every MNIST check (labs 9-1 to 9-4) trains for up to `epochs` epochs and, with
`stop_at_threshold = true` in course.toml, stops at the first epoch end whose test accuracy
(scored by the grader) reaches the threshold. This script grades the `mnist_accuracy` check
of the reference, the example partly correct student and every broken solution of those
labs in tests/mutants/ twice, through the real grader (runner.run_lab: judge sessions and
confined workers): once with course.toml as it is and once with `stop_at_threshold = false`
(every epoch trained, the last one judged). It prints, per lab, how many verdicts agree and
the ratio of grading seconds (full budget / early stop), then any verdict that differs.

    .venv/bin/python benchmarks/early_stop.py [--labs lab09_1_relu,...] [--workers N] [--device cpu]
"""
from __future__ import annotations

import argparse
import tempfile
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import ROOT, add_device_arg, describe_machine, resolve_device

from autograder.course import config
from autograder.engine import executors, runner

MNIST_LABS = ["lab09_1_relu", "lab09_2_xavier", "lab09_3_dropout", "lab09_4_batchnorm"]


def submissions(lab: config.Lab, root: Path) -> list[tuple[str, Path]]:
    """(name, folder) for the reference, the partly correct student and every mutant."""
    source = (ROOT / "solutions" / lab.id / f"{lab.module}.py").read_text()
    found = [("reference", ROOT / "solutions" / lab.id)]
    partial = ROOT / "examples" / "partial_student" / lab.id
    if partial.is_dir():
        found.append(("partial_student", partial))
    for mutant in tomllib.loads((ROOT / "tests" / "mutants" / f"{lab.id}.toml").read_text())["mutant"]:
        folder = root / lab.id / mutant["name"]
        folder.mkdir(parents=True)
        (folder / f"{lab.module}.py").write_text(source.replace(mutant["find"], mutant["replace"], 1))
        found.append((mutant["name"], folder))
    return found


def full_budget_course(course: config.Course, folder: Path) -> config.Course:
    """course.toml with every `stop_at_threshold = true` turned off."""
    text = course.path.read_text()
    assert "stop_at_threshold = true" in text, "course.toml has no MNIST check that stops early"
    path = folder / "course-full-budget.toml"
    path.write_text(text.replace("stop_at_threshold = true", "stop_at_threshold = false"))
    return config.load_course(path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--labs", default=",".join(MNIST_LABS), help="comma-separated MNIST labs (default: all four)")
    p.add_argument("--workers", type=int, default=executors.auto_workers(), help="checks graded at once (default: one per core)")
    add_device_arg(p)
    args = p.parse_args()
    device = resolve_device(args.device)
    print(describe_machine(device))
    early = config.load_course()
    with tempfile.TemporaryDirectory(prefix="early-stop-") as tmp:
        full = full_budget_course(early, Path(tmp))
        jobs = [(lab_id, name, folder) for lab_id in args.labs.split(",")
                for name, folder in submissions(early.lab(lab_id), Path(tmp))]
        print(f"{len(jobs)} submissions x 2 budgets, {args.workers} workers")

        def grade(job, course):
            lab_id, _, folder = job
            t0 = time.perf_counter()
            run = runner.run_lab(course, lab_id, folder, only=["mnist_accuracy"], device=device)
            return run.checks["mnist_accuracy"].status, time.perf_counter() - t0

        with ThreadPoolExecutor(args.workers) as pool:
            stopped = list(pool.map(lambda j: grade(j, early), jobs))
            whole = list(pool.map(lambda j: grade(j, full), jobs))

    print(f"\n{'lab':<20} {'submissions':>11} {'same verdict':>12} {'passed':>6} "
          f"{'s early stop':>12} {'s full budget':>13} {'full/early':>10}")
    differing = []
    for lab_id in args.labs.split(","):
        rows = [(j, a, b) for j, a, b in zip(jobs, stopped, whole) if j[0] == lab_id]
        same = sum(a[0] == b[0] for _, a, b in rows)
        passed = sum(a[0] == "passed" for _, a, b in rows)
        t_early, t_full = sum(a[1] for _, a, _ in rows), sum(b[1] for _, _, b in rows)
        print(f"{lab_id:<20} {len(rows):>11} {same:>12} {passed:>6} {t_early:>12.1f} {t_full:>13.1f} "
              f"{t_full / t_early:>10.2f}")
        differing += [f"{j[0]}/{j[1]}: early stop {a[0]}, full budget {b[0]}" for j, a, b in rows if a[0] != b[0]]
    total_same = sum(a[0] == b[0] for a, b in zip(stopped, whole))
    print(f"\nverdicts identical: {total_same} of {len(jobs)}")
    for line in differing:
        print("  DIFFERENT", line)


if __name__ == "__main__":
    main()
