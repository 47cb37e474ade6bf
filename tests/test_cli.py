"""The command line end to end on a small class folder."""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, rendered_text

LABS = "lab08_1_perceptron,lab09_2_xavier"


def autograder(*args, cwd=ROOT, env=None):
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=cwd, capture_output=True,
                          text=True, env=env or os.environ.copy(), timeout=600)


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory, mnist_cache):
    tmp = tmp_path_factory.mktemp("class")
    subprocess.run([sys.executable, str(ROOT / "examples" / "make_class.py"), str(tmp / "class")], check=True)
    out = tmp / "out"
    result = autograder("grade", str(tmp / "class"), "--out", str(out), "--labs", LABS, "--no-progress")
    return tmp, out, result


def read_grades(out: Path):
    with open(out / "grades.csv", newline="") as f:
        return {(r["student"], r["lab"]): r for r in csv.DictReader(f)}


def test_grade_writes_every_output(graded_class):
    tmp, out, result = graded_class
    assert result.returncode == 0, result.stderr
    grades = read_grades(out)
    assert len(grades) == 3 * 2, "one row per student and lab"
    assert grades[("reference", "lab08_1_perceptron")]["score"] == grades[("reference", "lab08_1_perceptron")]["max_score"]
    assert grades[("reference", "lab09_2_xavier")]["score"] == grades[("reference", "lab09_2_xavier")]["max_score"]
    assert grades[("untouched_stubs", "lab08_1_perceptron")]["score"] == "0"
    partial = grades[("partial_student", "lab08_1_perceptron")]
    assert 0 < float(partial["score"]) < float(partial["max_score"])
    partial_x = grades[("partial_student", "lab09_2_xavier")]
    assert 0 < float(partial_x["score"]) < float(partial_x["max_score"])
    for student in ("reference", "untouched_stubs", "partial_student"):
        results = json.loads((out / student / "results.json").read_text())
        assert {"score", "tests"} <= results.keys()
        for test in results["tests"]:
            assert {"name", "score", "max_score", "status", "output", "visibility"} <= test.keys()
            assert test["status"] in ("passed", "failed")
        labs = results["extra_data"]["labs"]
        assert all(rec["device"] == "cpu" and rec["torch"] for rec in labs.values())
        assert rendered_text(out / student / "feedback.md").startswith(f"Feedback for {student}\n")


def test_partial_student_gets_the_intended_feedback(graded_class):
    _, out, _ = graded_class
    results = json.loads((out / "partial_student" / "results.json").read_text())
    by_name = {t["name"]: t for t in results["tests"]}
    assert by_name["lab08_1_perceptron/train_perceptron_matches_sgd"]["status"] == "failed"
    assert by_name["lab08_1_perceptron/logic_gate_data_values"]["status"] == "passed"
    assert "not implemented" in by_name["lab08_1_perceptron/predict_and_accuracy"]["output"]


def test_missing_lab_has_status_missing(graded_class, tmp_path):
    tmp, _, _ = graded_class
    out = tmp_path / "out"
    result = autograder("grade", str(tmp / "class"), "--out", str(out), "--labs", "lab08_2_xor_mlp,lab08_1_perceptron",
                        "--no-progress")
    assert result.returncode == 0, result.stderr
    grades = read_grades(out)
    assert grades[("partial_student", "lab08_2_xor_mlp")]["status"] == "missing"
    assert grades[("partial_student", "lab08_2_xor_mlp")]["score"] == "0"


