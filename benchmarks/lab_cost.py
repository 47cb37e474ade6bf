"""What grading one lab costs: wall seconds, CPU-seconds and the memory it adds to its node.

Starts the kit's judge server and zygote (what a grading node keeps warm), then grades the
reference solution of every lab, one lab at a time, with `runner.run_lab` (one worker, the
course's device). The whole process tree (this process, the servers, every pytest session
and confined worker they fork) is put in a cgroup of its own, which counts its CPU time and
its peak memory whatever process used them: forked children that the servers reap without
waiting cannot be counted any other way.

Per lab:
  wall s       the lab's grading, start to end
  cpu s        CPU-seconds of the whole tree during it (user + system)
  cpu/wall     the cores it kept busy on average: what a cluster reserves per lab (num_cpus)
  +peak MiB    the tree's peak memory during the lab minus its memory just before it: what
               one lab in flight adds to a node (the judge session and the worker, with the
               pages they copy from the servers they were forked from)
  +GPU MiB     on CUDA: the GPU's peak memory in use during the lab minus before it (sampled
               every 50 ms; the worker's CUDA context included): what sets `gpus` in
               course.toml
Before the labs: the servers' own memory and start-up (paid once per node, not per lab).
The last line sums the labs: one complete submission. Repeats (--repeat) show the spread.

Needs a writable cgroup (Linux, root): cgroup v2 (cpu.stat, memory.peak) or v1 (cpuacct,
memory). Run it with nothing else grading on the machine.

    .venv/bin/python benchmarks/lab_cost.py [--device cpu] [--repeat 2] [--labs ...]
"""
from __future__ import annotations

import argparse
import os
import threading
import time
import uuid
from pathlib import Path

import _common

from autograder.engine import runner

MIB = 1 << 20


class Cgroup:
    """A fresh cgroup holding this process (and so everything it starts): CPU and memory."""

    def __init__(self):
        name = f"autograder-bench-{uuid.uuid4().hex[:8]}"
        v2 = Path("/sys/fs/cgroup")
        if (v2 / "cgroup.controllers").is_file():
            self.dirs = [v2 / name]
            self.v2 = True
        else:
            self.dirs = [v2 / "cpuacct" / name, v2 / "memory" / name]
            self.v2 = False
        try:
            for d in self.dirs:
                d.mkdir()
                (d / "cgroup.procs").write_text(str(os.getpid()))
        except OSError as e:
            raise SystemExit(f"cannot make a cgroup in /sys/fs/cgroup ({e.strerror}): run as root on Linux, "
                             "with cgroup v2, or v1 with the cpuacct and memory controllers") from None

    def cpu_s(self) -> float:
        if self.v2:
            stat = dict(line.split() for line in (self.dirs[0] / "cpu.stat").read_text().splitlines())
            return int(stat["usage_usec"]) / 1e6
        return int((self.dirs[0] / "cpuacct.usage").read_text()) / 1e9

    def memory(self) -> int:
        name = "memory.current" if self.v2 else "memory.usage_in_bytes"
        return int((self.dirs[-1] / name).read_text())

    def reset_peak(self) -> None:
        (self.dirs[-1] / ("memory.peak" if self.v2 else "memory.max_usage_in_bytes")).write_text("0")

    def peak(self) -> int:
        return int((self.dirs[-1] / ("memory.peak" if self.v2 else "memory.max_usage_in_bytes")).read_text())

    def close(self) -> None:
        parent = [d.parent for d in self.dirs]
        for d, up in zip(self.dirs, parent):
            (up / "cgroup.procs").write_text(str(os.getpid()))  # out of it, so that it can go
            for _ in range(50):  # the servers it held exit with this process; wait until empty
                try:
                    d.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)


class GpuPeak:
    """The most GPU memory in use (all processes) while sampling, in bytes; 0 off CUDA."""

    def __init__(self, device: str):
        self.device = device if device.startswith("cuda") else None
        self.peak, self._stop = 0, threading.Event()

    def used(self) -> int:
        import torch

        free, total = torch.cuda.mem_get_info(torch.device(self.device))
        return total - free

    def __enter__(self):
        if self.device:
            self.before = self.peak = self.used()
            self._stop.clear()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.used())

    def __exit__(self, *exc) -> None:
        if self.device:
            self._stop.set()
            self._thread.join()

    def added(self) -> str:
        return f"{(self.peak - self.before) / MIB:8.0f}" if self.device else ""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.add_device_arg(p)
    p.add_argument("--repeat", type=int, default=2, help="passes over the labs (default 2)")
    p.add_argument("--labs", default=None, help="comma-separated lab ids (default: all six)")
    args = p.parse_args()
    device = _common.resolve_device(args.device)
    course = _common.course()
    labs = args.labs.split(",") if args.labs else list(course.labs)
    print(_common.describe_machine(device))
    group = Cgroup()
    servers = ()
    try:
        cpu0, t0 = group.cpu_s(), time.perf_counter()
        group.reset_peak()
        servers = runner.servers_for(course)
        print(f"servers (judge server + zygote) ready in {time.perf_counter() - t0:.1f} s wall, "
              f"{group.cpu_s() - cpu0:.1f} CPU-s; this process and the servers hold {group.memory() / MIB:.0f} MiB "
              f"(peak {group.peak() / MIB:.0f} MiB)\n")
        for n in range(1, args.repeat + 1):
            gpu_column = f" {'+GPU MiB':>8}" if device.startswith("cuda") else ""
            print(f"pass {n}: {'lab':<22} {'status':<8} {'wall s':>7} {'cpu s':>7} {'cpu/wall':>8} {'+peak MiB':>9}"
                  + gpu_column)
            totals = [0.0, 0.0]
            for lab in labs:
                before = group.memory()
                group.reset_peak()
                cpu0, t0 = group.cpu_s(), time.perf_counter()
                with GpuPeak(device) as gpu:
                    run = runner.run_lab(course, lab, _common.ROOT / "solutions" / lab, device=device)
                wall, cpu = time.perf_counter() - t0, group.cpu_s() - cpu0
                added = max(0, group.peak() - before)
                totals[0] += wall
                totals[1] += cpu
                print(f"        {lab:<22} {run.status:<8} {wall:7.1f} {cpu:7.1f} {cpu / wall:8.2f} {added / MIB:9.0f} "
                      f"{gpu.added()}", flush=True)
            wall, cpu = totals
            print(f"        {'complete submission':<31} {wall:7.1f} {cpu:7.1f} {cpu / wall:8.2f}\n")
    finally:
        for server in servers:
            server.close()
        group.close()


if __name__ == "__main__":
    main()
