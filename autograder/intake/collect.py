"""Turn whatever a student handed in into one clean folder per lab, before any grading.

Students submit lab folders, zip archives (of the labs, or of the folder above them),
notebooks, stray copies, symlinks and files of every encoding. `collect` reads a student's
folder without following links, unpacks archives safely, finds each lab's module and
writes `DEST/<lab>/<module>.py` (plus the other .py files beside it), each a regular
UTF-8 file. Everything it skipped or changed becomes a note for the student's feedback;
a lab it cannot find or cannot choose is reported, never guessed.
"""
from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from autograder.course import config
from autograder.course.late import Submitted
from autograder.intake import notebooks

MAX_FILE = 2 << 20  # a lab module larger than 2 MiB is not a lab module
MAX_ARCHIVE_TOTAL = 64 << 20  # unpacked bytes per archive (decompression bombs stop here)
MAX_ARCHIVE_MEMBERS = 2000
MAX_DEPTH = 8


@dataclass
class LabIntake:
    lab: str
    folder: Path | None  # the clean folder to grade, None when the module was not found
    status: str = "ok"  # ok, missing, ambiguous, unreadable
    message: str = ""  # why it is not ok
    notes: list[str] = field(default_factory=list)  # what was skipped or converted
    submitted: Submitted | None = None  # when it was handed in, if the platform says (the late rule)


@dataclass
class Intake:
    labs: dict[str, LabIntake]
    notes: list[str]  # about the submission as a whole (links, archives, odd names)


@dataclass
class _File:
    rel: PurePosixPath  # where it sits in the submission (inside an archive: archive/member)
    data: bytes


def _safe_name(name: str) -> bool:
    return name.isprintable() and "\\" not in name and name not in ("", ".", "..")


def _walk(root: Path, notes: list[str]) -> list[_File]:
    """Regular files under `root`, links never followed, archives unpacked in place."""
    files: list[_File] = []

    def visit(folder: Path, rel: PurePosixPath, depth: int) -> None:
        if depth > MAX_DEPTH:
            notes.append(f"{rel}/: folders nested deeper than {MAX_DEPTH} levels were not read")
            return
        try:
            entries = sorted(folder.iterdir(), key=lambda p: p.name)
        except OSError as e:
            notes.append(f"{rel or '.'}/: could not be read ({e.strerror})")
            return
        for entry in entries:
            name = entry.name
            if not _safe_name(name):
                notes.append(f"{rel / name!s:.80}: a file name with control characters was skipped")
                continue
            info = entry.lstat()
            if stat.S_ISLNK(info.st_mode):
                notes.append(f"{rel / name}: a symbolic link was ignored (submit the file itself)")
            elif stat.S_ISDIR(info.st_mode):
                if name in ("__pycache__", ".ipynb_checkpoints", "__MACOSX", ".git"):
                    continue
                visit(entry, rel / name, depth + 1)
            elif not stat.S_ISREG(info.st_mode):
                notes.append(f"{rel / name}: not a regular file, ignored")
            elif name.lower().endswith(".zip"):
                files.extend(_unzip(entry, rel / name, notes))
            elif info.st_size > MAX_FILE:
                if name.endswith((".py", ".ipynb")):
                    notes.append(f"{rel / name}: {info.st_size >> 20} MiB is too large for a lab file, ignored")
            elif name.endswith((".py", ".ipynb")):
                files.append(_File(rel / name, entry.read_bytes()))

    visit(root, PurePosixPath(), 0)
    return files


def _unzip(path: Path, rel: PurePosixPath, notes: list[str]) -> list[_File]:
    """The .py and .ipynb members of an archive, read with every safety limit applied."""
    out: list[_File] = []
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_ARCHIVE_MEMBERS:
                notes.append(f"{rel}: more than {MAX_ARCHIVE_MEMBERS} files in the archive; not unpacked")
                return []
            total = 0
            for m in members:
                parts = PurePosixPath(m.filename.replace("\\", "/")).parts
                if m.filename.startswith("/") or ".." in parts or any(":" in p for p in parts[:1]):
                    notes.append(f"{rel}: member {m.filename!r} points outside the archive; skipped")
                    continue
                if m.is_dir() or not m.filename.endswith((".py", ".ipynb")):
                    continue
                if any(p in ("__MACOSX", "__pycache__", ".ipynb_checkpoints") for p in parts):
                    continue
                if (m.external_attr >> 16) & 0o170000 == 0o120000:
                    notes.append(f"{rel}: member {m.filename!r} is a symbolic link; skipped")
                    continue
                if m.file_size > MAX_FILE:
                    notes.append(f"{rel}: member {m.filename!r} is too large for a lab file; skipped")
                    continue
                with archive.open(m) as f:  # read at most the declared size + 1: a lying header stops here
                    data = f.read(MAX_FILE + 1)
                total += len(data)
                if len(data) > MAX_FILE or total > MAX_ARCHIVE_TOTAL:
                    notes.append(f"{rel}: unpacks to more than allowed; the rest was not unpacked")
                    break
                out.append(_File(rel / PurePosixPath(*parts), data))
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError) as e:
        notes.append(f"{rel}: not a readable zip archive ({type(e).__name__}: {e}); ignored")
    return out


