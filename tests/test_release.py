"""The student bundle holds the stubs, READMEs and public checks, and nothing else."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib

import pytest

from autograder import config, stubs
from autograder.release import build_bundle
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, course):
    return build_bundle(course, tmp_path_factory.mktemp("bundle") / "students")


def test_bundle_holds_stubs_and_readmes(bundle, course):
    for lab in course.labs.values():
        stub = (bundle / lab.id / f"{lab.module}.py").read_text()
        assert stub == (ROOT / "assignments" / lab.id / f"{lab.module}.py").read_text()
        assert (bundle / lab.id / "README.md").is_file()
    assert (bundle / "README.md").is_file() and (bundle / "pyproject.toml").is_file()


def test_no_solution_code_anywhere(bundle):
    solution_lines = set()
    for path in stubs.solution_files():
        source = path.read_text().splitlines()
        for first, last in stubs.solution_blocks(path.read_text()):
            solution_lines |= {l.strip() for l in source[first + 1 : last]
                               if l.strip() and not l.strip().startswith("#") and len(l.strip()) > 25}
    assert not (bundle / "solutions").exists()
    for path in bundle.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert stubs.BEGIN not in text, f"{path} holds a solution delimiter"
            leaked = [l for l in solution_lines if l in text]
            assert not leaked, f"{path.relative_to(bundle)} leaks solution lines {leaked[:3]}"


def test_hidden_checks_and_their_settings_stay_home(bundle, course):
    released = tomllib.loads((bundle / "course.toml").read_text())
    for lab in course.labs.values():
        tree = ast.parse((bundle / "autograder" / "checks" / f"{lab.id}.py").read_text())
        names = {n.name.removeprefix("test_") for n in tree.body if isinstance(n, ast.FunctionDef)}
        checks = released["labs"][lab.id].get("checks", {})
        for check in lab.checks:
            if check.public:
                assert check.id in names and check.id in checks
            else:
                assert check.id not in names, f"hidden check {check.id} shipped in the bundle"
                assert check.id not in checks, f"hidden check {check.id} listed in the bundle's course.toml"
    shipped = {p.name for p in (bundle / "autograder").glob("*.py")}
    assert not shipped & {"grading.py", "release.py", "stubs.py", "calibrate.py", "results.py"}


def test_self_check_runs_inside_the_bundle(bundle, mnist_cache):
    env = dict(os.environ, PYTHONPATH=str(bundle))
    env.pop("COURSE_TOML", None)
    result = subprocess.run([sys.executable, "-m", "autograder", "check", "lab08_1_perceptron"], cwd=bundle,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "not implemented yet" in result.stdout
    assert str(bundle) in result.stdout.replace("\n", ""), "the bundle's own files are checked"
    help_text = subprocess.run([sys.executable, "-m", "autograder", "--help"], cwd=bundle, env=env,
                               capture_output=True, text=True).stdout
    assert "check" in help_text and "release" not in help_text and "grade" not in help_text
