"""The student stubs are generated from the solutions, are up to date, and leak no answer."""
from __future__ import annotations

import pytest

from autograder.authoring import stubs
from tests.conftest import ROOT


def test_assignments_are_up_to_date(course):
    stale = stubs.stale_stubs(course)
    assert not stale, "assignments/ is out of date; run `autograder stubs`:\n" + "\n".join(stale.values())


def _code_lines(lines):
    """Lines that carry code: not blank, not comments, not the delimiters."""
    return {l.strip() for l in lines if l.strip() and not l.strip().startswith("#")}


@pytest.mark.parametrize("solution", stubs.solution_files(), ids=lambda p: p.parent.name)
def test_no_solution_code_leaks_into_the_stub(solution):
    source = solution.read_text()
    lines = source.splitlines()
    blocks = stubs.solution_blocks(source)
    assert blocks, f"{solution} has no solution block"
    inside = set()
    for first, last in blocks:
        inside |= _code_lines(lines[first + 1 : last])
    outside_idx = set(range(len(lines))) - {i for a, b in blocks for i in range(a, b + 1)}
    outside = _code_lines(lines[i] for i in outside_idx)
    stub = (ROOT / "assignments" / solution.parent.name / solution.name).read_text()
    leaked = (inside - outside) & _code_lines(stub.splitlines())
    assert not leaked, f"solution lines leaked into the stub of {solution.parent.name}: {sorted(leaked)}"
    assert stubs.BEGIN not in stub and stubs.END not in stub
    assert stub.count("raise NotImplementedError") == len(blocks)


def test_stub_keeps_indentation_and_hint():
    source = (
        "def f(x):\n"
        '    """Doc."""\n'
        "    ### BEGIN SOLUTION\n"
        "    # HINT: add one.\n"
        "    return x + 1\n"
        "    ### END SOLUTION\n"
    )
    assert stubs.make_stub(source) == (
        'def f(x):\n    """Doc."""\n    # YOUR CODE HERE\n    raise NotImplementedError(\'add one.\')\n'
    )


@pytest.mark.parametrize("bad", [
    "### BEGIN SOLUTION\nx = 1\n",
    "x = 1\n### END SOLUTION\n",
    "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n",
])
def test_unpaired_delimiters_are_refused(bad):
    with pytest.raises(stubs.StubError):
        stubs.make_stub(bad, "bad.py")
