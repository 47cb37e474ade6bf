"""Broken submissions end with clear statuses and never break the run."""
from __future__ import annotations

import re

import pytest

from autograder.course import config
from autograder.engine import runner
from tests.conftest import ROOT, make_submission

LAB = "lab08_1_perceptron"
REFERENCE = (ROOT / "solutions" / LAB / "perceptron.py").read_text()


@pytest.fixture
def fast_course(course, tmp_path):
    """The course with a 5 s limit per check, so that hangs are quick to test."""
    text = (ROOT / "course.toml").read_text()
    text = re.sub(r"check_timeout_s = \d+", "check_timeout_s = 5", text)
    text = re.sub(r"import_timeout_s = \d+", "import_timeout_s = 5", text)
    path = tmp_path / "course.toml"
    path.write_text(text)
    return config.load_course(path)


def grade(course, tmp_path, source):
    return runner.run_lab(course, LAB, make_submission(tmp_path / "sub", LAB, "perceptron", source), device="cpu")


def test_syntax_error(course, tmp_path):
    run = grade(course, tmp_path, REFERENCE + "\ndef broken(:\n")
    assert run.status == "error"
    assert all(o.status == "error" and "syntax error at line" in o.message for o in run.checks.values())


def test_exception_at_import(course, tmp_path):
    run = grade(course, tmp_path, "import torch\nraise RuntimeError('boom')\n" + REFERENCE)
    assert run.status == "error"
    assert all("RuntimeError: boom" in o.message and "line 2" in o.message for o in run.checks.values())


def test_sys_exit_at_import(course, tmp_path):
    run = grade(course, tmp_path, "import sys\nsys.exit(0)\n" + REFERENCE)
    assert run.status == "error"
    assert all("sys.exit(0)" in o.message for o in run.checks.values())


def test_endless_loop_at_import(fast_course, tmp_path):
    run = grade(fast_course, tmp_path, "while True:\n    pass\n" + REFERENCE)
    assert run.status == "error"
    assert all("did not finish in time" in o.message for o in run.checks.values())


def test_missing_name_costs_only_its_checks(course, tmp_path):
    source = REFERENCE.replace("def predict(", "def predict_renamed(")
    run = grade(course, tmp_path, source)
    assert run.status == "graded"
    assert run.checks["predict_and_accuracy"].status == "failed"
    assert "predict" in run.checks["predict_and_accuracy"].message
    assert run.checks["logic_gate_data_shapes"].status == "passed"


def test_wrong_return_type(course, tmp_path):
    source = REFERENCE.replace("    return X, Y\n", "    return X.tolist(), Y.tolist()\n")
    run = grade(course, tmp_path, source)
    msg = run.checks["logic_gate_data_shapes"].message
    assert run.checks["logic_gate_data_shapes"].status == "failed"
    assert "expected a torch.Tensor, found list" in msg


def test_nan_output(course, tmp_path):
    source = REFERENCE.replace("return self.sigmoid(self.linear(x))", "return self.sigmoid(self.linear(x)) * float('nan')")
    run = grade(course, tmp_path, source)
    assert run.checks["perceptron_structure"].status == "failed"
    assert run.checks["and_or_learned"].status == "failed"


def test_endless_loop_in_a_function_costs_that_check(fast_course, tmp_path):
    source = REFERENCE.replace('    """Return the (N, 1) float tensor', '    while True:\n        pass\n    """Return the (N, 1) float tensor')
    run = grade(fast_course, tmp_path, source)
    assert run.status == "timeout"
    assert run.checks["predict_and_accuracy"].status == "timeout"
    assert run.checks["logic_gate_data_values"].status == "passed"


def test_process_killed_in_a_check_costs_only_that_check(course, tmp_path):
    source = REFERENCE.replace("def accuracy(model, X, Y):\n", "def accuracy(model, X, Y):\n    import os; os._exit(3)\n")
    run = grade(course, tmp_path, source)
    assert run.status == "error"
    assert run.checks["predict_and_accuracy"].status == "error"
    assert "exit code 3" in run.checks["predict_and_accuracy"].message
    others = [o for c, o in run.checks.items() if c != "predict_and_accuracy"]
    assert all(o.status == "passed" for o in others)


def test_exit_inside_a_check_is_a_failure(course, tmp_path):
    source = REFERENCE.replace("def accuracy(model, X, Y):\n", "def accuracy(model, X, Y):\n    raise SystemExit(0)\n")
    run = grade(course, tmp_path, source)
    assert run.checks["predict_and_accuracy"].status == "failed"
    assert "sys.exit(0)" in run.checks["predict_and_accuracy"].message


def test_student_exception_names_the_line(course, tmp_path):
    source = REFERENCE.replace("def accuracy(model, X, Y):\n", "def accuracy(model, X, Y):\n    return {}['x']\n")
    run = grade(course, tmp_path, source)
    msg = run.checks["predict_and_accuracy"].message
    assert "KeyError" in msg and "perceptron.py, line" in msg and "in accuracy" in msg


def test_a_skip_raised_by_student_code_earns_nothing(course, tmp_path):
    source = REFERENCE.replace("def accuracy(model, X, Y):\n",
                               "def accuracy(model, X, Y):\n    import pytest; pytest.skip('later')\n")
    run = grade(course, tmp_path, source)
    assert run.checks["predict_and_accuracy"].status == "failed"
    assert "a skipped check earns nothing" in run.checks["predict_and_accuracy"].message


def test_segfault_in_a_check_costs_only_that_check(course, tmp_path):
    source = REFERENCE.replace("def accuracy(model, X, Y):\n",
                               "def accuracy(model, X, Y):\n    import ctypes; ctypes.string_at(0)\n")
    run = grade(course, tmp_path, source)
    assert run.checks["predict_and_accuracy"].status == "error"
    assert "SIGSEGV" in run.checks["predict_and_accuracy"].message
    assert run.checks["and_or_learned"].status == "passed"


def test_import_of_a_package_that_is_not_installed_names_it(course, tmp_path):
    run = grade(course, tmp_path, "import seaborn as sns\n" + REFERENCE)
    assert run.status == "error"
    for outcome in run.checks.values():
        assert "perceptron.py imports `seaborn`, which is not installed where your code is graded" in outcome.message
        assert "torch, torchvision, numpy, matplotlib, tqdm" in outcome.message


def test_matplotlib_and_tqdm_work_and_write_nothing_outside(course, tmp_path):
    source = ("import matplotlib\nimport matplotlib.pyplot as plt\nfrom tqdm import tqdm\n" + REFERENCE
              + "\n\ndef _plot():\n    plt.plot([1, 2])\n    plt.savefig('curve.png')\n    plt.show()\n"
              + "    return matplotlib.get_backend(), matplotlib.get_configdir()\n")
    source = source.replace("def accuracy(model, X, Y):\n", "def accuracy(model, X, Y):\n"
                            "    backend, where = _plot()\n"
                            "    assert backend.lower() == 'agg' and where.startswith('/tmp'), (backend, where)\n"
                            "    for _ in tqdm(range(3)):\n        pass\n")
    run = grade(course, tmp_path, source)
    assert run.checks["predict_and_accuracy"].status == "passed", run.checks["predict_and_accuracy"].message
