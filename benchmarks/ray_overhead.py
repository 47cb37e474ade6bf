"""The Ray executor's overhead: one class graded by the local executor and on a Ray cluster
of this machine, in one invocation.

Builds a class of --students (4) complete submissions, each its own copy of the reference
(made different by a function nothing calls: identical code would be graded once), starts a
one-node Ray cluster with as many CPUs as the local executor has workers (tests/raycluster:
in a network namespace of its own with only loopback, which needs root or unprivileged user
namespaces; its start is timed but not counted), and grades the class twice inside that
namespace, on the CPU (the test cluster has no GPU):

    autograder grade CLASS --out OUT --workers W                         (local)
    autograder grade CLASS --out OUT --executor ray --address 127.0.0.1:6379   (Ray)

Each run is timed once, wall clock of the whole command: the Ray run includes connecting,
shipping MNIST and starting the node's grading actor (its judge server and zygote, which the
local run starts too). Read `ratio Ray/local` (1.0: no overhead); the two grades.csv must be
IDENTICAL.

    .venv/bin/python benchmarks/ray_overhead.py [--students 4] [--labs ...]
"""
from __future__ import annotations

import argparse
import resource
import sys
from pathlib import Path

import _common

from autograder.engine.executors import auto_workers
from tests import raycluster


def grade(ns: raycluster.Namespace, env: dict, klass: Path, out: Path, labs: str | None,
          extra: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU-seconds of the command's own process: with Ray, the driver's)."""
    cmd = [sys.executable, "-m", "autograder", "grade", str(klass), "--out", str(out), "--device", "cpu",
           "--no-progress", *(["--labs", labs] if labs else []), *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds, _ = _common.timed(cmd, ns.run, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return seconds, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--students", type=int, default=4, help="distinct copies of the reference (default 4)")
    p.add_argument("--labs", default=None, help="comma-separated lab ids (default: all six, a complete submission)")
    p.add_argument("--keep", action="store_true", help="keep the class and outputs (the folder is printed)")
    args = p.parse_args()
    labs = args.labs.split(",") if args.labs else list(_common.course().labs)
    workers = auto_workers()
    print(_common.describe_machine("cpu"))
    print(f"class: {args.students} distinct copies of the reference, labs {','.join(labs)}; local --workers "
          f"{workers}, Ray: one node with {workers} CPUs; each run timed once\n")
    with _common.scratch("bench-ray-", args.keep) as tmp:
        for i in range(1, args.students + 1):
            for lab in labs:
                _common.distinct_copy(_common.ROOT / "solutions" / lab, tmp / "class" / f"student_{i}" / lab, i)
        ns = raycluster.Namespace()
        try:
            cluster = raycluster.Cluster(ns, _common.ROOT, cpus=workers, nodes=1)
            print(f"cluster started in {cluster.start_s:.1f} s (not counted)", flush=True)
            local, _ = grade(ns, cluster.env, tmp / "class", tmp / "out-local", args.labs, ["--workers", str(workers)])
            print(f"local: {local:7.1f} s wall, {local / args.students:6.1f} s/submission", flush=True)
            ray, driver = grade(ns, cluster.env, tmp / "class", tmp / "out-ray", args.labs,
                                ["--executor", "ray", "--address", cluster.address])
            print(f"Ray  : {ray:7.1f} s wall, {ray / args.students:6.1f} s/submission; the driver used "
                  f"{driver:.1f} CPU-s ({driver / args.students:.2f} per submission: intake, shipping, reports)",
                  flush=True)
            cluster.stop()
        finally:
            ns.close()
        same = (tmp / "out-local" / "grades.csv").read_text() == (tmp / "out-ray" / "grades.csv").read_text()
        print(f"grades.csv: {'IDENTICAL' if same else 'DIFFERENT'}")
        print(f"ratio Ray/local: {ray / local:.2f}x")


if __name__ == "__main__":
    main()
