"""The Ray task that grades one lab: it holds the lab's resources (its CPUs, memory and, on
CUDA, its fraction of a GPU, from course.toml) while its node's `NodeGrader` (node.py)
grades it. Ray places the task where those resources are free, so that GPU work goes to
GPU nodes; the grading itself happens in the node's warm actor, not in this process.

This module imports Ray and nothing of the kit that loads torch: a task's worker process
starts in a fraction of a second.
"""
from __future__ import annotations

import time

import ray

ACTOR_WAIT_S = 600.0  # for a node that joined after the class began: the driver starts its actor


class NodeNotReady(RuntimeError):
    """This node has no grading actor yet; the task is retried (perhaps on another node)."""


def actor_name(node_id: str) -> str:
    """The name of node `node_id`'s NodeGrader, in the class run's Ray namespace."""
    return f"autograder-node-{node_id}"


def node_actor():
    """The NodeGrader of the node this task runs on, waiting for it when the node is new."""
    name = actor_name(ray.get_runtime_context().get_node_id())
    deadline = time.monotonic() + ACTOR_WAIT_S
    while True:
        try:
            return ray.get_actor(name)
        except ValueError:  # not created yet
            if time.monotonic() > deadline:
                raise NodeNotReady(f"no grading actor on this node after {ACTOR_WAIT_S:.0f} s") from None
            time.sleep(1.0)


def grade_lab(lab: str, files: list, mnist: list, device: str, gpu_share: float, hide: list[str],
              options: dict) -> dict:
    """Grade one lab on this node; `files` is a one-element list holding the ObjectRef of the
    lab's folder ({relative path: bytes}), fetched by the actor itself, `mnist` what the
    actor needs to start (node.NodeGrader). Returns the LabRun as plain data
    (node.NodeGrader.run_lab)."""
    gpus = ray.get_gpu_ids()
    gpu = str(gpus[0]) if gpus else None
    return ray.get(node_actor().run_lab.remote(lab, files[0], mnist, device, gpu_share, gpu, hide, options))
