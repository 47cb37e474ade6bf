"""One complete submission against its floor, and where its seconds go.

Measured in this one invocation, on --device (cpu by default):
  (a) the machine now: float32 GEMM throughput on one thread (square products of --size),
      so that a figure taken in a slow hour can be told from one taken in a quiet one;
  (b) the floor: for every lab with an MNIST check, one epoch of the reference model on the
      check's budget exactly as the check trains it (probes.common.MnistRun: in-memory
      tensors, the kit's loader, Adam at course.toml's lr and batch size) and one prediction
      over the test set, on one torch thread; summed over the labs and divided by the cores
      (grading runs one lab per core);
  (c) `autograder grade CLASS --out OUT --workers auto` on a class of one complete reference
      submission (solutions/ copied): the wall seconds of the whole command, the start of
      its judge server and zygote included; what an instructor waits for; and the CPU
      seconds the whole machine spent meanwhile (/proc/stat), with the share of its cores busy;
  (d) per check: every lab graded again in this process (engine.runner.run_lab, one lab at a
      time, the judge server and the zygote already warm), the seconds from each check's
      start to its end (its worker's start and the import of the student's module included),
      and the check's share of the sum, largest first; before them, how long the judge
      server and the zygote take to start, and after them the median check (a check that
      does little costs about its confined worker's start).

Read the output: ratio = (c) / (b), the goal is at most 2.0. (d) says where the rest goes.
Every number comes from this invocation; compare ratios, not seconds from other runs.
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time

import _common
import torch
from torch import nn

from autograder.course import mnist
from autograder.engine import runner
from autograder.engine.executors import auto_workers
from autograder.probes.common import MnistRun, predict

GOAL = 2.0


def gemm_gflops(size: int, device: str) -> float:
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    torch.mm(a, b)  # warm-up
    times = _common.repeat(lambda: torch.mm(a, b), 5, device)
    return 2 * size**3 / min(times) / 1e9


def floor_seconds(course, device: str) -> dict[str, float]:
    """Per MNIST lab: one reference epoch and one test-set prediction, as the check runs them."""
    import importlib

    data = mnist.load(course.mnist_cache, device)
    inputs = {k: data[k] for k in mnist.INPUT_KEYS}
    out = {}
    for lab in course.labs.values():
        if not lab.trains_on_mnist:
            continue
        params = lab.check("mnist_accuracy").params
        probes = importlib.import_module(f"autograder.probes.{lab.id}")
        solution = _common.load_solution(lab.id)
        torch.manual_seed(0)
        model, train_epoch = probes.mnist_training(solution, params)
        budget = {k: v for k, v in params.items() if k not in ("threshold", "stop_at_threshold")}
        _common.sync(device)
        t0 = time.perf_counter()
        run = MnistRun.start(model, train_epoch, inputs, device, **budget)
        train_epoch(run.model, run.train, run.optimizer, nn.CrossEntropyLoss(), device)
        predict(run.model, run.test_images, device)
        _common.sync(device)
        out[lab.id] = time.perf_counter() - t0
    return out


def grade_wall(course, device: str, keep: bool) -> float:
    with _common.scratch("submission-speed-", keep) as tmp:
        student = tmp / "class" / "reference"
        for lab in course.labs:
            shutil.copytree(_common.ROOT / "solutions" / lab, student / lab,
                            ignore=shutil.ignore_patterns("__pycache__", "README.md"))
        cmd = [str(_common.VENV_BIN / "autograder"), "grade", str(tmp / "class"), "--out", str(tmp / "out"),
               "--workers", "auto", "--device", device, "--no-progress"]
        busy0 = busy_seconds()
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
        wall = time.perf_counter() - t0
        cpu = busy_seconds() - busy0
        if proc.returncode != 0:
            sys.exit(f"grading failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        grades = (tmp / "out" / "grades.csv").read_text().splitlines()[1:]
        full = all(r.split(",")[2] == r.split(",")[3] for r in grades)
        print(f"(c) graded one complete submission: {len(grades)} labs, "
              f"{'full marks' if full else 'NOT full marks: ' + '; '.join(grades)}; "
              f"{cpu:.1f} CPU-s on the whole machine meanwhile ({cpu / wall / os.cpu_count():.0%} of its cores busy)")
        return wall


def busy_seconds() -> float:
    """Seconds of CPU spent by the whole machine so far (Linux /proc/stat: every state but
    idle and iowait), for (c): grading's processes and whatever else ran meanwhile."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def per_check(course, device: str) -> list[tuple[str, float]]:
    t0 = time.perf_counter()
    runner.servers_for(course)  # warm: (d) is the checks alone
    print(f"(d) the judge server and the zygote start together in {time.perf_counter() - t0:.2f} s "
          "(each imports torch; once per grading run)")
    rows = []
    for lab in course.labs:
        run = runner.run_lab(course, lab, _common.ROOT / "solutions" / lab, device=device)
        rows += [(f"{lab}/{c.id}", c.seconds) for c in run.checks.values()]
    return rows


def main() -> None:
    p = _common.argparse.ArgumentParser(description=__doc__, formatter_class=_common.argparse.RawDescriptionHelpFormatter)
    _common.add_device_arg(p)
    p.add_argument("--size", type=int, default=1024, help="square matmul size for (a) (default 1024)")
    p.add_argument("--keep", action="store_true", help="keep the class and its grades (the folder is printed)")
    p.add_argument("--top", type=int, default=15, help="checks listed by name in (d), largest first (default 15)")
    args = p.parse_args()
    device = _common.resolve_device(args.device)
    course = _common.course()
    torch.set_num_threads(1)  # as every worker and judge session (config.TORCH_THREADS)
    n_cores = auto_workers()  # the labs grading runs at once, as --workers auto decides
    print(_common.describe_machine(device))
    print(f"(a) float32 GEMM {args.size}^3 on one thread: {gemm_gflops(args.size, device):.1f} GFLOP/s")
    floors = floor_seconds(course, device)
    floor = sum(floors.values()) / n_cores
    print("(b) one reference epoch + one test prediction per MNIST lab: "
          + ", ".join(f"{lab} {s:.2f} s" for lab, s in floors.items())
          + f"; sum {sum(floors.values()):.2f} s / {n_cores} cores = floor {floor:.2f} s")
    wall = grade_wall(course, device, args.keep)
    print(f"(c) `autograder grade --workers auto`: {wall:.2f} s wall")
    rows = sorted(per_check(course, device), key=lambda r: -r[1])
    total = sum(s for _, s in rows)
    print(f"(d) {len(rows)} checks, {total:.2f} s in all (one lab at a time, servers warm):")
    for name, s in rows[:args.top]:
        print(f"    {name:<52} {s:6.2f} s  {s / total:6.1%}")
    rest = rows[args.top:]
    print(f"    {'the other ' + str(len(rest)) + ' checks':<52} {sum(s for _, s in rest):6.2f} s  "
          f"{sum(s for _, s in rest) / total:6.1%}")
    print(f"    the median check: {statistics.median(s for _, s in rows):.3f} s")
    ratio = wall / floor
    print(f"\nratio (c)/(b) = {wall:.2f} / {floor:.2f} = {ratio:.2f}; goal at most {GOAL}: "
          f"{'MET' if ratio <= GOAL else 'NOT MET'}")


if __name__ == "__main__":
    main()
