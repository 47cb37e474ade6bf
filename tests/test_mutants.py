"""The corpus of broken solutions: each classic bug must lose points on the check meant for it.

A mutant is the reference solution with one text substitution (tests/mutants/<lab>.toml):
`find` must occur exactly once in the solution, and every check named in `fails` must not
pass on the result. Only those checks are run, so the corpus stays fast.
"""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from autograder.engine import runner
from tests.conftest import ROOT, make_submission

MUTANT_DIR = Path(__file__).parent / "mutants"


def load_mutants():
    mutants = []
    for path in sorted(MUTANT_DIR.glob("*.toml")):
        lab = path.stem
        for m in tomllib.loads(path.read_text())["mutant"]:
            mutants.append(pytest.param(lab, m, id=f"{lab}:{m['name']}"))
    return mutants


MUTANTS = load_mutants()


def test_corpus_is_large_enough():
    labs = {p.values[0] for p in MUTANTS}
    assert len(MUTANTS) >= 30, f"the corpus has {len(MUTANTS)} mutants; the kit promises at least 30"
    assert labs == {p.parent.name for p in (ROOT / "solutions").glob("lab*/*.py")}, "every lab needs mutants"


@pytest.mark.parametrize("lab,mutant", MUTANTS)
def test_mutant_loses_points_on_its_check(lab, mutant, course, tmp_path):
    module = course.lab(lab).module
    source = (ROOT / "solutions" / lab / f"{module}.py").read_text()
    assert source.count(mutant["find"]) == 1, (
        f"mutant {mutant['name']}: `find` must occur exactly once in the solution, "
        f"found {source.count(mutant['find'])} times")
    broken = source.replace(mutant["find"], mutant["replace"])
    folder = make_submission(tmp_path, lab, module, broken)
    run = runner.run_lab(course, lab, folder, only=mutant["fails"], device="cpu")
    assert run.status != "error" or mutant.get("error_ok"), (
        f"mutant {mutant['name']} should be a working module with a bug, but grading ended in error: "
        + "; ".join(o.message for o in run.checks.values()))
    for check in mutant["fails"]:
        outcome = run.checks[check]
        assert outcome.status != "passed", (
            f"mutant {mutant['name']} ({mutant['bug']}) passed check {check}, which is meant to catch it")
