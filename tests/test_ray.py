"""`autograder grade --executor ray` on a two-node Ray cluster that the tests start on
loopback (tests/raycluster): the same results.json as the local executor, a grading actor
killed mid-class, the driver killed mid-class, and the refusals (no node fits a lab, a
node with another kit, Ray not installed).

The cluster needs root or unprivileged user namespaces; without them these tests fail and
say so (CI runs as root). Ray is the [ray] extra, which `make` installs.
"""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from tests import raycluster
from tests.conftest import ROOT

LABS = "lab08_2_xor_mlp,lab09_4_batchnorm"  # one with MNIST (shipped to the nodes), one without
STUDENTS = ("buggy", "reference", "reference_copy", "stubs")
CLI_TIMEOUT = 900

try:
    import ray  # noqa: F401
except ImportError:  # not a skip: make installs the extra, and CI must run these
    ray = None


def _mutant(lab: str, name: str) -> str:
    """The solution of `lab` with the bug `name` of tests/mutants/<lab>.toml."""
    with open(ROOT / "tests" / "mutants" / f"{lab}.toml", "rb") as f:
        mutant = next(m for m in tomllib.load(f)["mutant"] if m["name"] == name)
    source = (ROOT / "solutions" / lab / "batchnorm.py").read_text()
    assert mutant["find"] in source
    return source.replace(mutant["find"], mutant["replace"])


@pytest.fixture(scope="module")
def klass(tmp_path_factory) -> Path:
    """Four students: the reference; the same labs handed in as a zip (a duplicate, with notes
    of its own); the untouched stubs; a batch-norm bug with lab 8-2 missing."""
    root = tmp_path_factory.mktemp("ray") / "class"
    for lab in LABS.split(","):
        shutil.copytree(ROOT / "solutions" / lab, root / "reference" / lab)
        shutil.copytree(ROOT / "assignments" / lab, root / "stubs" / lab, ignore=shutil.ignore_patterns("README.md"))
    (root / "reference_copy").mkdir()
    shutil.make_archive(str(root / "reference_copy" / "labs"), "zip", root / "reference")
    (root / "buggy" / "lab09_4_batchnorm").mkdir(parents=True)
    (root / "buggy" / "lab09_4_batchnorm" / "batchnorm.py").write_text(_mutant("lab09_4_batchnorm", "eps_outside_sqrt"))
    return root


def _cli(*args, course: Path | None = None) -> list[str]:
    before = ["--course", str(course)] if course else []
    return [sys.executable, "-m", "autograder", *before, "grade", *map(str, args), "--labs", LABS, "--no-progress"]


def _results(out: Path) -> dict:
    """Every student's results.json without the timings."""
    found = {}
    for student in STUDENTS:
        results = json.loads((out / student / "results.json").read_text())
        for record in results["extra_data"]["labs"].values():
            record.pop("seconds")
        found[student] = results
    return found


@pytest.fixture(scope="module")
def local(klass, mnist_cache) -> Path:
    """The class graded by the local executor: what the cluster must reproduce."""
    out = klass.parent / "local"
    done = subprocess.run(_cli(klass, "--out", out), capture_output=True, text=True, timeout=CLI_TIMEOUT)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def cluster():
    if ray is None:
        pytest.fail("Ray is not installed: the Ray tests need the [ray] extra (make installs it: "
                    "pip install -e '.[ray]')")
    try:
        namespace = raycluster.Namespace()
    except raycluster.NamespaceUnavailable as e:
        pytest.fail(str(e))
    try:
        cluster = raycluster.Cluster(namespace, ROOT)
        yield cluster
        left = cluster.stop()
        assert not left, f"processes left in the cluster's namespace after `ray stop`: {left}"
    finally:
        namespace.close()
    deadline = time.monotonic() + 10
    while namespace.processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not namespace.processes(), "processes outlived the cluster's namespace"


def _on_cluster(cluster, *args, course: Path | None = None) -> list[str]:
    return [*_cli(*args, course=course), "--executor", "ray", "--address", cluster.address]


def _grades(out: Path) -> list[dict]:
    with open(out / "grades.csv", newline="") as f:
        return list(csv.DictReader(f))


def _grader_pids(cluster) -> dict[int, str]:
    """The NodeGrader actors' processes in the cluster's namespace."""
    return {pid: cmd for pid, cmd in cluster.ns.processes().items() if cmd.startswith("ray::NodeGrader")}


def _children(pid: int) -> list[int]:
    """The children of every thread of `pid` (a thread's children are listed under it)."""
    found = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(c) for c in children.read_text().split()]
        except OSError:
            pass  # the thread ended meanwhile
    return found


def _grading_now(actor: int) -> bool:
    """Whether the actor's judge server has a lab's pytest session running."""
    return any(_children(server) for server in _children(actor))


