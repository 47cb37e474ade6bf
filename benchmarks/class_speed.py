"""Seconds per complete submission when grading a class with 1 worker and with all workers.

Builds a class of --students copies of the reference solutions (solutions/<lab>/ copied to
<tmp>/student_i/<lab>/, each made different by a function nothing calls, since the grader
grades identical code once), then grades it twice with the kit's command line, each time into a
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
from pathlib import Path

import _common

from autograder.engine.executors import auto_workers


def build_class(dest: Path, students: int, labs: list[str]) -> None:
    """Copies of the reference, each different (identical code would be graded once)."""
    for i in range(1, students + 1):
        for lab in labs:
            _common.distinct_copy(_common.ROOT / "solutions" / lab, dest / f"student_{i}" / lab, i)


def grade(klass: Path, out: Path, workers: str, device: str, labs: str | None) -> float:
    cmd = [str(_common.VENV_BIN / "autograder"), "grade", str(klass), "--out", str(out),
           "--workers", workers, "--device", device, "--no-progress"]
    return _common.timed(cmd + (["--labs", labs] if labs else []))[0]


def totals(grades_csv: Path) -> str:
    """Score over max of the whole class: the reference should get full marks, so that a
    grader that fails everything does not pass as fast and IDENTICAL."""
    with open(grades_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    return (f"{sum(float(r['score']) for r in rows):g}/{sum(float(r['max_score']) for r in rows):g} points, "
            f"statuses {sorted({r['status'] for r in rows})}")


def main() -> None:
    args, device, labs = _common.class_args(__doc__, 4, "copies of the reference")
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
