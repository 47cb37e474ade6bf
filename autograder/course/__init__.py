"""The course: course.toml (points, thresholds, budgets, limits), the MNIST data and seeds.

The bottom of the package: everything else reads the course from here.

May import: nothing else of the kit.
"""
