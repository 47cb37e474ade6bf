"""Per-check worker start-up: the allow-list root with its init as PID 1 (this kit) against
the deny list it replaced (the kit at --before), in one run.

Both zygotes are started from the same Python and virtual environment: this kit's, and the
kit of commit --before (default 2b51a1a, the last one with the deny list), exported with
`git archive` into build/ (a folder outside /tmp, as a checkout would be). Each variant's
workers are forked from its warm zygote, the variants taking turns round by round, and each
worker is timed from the grader's side, as a check sees it:

    hello   connect and send the spec -> the worker is confined (namespaces, its files,
            /proc, for the new kit pivot_root and PID 1) and says hello
    ready   ... -> the student's module (the lab 8-1 reference) is imported in it
    total   ... -> the worker has exited and its status is reported (the grader closed)

Each variant's workers hide what that kit's workers hide: the old one an empty folder over
every entry of the kit's root and the class, results and MNIST folders (its
remote.hidden_paths); the new one a read-only root prepared once, plus the same class,
results and MNIST folders should any lie inside it (none does, as a rule).

    .venv/bin/python benchmarks/worker_start.py [--rounds 10] [--per-round 10] [--before REV] [--device cuda]
    .venv/bin/python benchmarks/worker_start.py --show-root [--device cuda]

Read `new/old` for each measure (< 1: the new start-up is cheaper). Medians, with the 10th
and 90th percentiles, over rounds x per-round workers of each variant. --show-root instead
prints what a worker of this kit sees: its /, /dev, its confinement, and on CUDA whether
torch finds the GPU inside it (scripts/device_check.sh runs it).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import _common

from autograder.boundary import remote, wire
from autograder.course import config

LAB = "lab08_1_perceptron"
DENY_LIST_REV = "2b51a1a"
SHOW_ROOT = '''
import json, os
seen = {"root": sorted(os.listdir("/")), "dev": sorted(os.listdir("/dev")), "uid": os.getuid(), "pid": os.getpid()}
if DEVICE.startswith("cuda"):
    import torch
    seen["cuda"] = torch.cuda.is_available()
    if seen["cuda"]:
        x = torch.ones(1024, 1024, device=DEVICE)
        seen["gpu"] = [torch.cuda.get_device_name(), float((x @ x)[0, 0])]
raise RuntimeError("SEEN" + json.dumps(seen))
'''


def export_kit(rev: str, dest: Path) -> Path:
    """The kit's tree at `rev` (git archive), under `dest`."""
    archive = subprocess.run(["git", "-C", str(_common.ROOT), "archive", "--format=tar", rev],
                             capture_output=True, check=False)
    if archive.returncode != 0:
        sys.exit(f"--before {rev}: git archive failed ({archive.stderr.decode(errors='replace').strip()}); "
                 "the comparison needs the kit's git history")
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile() as f:
        f.write(archive.stdout)
        f.seek(0)
        with tarfile.open(fileobj=f) as tar:
            tar.extractall(dest, filter="data")
    return dest


class OldZygote(remote.Zygote):
    """The zygote of the exported kit, started as that kit started it (python -m, its root
    on PYTHONPATH)."""

    @classmethod
    def start_old(cls, kit: Path):
        tmp = tempfile.TemporaryDirectory(prefix="old-zygote-")
        os.chmod(tmp.name, 0o700)
        sock = Path(tmp.name) / "server.sock"
        env = dict(os.environ, PYTHONPATH=str(kit), PYTHONDONTWRITEBYTECODE="1")
        proc = subprocess.Popen([sys.executable, "-m", "autograder.boundary.zygote", str(sock), "", ""], cwd=kit,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                env=env, start_new_session=True)
        return cls(proc, sock, tmp)


