"""Probes: the kit code that runs beside the student's code, in the confined worker.

`probes/<lab>.py` defines `probe_<name>(student, ctx, **args)` functions. Each calls the
student's module on inputs the grader sent and returns plain data (numbers, strings,
plain tensors, lists, tuples, dicts); it never decides anything. The verdicts are in
autograder/checks/, on the grader's side of the boundary, out of the worker's reach.
"""
from __future__ import annotations

import importlib
import pkgutil


def load_all() -> None:
    """Import every probe module (the zygote does, once, before it forks workers)."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
