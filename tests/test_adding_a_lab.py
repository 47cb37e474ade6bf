"""docs/adding-a-lab.md, proven: a toy lab (examples/lab09_5_selu: a solution, a checks
module, a probes module and one course.toml table) under a course root of its own is
stubbed and graded end to end by the kit's commands, no engine module touched: the
reference earns full marks, the generated stub zero, and a broken SELU loses the check
meant for it."""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys

from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "lab09_5_selu"
LAB = "lab09_5_selu"


def _autograder(*args, cwd):
    proc = subprocess.run([sys.executable, "-m", "autograder", *args], cwd=cwd, capture_output=True, text=True,
                          env=os.environ.copy(), timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_a_new_lab_is_stubbed_and_graded_without_touching_the_engine(tmp_path):
    course = tmp_path / "course"
    shutil.copytree(EXAMPLE, course)
    toml = str(course / "course.toml")
    out = _autograder("--course", toml, "stubs", cwd=tmp_path)
    stub = course / "assignments" / LAB / "selu.py"
    assert f"wrote {stub}" in out and "raise NotImplementedError" in stub.read_text()
    assert "| `selu_values` | 2 |" in (course / "assignments" / LAB / "README.md").read_text()

    solution = (course / "solutions" / LAB / "selu.py").read_text()
    broken = solution.replace("ALPHA * torch.expm1(x)", "ALPHA * x")  # the negative side left linear
    assert broken != solution
    students = tmp_path / "class"
    for name, source in (("reference", solution), ("stub", stub.read_text()), ("broken", broken)):
        (students / name / LAB).mkdir(parents=True)
        (students / name / LAB / "selu.py").write_text(source)
    _autograder("--course", toml, "grade", str(students), "--out", str(tmp_path / "out"), "--no-progress",
                "--device", "cpu", cwd=tmp_path)
    with open(tmp_path / "out" / "grades.csv", newline="") as f:
        grades = {r["student"]: r for r in csv.DictReader(f)}
    assert grades["reference"]["score"] == grades["reference"]["max_score"] == "3"
    assert grades["stub"]["score"] == "0" and grades["stub"]["status"] == "graded"
    results = json.loads((tmp_path / "out" / "broken" / "results.json").read_text())
    by_name = {t["name"]: t for t in results["tests"]}
    assert by_name["lab09_5_selu/selu_values"]["status"] == "failed"
    assert "selu: expected SCALE" in by_name["lab09_5_selu/selu_values"]["output"]
