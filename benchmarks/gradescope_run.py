"""Seconds and memory of Gradescope's run_autograder on one complete submission, against
`autograder grade` on the same submission.

Builds the whole unit's bundle (`autograder gradescope`, all labs), lays it out as Gradescope
does (autograder.integrations.gradescope.local: the bundle in ROOT/source, the kit copied
where setup.sh puts it, this machine's Python instead of setup.sh's), uploads the reference
solutions (solutions/<lab>/, as lab folders) and times, once each, wall clock with start-up:

    (a) autograder grade CLASS --out OUT --workers W --device cpu   (a class of that one student)
    (b) ROOT/run_autograder                                         (the bundle built with --workers W)

W is --workers, auto by default (one per CPU the process may use).

While (b) runs, the proportional set size (PSS: shared pages split between the processes
that share them) of run_autograder and every process below it is sampled every 0.2 s; the
peak is what the container's memory limit must hold.

Read the output: the bundle's size; (a) and (b) in seconds and the ratio (b)/(a), the cost of
Gradescope's layout over the class command (close to 1); the peak PSS in MiB; both scores,
which must be full marks.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
from pathlib import Path

import _common

from autograder.engine.executors import auto_workers
from autograder.integrations.gradescope import local


def tree(root_pid: int) -> list[int]:
    """root_pid and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def pss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--keep", action="store_true", help="keep the scratch folder")
    p.add_argument("--workers", default="auto", help="the bundle's and (a)'s workers: a number or auto (default)")
    args = p.parse_args()
    print(_common.describe_machine("cpu"))
    print(f"workers: auto = {auto_workers()}")
    labs = list(_common.course().labs)
    with _common.scratch("gradescope-run-", args.keep) as tmp:
        bundle = tmp / "bundle.zip"
        subprocess.run([str(_common.VENV_BIN / "python"), "-m", "autograder", "gradescope", str(bundle),
                        "--workers", args.workers],
                       check=True, capture_output=True, cwd=_common.ROOT)
        print(f"bundle: {bundle.stat().st_size / 1e6:.2f} MB (without MNIST; --mnist adds the idx files)")
        klass = tmp / "class"
        for lab in labs:
            shutil.copytree(_common.ROOT / "solutions" / lab, klass / "reference" / lab,
                            ignore=shutil.ignore_patterns("__pycache__", "README.md"))
        t0 = time.perf_counter()
        subprocess.run([str(_common.VENV_BIN / "python"), "-m", "autograder", "grade", str(klass), "--out",
                        str(tmp / "out"), "--workers", args.workers, "--device", "cpu", "--no-progress"],
                       check=True, capture_output=True, cwd=_common.ROOT)
        a = time.perf_counter() - t0
        graded = json.loads((tmp / "out" / "reference" / "results.json").read_text())["score"]

        image = local.install(bundle, tmp / "gradescope")
        upload = {str(f.relative_to(klass / "reference")): f.read_bytes() for f in (klass / "reference").rglob("*.py")}
        local.submit(image, upload, {"created_at": "2026-01-01T00:00:00+00:00", "assignment": {}, "users": []})
        argv, env = local.command(image, _common.VENV_BIN / "python")
        peak = 0
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=image.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        while proc.poll() is None:
            peak = max(peak, pss_kib(tree(proc.pid)))
            time.sleep(0.2)
        b = time.perf_counter() - t0
        log = proc.stdout.read().decode(errors="replace")
        if proc.returncode != 0:
            raise SystemExit(f"run_autograder failed ({proc.returncode}):\n{log}")
        results = json.loads((image.root / "results" / "results.json").read_text())
        most = sum(lab.max_points for lab in _common.course().labs.values())
        print(f"(a) autograder grade, one student:  {a:6.1f} s   score {graded:g}/{most:g}")
        print(f"(b) run_autograder:                 {b:6.1f} s   score {results['score']:g}/{most:g} "
              f"(its own execution_time {results['execution_time']:g} s)")
        print(f"ratio (b)/(a): {b / a:.2f}")
        print(f"peak PSS of run_autograder and its processes: {peak / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
