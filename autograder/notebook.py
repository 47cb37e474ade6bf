"""`from autograder.notebook import check`: the one name the course's notebooks import.

The test cells of the nbgrader notebooks that `autograder nbgrader` writes call
`check(LAB, CHECK)`; the implementation is autograder/integrations/nbgrader/cells.py.
"""
from autograder.integrations.nbgrader.cells import check, grade_notebook

__all__ = ["check", "grade_notebook"]
