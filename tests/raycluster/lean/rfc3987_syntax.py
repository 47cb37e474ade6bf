"""Hides the real rfc3987_syntax from the test cluster's Ray processes (tests/raycluster).

jsonschema, which every Ray process imports, loads rfc3987_syntax when it is installed (the
nbgrader extra brings it), and that compiles a grammar: about 3 s per process. jsonschema
does without it (its "iri" format is then not checked, which Ray never asks for).
"""
raise ImportError("rfc3987_syntax is left out of the test cluster's Ray processes (tests/raycluster/lean)")
