"""What runs on each node of a Ray cluster: `NodeGrader`, one long-lived actor per node.

It builds the node's copy of the course (course.toml, the course's own checks and probes,
the solutions' API) from the files the driver shipped, writes MNIST from the object store
into a node-local cache, and starts the kit's judge server and zygote once (torch, the
checks and MNIST loaded). Each `run_lab` call then grades one lab folder, shipped as bytes,
with `runner.run_lab`, exactly as the local executor does: the same judge sessions,
confined workers, time limits and statuses. Many labs run at once in its threads; how
many is Ray's decision, from the resources each lab's task reserves (task.py).

The node's cache (`node_cache()`) is keyed by content, so actors of the same node (a
restart, another class) share it; it lives in the temporary folder, which the confined
workers never see (their /tmp is their own).
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import platform
import shutil
import socket
import tempfile
import threading
from pathlib import Path, PurePosixPath

import ray
import torch

from autograder.course import config, mnist
from autograder.engine import grading, runner

# What the actor, its judge server and its zygote hold on a node, reserved from the node's
# memory when the actor is placed (measured with benchmarks/lab_cost.py: docs/scale.md).
NODE_MEMORY_MB = 1024
# Environment variables the fork servers must not inherit: a confined worker is forked from
# the zygote, and a worker without a network namespace (the fallback) that found the
# cluster's token in its memory could submit work to the cluster.
SECRETS = ("RAY_AUTH_TOKEN",)


def node_cache() -> Path:
    """This node's cache folder, readable by this user only."""
    path = Path(tempfile.gettempdir()) / f"autograder-ray-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def digest(files: dict[str, bytes]) -> str:
    """SHA-256 of a folder shipped as {relative path: bytes}."""
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(rel.encode() + b"\0" + files[rel] + b"\0")
    return h.hexdigest()


