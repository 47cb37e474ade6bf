"""Autograder for the 'Deep Learning Basics with PyTorch, Part 2: DNN' labs.

The subpackages follow the data (docs/architecture.md):

    intake/      what students hand in -> one clean folder per lab
    engine/      the per-student loop, the lab runner, the judge server, pytest's plugin
    boundary/    the confined workers and everything that talks to them
    probes/      worker side: calls the student's code, returns plain data
    checks/      grader side: the verdicts
    reports/     results.json, feedback.md, grades.csv

beside them: course/ (course.toml, MNIST, seeds), authoring/ (stubs, the student bundle,
calibration) and integrations/ (nbgrader).
"""
__version__ = "0.1.0"
