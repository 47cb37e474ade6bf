"""Identical code graded once: a class with duplicates against the same class without.

Builds a class of --students (12) complete submissions: every third student hands in the
same copy of the reference (one set of files passed around), every third the untouched
stubs, and the rest each a copy of the reference of their own (made different by a function
nothing calls). Grades it with `autograder grade --workers auto`, then grades the same class
with every submission made different that way, so that nothing is identical, and prints
for each: the labs taken in, the labs the workers graded (the rest took an identical lab's
grade: the command's summary says how many), the wall seconds (start-up included, each run
timed once) and the ratio (no duplicates)/(duplicates) measured in this one invocation. The
two grades.csv must be IDENTICAL: a duplicate gets the grade its own grading would give.

    .venv/bin/python benchmarks/duplicates.py [--students 12] [--device cuda] [--labs ...]
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import _common


def build(dest: Path, students: int, labs: list[str], duplicates: bool) -> None:
    for i in range(students):
        for lab in labs:
            source = (_common.ROOT / ("assignments" if i % 3 == 1 else "solutions") / lab)
            target = dest / f"student_{i:03d}" / lab
            if duplicates and i % 3 != 2:
                shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "README.md"))
            else:
                _common.distinct_copy(source, target, i)


def grade(klass: Path, out: Path, device: str, labs: str | None) -> tuple[float, int, int]:
    """(wall seconds, labs taken in, labs the workers graded)."""
    cmd = [str(_common.VENV_BIN / "autograder"), "grade", str(klass), "--out", str(out), "--device", device,
           "--no-progress"] + (["--labs", labs] if labs else [])
    seconds, proc = _common.timed(cmd)
    found = re.search(r"(\d+) labs graded(?: \((\d+) identical)?", proc.stdout)
    taken, shared = int(found[1]), int(found[2] or 0)
    return seconds, taken, taken - shared


def main() -> None:
    args, device, labs = _common.class_args(__doc__, 12, "students")
    print(f"class: {args.students} students, labs {','.join(labs)}; with duplicates: every third the same copy "
          "of the reference, every third the untouched stubs, the rest their own copy\n")
    with _common.scratch("bench-dup-", args.keep) as tmp:
        seconds = {}
        for name, duplicates in (("duplicates", True), ("no duplicates", False)):
            build(tmp / name / "class", args.students, labs, duplicates)
            wall, taken, graded = grade(tmp / name / "class", tmp / name / "out", device, args.labs)
            seconds[name] = wall
            print(f"{name:<14}: {taken} labs taken in, {graded} graded by the workers, {wall:7.1f} s wall", flush=True)
        grades = {(tmp / n / "out" / "grades.csv").read_text() for n in seconds}
        same = len(grades) == 1
        print(f"grades.csv: {'IDENTICAL' if same else 'DIFFERENT'}")
        print(f"ratio (no duplicates)/(duplicates): {seconds['no duplicates'] / seconds['duplicates']:.2f}x")


if __name__ == "__main__":
    main()
