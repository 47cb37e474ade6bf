"""Bad submissions: each gets a clear status or note, and touches nothing else."""
from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import pytest

from autograder.course import config
from autograder.engine import grading
from autograder.intake import collect as intake
from tests.conftest import ROOT, rendered_text

LAB = "lab08_1_perceptron"
MODULE = "perceptron.py"
REFERENCE = (ROOT / "solutions" / LAB / MODULE).read_text()


@pytest.fixture(scope="module")
def course():
    return config.load_course()


def take(course, student: Path, tmp_path: Path) -> intake.LabIntake:
    return intake.collect(student, course, tmp_path / "clean", [LAB]).labs[LAB]


def write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(data, bytes) else path.write_text)(data)
    return path


def zip_bytes(members: dict[str, bytes], symlinks: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            if name in symlinks:
                info.external_attr = 0o120777 << 16
            z.writestr(info, data, zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def test_canonical_layout(course, tmp_path):
    write(tmp_path / "s" / LAB / MODULE, REFERENCE)
    got = take(course, tmp_path / "s", tmp_path)
    assert got.status == "ok" and not got.notes
    assert (got.folder / MODULE).read_text() == REFERENCE


def test_a_python_environment_and_the_kit_beside_the_labs_are_not_read(course, tmp_path):
    # The student bundle's README creates .venv beside the lab folders and runs the
    # self-check there, where the kit's own package lies too (checks/ and probes/ hold files
    # named like the labs).
    student = tmp_path / "s"
    write(student / LAB / MODULE, REFERENCE)
    write(student / ".venv" / "pyvenv.cfg", "home = /usr/bin\n")
    deep = student / ".venv" / "lib" / "python3.11" / "site-packages" / "a" / "b" / "c" / "d" / "e" / "f" / "g"
    write(deep / MODULE, "raise SystemExit('read from the environment')\n")
    write(student / "env" / "conda-meta" / "history", "")
    write(student / "env" / MODULE, "x = 1\n")
    taken = intake.collect(student, course, tmp_path / "clean", [LAB])
    got = taken.labs[LAB]
    assert got.status == "ok" and (got.folder / MODULE).read_text() == REFERENCE
    notes = taken.notes + got.notes
    assert any(n.startswith(".venv/: a Python environment") for n in notes), notes
    assert any(n.startswith("env/: a Python environment") for n in notes), notes
    assert not any("nested deeper" in n or "symbolic link" in n for n in notes), notes
    assert intake._is_kit(config.PACKAGE_DIR) and not intake._is_kit(student / LAB)


@pytest.mark.parametrize("encoding,note", [
    ("utf-8-sig", None), ("crlf", None), ("cp1252", "not UTF-8"), ("tabs", None)])
def test_encodings_and_line_ends(course, tmp_path, encoding, note):
    source = REFERENCE.replace('"""Lab 8-1:', '"""Lab 8-1 (café):')
    if encoding == "crlf":
        data = source.replace("\n", "\r\n").encode()
    elif encoding == "tabs":
        data = source.replace("    ", "\t").encode()
    else:
        data = source.encode(encoding)
    write(tmp_path / "s" / LAB / MODULE, data)
    got = take(course, tmp_path / "s", tmp_path)
    assert got.status == "ok"
    assert (note is None) == (not got.notes), got.notes
    text = (got.folder / MODULE).read_text(encoding="utf-8")
    assert "café" in text and not text.startswith("\ufeff")
    compile(text, MODULE, "exec")  # what is graded is valid Python in every case


def test_symlink_pointing_outside_is_ignored(course, tmp_path):
    secret = write(tmp_path / "outside" / "secret.py", "SECRET = 1\n")
    write(tmp_path / "s" / LAB / MODULE, REFERENCE)
    os.symlink(secret, tmp_path / "s" / LAB / "helper.py")
    os.symlink(tmp_path / "outside", tmp_path / "s" / LAB / "more")
    got = take(course, tmp_path / "s", tmp_path)
    assert got.status == "ok"
    assert not (got.folder / "helper.py").exists() and not (got.folder / "more").exists()
    assert any("symbolic link" in n for n in intake.collect(tmp_path / "s", course, tmp_path / "c2", [LAB]).notes)


def test_module_as_a_symlink_is_not_followed(course, tmp_path):
    real = write(tmp_path / "outside" / MODULE, REFERENCE)
    (tmp_path / "s" / LAB).mkdir(parents=True)
    os.symlink(real, tmp_path / "s" / LAB / MODULE)
    got = take(course, tmp_path / "s", tmp_path)
    assert got.status == "missing"


def test_zip_of_the_lab_folder(course, tmp_path):
    write(tmp_path / "s" / "submission.zip", zip_bytes({f"{LAB}/{MODULE}": REFERENCE.encode()}))
    got = take(course, tmp_path / "s", tmp_path)
    assert got.status == "ok" and (got.folder / MODULE).read_text() == REFERENCE


def test_zip_of_the_parent_folder(course, tmp_path):
    members = {f"alice-hw/{LAB}/{MODULE}": REFERENCE.encode(), f"__MACOSX/alice-hw/{LAB}/._{MODULE}": b"\0\1"}
    write(tmp_path / "s" / "alice-hw.zip", zip_bytes(members))
    got = take(course, tmp_path / "s", tmp_path)
    assert got.status == "ok" and (got.folder / MODULE).read_text() == REFERENCE
    assert any("expected at" in n for n in got.notes)


def test_zip_path_traversal_and_symlinks_are_skipped(course, tmp_path):
    members = {f"../../{MODULE}": b"EVIL = 1\n", f"/abs/{MODULE}": b"EVIL = 2\n",
               f"{LAB}/{MODULE}": REFERENCE.encode(), f"{LAB}/link.py": b"/etc/passwd"}
    write(tmp_path / "s" / "sub.zip", zip_bytes(members, symlinks=(f"{LAB}/link.py",)))
    taken = intake.collect(tmp_path / "s", course, tmp_path / "clean", [LAB])
    got = taken.labs[LAB]
    assert got.status == "ok" and (got.folder / MODULE).read_text() == REFERENCE
    assert not (got.folder / "link.py").exists()
    assert sum("outside the archive" in n for n in taken.notes) == 2
    assert not (tmp_path / MODULE).exists() and not Path(f"/abs/{MODULE}").exists()


def test_zip_bomb_stops_at_the_limit(course, tmp_path):
    bomb = b"\0" * (intake.MAX_FILE * 4)  # compresses to a few kB, unpacks far beyond the limit
    write(tmp_path / "s" / "bomb.zip", zip_bytes({f"{LAB}/{MODULE}": bomb}))
    assert (tmp_path / "s" / "bomb.zip").stat().st_size < 100_000
    got = intake.collect(tmp_path / "s", course, tmp_path / "clean", [LAB]).labs[LAB]
    assert got.status == "unreadable" and got.folder is None
    assert "MiB, more than the 2 MiB a lab module may have" in got.message


def test_not_a_zip(course, tmp_path):
    write(tmp_path / "s" / "broken.zip", b"PK\3\4 this is not an archive")
    write(tmp_path / "s" / LAB / MODULE, REFERENCE)
    taken = intake.collect(tmp_path / "s", course, tmp_path / "clean", [LAB])
    assert taken.labs[LAB].status == "ok"
    assert any("not a readable zip" in n for n in taken.notes)


def test_huge_file_is_not_read(course, tmp_path):
    with open(write(tmp_path / "s" / LAB / MODULE, b""), "wb") as f:
        f.truncate(intake.MAX_FILE + 1)  # sparse: costs no disk
    got = intake.collect(tmp_path / "s", course, tmp_path / "clean", [LAB]).labs[LAB]
    assert got.status == "unreadable" and "more than the 2 MiB a lab module may have" in got.message


def test_odd_file_names(course, tmp_path):
    write(tmp_path / "s" / LAB / MODULE, REFERENCE)
    write(tmp_path / "s" / LAB / "notes\nline.py", "x = 1\n")
    write(tmp_path / "s" / LAB / "ünïcode helper.py", "y = 2\n")
    taken = intake.collect(tmp_path / "s", course, tmp_path / "clean", [LAB])
    got = taken.labs[LAB]
    assert got.status == "ok"
    assert (got.folder / "ünïcode helper.py").exists()
    assert any("control characters" in n for n in taken.notes)


def test_empty_folder(course, tmp_path):
    (tmp_path / "s" / LAB).mkdir(parents=True)
    got = take(course, tmp_path / "s", tmp_path)
    assert got.status == "missing" and "empty folder" in got.message


def test_two_different_copies_are_not_guessed(course, tmp_path):
    write(tmp_path / "s" / "old" / MODULE, REFERENCE)
    write(tmp_path / "s" / "new" / MODULE, REFERENCE.replace("steps=1000", "steps=999"))
    got = take(course, tmp_path / "s", tmp_path)
    assert got.status == "ambiguous" and "2 different files named for the lab" in got.message


def test_copies_that_differ_in_comments_only_are_one(course, tmp_path):
    write(tmp_path / "s" / "old" / MODULE, REFERENCE)
    write(tmp_path / "s" / "new" / MODULE, REFERENCE + "\n# changed\n")
    got = take(course, tmp_path / "s", tmp_path)
    assert got.status == "ok" and f"graded new/{MODULE}" in got.notes[0]


def test_copy_in_the_lab_folder_wins(course, tmp_path):
    write(tmp_path / "s" / LAB / MODULE, REFERENCE)
    write(tmp_path / "s" / "backup" / MODULE, "broken(\n")
    got = take(course, tmp_path / "s", tmp_path)
    assert got.status == "ok" and (got.folder / MODULE).read_text() == REFERENCE


def test_identical_copies_are_fine(course, tmp_path):
    write(tmp_path / "s" / "a" / MODULE, REFERENCE)
    write(tmp_path / "s" / "b" / MODULE, REFERENCE)
    assert take(course, tmp_path / "s", tmp_path).status == "ok"


def test_notebook_instead_of_module(course, tmp_path):
    nb = {"cells": [{"cell_type": "markdown", "source": "# Lab"},
                    {"cell_type": "code", "source": ["%matplotlib inline\n", "!pip install torch\n"]},
                    {"cell_type": "code", "source": REFERENCE}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    write(tmp_path / "s" / LAB / "lab.ipynb", json.dumps(nb))
    got = take(course, tmp_path / "s", tmp_path)
    assert got.status == "ok"
    text = (got.folder / MODULE).read_text()
    assert "# %matplotlib inline" in text and "def logic_gate_data" in text
    compile(text, MODULE, "exec")


@pytest.mark.parametrize("content", ["{not json", json.dumps({"cells": "nope"}), "\xff\xfe"])
def test_invalid_notebook(course, tmp_path, content):
    write(tmp_path / "s" / LAB / "lab.ipynb", content)
    got = take(course, tmp_path / "s", tmp_path)
    assert got.status == "unreadable" and "not a valid notebook" in got.message


def test_a_class_of_bad_submissions_grades_the_good_one(course, tmp_path):
    """Every bad form in one class: each gets its status, the good student full marks."""
    subs = tmp_path / "class"
    write(subs / "good" / LAB / MODULE, REFERENCE)
    write(subs / "zipped" / "hw.zip", zip_bytes({f"hw/{LAB}/{MODULE}": REFERENCE.encode()}))
    write(subs / "twocopies" / "a" / MODULE, REFERENCE)
    write(subs / "twocopies" / "b" / MODULE, REFERENCE.replace("steps=1000", "steps=999"))
    (subs / "empty" / LAB).mkdir(parents=True)
    write(subs / "badnotebook" / LAB / "lab.ipynb", "{")
    write(subs / "latin1" / LAB / MODULE, REFERENCE.replace("Lab 8-1", "Lab 8-1 é").encode("cp1252"))
    out = tmp_path / "out"
    grading.grade_class(course, subs, out, labs=[LAB], progress=False)
    rows = {r.split(",")[0]: r.split(",") for r in (out / "grades.csv").read_text().splitlines()[1:]}
    full = f"{course.lab(LAB).max_points:g}"
    assert rows["good"][2] == rows["zipped"][2] == rows["latin1"][2] == full
    assert rows["twocopies"][4] == "error" and rows["twocopies"][2] == "0"
    assert rows["empty"][4] == "missing"
    assert rows["badnotebook"][4] == "error"
    feedback = rendered_text(out / "badnotebook" / "feedback.md")
    assert "not a valid notebook" in feedback
    assert f"graded hw.zip/hw/{LAB}/{MODULE}" in rendered_text(out / "zipped" / "feedback.md")


# --- what is graded of a file: intake/graded.py ------------------------------------------------

from autograder.intake import graded, notebooks  # noqa: E402
from tests.lecture_style import code_cell, lecture_notebook, notebook, write_notebook  # noqa: E402


def _module(cells: list[str], api=("train",)) -> notebooks.Extracted:
    return notebooks.module_source(notebook([code_cell(c) for c in cells]), "lab.ipynb", api=api)


def _namespace(source: str) -> dict:
    namespace: dict = {}
    exec(compile(source, "lab.py", "exec"), namespace)
    return namespace


def test_assignments_the_definitions_read_stay_and_experiments_go():
    got = _module([
        "import torch\ndevice = 'cuda' if torch.cuda.is_available() else 'cpu'\nSCALE = 2\nunused = 3\n",
        "mnist_train = dsets.MNIST(root='MNIST_data/', train=True, download=True)\n",
        "FACTOR = SCALE * 2\ndef train(x):\n    return x * FACTOR, device\n",
        "for epoch in range(15):\n    train(epoch)\nprint('끝')\n"])
    ns = _namespace(got.source)
    assert ns["train"](1) == (4, ns["device"]) and "unused" not in ns and "mnist_train" not in ns
    note = " ".join(got.notes)
    for left in ("4 top-level statement(s) were not run", "cell 1: `unused = 3`",
                 "cell 2: `mnist_train = dsets.MNIST(", "cell 4: `for epoch in range(15):` and 1 more"):
        assert left in note, left
    assert "device =" not in note and "SCALE" not in note


def test_only_what_the_api_reaches_pulls_in_assignments():
    # `fit` is the student's own helper reading the global loader; the lab's API never calls it,
    # so the download it would need stays out (and `fit` itself is still defined).
    got = _module(["loader = DataLoader(dsets.MNIST('x', download=True))\n",
                   "def fit():\n    return len(loader)\n\ndef train(x):\n    return x\n"])
    ns = _namespace(got.source)
    assert "loader" not in ns and callable(ns["fit"]) and ns["train"](3) == 3
    without_api = _module(["loader = [1, 2]\n", "def fit():\n    return len(loader)\n"], api=())
    assert _namespace(without_api.source)["fit"]() == 2  # no API known: every definition counts


def test_api_names_defined_by_assignment_and_changes_to_kept_objects_stay():
    got = _module([
        "ACTIVATIONS = {'relu': 1}\nACTIVATIONS['tanh'] = 2\nACTIVATIONS.update(sigmoid=3)\nOTHER = {}\n",
        "def make_builder(k):\n    return lambda: k\n\ntrain = make_builder(ACTIVATIONS)\n",
        "class Model:\n    pass\n\ndef forward(self):\n    return 7\n\nModel.forward = forward\n",
        "try:\n    import tqdm\nexcept ImportError:\n    tqdm = None\n",
        "if __name__ == '__main__':\n    print('실행')\n"], api=("train", "Model"))
    ns = _namespace(got.source)
    assert ns["train"]() == {"relu": 1, "tanh": 2, "sigmoid": 3} and "OTHER" not in ns
    assert ns["Model"]().forward() == 7 and ns["tqdm"] is not None
    assert "__main__" not in " ".join(got.notes)  # left out silently


def test_a_name_only_left_out_code_sets_is_pointed_out():
    got = _module(["for k in range(3):\n    SIZE = k\n    print(k)\n", "def train():\n    return SIZE\n"])
    assert any("your definitions use `SIZE`, which only code that was not run sets" in n for n in got.notes)


def test_python_file_keeps_its_line_numbers_and_korean_text(course, tmp_path):
    source = REFERENCE + "\n# 실험\nmodel = Perceptron()\nprint('정확도', accuracy(model, *logic_gate_data('and')))\n"
    write(tmp_path / "s" / LAB / MODULE, source)
    got = take(course, tmp_path / "s", tmp_path)
    text = (got.folder / MODULE).read_text(encoding="utf-8")
    assert text.splitlines()[:len(REFERENCE.splitlines())] == REFERENCE.splitlines()
    assert len(text.splitlines()) == len(source.splitlines()) and "# 실험" in text
    lines = len(REFERENCE.splitlines())
    assert "print(" not in text and any(f"line {lines + 3}: `model = Perceptron()`; line {lines + 4}: `print(" in n
                                        for n in got.notes), got.notes


# --- finding a lab's file ----------------------------------------------------------------------


@pytest.mark.parametrize("path", [
    "lab08_1_perceptron.ipynb", "Lab8-1 perceptron.ipynb", "perceptron.ipynb", "perceptron (1).ipynb",
    "work/lab8_1.ipynb", "perceptron-Copy1.ipynb", f"{LAB}/anything.ipynb", f"{LAB} (2)/my work.ipynb",
    "week8/perceptron.py"])
def test_a_lab_is_found_by_its_name_or_folder(course, tmp_path, path):
    nb = lecture_notebook(LAB, "perceptron")
    if path.endswith(".py"):
        write(tmp_path / "s" / path, REFERENCE)
    else:
        write_notebook(tmp_path / "s" / path, nb)
    got = take(course, tmp_path / "s", tmp_path)
    assert got.status == "ok", got.message
    assert "def logic_gate_data" in (got.folder / MODULE).read_text(encoding="utf-8")
    assert got.graded == path


def test_a_lab_is_found_by_content_when_names_do_not_decide(course, tmp_path):
    write_notebook(tmp_path / "s" / "homework.ipynb", lecture_notebook(LAB, "perceptron"))
    write(tmp_path / "s" / "helpers.py", "def util():\n    return 1\n")
    got = take(course, tmp_path / "s", tmp_path)
    assert got.status == "ok" and got.graded == "homework.ipynb"
    # and never guessed between two different ones
    write_notebook(tmp_path / "s" / "other.ipynb", lecture_notebook(LAB, "perceptron", answers=REFERENCE.replace(
        "steps=1000", "steps=999")))
    got = take(course, tmp_path / "s", tmp_path / "again")
    assert got.status == "ambiguous" and "files that define the lab's functions" in got.message


def test_a_notebook_and_the_py_exported_from_it_are_one_candidate(course, tmp_path):
    nb = lecture_notebook(LAB, "perceptron")
    write_notebook(tmp_path / "s" / LAB / "perceptron.ipynb", nb)
    # as `jupyter nbconvert --to script` writes it: IPython lines become get_ipython() calls
    cells = ["".join(c["source"]).replace("%matplotlib inline", "get_ipython().run_line_magic('matplotlib', 'inline')")
             for c in nb["cells"] if c["cell_type"] == "code"]
    exported = "#!/usr/bin/env python\n" + "".join(f"\n# In[{i}]:\n\n{c}\n" for i, c in enumerate(cells, 1))
    write(tmp_path / "s" / LAB / MODULE, exported)
    got = take(course, tmp_path / "s", tmp_path)
    assert got.status == "ok" and got.graded == f"{LAB}/{MODULE}"


def test_notebooks_are_read_up_to_100_mb_with_a_clear_message_beyond(course, tmp_path):
    write_notebook(tmp_path / "s" / LAB / "perceptron.ipynb", lecture_notebook(LAB, "perceptron", image_bytes=30 << 20))
    got = take(course, tmp_path / "s", tmp_path)
    assert got.status == "ok" and any("mostly cell outputs" in n for n in got.notes)
    huge = tmp_path / "h" / LAB / "perceptron.ipynb"
    huge.parent.mkdir(parents=True)
    with open(huge, "wb") as f:
        f.truncate(notebooks.MAX_NOTEBOOK + 1)  # sparse: costs no disk
    got = take(course, tmp_path / "h", tmp_path / "again")
    assert got.status == "unreadable"
    assert "more than the 100 MiB a notebook may have; clear the outputs" in got.message


def test_cp949_korean_is_read_as_such(course, tmp_path):
    source = REFERENCE.replace('"""Lab 8-1:', '"""Lab 8-1 (퍼셉트론):') + '\nGREETING = "안녕"\n'
    write(tmp_path / "s" / LAB / MODULE, source.encode("cp949"))
    got = take(course, tmp_path / "s", tmp_path)
    assert "퍼셉트론" in (got.folder / MODULE).read_text(encoding="utf-8")
    assert any("read as CP949 (Korean Windows)" in n for n in got.notes)
