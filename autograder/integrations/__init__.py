"""Integrations with the platforms courses run on, each at the edge of the kit: it turns the
platform's submissions into students and labs, and the kit's results into the platform's
format: nbgrader/ (its course directory and gradebook), gradescope/ (the autograder
bundle and what it runs), canvas.py (the gradebook import CSV); or grades on the platform's
machines: ray/ (an executor for a Ray cluster).

May import: autograder.course, .intake, .boundary, .engine, .reports, .authoring.
"""