def old_hidden(kit: Path, course_file: Path) -> list[str]:
    """What the old kit's workers hid: its remote.hidden_paths, computed by that kit."""
    code = ("import json; from autograder.boundary import remote; from autograder.course import config; "
            f"print(json.dumps([str(p) for p in remote.hidden_paths(config.load_course({str(course_file)!r}))]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=kit, env=dict(os.environ, PYTHONPATH=str(kit)),
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def time_worker(zygote: remote.Zygote, spec: dict) -> tuple[float, float, float]:
    """(hello, ready, total) seconds of one worker."""
    t0 = time.perf_counter()
    worker = zygote.connect(spec)
    t_hello = time.perf_counter()
    worker.probe("__import__", 0)
    t_ready = time.perf_counter()
    worker.sock.shutdown(socket.SHUT_WR)  # the worker's request loop ends; PID 1 reports the status
    worker.sock.settimeout(30)
    try:
        while "died" not in wire.recv(worker.sock):
            pass
    except (wire.WireError, OSError):
        pass
    t_total = time.perf_counter()
    worker.close()
    return t_hello - t0, t_ready - t0, t_total - t0


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def show_root(device: str, tmp: Path) -> None:
    course = config.load_course()
    folder = tmp / LAB
    folder.mkdir()
    (folder / "perceptron.py").write_text(f"DEVICE = {device!r}\n" + SHOW_ROOT)
    zygote = remote.shared_zygote(course)
    spec = remote.spec_for(course.lab(LAB), folder, device, forbidden=[], limits=course.limits,
                           hidden=[str(p) for p in remote.hidden_paths(course)])
    worker = zygote.connect(spec, timeout=120)
    worker.deadline = time.monotonic() + 120
    try:
        worker.probe("__import__", 0)
        print("the worker raised nothing?")
    except remote.ImportFailed as e:
        text = str(e)
        seen = json.loads(text.split("SEEN", 1)[1].rsplit("}", 1)[0] + "}") if "SEEN" in text else text
        print(f"confinement: {worker.confinement}")
        print(f"inside the worker: {seen}")
    finally:
        worker.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.add_device_arg(p)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--per-round", type=int, default=10, help="workers of each variant per round (default 10)")
    p.add_argument("--before", default=DENY_LIST_REV, help=f"the kit to compare with (default {DENY_LIST_REV})")
    p.add_argument("--show-root", action="store_true", help="print what a worker of this kit sees, and stop")
    args = p.parse_args()
    device = _common.resolve_device(args.device)
    print(_common.describe_machine(device))
    print(f"grader uid {os.getuid()}")
    with _common.scratch("worker-start-", keep=False) as tmp:
        if args.show_root:
            show_root(device, tmp)
            return
        course = config.load_course()
        submission = tmp / "class" / "alice" / LAB
        shutil.copytree(_common.ROOT / "solutions" / LAB, submission)
        old_kit = export_kit(args.before, _common.ROOT / "build" / f"bench-kit-{args.before}")
        try:
            lab = course.lab(LAB)
            extra = [tmp / "class", tmp / "out"]
            specs = {
                "old": remote.spec_for(lab, submission, device, forbidden=[], limits=course.limits,
                                       hidden=old_hidden(old_kit, config.KIT_ROOT / "course.toml")
                                       + [str(p) for p in extra]),
                "new": remote.spec_for(lab, submission, device, forbidden=[], limits=course.limits,
                                       hidden=[str(p) for p in remote.hidden_paths(course, extra)]),
            }
            zygotes = {"old": OldZygote.start_old(old_kit),
                       "new": remote.Zygote.start("autograder.boundary.zygote", "", "", "namespaces")}
            for z in zygotes.values():
                z.wait_ready()
            for name, z in zygotes.items():
                w = z.connect(specs[name])
                print(f"{name}: {len(specs[name]['hidden'])} hidden paths; confinement {w.confinement}")
                w.close()
                time_worker(z, specs[name])  # warm-up, not counted
            times: dict[str, list[tuple[float, float, float]]] = {"old": [], "new": []}
            rounds: list[dict[str, list[tuple[float, float, float]]]] = []
            for r in range(args.rounds):
                rounds.append({})
                for name in (("old", "new") if r % 2 == 0 else ("new", "old")):
                    rounds[-1][name] = [time_worker(zygotes[name], specs[name]) for _ in range(args.per_round)]
                    times[name] += rounds[-1][name]
            for z in zygotes.values():
                z.close()
        finally:
            shutil.rmtree(old_kit, ignore_errors=True)
            try:
                old_kit.parent.rmdir()  # build/, when the benchmark made it
            except OSError:
                pass
    print(f"\n{args.rounds} rounds x {args.per_round} workers per variant, medians in ms [p10, p90]; new/old of "
          "the medians, and the median over rounds of each round's new/old (paired: robust to load that drifts)")
    print(f"{'':8}{'old (deny list)':>24}{'new (allow list + init)':>28}{'new/old':>10}{'paired':>9}")
    for i, measure in enumerate(("hello", "ready", "total")):
        old = [t[i] * 1000 for t in times["old"]]
        new = [t[i] * 1000 for t in times["new"]]
        mo, mn = statistics.median(old), statistics.median(new)
        paired = statistics.median(statistics.median(t[i] for t in r["new"]) / statistics.median(t[i] for t in r["old"])
                                   for r in rounds)
        print(f"{measure:8}{mo:9.1f} [{_pct(old, .1):6.1f}, {_pct(old, .9):6.1f}]"
              f"{mn:13.1f} [{_pct(new, .1):6.1f}, {_pct(new, .9):6.1f}]{mn / mo:10.2f}{paired:9.2f}")


if __name__ == "__main__":
    main()
