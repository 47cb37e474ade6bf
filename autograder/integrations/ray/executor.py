"""`autograder grade --executor ray`: a class graded on a Ray cluster, by the same engine.

`RayExecutor` is an executor (engine/executors.Executor) for engine/grading.grade_students:
this process (the driver) takes in the submissions, grades identical labs once, and alone
writes OUT, as with the local executor; the cluster only grades. On start it

- connects to the cluster (`address`: "auto" for one started on this machine or named by
  RAY_ADDRESS, else HOST:PORT);
- puts the MNIST arrays (numpy, zero-copy) in Ray's object store once, for a course with
  MNIST checks;
- starts a `NodeGrader` actor on every node that can grade (node.py), given the course's
  files: it writes the course and MNIST to a node-local cache and keeps the kit's judge
  server and zygote warm; each reports
  its kit fingerprint and torch version, and a node that differs from this machine is refused
  with a message saying so.

Each `submit` ships the lab's clean folder ({path: bytes}) through the object store and
starts a task (task.py) that reserves the lab's resources from course.toml
([labs.<lab>.resources]: CPUs, memory and, on CUDA, a GPU fraction) on whatever node has
them free; that node's actor grades it. A task whose worker or node dies is retried, and an
actor killed mid-lab is restarted and its call retried: grading is safe to repeat (the same
bytes graded again), and the driver records each lab once, whatever ran twice.
"""
from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from concurrent.futures import Future
from pathlib import Path

import ray
from ray.exceptions import GetTimeoutError, RayActorError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from autograder.boundary import sandbox
from autograder.course import config, mnist
from autograder.engine import grading
from autograder.engine.executors import ExecutorError, gpu_share
from autograder.integrations.ray import node, task
from autograder.reports.model import CheckOutcome, LabRun

MIB = 1 << 20
START_S = 600.0  # a node's actor: the course and MNIST written, the judge server and zygote started
RETRIES = 3  # of a lab's task (its worker or node lost) and of an actor (restarts, calls retried)
REFRESH_S = 30.0  # how often submit looks for nodes that joined since the class began
MAX_CONCURRENCY = 1000  # labs one node's actor may grade at once: Ray's resources decide

_NodeGrader = ray.remote(node.NodeGrader)
_grade_lab = ray.remote(task.grade_lab)


