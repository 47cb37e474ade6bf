"""Gradescope: the autograder bundle (bundle.py, with setup.sh and run_autograder in files/)
and what run_autograder runs for each submission (run.py, with metadata.py for the
submission time). results.schema.json is Gradescope's results format as a JSON Schema,
written from its specification (docs/gradescope.md).
"""