def write_files(folder: Path, files: dict[str, bytes]) -> None:
    """Write {relative path: bytes} under `folder`. Raises ValueError for a path that is
    absolute or climbs out of it (the driver sends only intake's and the course's files)."""
    for rel, data in files.items():
        parts = PurePosixPath(rel).parts
        if not parts or PurePosixPath(rel).is_absolute() or ".." in parts:
            raise ValueError(f"refusing to write {rel!r}: expected a path inside the folder")
        target = folder.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _materialise(name: str, write) -> Path:
    """node_cache()/name, made by `write(tmp)` once: in a temporary folder renamed into
    place, so that a reader never sees it half written and two writers do not clash."""
    final = node_cache() / name
    if not final.is_dir():
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=node_cache()))
        write(tmp)
        try:
            tmp.rename(final)
        except OSError:  # another actor of this node got there first
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def course_files(course: config.Course) -> dict[str, bytes]:
    """What a node needs of the course, as {path relative to the course root: bytes}:
    course.toml (under its own name), the course's own checks and probes, and each lab's
    solution module (the lab's API is read from it; the workers never see it)."""
    files = {course.path.name: course.path.read_bytes()}
    for kind in ("checks", "probes"):
        for folder in course.lab_dirs(kind)[1:]:
            for path in sorted(folder.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    files[f"{kind}/{path.relative_to(folder).as_posix()}"] = path.read_bytes()
    for lab in course.labs.values():
        solution = course.root / "solutions" / lab.id / f"{lab.module}.py"
        if solution.is_file():
            files[f"solutions/{lab.id}/{lab.module}.py"] = solution.read_bytes()
    return files


class NodeGrader:
    """The grading servers of one node. `course` is course_files() and `course_toml` the
    name of its course.toml; `expected` the driver's versions(): a node whose kit or torch
    differs grades nothing. Every call carries `mnist`, [ObjectRef of the MNIST arrays
    (numpy, as mnist.load gives them), their digest] or [] for a course without MNIST: the
    first call (and the first after a restart) writes them to the node's cache if needed
    and starts the servers, so that nothing depends on arguments kept from the actor's
    creation."""

    def __init__(self, course: dict[str, bytes], course_toml: str, expected: dict):
        self._root = _materialise(f"course-{digest(course)[:16]}", lambda tmp: write_files(tmp, course))
        self.course = config.load_course(self._root / course_toml)
        self.kit = grading.kit_fingerprint(self.course)
        self.expected = expected
        self._warm = threading.Lock()
        self._ready = False

    def _start(self, mnist_data: list) -> None:
        """MNIST in the node's cache, then the judge server and the zygote, once."""
        with self._warm:
            if self._ready:
                return
            cache = node_cache() / f"mnist-{mnist_data[1][:16] if mnist_data else 'none'}"
            if mnist_data:
                cache = _materialise(cache.name, lambda tmp: mnist.save_cache(
                    {k: torch.from_numpy(v.copy()) for k, v in ray.get(mnist_data[0]).items()}, tmp))
            self.course = dataclasses.replace(self.course, mnist_cache=cache)
            saved = {k: os.environ.pop(k) for k in SECRETS if k in os.environ}
            try:
                runner.servers_for(self.course)  # every lab's sessions and workers fork from them
            finally:
                os.environ.update(saved)
            self._ready = True

    def info(self, mnist_data: list) -> dict:
        """Start the servers; then what the driver checks before grading here: this node's
        kit and versions."""
        self._start(mnist_data)
        return {"node": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(),
                **versions(self.kit)}

    def run_lab(self, lab: str, files: dict[str, bytes], mnist_data: list, device: str, gpu_share: float,
                gpu: str | None, hide: list[str], options: dict) -> dict:
        """Grade `files` (the lab's clean folder) as lab `lab` on `device` and return the
        LabRun as plain data. `gpu` is the GPU Ray gave the lab's task (its id on this
        node), `hide` the driver's folders to hide besides the node's own copies, `options`
        more of runner.run_lab's keywords (only, public_only). Safe to repeat: a retried
        call grades the same bytes again."""
        refused = refusal(self.expected, self.info(mnist_data))
        if refused:
            raise RuntimeError(refused)
        with tempfile.TemporaryDirectory(prefix=f"lab-{lab}-") as tmp:
            folder = Path(tmp) / lab
            folder.mkdir()
            write_files(folder, files)
            hidden = [*map(Path, hide), self._root, self.course.mnist_cache]
            run = runner.run_lab(self.course, lab, folder, device=device, gpu_share=gpu_share,
                                 gpu_index=_gpu_index(gpu), hide=hidden, **options)
        return dataclasses.asdict(run)


def _gpu_index(gpu: str | None) -> int | None:
    """Ray's GPU id as sandbox.lock_down takes it: the position among the GPUs this process
    sees (CUDA_VISIBLE_DEVICES), or the id itself when it sees them all."""
    if gpu is None:
        return None
    visible = [d for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d]
    return visible.index(gpu) if gpu in visible else int(gpu)


def versions(kit: str) -> dict:
    """What must be the same on the driver and every node for their grades to agree: the
    kit (its fingerprint: the grading code and course.toml) and torch; Python for the
    message."""
    return {"kit": kit, "torch": torch.__version__, "python": platform.python_version()}


def refusal(expected: dict, node: dict) -> str | None:
    """Why a node (its info()) may not grade for a driver with `expected` (versions()), in
    the instructor's terms; None when it may."""
    if node["kit"] == expected["kit"] and node["torch"] == expected["torch"]:
        return None
    return (f"node {node['host']} ({node['node'][:12]}) does not have this machine's grading kit: kit "
            f"fingerprint {node['kit'][:12]} and torch {node['torch']} (python {node['python']}) there, "
            f"{expected['kit'][:12]} and torch {expected['torch']} (python {expected['python']}) here. "
            "Install the same dnn-grading-kit[ray] on every node (docs/scale.md) and run the command again")