def test_rerun_skips_unchanged_and_regrades_changed(graded_class):
    tmp, out, _ = graded_class
    before = (out / "reference" / "results.json").read_text()
    target = tmp / "class" / "untouched_stubs" / "lab08_1_perceptron" / "perceptron.py"
    shutil.copyfile(ROOT / "solutions" / "lab08_1_perceptron" / "perceptron.py", target)
    result = autograder("grade", str(tmp / "class"), "--out", str(out), "--labs", LABS, "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "1 labs graded, 5 unchanged and kept" in result.stdout
    assert (out / "reference" / "results.json").read_text() == before
    grades = read_grades(out)
    row = grades[("untouched_stubs", "lab08_1_perceptron")]
    assert row["score"] == row["max_score"]
    assert len(grades) == 6, "no row lost or doubled"


def test_one_students_folder_passed_as_the_class_is_refused(tmp_path):
    student = tmp_path / "alice"
    shutil.copytree(ROOT / "solutions" / "lab08_1_perceptron", student / "lab08_1_perceptron")
    result = autograder("grade", str(student), "--out", str(tmp_path / "out"), "--no-progress")
    assert result.returncode == 2
    text = " ".join(result.stderr.split())
    assert "holds folders named like labs (lab08_1_perceptron)" in text and "one folder per student" in text
    assert not (tmp_path / "out" / "grades.csv").exists()


def test_self_check_on_reference_and_stub():
    ok = autograder("check", "lab08_1_perceptron", str(ROOT / "solutions"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "logic_gate_data_shapes" in ok.stdout and "passed" in ok.stdout
    assert "train_perceptron_matches_sgd" not in ok.stdout, "hidden checks stay out of the self-check"
    stub = autograder("check", "lab08_1_perceptron", str(ROOT / "assignments" / "lab08_1_perceptron"))
    assert stub.returncode == 1
    assert "not implemented yet" in stub.stdout


def test_self_check_without_module_says_what_to_do(tmp_path):
    result = autograder("check", "lab08_1_perceptron", str(tmp_path))
    assert result.returncode == 2
    assert "no perceptron.py and no notebook for lab08_1_perceptron" in result.stderr


def test_unknown_lab_is_a_clear_error(tmp_path):
    result = autograder("grade", str(tmp_path), "--out", str(tmp_path / "o"), "--labs", "lab99")
    assert result.returncode == 2 and "unknown lab 'lab99'" in result.stderr


def test_stubs_check_is_clean():
    result = autograder("stubs", "--check")
    assert result.returncode == 0, result.stdout


def test_data_refuses_wrong_files(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    from autograder.course import mnist

    for name in mnist.SHA256:
        (src / name).write_bytes(b"not mnist")
    result = autograder("data", "--from", str(src), "--cache", str(tmp_path / "cache"))
    assert result.returncode == 1
    assert "does not match the published MNIST file" in result.stderr
    assert not (tmp_path / "cache" / mnist.CACHE_FILE).exists()
    missing = autograder("data", "--from", str(tmp_path / "empty"), "--cache", str(tmp_path / "cache"))
    assert missing.returncode == 1 and "neither" in missing.stderr


def test_grade_without_mnist_says_how_to_prepare_it(tmp_path):
    env = dict(os.environ, MNIST_CACHE=str(tmp_path / "empty-cache"))
    env.pop("MNIST_DIR", None)
    (tmp_path / "class" / "someone").mkdir(parents=True)
    result = autograder("grade", str(tmp_path / "class"), "--out", str(tmp_path / "o"), env=env)
    assert result.returncode == 1
    assert "autograder data" in result.stderr and "Traceback" not in result.stderr


def _processes_marked(mark: str) -> list[str]:
    """Processes whose environment carries `mark` (the grader's subprocesses inherit it)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if mark.encode() in (entry / "environ").read_bytes():
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return found


def test_killed_run_resumes_without_losing_or_doubling_rows(graded_class, tmp_path):
    import signal
    import time

    tmp, reference_out, _ = graded_class
    out = tmp_path / "out"
    # One lab at a time: after the first student's results.json the next one is a whole lab's
    # grading away (a second or more), far beyond the 10 ms this test takes to notice and kill.
    cmd = [sys.executable, "-m", "autograder", "grade", str(tmp / "class"), "--out", str(out),
           "--labs", "lab08_1_perceptron", "--workers", "1", "--no-progress"]
    mark = f"AUTOGRADER_TEST_MARK={os.getpid()}-{time.monotonic_ns()}"
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env=dict(os.environ, AUTOGRADER_TEST_MARK=mark.split("=")[1]))
    deadline = time.monotonic() + 300
    while not list(out.glob("*/results.json")) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)  # the grader alone dies mid-class, with no chance to clean up
    proc.wait()
    finished_before = len(list(out.glob("*/results.json")))
    # Its grading subprocess, zygote and workers die with it (each dies with its parent).
    deadline = time.monotonic() + 30
    while _processes_marked(mark) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _processes_marked(mark), "processes of the killed grader outlived it"
    assert 1 <= finished_before < 3, "the kill should land between students"
    result = autograder(*cmd[3:])
    assert result.returncode == 0, result.stderr
    assert f"{finished_before} unchanged and kept" in result.stdout
    grades = read_grades(out)
    assert len(grades) == 3
    expected = {k: v for k, v in read_grades(reference_out).items() if k[1] == "lab08_1_perceptron"}
    assert grades == expected, "same grades as an uninterrupted run"


def test_self_check_finds_a_notebook_as_grading_does(tmp_path):
    from tests.lecture_style import lecture_notebook, write_notebook

    write_notebook(tmp_path / "hw" / "Lab8-1 perceptron.ipynb", lecture_notebook("lab08_1_perceptron", "perceptron"))
    found = autograder("check", "lab08_1_perceptron", str(tmp_path / "hw"))
    assert found.returncode == 0, found.stdout + found.stderr
    text = " ".join(found.stdout.split())  # rich wraps long lines
    assert "checking hw/Lab8-1 perceptron.ipynb" in text and "were not run when grading" in text
    direct = autograder("check", "lab08_1_perceptron", str(tmp_path / "hw" / "Lab8-1 perceptron.ipynb"))
    assert direct.returncode == 0, direct.stdout + direct.stderr
    assert "passed" in direct.stdout
