"""The grading checks: one module per lab, one test function per check in course.toml."""
