"""Experiments: the lecture's six claims, reproduced on the reference solutions or on a
student's own code (`autograder experiments`, docs/experiments.md).

lecture.py holds what the lecture claims and how it ran it, and the two budgets (the
lecture's, and --quick's); plan.py turns them into training runs; running.py takes the
submission in as grading does and runs each training run's probes (probes/experiments.py)
in a confined worker; stats.py and findings.py turn the plain data that comes back into
measurements, statistics and verdicts on this side of the boundary; report.py writes
report.html, report.md and the data files the numbers come from.

May import: autograder.course, .intake, .reports, .boundary, .probes, .checks, .engine (the self-check's
intake: engine/selfcheck.take_in).
"""
