"""Intake: what students hand in (folders, archives, notebooks, odd encodings) becomes one
clean folder per lab, with notes on everything skipped or converted.

collect.py finds each lab's module in a submission; notebooks.py is the one notebook reader.
Runs on the grader's side and only reads bytes: no student code runs here.

May import: autograder.course.
"""