class RayExecutor:
    """Grades labs on the Ray cluster at `address`, on `device` ("auto": CUDA when the
    cluster has GPUs). `n`, how many submissions the class grader keeps taken in and ready,
    is `workers` or else the labs the cluster's CPUs (and GPUs on CUDA) hold at once; Ray
    queues the rest. Raises ExecutorError when the cluster cannot be reached, has no node
    that can grade, or has a node with another kit."""

    def __init__(self, course: config.Course, address: str = "auto", device: str = "auto",
                 workers: int | None = None):
        self.course = course
        try:
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise ExecutorError(
                f"no Ray cluster at {address!r} ({_last_line(e)}): start one with `ray start --head` or "
                "`ray up CLUSTER.yaml`, or pass --address HOST:PORT of its head (docs/scale.md)") from None
        self._actors: dict[str, object] = {}
        self._lock = threading.Lock()  # the class grader's threads submit at once
        try:
            self.device = self._device(device)
            self._expected = node.versions(grading.kit_fingerprint(course))
            self._course = node.course_files(course)  # small: goes with each actor's creation
            self._mnist = self._ship_mnist()
            self._start_actors(wait=True)
            self.n = workers or self._capacity()
        except BaseException:
            self.close()
            raise

    def _device(self, name: str) -> str:
        gpus = ray.cluster_resources().get("GPU", 0)
        if name == "auto":
            return "cuda" if gpus else "cpu"
        if name.startswith("cuda:"):
            raise ExecutorError(f"--device {name} names a GPU of this machine; with --executor ray use "
                                "--device cuda, and Ray gives each lab its share of a GPU")
        if name == "cuda" and not gpus:
            raise ExecutorError("--device cuda: the Ray cluster has no GPU (`ray status` lists its resources); "
                                "use --device cpu, or add GPU nodes")
        return name

    def _ship_mnist(self) -> list:
        """[the MNIST arrays in the object store, once; their digest, which names the nodes'
        copy], or [] for a course without MNIST checks."""
        if not self.course.trains_on_mnist():
            return []
        path = mnist.ensure(self.course.mnist_cache)
        arrays = {k: v.numpy() for k, v in mnist.load(self.course.mnist_cache).items()}
        return [ray.put(arrays), hashlib.sha256(path.read_bytes()).hexdigest()]

    def _needs(self) -> dict[str, float]:
        """The most any lab reserves of each resource, in Ray's names."""
        labs = [lab.resources for lab in self.course.labs.values()]
        needs = {"CPU": max(r.cpus for r in labs), "memory": max(r.memory_mb for r in labs) * MIB}
        if self.device == "cuda":
            needs["GPU"] = max(r.gpus for r in labs)
        return needs

    def _nodes(self) -> list[dict]:
        """The live nodes that can grade every lab: each has what the largest lab reserves,
        plus the actor's own memory."""
        needs = dict(self._needs())
        needs["memory"] += node.NODE_MEMORY_MB * MIB
        return [n for n in ray.nodes() if n["Alive"] and all(n["Resources"].get(k, 0) >= v for k, v in needs.items())]

    def _start_actors(self, wait: bool) -> None:
        """A NodeGrader on every node that can grade and has none; with `wait`, wait until they
        are ready and refuse the class when one has another kit."""
        self._refreshed = time.monotonic()
        started = {}
        for n in self._nodes():
            nid = n["NodeID"]
            if nid in self._actors:
                continue
            started[nid] = self._actors[nid] = _NodeGrader.options(
                name=task.actor_name(nid), num_cpus=0, memory=node.NODE_MEMORY_MB * MIB,
                max_restarts=RETRIES, max_task_retries=RETRIES, max_concurrency=MAX_CONCURRENCY,
                scheduling_strategy=NodeAffinitySchedulingStrategy(nid, soft=False),
            ).remote(self._course, self.course.path.name, self._expected)
        if not wait:
            return
        if not started:
            raise ExecutorError(f"no node of the Ray cluster can grade a lab on {self.device}: each needs "
                                f"{_describe(self._needs())} for a lab (course.toml [labs.<lab>.resources]) and "
                                f"{node.NODE_MEMORY_MB} MiB for its grading servers; `ray status` lists what "
                                "the nodes have")
        try:
            infos = ray.get([a.info.remote(self._mnist) for a in started.values()], timeout=START_S)
        except GetTimeoutError:
            raise ExecutorError(f"the cluster's nodes did not start their grading servers in {START_S:.0f} s; "
                                "check `ray status` and the nodes' logs") from None
        except RayActorError as e:
            raise ExecutorError(f"a node could not start its grading servers: {_last_line(e)}") from None
        refused = [why for why in (node.refusal(self._expected, info) for info in infos) if why]
        if refused:
            raise ExecutorError("\n".join(refused))

    def _capacity(self) -> int:
        """Labs the grading nodes hold at once, by their CPUs (and GPUs on CUDA)."""
        needs = self._needs()
        total = 0
        for n in self._nodes():
            total += min(math.floor(n["Resources"][k] / needs[k] + 1e-9) for k in needs if k != "memory")
        return max(1, total)

    def submit(self, course: config.Course, lab: str, folder: Path, hide=(), **options) -> Future:
        """Grade `folder` as lab `lab` of this executor's course on the cluster; the future's
        result is its LabRun. `options` go to runner.run_lab (only, public_only)."""
        with self._lock:
            if time.monotonic() - self._refreshed > REFRESH_S:
                self._start_actors(wait=False)
        resources = course.lab(lab).resources
        reserve = {"num_cpus": resources.cpus, "memory": resources.memory_mb * MIB}
        share = 1.0
        if self.device == "cuda":
            reserve["num_gpus"] = resources.gpus
            share = gpu_share(1 / resources.gpus)
        files = ray.put(sandbox.read_tree(folder))
        ref = _grade_lab.options(**reserve, max_retries=RETRIES, retry_exceptions=[RayActorError, task.NodeNotReady]
                                 ).remote(lab, [files], self._mnist, self.device, share, [str(p) for p in hide],
                                          options)
        result: Future = Future()
        ref.future().add_done_callback(lambda done: _settle(result, lab, done))
        return result

    def close(self) -> None:
        for actor in self._actors.values():
            ray.kill(actor)
        self._actors.clear()
        ray.shutdown()

    def __enter__(self) -> "RayExecutor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _settle(result: Future, lab: str, done: Future) -> None:
    """The LabRun of a finished task, or why the cluster could not grade the lab."""
    try:
        data = done.result()
    except Exception as e:  # noqa: BLE001 - every failure of the cluster, said once for the instructor
        result.set_exception(ExecutorError(
            f"{lab} could not be graded on the cluster, {RETRIES} retries included: {_last_line(e)}. "
            "The grades written so far are kept: run the same command again to resume"))
        return
    checks = {c: CheckOutcome(**outcome) for c, outcome in data.pop("checks").items()}
    result.set_result(LabRun(**data, checks=checks))


def _last_line(error: BaseException) -> str:
    """The message of a (remote) exception without Ray's traceback around it."""
    lines = [line for line in str(error).splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(error).__name__


def _describe(needs: dict[str, float]) -> str:
    return ", ".join(f"{v / MIB:.0f} MiB of memory" if k == "memory" else f"{v:g} {k}" for k, v in needs.items())
