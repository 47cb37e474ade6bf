"""Nothing graded twice: labs that intake turns into the same code (untouched stubs, one
file handed in by several students, in whatever form) are graded once per run, and every
student still gets a full result with notes of their own. Who shares code with whom is in
OUT/shared_files.csv alone, never in a student's own results."""
from __future__ import annotations

import csv
import json
import shutil
from concurrent.futures import Future

from autograder.engine import executors, grading
from tests.conftest import ROOT

LAB = "lab08_1_perceptron"


class CountingExecutor(executors.Workers):
    """The local executor, counting the labs it is asked to grade (each is one worker run)."""

    def __init__(self):
        super().__init__(2, "cpu")
        self.graded: list[str] = []

    def submit(self, course, lab, folder, **kwargs) -> Future:
        self.graded.append((folder / "perceptron.py").read_text())
        return super().submit(course, lab, folder, **kwargs)


def test_identical_labs_are_graded_once_and_reported_for_each_student(course, tmp_path):
    klass = tmp_path / "class"
    reference = ROOT / "solutions" / LAB / "perceptron.py"
    stub = ROOT / "assignments" / LAB / "perceptron.py"
    (klass / "alice" / LAB).mkdir(parents=True)
    shutil.copy(reference, klass / "alice" / LAB)
    (klass / "bob").mkdir()
    shutil.copy(reference, klass / "bob" / "perceptron (1).py")  # the same file, found by its name
    for student in ("carol", "dave"):  # untouched stubs
        (klass / student / LAB).mkdir(parents=True)
        shutil.copy(stub, klass / student / LAB)
    (klass / "erin" / LAB).mkdir(parents=True)  # her own code: graded on its own
    (klass / "erin" / LAB / "perceptron.py").write_text(reference.read_text().replace(
        "return self.sigmoid(self.linear(x))", "return self.linear(x)"))
    out = tmp_path / "out"

    pool = CountingExecutor()
    with pool:
        summary = grading.grade_class(course, klass, out, labs=[LAB], progress=False, executor=pool)
    assert len(pool.graded) == 3, "alice and bob once, carol and dave once, erin once"
    assert (summary.graded, summary.shared, summary.reused) == (5, 2, 0)

    results = {s: json.loads((out / s / "results.json").read_text()) for s in ("alice", "bob", "carol", "dave", "erin")}
    assert results["alice"]["tests"] == results["bob"]["tests"]  # every check, with its points
    assert len(results["bob"]["tests"]) == len(course.lab(LAB).checks)
    assert results["bob"]["score"] == course.lab(LAB).max_points
    assert results["carol"]["tests"] == results["dave"]["tests"] and results["carol"]["score"] == 0
    assert 0 < results["erin"]["score"] < course.lab(LAB).max_points
    notes = {s: results[s]["extra_data"]["labs"][LAB]["notes"] for s in results}
    assert any("perceptron (1).py" in note for note in notes["bob"]) and notes["alice"] == []
    for student, others in (("alice", "bob"), ("bob", "alice"), ("carol", "dave"), ("dave", "carol")):
        own = (out / student / "results.json").read_text() + (out / student / "feedback.md").read_text()
        assert others not in own, f"{student}'s own results name {others}"

    with open(out / "shared_files.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    groups = {}
    for row in rows:
        groups.setdefault(row["group"], set()).add(row["student"])
        assert row["lab"] == LAB and row["students"] == "2"
    assert sorted(map(sorted, groups.values())) == [["alice", "bob"], ["carol", "dave"]]

    before = (out / "shared_files.csv").read_text()
    again = CountingExecutor()
    with again:
        summary = grading.grade_class(course, klass, out, labs=[LAB], progress=False, executor=again)
    assert again.graded == [] and summary.reused == 5, "a rerun keeps every grade"
    assert (out / "shared_files.csv").read_text() == before, "rebuilt from the records alone"
