"""Probes: the kit code that runs beside the student's code, in the confined worker.

`probes/<lab>.py` defines `probe_<name>(student, ctx, **args)` functions (and
`probes/experiments.py` those of `autograder experiments`, which a worker serves when its
spec names it). Each calls the
student's module on inputs the grader sent and returns plain data (numbers, strings,
plain tensors, lists, tuples, dicts); it never decides anything. The verdicts are in
autograder/checks/, on the grader's side of the boundary, out of the worker's reach.
"""
