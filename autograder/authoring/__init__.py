"""Authoring the course: student stubs from the solutions (stubs.py), the student bundle
(release.py) and the MNIST thresholds measured on the reference (calibrate.py).

May import: autograder.course, .boundary, .probes, .checks.
"""
