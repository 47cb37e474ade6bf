"""Seconds per complete submission when grading a class with 1 worker and with all workers.

Builds a class of --students copies of the reference solutions (solutions/<lab>/ copied to
<tmp>/student_i/<lab>/), then grades it twice with the kit's command line, each time into a
fresh output folder:

    autograder grade CLASS --out OUT --workers 1    --device D --no-progress
    autograder grade CLASS --out OUT --workers auto --device D --no-progress

Each run is timed once (wall clock of the whole command, start-up included: what an
instructor waits for). The two grades.csv files must be identical (IDENTICAL / DIFFERENT).

Read the output: s/submission = wall seconds / students, for each run; the speed-up is
(workers 1) / (workers auto), > 1 when the parallel run is faster. 'auto' is the kit's
autograder.engine.executors.auto_workers() on this machine (printed); with one worker there, the
ratio only shows the run-to-run noise. Both numbers come from this one invocation.
"""
from __future__ import annotations

import csv
import difflib
import shutil
import subprocess
import time
from pathlib import Path

import _common

from autograder.engine.executors import auto_workers


def build_class(dest: Path, students: int, labs: list[str]) -> None:
    for i in range(1, students + 1):
        for lab in labs:
            shutil.copytree(_common.ROOT / "solutions" / lab, dest / f"student_{i}" / lab,
                            ignore=shutil.ignore_patterns("__pycache__"))


def grade(klass: Path, out: Path, workers: str, device: str, labs: str | None) -> float:
    cmd = [str(_common.VENV_BIN / "autograder"), "grade", str(klass), "--out", str(out),
           "--workers", workers, "--device", device, "--no-progress"]
    if labs:
        cmd += ["--labs", labs]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return seconds


def totals(grades_csv: Path) -> str:
    """Score over max of the whole class: the reference should get full marks, so that a
    grader that fails everything does not pass as fast and IDENTICAL."""
    with open(grades_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    return (f"{sum(float(r['score']) for r in rows):g}/{sum(float(r['max_score']) for r in rows):g} points, "
            f"statuses {sorted({r['status'] for r in rows})}")


def main() -> None:
    args = _common.class_parser(__doc__, 4, "copies of the reference").parse_args()
    device = _common.resolve_device(args.device)
    labs = args.labs.split(",") if args.labs else list(_common.course().labs)
    print(_common.describe_machine(device))
    print(f"class: {args.students} copies of the reference, labs {','.join(labs)}; "
          f"--workers auto = {auto_workers()} here; each run timed once\n")

    with _common.scratch("bench-class-", args.keep) as tmp:
        build_class(tmp / "class", args.students, labs)
        seconds = {}
        for workers in ("1", "auto"):
            seconds[workers] = grade(tmp / "class", tmp / f"out-{workers}", workers, device, args.labs)
            print(f"--workers {workers:<4}: {seconds[workers]:7.1f} s wall, "
                  f"{seconds[workers] / args.students:6.1f} s/submission", flush=True)
        one, par = ((tmp / f"out-{w}" / "grades.csv").read_text().splitlines() for w in ("1", "auto"))
        print(f"grades.csv: {'IDENTICAL' if one == par else 'DIFFERENT'}; workers 1: {totals(tmp / 'out-1' / 'grades.csv')}")
        if one != par:
            print("\n".join(difflib.unified_diff(one, par, "workers 1", "workers auto", lineterm="")))
        print(f"speed-up (workers 1)/(workers auto): {seconds['1'] / seconds['auto']:.2f}x")


if __name__ == "__main__":
    main()
