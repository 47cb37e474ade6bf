"""The student bundle holds the stubs, READMEs and public checks, and nothing else."""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib

import pytest

from autograder.authoring import stubs
from autograder.authoring.release import build_bundle, check_ids
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


def _code(lines):
    return [" ".join(l.split()) for l in lines if l.strip() and not l.strip().startswith("#")]


def test_no_solution_code_anywhere(bundle):
    # A leak is a run of three solution lines in a row: single generic lines
    # (`for images, labels in loader:`) also appear in the grader's own public helpers.
    runs = set()
    for path in stubs.solution_files():
        text = path.read_text()
        lines = text.splitlines()
        for first, last in stubs.solution_blocks(text):
            block = _code(lines[first + 1 : last])
            runs |= {tuple(block[i : i + 3]) for i in range(len(block) - 2)}
    assert not (bundle / "solutions").exists()
    for path in bundle.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert stubs.BEGIN not in text, f"{path} holds a solution delimiter"
            code = _code(text.splitlines())
            leaked = [run for run in (tuple(code[i : i + 3]) for i in range(len(code) - 2)) if run in runs]
            assert not leaked, f"{path.relative_to(bundle)} leaks solution lines {leaked[:2]}"


def test_reference_loops_of_hidden_checks_stay_home(bundle):
    shipped = (bundle / "autograder" / "checks" / "common.py").read_text()
    assert "def reference_sgd_bce" not in shipped, "only hidden checks use it"
    assert "def mnist_accuracy" in shipped, "the public MNIST checks need it"
    assert "class MnistRun" in (bundle / "autograder" / "probes" / "common.py").read_text()


def test_probes_of_hidden_checks_stay_home(bundle, course):
    """The worker's side ships only the probes public checks ask for."""
    from autograder.authoring.release import probe_names

    for lab in course.labs.values():
        shipped_checks = (bundle / "autograder" / "checks" / f"{lab.id}.py").read_text()
        shipped = {n.name for n in ast.parse((bundle / "autograder" / "probes" / f"{lab.id}.py").read_text()).body
                   if isinstance(n, ast.FunctionDef) and n.name.startswith("probe_")}
        home = (ROOT / "autograder" / "probes" / f"{lab.id}.py").read_text()
        every = {n.name for n in ast.parse(home).body if isinstance(n, ast.FunctionDef) and n.name.startswith("probe_")}
        needed = probe_names(shipped_checks) & every
        assert needed <= shipped, f"{lab.id}: the bundle lacks probes {needed - shipped}"
        shared = [(bundle / "autograder" / "checks" / f"{name}.py").read_text() for name in ("common", "contract")]
        hidden_only = every - probe_names(shipped_checks).union(*map(probe_names, shared))
        assert not shipped & hidden_only, f"{lab.id}: probes of hidden checks shipped: {shipped & hidden_only}"
    assert "probe_train_perceptron" not in (bundle / "autograder" / "probes" / "lab08_1_perceptron.py").read_text()


def test_hidden_checks_and_their_settings_stay_home(bundle, course):
    released = tomllib.loads((bundle / "course.toml").read_text())
    for lab in course.labs.values():
        names = check_ids(ast.parse((bundle / "autograder" / "checks" / f"{lab.id}.py").read_text()))
        checks = released["labs"][lab.id].get("checks", {})
        for check in lab.checks:
            if check.public:
                assert check.id in names and check.id in checks
            else:
                assert check.id not in names, f"hidden check {check.id} shipped in the bundle"
                assert check.id not in checks, f"hidden check {check.id} listed in the bundle's course.toml"
    shipped = {str(p.relative_to(bundle / "autograder")) for p in (bundle / "autograder").rglob("*.py")}
    instructor_only = {"engine/grading.py", "engine/executors.py", "authoring/release.py", "authoring/stubs.py",
                       "authoring/calibrate.py", "integrations/nbgrader/gradebook.py",
                       "integrations/nbgrader/course_dir.py"}
    assert not shipped & instructor_only


def test_self_check_runs_inside_the_bundle(bundle, course, mnist_cache):
    env = dict(os.environ, PYTHONPATH=str(bundle))
    env.pop("COURSE_TOML", None)
    result = subprocess.run([sys.executable, "-m", "autograder", "check", "lab08_1_perceptron"], cwd=bundle,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "not implemented yet" in result.stdout
    hidden = sum(1 for c in course.lab("lab08_1_perceptron").checks if not c.public)
    assert hidden > 1 and f"{hidden} hidden checks are graded after you submit" in " ".join(result.stdout.split())
    used = subprocess.run([sys.executable, "-c", "import autograder; print(autograder.__file__)"], cwd=bundle,
                          env=env, capture_output=True, text=True).stdout
    assert used.startswith(str(bundle)), f"the bundle's own package is used, not {used}"
    help_text = subprocess.run([sys.executable, "-m", "autograder", "--help"], cwd=bundle, env=env,
                               capture_output=True, text=True).stdout
    assert "{check,experiments,data}" in help_text, "the bundle offers only the students' commands"


def test_experiments_run_inside_the_bundle(bundle, course, mnist_cache, tmp_path):
    """`autograder experiments` on the student's own code works from the bundle alone (the stubs
    say they are not written yet); the reference is not in the bundle and it says so."""
    env = dict(os.environ, PYTHONPATH=str(bundle))
    env.pop("COURSE_TOML", None)
    command = [sys.executable, "-m", "autograder", "experiments", "lab08_1_perceptron", "--quick", "--no-progress",
               "--out", str(tmp_path / "out")]
    result = subprocess.run(command + ["--submission", "."], cwd=bundle, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    report = (tmp_path / "out" / "report.md").read_text()
    assert "not written yet" in report, "the stubs' NotImplementedError, said in the report"
    result = subprocess.run(command, cwd=bundle, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "not part of this bundle" in result.stderr


def test_self_check_page_inside_the_bundle(bundle, course, mnist_cache, tmp_path):
    """`check --html` works from the bundle alone: the reference's lab 8-1 gets its page with
    the loss curves and decision maps of and_or_learned, and the public checks' topics."""
    env = dict(os.environ, PYTHONPATH=str(bundle))
    env.pop("COURSE_TOML", None)
    lab = tmp_path / "lab08_1_perceptron"
    shutil.copytree(ROOT / "solutions" / "lab08_1_perceptron", lab)
    page = tmp_path / "page.html"
    result = subprocess.run([sys.executable, "-m", "autograder", "check", "lab08_1_perceptron", str(lab), "--html",
                             str(page)], cwd=bundle, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    text = page.read_text()
    assert text.count("<img src=\"data:image/png;base64,") == 4, "two loss curves and two decision maps"
    assert 'data-check="train_perceptron_matches_sgd"' not in text, "no hidden check in a self-check page"
    released = tomllib.loads((bundle / "course.toml").read_text())["labs"]["lab08_1_perceptron"]["topics"]
    hidden = {c.id for c in course.lab("lab08_1_perceptron").checks if not c.public}
    assert released and not hidden & set(released), "the topics of public checks only"