def test_cluster_grades_like_the_local_executor(cluster, klass, local, tmp_path):
    out = tmp_path / "out"
    done = cluster.ns.run(_on_cluster(cluster, klass, "--out", out), env=cluster.env, capture_output=True,
                          text=True, timeout=CLI_TIMEOUT)
    assert done.returncode == 0, done.stderr[-5000:]
    assert _results(out) == _results(local)
    assert _grades(out) == _grades(local)
    assert (out / "shared_files.csv").read_text() == (local / "shared_files.csv").read_text()
    # The reference and its loose copy: two labs graded once for both.
    assert re.search(r"8 labs graded \(2 identical to another student's and graded once\)", done.stdout), done.stdout
    scores = {(r["student"], r["lab"]): (float(r["score"]), float(r["max_score"]), r["status"]) for r in _grades(out)}
    got, most, _ = scores["reference_copy", "lab09_4_batchnorm"]
    assert got == most
    assert scores["buggy", "lab08_2_xor_mlp"][2] == "missing"
    got, most, _ = scores["buggy", "lab09_4_batchnorm"]
    assert 0 < got < most


def test_a_grading_actor_killed_mid_class_changes_no_grade(cluster, klass, local, tmp_path):
    out = tmp_path / "out"
    grader = cluster.ns.popen(_on_cluster(cluster, klass, "--out", out), env=cluster.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim, seen = None, set()
    deadline = time.monotonic() + CLI_TIMEOUT
    while grader.poll() is None and time.monotonic() < deadline:
        actors = _grader_pids(cluster)
        seen |= set(actors)
        if victim is None:
            busy = [pid for pid in actors if _grading_now(pid)]
            if busy:
                victim = busy[0]
                os.kill(victim, signal.SIGKILL)  # mid-lab: its judge session was running
        time.sleep(0.05)
    stdout, stderr = grader.communicate(timeout=60)
    assert victim is not None, "no actor was ever seen grading"
    assert grader.returncode == 0, stderr[-5000:]
    assert len(seen) > 2, "the killed actor was not restarted"
    assert _results(out) == _results(local)


def test_a_killed_driver_resumes_with_the_same_grades(cluster, klass, local, tmp_path):
    out = tmp_path / "out"
    grader = cluster.ns.popen(_on_cluster(cluster, klass, "--out", out), env=cluster.env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + CLI_TIMEOUT
    while not list(out.glob("*/results.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    driver = next(pid for pid, cmd in cluster.ns.processes().items() if "-m autograder grade" in cmd)
    os.kill(driver, signal.SIGKILL)
    grader.wait(timeout=60)
    partial = len(_grades(out)) if (out / "grades.csv").exists() else 0
    done = cluster.ns.run(_on_cluster(cluster, klass, "--out", out), env=cluster.env, capture_output=True,
                          text=True, timeout=CLI_TIMEOUT)
    assert done.returncode == 0, done.stderr[-5000:]
    assert _grades(out) == _grades(local), f"{partial} rows before the rerun"
    assert _results(out) == _results(local)
    kept = re.search(r"(\d+) unchanged and kept", done.stdout)
    assert kept and int(kept[1]) >= 1, done.stdout  # what the killed driver had written stands


def test_a_lab_no_node_can_hold_is_refused_at_once(cluster, klass, tmp_path):
    course = tmp_path / "course.toml"
    text = (ROOT / "course.toml").read_text()
    course.write_text(text.replace("memory_mb = 256\n", "memory_mb = 1000000\n", 1))
    done = cluster.ns.run(_on_cluster(cluster, klass, "--out", tmp_path / "out", course=course), env=cluster.env,
                          capture_output=True, text=True, timeout=CLI_TIMEOUT)
    assert done.returncode == 1
    assert "no node of the Ray cluster can grade a lab" in done.stderr and "MiB of memory" in done.stderr, done.stderr
    assert not (tmp_path / "out" / "grades.csv").exists()


def test_a_node_with_another_kit_is_refused():
    from autograder.integrations.ray import node

    here = {"kit": "a" * 64, "torch": "2.14.1", "python": "3.11.7"}
    assert node.refusal(here, {**here, "node": "f" * 56, "host": "gpu-3"}) is None
    why = node.refusal(here, {**here, "kit": "b" * 64, "node": "f" * 56, "host": "gpu-3"})
    assert "gpu-3" in why and "bbbbbbbbbbbb" in why and "aaaaaaaaaaaa" in why and "same dnn-grading-kit[ray]" in why
    assert node.refusal(here, {**here, "torch": "2.13.0", "node": "f" * 56, "host": "gpu-3"})


def test_without_ray_the_executor_says_how_to_install_it(tmp_path):
    code = ("import sys; sys.modules['ray'] = None\n"  # import ray fails, as where it is not installed
            "from autograder.cli import main\n"
            f"sys.exit(main(['grade', {str(tmp_path)!r}, '--out', {str(tmp_path / 'out')!r}, '--executor', 'ray']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "--executor ray needs Ray" in done.stderr and "dnn-grading-kit[ray]" in done.stderr, done.stderr


def test_the_gpu_ray_gives_a_lab_is_the_one_its_worker_sees(monkeypatch):
    from autograder.integrations.ray import node

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)  # the actor sees every GPU: Ray's id is the index
    assert node._gpu_index("1") == 1 and node._gpu_index(None) is None
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")  # the node was started with two of its GPUs
    assert node._gpu_index("3") == 1
