"""Grading the same submissions twice on the same device gives the same results.json,
apart from the timings: with one worker, and with several labs at once (--workers auto)."""
from __future__ import annotations

import json
import shutil

from autograder.engine import executors, grading
from tests.conftest import ROOT

LABS = ["lab08_2_xor_mlp", "lab09_3_dropout"]  # random initialisations, dropout masks, MNIST


def _without_timings(results: dict) -> dict:
    for record in results["extra_data"]["labs"].values():
        record.pop("seconds")
    return results


def test_regrading_with_any_number_of_workers_gives_identical_results(course, tmp_path):
    subs = tmp_path / "class"
    for lab in LABS:
        shutil.copytree(ROOT / "solutions" / lab, subs / "reference" / lab)
        shutil.copytree(ROOT / "assignments" / lab, subs / "stub" / lab)
    # A student with a dropout bug, so that messages with measured values are compared too.
    broken = (ROOT / "solutions" / "lab09_3_dropout" / "dropout.py").read_text().replace("return x * mask / (1.0 - self.p)", "return x * mask")
    assert broken != (ROOT / "solutions" / "lab09_3_dropout" / "dropout.py").read_text()
    (subs / "buggy" / "lab09_3_dropout").mkdir(parents=True)
    (subs / "buggy" / "lab09_3_dropout" / "dropout.py").write_text(broken)
    runs = []
    # Every lab of every student at once: labs of one student are graded side by side too.
    for name, workers in (("first", 1), ("second", max(2, executors.auto_workers()))):
        grading.grade_class(course, subs, tmp_path / name, labs=LABS, device="cpu", workers=workers, progress=False)
        runs.append({s: _without_timings(json.loads((tmp_path / name / s / "results.json").read_text()))
                     for s in ("reference", "stub", "buggy")})
    assert runs[0] == runs[1]
    assert (tmp_path / "first" / "grades.csv").read_text() == (tmp_path / "second" / "grades.csv").read_text()
    assert runs[0]["buggy"]["score"] < runs[0]["reference"]["score"]
