"""nbgrader: the course directory and notebooks (course_dir.py), grading collected
submissions into nbgrader's gradebook (gradebook.py), and the notebooks' test cells
(cells.py, imported by notebooks as autograder.notebook).

May import: as autograder.integrations.
"""
