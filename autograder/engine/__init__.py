"""The engine: grading students, labs and checks.

grading.py is the per-student loop (intake, fingerprints, reports after every lab);
executors.py decides where labs are graded; runner.py runs one lab's checks in a pytest
session forked from judge_server.py, with plugin.py as pytest's plugin; selfcheck.py is the
students' `autograder check`. Nothing here runs student code: the checks ask the confined
workers of autograder.boundary.

May import: autograder.course, .intake, .boundary, .checks, .reports.
"""
