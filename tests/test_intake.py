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
    taken = intake.collect(tmp_path / "s", course, tmp_path / "clean", [LAB])
    assert taken.labs[LAB].status == "missing"
    assert any("too large" in n or "more than allowed" in n for n in taken.notes)


def test_not_a_zip(course, tmp_path):
    write(tmp_path / "s" / "broken.zip", b"PK\3\4 this is not an archive")
    write(tmp_path / "s" / LAB / MODULE, REFERENCE)
    taken = intake.collect(tmp_path / "s", course, tmp_path / "clean", [LAB])
    assert taken.labs[LAB].status == "ok"
    assert any("not a readable zip" in n for n in taken.notes)


def test_huge_file_is_not_read(course, tmp_path):
    with open(write(tmp_path / "s" / LAB / MODULE, b""), "wb") as f:
        f.truncate(intake.MAX_FILE + 1)  # sparse: costs no disk
    taken = intake.collect(tmp_path / "s", course, tmp_path / "clean", [LAB])
    assert taken.labs[LAB].status == "missing"
    assert any("too large" in n for n in taken.notes)


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
    write(tmp_path / "s" / "new" / MODULE, REFERENCE + "\n# changed\n")
    got = take(course, tmp_path / "s", tmp_path)
    assert got.status == "ambiguous" and "2 different copies" in got.message


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
    write(subs / "twocopies" / "b" / MODULE, REFERENCE + "#\n")
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
