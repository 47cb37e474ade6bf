"""What students really hand in, graded end to end with `autograder grade` (issue 11).

One class folder holds the issue's cases as students, each with its right value, and a set
of lecture-style submissions (tests/lecture_style.py: Korean prints and comments, a
top-level MNIST download, a 15-epoch loop, plots, saved image outputs):

1. dropout_nb: lab09_3_dropout/dropout.ipynb, the answers in one cell and the lecture's
   experiment cells around them: full marks, the left-out cells listed.
2. dropout_images: the same with 6 MB of saved plot in its outputs: full marks.
3. top_named: lab09_3_dropout.ipynb at the top of the folder, no lab folder: full marks.
4. korean: lab09_2_xavier/xavier.py saved as CP949 with Korean comments and a Korean
   string: full marks, read as CP949, the string intact.
5. renamed: he_uniform_ renamed to he_uniform: he_uniform_'s own four checks fail with
   "xavier.py defines no `he_uniform_`; it defines `he_uniform`", and nothing else.
6. detached: predict written as model(X).detach().gt(0.5).float(): the README's "no
   autograd history on the result" holds, so predict_and_accuracy passes.
8. every student misses most labs: each missing lab is one line in feedback.md and one
   output in results.json, its checks still listed at zero.
(7, the nbgrader notebook with an added experiment cell, is in tests/test_nbgrader.py.)
Besides: Lab9-1 and Lab9-4 lecture notebooks under the lecture's names (one in a zip),
a notebook pasted into xor_mlp.py, and a notebook found by its content.
"""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.reports import escape
from tests.conftest import ROOT
from tests.lecture_style import lecture_notebook, notebook, code_cell, reference, write_notebook

KOREAN_ERROR = "텐서는 2차원 이상이어야 합니다"
PASTED = """
# 노트북에서 옮겨 온 실험 코드
import matplotlib.pyplot as plt
X = torch.FloatTensor([[0, 0], [0, 1], [1, 0], [1, 1]])
Y = torch.FloatTensor([[0], [1], [1], [0]])
model = build_xor_mlp(hidden=10, num_layers=4)
losses = train_xor(model, X, Y, steps=10001)
for step in range(0, 10001, 1000):
    print(step, losses[step])
print("정확도:", accuracy(model, X, Y))
plt.plot(losses)
plt.show()
"""


def _korean_xavier() -> bytes:
    source = reference("lab09_2_xavier", "xavier")
    start = source.index("        raise ValueError(")
    end = source.index(")\n", start) + 2
    source = source[:start] + f'        raise ValueError("{KOREAN_ERROR}")\n' + source[end:]
    source = source.replace('import math\n', '# 자비에와 He 초기화를 직접 구현합니다\nimport math\n')
    return source.encode("cp949")


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def build_class(root: Path) -> Path:
    cls = root / "class"
    write_notebook(cls / "dropout_nb" / "lab09_3_dropout" / "dropout.ipynb", lecture_notebook("lab09_3_dropout", "dropout"))
    write_notebook(cls / "dropout_images" / "lab09_3_dropout" / "dropout.ipynb",
                   lecture_notebook("lab09_3_dropout", "dropout", image_bytes=6 << 20))
    write_notebook(cls / "top_named" / "lab09_3_dropout.ipynb", lecture_notebook("lab09_3_dropout", "dropout"))
    (cls / "korean" / "lab09_2_xavier").mkdir(parents=True)
    (cls / "korean" / "lab09_2_xavier" / "xavier.py").write_bytes(_korean_xavier())
    (cls / "renamed" / "lab09_2_xavier").mkdir(parents=True)
    (cls / "renamed" / "lab09_2_xavier" / "xavier.py").write_text(
        reference("lab09_2_xavier", "xavier").replace("he_uniform_", "he_uniform"), encoding="utf-8")
    detached = reference("lab08_1_perceptron", "perceptron").replace(
        "    with torch.no_grad():\n        return (model(X) > 0.5).float()", "    return model(X).detach().gt(0.5).float()")
    assert "detach()" in detached
    (cls / "detached" / "lab08_1_perceptron").mkdir(parents=True)
    (cls / "detached" / "lab08_1_perceptron" / "perceptron.py").write_text(detached, encoding="utf-8")
    # the lecture's own names, one inside a zip of the homework folder
    relu = json.dumps(lecture_notebook("lab09_1_relu", "relu_mlp"), ensure_ascii=False).encode()
    (cls / "relu_zip").mkdir(parents=True)
    (cls / "relu_zip" / "hw.zip").write_bytes(_zip({"hw/Lab9-1 relu.ipynb": relu}))
    write_notebook(cls / "bn_copy" / "lab09_4_batchnorm" / "batchnorm (1).ipynb",
                   lecture_notebook("lab09_4_batchnorm", "batchnorm", image_bytes=200_000))
    (cls / "pasted" / "lab08_2_xor_mlp").mkdir(parents=True)
    (cls / "pasted" / "lab08_2_xor_mlp" / "xor_mlp.py").write_text(
        reference("lab08_2_xor_mlp", "xor_mlp") + PASTED, encoding="utf-8")
    write_notebook(cls / "by_content" / "homework.ipynb", notebook([
        code_cell(reference("lab08_1_perceptron", "perceptron")),
        code_cell("X, Y = logic_gate_data('and')\nmodel = Perceptron()\nprint('손실:', train_perceptron(model, X, Y)[-1])\n")]))
    return cls