def _text(data: bytes, name: str, notes: list[str]) -> str:
    """Source as text: UTF-8 (a BOM is fine), else Windows-1252, which any byte decodes in."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        notes.append(f"{name}: not UTF-8; read as Windows-1252 (save your files as UTF-8)")
        return data.decode("cp1252", errors="replace")


def _candidates(files: list[_File], lab: config.Lab) -> list[_File]:
    return [f for f in files if f.rel.name == f"{lab.module}.py"]


def _choose(found: list[_File], lab: config.Lab) -> tuple[_File | None, str]:
    """The one module to grade: the copy in a folder named after the lab, else the only
    copy, else the copies if identical; otherwise none, with the reason."""
    if not found:
        return None, ""
    in_lab = [f for f in found if lab.id in f.rel.parts[:-1]]
    pool = in_lab or found
    if len({f.data for f in pool}) == 1:
        return sorted(pool, key=lambda f: len(f.rel.parts))[0], ""
    where = ", ".join(str(f.rel) for f in pool[:4])
    return None, (f"{len(pool)} different copies of {lab.module}.py were found ({where}); "
                  f"keep exactly one, in the folder {lab.id}/")


def collect(student_dir: Path, course: config.Course, dest: Path, labs: list[str] | None = None) -> Intake:
    """Write a clean folder per lab under `dest` from what is in `student_dir`."""
    general: list[str] = []
    files = _walk(student_dir, general)
    result = {}
    for lab_id in labs or list(course.labs):
        lab = course.lab(lab_id)
        notes: list[str] = []
        chosen, why = _choose(_candidates(files, lab), lab)
        module_text = None
        if why:
            result[lab_id] = LabIntake(lab_id, None, "ambiguous", why, notes)
            continue
        if chosen is not None:
            module_text = _text(chosen.data, str(chosen.rel), notes)
            base = chosen.rel.parent
            if chosen.rel != PurePosixPath(lab_id) / f"{lab.module}.py":
                notes.append(f"graded {chosen.rel} (expected at {lab_id}/{lab.module}.py)")
        else:
            books = [f for f in files if f.rel.suffix == ".ipynb" and lab.id in f.rel.parts[:-1]]
            if not books:
                where = "an empty folder" if (student_dir / lab_id).is_dir() else "nothing"
                result[lab_id] = LabIntake(lab_id, None, "missing",
                                           f"{lab.module}.py was not submitted (found {where} for {lab_id}); "
                                           f"expected {lab_id}/{lab.module}.py", notes)
                continue
            if len(books) > 1:
                result[lab_id] = LabIntake(lab_id, None, "ambiguous",
                                           f"{len(books)} notebooks in {lab_id}/ and no {lab.module}.py; submit one",
                                           notes)
                continue
            try:
                name = str(books[0].rel)
                module_text = notebooks.module_source(notebooks.read_notebook(books[0].data, name), name).source
            except notebooks.NotebookError as e:
                result[lab_id] = LabIntake(lab_id, None, "unreadable", str(e), notes)
                continue
            notes.append(f"graded the code cells of {books[0].rel}")
            base = books[0].rel.parent
        folder = dest / lab_id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{lab.module}.py").write_text(module_text, encoding="utf-8")
        for f in files:  # helper modules beside the lab's module come along
            if f.rel.parent == base and f.rel.suffix == ".py" and f.rel.name != f"{lab.module}.py":
                (folder / f.rel.name).write_text(_text(f.data, str(f.rel), notes), encoding="utf-8")
        result[lab_id] = LabIntake(lab_id, folder, "ok", "", notes)
    return Intake(result, general)
