"""Intake: what students hand in (folders, archives, notebooks, odd encodings) becomes one
clean folder per lab, with notes on everything skipped or converted.

collect.py finds each lab's file in a submission; graded.py is the one rule for what of a
.py file or a notebook is graded; notebooks.py is the one notebook reader; encoding.py
reads source bytes as text. Runs on the grader's side and only reads bytes: no student
code runs here.

May import: autograder.course.
"""