@pytest.fixture(scope="module")
def graded(tmp_path_factory, mnist_cache):
    root = tmp_path_factory.mktemp("submissions")
    cls = build_class(root)
    out = root / "out"
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(cls), "--out", str(out), "--workers", "2",
                           "--device", "cpu", "--no-progress"], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(out / "grades.csv", newline="") as f:
        grades = {(r["student"], r["lab"]): r for r in csv.DictReader(f)}
    return out, grades


def _results(out: Path, student: str) -> dict:
    return json.loads((out / student / "results.json").read_text(encoding="utf-8"))


def _checks(out: Path, student: str, lab: str) -> dict:
    return _results(out, student)["extra_data"]["labs"][lab]["checks"]


FULL_MARKS = [
    ("dropout_nb", "lab09_3_dropout"),  # case 1
    ("dropout_images", "lab09_3_dropout"),  # case 2
    ("top_named", "lab09_3_dropout"),  # case 3
    ("korean", "lab09_2_xavier"),  # case 4
    ("detached", "lab08_1_perceptron"),  # case 6
    ("relu_zip", "lab09_1_relu"),
    ("bn_copy", "lab09_4_batchnorm"),
    ("pasted", "lab08_2_xor_mlp"),
    ("by_content", "lab08_1_perceptron"),
]


@pytest.mark.parametrize("student,lab", FULL_MARKS)
def test_lecture_style_submission_gets_full_marks(graded, student, lab):
    out, grades = graded
    row = grades[(student, lab)]
    failed = {c: o["message"] for c, o in _checks(out, student, lab).items() if o["status"] != "passed"}
    assert row["status"] == "graded" and row["score"] == row["max_score"], failed


def test_left_out_cells_are_listed_by_cell(graded):
    out, _ = graded
    feedback = (out / "dropout_nb" / "feedback.md").read_text(encoding="utf-8")
    assert "top-level statement(s) were not run when grading" in feedback
    assert "cell 2: `%matplotlib inline` and 5 more" in feedback and "cell 4: `learning_rate = 0.001`" in feedback


def test_the_graded_file_is_named_when_not_the_expected_one(graded):
    out, _ = graded
    assert "graded lab09_3_dropout.ipynb; expected at lab09_3_dropout/dropout.py" in (
        out / "top_named" / "feedback.md").read_text(encoding="utf-8")
    assert "graded hw.zip/hw/Lab9-1 relu.ipynb" in (out / "relu_zip" / "feedback.md").read_text(encoding="utf-8")
    assert "graded homework.ipynb (its name does not name the lab; it defines the lab's functions)" in (
        out / "by_content" / "feedback.md").read_text(encoding="utf-8")


def test_outputs_do_not_count_against_the_size_limit(graded):
    out, _ = graded
    feedback = (out / "dropout_images" / "feedback.md").read_text(encoding="utf-8")
    assert "mostly cell outputs (outputs are not graded" in feedback and "too large" not in feedback


def test_korean_file_is_read_as_cp949_with_its_strings_intact(graded, course, tmp_path):
    out, _ = graded
    assert "not UTF-8; read as CP949 (Korean Windows)" in (out / "korean" / "feedback.md").read_text(encoding="utf-8")
    from autograder.intake import collect

    got = collect.collect(_korean_folder(tmp_path), course, tmp_path / "clean", ["lab09_2_xavier"]).labs["lab09_2_xavier"]
    text = (got.folder / "xavier.py").read_text(encoding="utf-8")
    assert KOREAN_ERROR in text and "# 자비에와 He 초기화를 직접 구현합니다" in text


def _korean_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "korean"
    (folder / "lab09_2_xavier").mkdir(parents=True)
    (folder / "lab09_2_xavier" / "xavier.py").write_bytes(_korean_xavier())
    return folder


def test_renamed_function_is_named_and_costs_only_its_own_checks(graded):
    out, grades = graded
    checks = _checks(out, "renamed", "lab09_2_xavier")
    failed = {c for c, o in checks.items() if o["status"] != "passed"}
    assert failed == {"he_uniform_scale", "he_uniform_mean", "he_uniform_variance", "he_uniform_distribution"}
    for check in failed:
        assert checks[check]["message"] == ("xavier.py defines no `he_uniform_`; it defines `he_uniform`: "
                                            "keep the names of the stub")
    assert "student_xavier" not in json.dumps(_results(out, "renamed"))


def test_missing_lab_is_one_line_and_one_output(graded, course):
    out, grades = graded
    lab = course.lab("lab08_2_xor_mlp")
    assert grades[("dropout_nb", lab.id)]["status"] == "missing"
    feedback = (out / "dropout_nb" / "feedback.md").read_text(encoding="utf-8")
    section = feedback.split(f"## {lab.title}")[1].split("\n## ")[0]
    assert section.count("not submitted") == 1 and "- **" not in section, section
    results = _results(out, "dropout_nb")
    tests = [t for t in results["tests"] if t["name"].startswith(lab.id + "/")]
    assert [t["name"] for t in tests] == [c.name for c in lab.checks]
    assert all(t["score"] == 0 and t["output"] == "" for t in tests)
    # results.json's output is markdown: the student's text in it escaped (reports/escape.py)
    assert results["output"].count(escape.markdown(f"{lab.id}: missing: not submitted")) == 1
    assert json.dumps(results["tests"]).count("no xor_mlp.py") == 0
