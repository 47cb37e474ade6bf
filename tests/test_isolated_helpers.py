"""The processes that decide grades import nothing from the folder they are started in.

`autograder grade` and `autograder check` run from a folder holding a `pytest.py`, a
`torch.py`, an `autograder/` package, a `conftest.py` and Python's start-up hooks, each of
which writes a canary file when imported: a class folder downloaded from an LMS, or a
student's own folder during the self-check. Both commands run as README documents them: the
console script, and `python -P -m autograder` (Python's safe-path option). No canary may be
written, and the grades must be those of a run from a clean folder.
"""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

LAB = "lab08_1_perceptron"
HOSTILE = ["pytest.py", "torch.py", "autograder/__init__.py", "autograder/__main__.py", "conftest.py",
           "sitecustomize.py", "usercustomize.py", "pytest_timeout.py", "safetensors/__init__.py"]
CONSOLE_SCRIPT = Path(sys.executable).parent / "autograder"


def _plant(folder: Path, canaries: Path) -> None:
    """Modules that leave a canary (named after themselves) when anything imports them."""
    for name in HOSTILE:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        canary = canaries / name.replace("/", "_")
        path.write_text(f"open({str(canary)!r}, 'w').write('imported from the working folder')\n")


def _command(form: str) -> list[str]:
    if form == "console script":
        return [str(CONSOLE_SCRIPT)]
    return [sys.executable, "-P", "-m", "autograder"]


def _run(form: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    # The kit under test (tests run with PYTHONPATH pointing at it); never the working folder.
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(_command(form) + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def folders(tmp_path_factory, mnist_cache):
    tmp = tmp_path_factory.mktemp("isolation")
    canaries = tmp / "canaries"
    canaries.mkdir()
    klass = tmp / "class"
    subprocess.run([sys.executable, str(ROOT / "examples" / "make_class.py"), str(klass)], check=True,
                   cwd=tmp, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    hostile = tmp / "hostile"
    hostile.mkdir()
    _plant(hostile, canaries)
    # A student's own folder: their lab (with a conftest.py and pytest.ini of their own) and the plants.
    student = tmp / "student"
    student.mkdir()
    shutil.copytree(ROOT / "solutions" / LAB, student / LAB)
    (student / LAB / "pytest.ini").write_text("[pytest]\naddopts = -p conftest\n")
    _plant(student, canaries)
    _plant(student / LAB, canaries)
    clean = tmp / "clean"
    clean.mkdir()
    # What a clean folder gives: the grades, and the self-check's table.
    graded = _run("console script", ["grade", str(klass), "--labs", LAB, "--no-progress", "--out", str(tmp / "out-clean")],
                  clean)
    assert graded.returncode == 0, graded.stderr
    checked = _run("console script", ["check", LAB, str(student / LAB)], clean)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return tmp, klass, hostile, student, canaries, _grades(tmp / "out-clean"), _table(checked.stdout)


def _grades(out: Path) -> list[dict]:
    with open(out / "grades.csv", newline="") as f:
        return list(csv.DictReader(f))


def _table(stdout: str) -> list[str]:
    """The self-check's rows: one per public check, with its points and result."""
    return [line for line in stdout.splitlines() if any(w in line for w in ("passed", "failed", "error"))]


@pytest.mark.skipif(not CONSOLE_SCRIPT.is_file(), reason="the console script is installed by `make` (pip install -e .)")
@pytest.mark.parametrize("form", ["console script", "python -P -m autograder"])
def test_grade_and_check_import_nothing_from_the_working_folder(form, folders):
    tmp, klass, hostile, student, canaries, clean_grades, clean_table = folders
    out = tmp / f"out-{form.split()[0]}"
    graded = _run(form, ["grade", str(klass), "--labs", LAB, "--no-progress", "--out", str(out)], hostile)
    checked = _run(form, ["check", LAB], student)  # from the student's own folder, as README says
    assert sorted(p.name for p in canaries.iterdir()) == [], "a trusted process imported from the working folder"
    assert graded.returncode == 0, graded.stderr
    assert _grades(out) == clean_grades
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert _table(checked.stdout) == clean_table != []
