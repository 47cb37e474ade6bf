"""Seconds that feedback.html and report.html add to grading the example class.

Builds the example class (examples/make_class.py: the reference, the untouched stubs, the
partly correct student), starts the judge server and the zygote once, then grades the class
--repeat (3) times each way, alternating, into fresh output folders, in this one process:

    with:    every writer of autograder/reports (as `autograder grade` runs)
    without: the same without feedback_html.write and class_report.write

The plot cache is emptied before every run, so that no run draws from another's figures.
In the runs with the writers, the seconds spent inside those two writers are summed (in
the students' threads and at the end); the grades.csv of every run must be identical.

Read the output: the best wall time of each way, `added` = with - without and the ratio
with/without (1.00: no cost; the two ways run in the same process, so the ratio is
measured in one run), and `in the new writers`, the seconds measured inside them and their
fraction of the run with them. The checks' own plot data (recorded in every run) is part of
both ways; its cost is inside the checks' time.
"""
from __future__ import annotations

import argparse
import functools
import subprocess
import sys
import threading
import time
from pathlib import Path

import _common

from autograder import reports
from autograder.engine import runner
from autograder.engine.executors import auto_workers
from autograder.engine.grading import grade_class
from autograder.reports import class_report, feedback_html, plots

NEW_WRITERS = {feedback_html.write, class_report.write}


def timed(fn, spent: list, lock: threading.Lock):
    """fn, adding (wall seconds, CPU seconds of its thread) of every call to `spent`."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            with lock:
                spent.append((time.perf_counter() - wall, time.thread_time() - cpu))
    return wrapper


def run(course, klass: Path, out: Path, workers: int, device: str, with_writers: bool) -> tuple[float, tuple]:
    """(wall seconds, (wall, CPU) seconds inside the new writers) of one grading of the class."""
    student, klass_writers = list(reports.STUDENT_WRITERS), list(reports.CLASS_WRITERS)
    spent, lock = [], threading.Lock()
    if with_writers:
        reports.STUDENT_WRITERS[:] = [timed(w, spent, lock) if w in NEW_WRITERS else w for w in student]
        reports.CLASS_WRITERS[:] = [timed(w, spent, lock) if w in NEW_WRITERS else w for w in klass_writers]
    else:
        reports.STUDENT_WRITERS[:] = [w for w in student if w not in NEW_WRITERS]
        reports.CLASS_WRITERS[:] = [w for w in klass_writers if w not in NEW_WRITERS]
    plots._cached.cache_clear()
    try:
        t0 = time.perf_counter()
        grade_class(course, klass, out, workers=workers, device=device, progress=False)
        return time.perf_counter() - t0, (sum(w for w, _ in spent), sum(c for _, c in spent))
    finally:
        reports.STUDENT_WRITERS[:], reports.CLASS_WRITERS[:] = student, klass_writers


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.add_device_arg(p)
    p.add_argument("--workers", default="auto", help="labs graded at once (default: auto, one per core)")
    p.add_argument("--repeat", type=int, default=3, help="runs each way, alternating (default 3); the best counts")
    p.add_argument("--keep", action="store_true", help="keep the class and outputs (the folder is printed)")
    args = p.parse_args()
    device = _common.resolve_device(args.device)
    workers = auto_workers() if args.workers == "auto" else int(args.workers)
    print(_common.describe_machine(device))
    print(f"workers: {workers}")
    course = _common.course()
    with _common.scratch("report-cost-", args.keep) as tmp:
        subprocess.run([sys.executable, str(_common.ROOT / "examples" / "make_class.py"), str(tmp / "class")],
                       check=True, capture_output=True)
        runner.servers_for(course)  # started once, before any timing
        times = {True: [], False: []}
        inside, csvs = [], set()
        for i in range(args.repeat):
            for with_writers in (False, True):
                out = tmp / f"out-{i}-{'with' if with_writers else 'without'}"
                wall, spent = run(course, tmp / "class", out, workers, device, with_writers)
                times[with_writers].append(wall)
                csvs.add((out / "grades.csv").read_text())
                if with_writers:
                    inside.append(spent)
                    pages = sorted(out.glob("*/feedback.html"))
                    sizes = ", ".join(f"{p.parent.name} {p.stat().st_size / 1024:.0f} kB" for p in pages)
                    report_kb = (out / class_report.FILE).stat().st_size / 1024
                print(f"run {i + 1} {'with' if with_writers else 'without'} the new writers: {wall:.1f} s"
                      + (f" ({spent[0]:.2f} s inside them, {spent[1]:.2f} s of CPU)" if with_writers else ""))
        best_with, best_without = min(times[True]), min(times[False])
        print(f"pages: {sizes}; report.html {report_kb:.0f} kB")
        print(f"grades.csv: {'IDENTICAL' if len(csvs) == 1 else 'DIFFERENT'} in all {2 * args.repeat} runs")
        print(f"best wall time: with {best_with:.1f} s, without {best_without:.1f} s")
        print(f"added: {best_with - best_without:+.1f} s; ratio with/without: {best_with / best_without:.3f}")
        wall_in, cpu_in = min(w for w, _ in inside), min(c for _, c in inside)
        print(f"in the new writers: {wall_in:.2f} s of wall time (their threads wait for the cores the workers use), "
              f"{cpu_in:.2f} s of CPU, {cpu_in / best_with:.1%} of the best run with them")


if __name__ == "__main__":
    main()
