"""Turn whatever a student handed in into one clean folder per lab, before any grading.

Students submit lab folders, zip archives (of the labs, or of the folder above them),
notebooks named as they like, stray copies, symlinks and files of every encoding.
`collect` reads a student's folder without following links, unpacks archives safely,
finds each lab's file and writes `DEST/<lab>/<module>.py` (plus the other .py files beside
it), a regular UTF-8 file holding what is graded of it (intake/graded.py: imports,
definitions and the assignments they use; a notebook's outputs are never source).

Finding a lab's file (`find_lab`), in tiers; the first tier that holds a file decides:

1. a file named for the lab inside a folder named for the lab;
2. a file named for the lab anywhere in the submission;
3. a notebook inside a folder named for the lab;
4. by content: the files that no name or folder gives to any lab, each given to the lab
   whose API (the stub's names) it defines the largest part of, at least half of it.

A name (of a file or a folder, copy suffixes such as " (1)", "-Copy1" or " copy" aside)
names a lab when it is the lab's module (`dropout`), its id (`lab09_3_dropout`) or its
number (`Lab9-3 dropout`, `lab9_3`). Within the deciding tier, files whose graded code is
the same are one candidate (a notebook and the .py exported from it); two different
candidates are never guessed between. Everything skipped or changed, and the file graded
when it is not `<lab>/<module>.py`, becomes a note for the student's feedback.
"""
from __future__ import annotations

import ast
import json
import re
import stat
import zipfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath

from autograder.course import config
from autograder.course.late import Submitted
from autograder.intake import encoding, graded, notebooks

MAX_FILE = 2 << 20  # a lab's source (a .py file, a notebook's cells without outputs) beyond 2 MiB is not a lab
MAX_NOTEBOOK = notebooks.MAX_NOTEBOOK  # a notebook, outputs included, is read up to 100 MiB
MAX_ARCHIVE_TOTAL = 256 << 20  # unpacked bytes per archive (decompression bombs stop here)
MAX_ARCHIVE_MEMBERS = 2000
MAX_DEPTH = 8
CONTENT_SHARE = 0.5  # the part of a lab's API a file must define to be found by content


@dataclass
class LabIntake:
    lab: str
    folder: Path | None  # the clean folder to grade, None when the module was not found
    status: str = "ok"  # ok, missing, ambiguous, unreadable
    message: str = ""  # why it is not ok
    notes: list[str] = field(default_factory=list)  # what was skipped or converted
    graded: str = ""  # the file graded, as it sits in the submission
    submitted: Submitted | None = None  # when it was handed in, if the platform says (the late rule)


@dataclass
class Intake:
    labs: dict[str, LabIntake]
    notes: list[str]  # about the submission as a whole (links, archives, odd names)


@dataclass(eq=False)
class _File:
    rel: PurePosixPath  # where it sits in the submission (inside an archive: archive/member)
    data: bytes  # a .py file's bytes; a notebook's JSON without its outputs
    size: int  # bytes as handed in
    problem: str = ""  # why it cannot be graded (too large, not a notebook); data is then empty

    @property
    def is_notebook(self) -> bool:
        return self.rel.suffix == ".ipynb"

    @cached_property
    def text(self) -> str:
        return encoding.decode(self.data, str(self.rel), self.decode_notes) if not self.is_notebook else ""

    @cached_property
    def decode_notes(self) -> list[str]:
        return []

    @cached_property
    def notebook(self) -> dict:
        return json.loads(self.data)

    def module(self, lab: config.Lab) -> notebooks.Extracted:
        """What is graded of this file for `lab`: the module's source and the notes on it."""
        name = str(self.rel)
        if self.is_notebook:
            return notebooks.module_source(self.notebook, name, size=self.size, api=lab.api)
        return python_module(self.text, name, lab.api, list(self.decode_notes))

    @cached_property
    def defined(self) -> set[str]:
        """The names it defines at the top level (for finding a lab by content)."""
        if self.is_notebook:
            sources = [c.source for c in notebooks.cells_of(self.notebook) if c.cell_type == "code"]
        else:
            sources = [self.text]
        names: set[str] = set()
        for source in sources:
            try:
                names |= graded.top_level_names(ast.parse(notebooks.ipython_lines(source)[0]))
            except (SyntaxError, ValueError, RecursionError):
                continue
        return names


def python_module(text: str, name: str, api: tuple[str, ...], notes: list[str] | None = None) -> notebooks.Extracted:
    """What is graded of a .py file (intake/graded.py), its line numbers kept; a file that
    does not parse is graded as it is (the import then reports the syntax error)."""
    notes = list(notes or [])
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return notebooks.Extracted(text, notes)
    selection = graded.select([graded.Chunk("", text, tree)], api)
    notes += graded.left_out_note(selection, name)
    return notebooks.Extracted(selection.texts[0], notes)


def _safe_name(name: str) -> bool:
    return name.isprintable() and "\\" not in name and name not in ("", ".", "..")


def _read(rel: PurePosixPath, data: bytes, size: int) -> _File:
    """A lab file as read: a notebook is parsed and stripped of its outputs here, so that
    only its source is kept and measured."""
    if rel.suffix != ".ipynb":
        if size > MAX_FILE:
            return _File(rel, b"", size, f"{rel} is {size / (1 << 20):.1f} MiB, more than the {MAX_FILE >> 20} MiB "
                                         "a lab module may have")
        return _File(rel, data, size)
    if size > MAX_NOTEBOOK:
        return _File(rel, b"", size, f"{rel} is {size >> 20} MiB, more than the {MAX_NOTEBOOK >> 20} MiB a notebook "
                                     "may have; clear the outputs (Edit > Clear Outputs of All Cells), save and submit "
                                     "again")
    try:
        nb = notebooks.strip_outputs(notebooks.read_notebook(data, str(rel)))
    except notebooks.NotebookError as e:
        return _File(rel, b"", size, str(e))
    if notebooks.source_size(nb) > MAX_FILE:
        return _File(rel, b"", size, f"{rel} holds {notebooks.source_size(nb) / (1 << 20):.1f} MiB of cell sources "
                                     f"(outputs aside), more than the {MAX_FILE >> 20} MiB a lab may have")
    return _File(rel, json.dumps(nb).encode(), size)


# A folder that holds these is a Python environment (venv, virtualenv, conda): packages the
# student installed, such as the .venv the student bundle's README creates beside the labs.
ENVIRONMENT_MARKERS = ("pyvenv.cfg", "conda-meta")


def _is_environment(folder: Path) -> bool:
    """Whether `folder` holds installed packages rather than the student's work."""
    return folder.name == "site-packages" or any((folder / m).exists() for m in ENVIRONMENT_MARKERS)


def _is_kit(folder: Path) -> bool:
    """Whether `folder` is the kit's own package (beside the labs in the student bundle)."""
    try:
        return folder.resolve() == config.PACKAGE_DIR  # resolved already
    except OSError:
        return False


def _walk(root: Path, notes: list[str], inside: str = "") -> list[_File]:
    """The .py and .ipynb files under `root`, links never followed, archives unpacked in
    place; their paths start with `inside` when given (the folder's own name)."""
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
                if name in ("__pycache__", ".ipynb_checkpoints", "__MACOSX", ".git") or _is_kit(entry):
                    continue
                if _is_environment(entry):
                    notes.append(f"{rel / name}/: a Python environment (installed packages), not read")
                    continue
                visit(entry, rel / name, depth + 1)
            elif not stat.S_ISREG(info.st_mode):
                notes.append(f"{rel / name}: not a regular file, ignored")
            elif name.lower().endswith(".zip"):
                files.extend(_unzip(entry, rel / name, notes))
            elif name.endswith((".py", ".ipynb")):
                limit = MAX_NOTEBOOK if name.endswith(".ipynb") else MAX_FILE
                data = entry.read_bytes() if info.st_size <= limit else b""
                files.append(_read(rel / name, data, info.st_size))

    visit(root, PurePosixPath(inside) if inside else PurePosixPath(), 0)
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
                member = rel / PurePosixPath(*parts)
                limit = MAX_NOTEBOOK if m.filename.endswith(".ipynb") else MAX_FILE
                if m.file_size > limit:
                    out.append(_read(member, b"", m.file_size))
                    continue
                with archive.open(m) as f:  # read at most the limit + 1: a lying header stops here
                    data = f.read(limit + 1)
                total += len(data)
                if total > MAX_ARCHIVE_TOTAL:
                    notes.append(f"{rel}: unpacks to more than {MAX_ARCHIVE_TOTAL >> 20} MiB; the rest was not unpacked")
                    break
                out.append(_read(member, data, len(data)))
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError) as e:
        notes.append(f"{rel}: not a readable zip archive ({type(e).__name__}: {e}); ignored")
    return out


# --- which file is a lab's ----------------------------------------------------------------

_COPY = re.compile(r"(\s*\(\d+\)|\s*-\s*copy\d*|[\s_]+copy(\s*\d+)?|-checkpoint)$", re.IGNORECASE)
_LAB_NUMBER = re.compile(r"lab[\s_.-]*0*(\d+)[\s_.-]+0*(\d+)(?!\d)", re.IGNORECASE)
_ID_NUMBER = re.compile(r"lab0*(\d+)_0*(\d+)(?:_.*)?")


def _stem(name: str) -> str:
    """A file or folder name without its extension (.py, .ipynb, .zip) and copy suffixes."""
    stem = name
    for ext in (".py", ".ipynb", ".zip"):
        if stem.lower().endswith(ext):
            stem = stem[:-len(ext)]
            break
    while True:
        shorter = _COPY.sub("", stem).strip()
        if shorter == stem:
            return stem.lower()
        stem = shorter


def names_lab(name: str, lab: config.Lab) -> bool:
    """Whether a file or folder name names `lab`: its module, its id or its number (see
    the module docstring)."""
    stem = _stem(name)
    if stem in (lab.module.lower(), lab.id.lower()):
        return True
    number = _ID_NUMBER.fullmatch(lab.id)
    found = {(int(a), int(b)) for a, b in _LAB_NUMBER.findall(stem)}
    return number is not None and found == {(int(number.group(1)), int(number.group(2)))}


def _in_lab_folder(f: _File, lab: config.Lab) -> bool:
    return any(names_lab(part, lab) for part in f.rel.parts[:-1])


def _named(f: _File, lab: config.Lab) -> bool:
    return names_lab(f.rel.name, lab)


def _claimed(f: _File, labs: list[config.Lab]) -> bool:
    return any(_named(f, lab) or (f.is_notebook and _in_lab_folder(f, lab)) for lab in labs)


def _share(f: _File, lab: config.Lab) -> float:
    return len(f.defined & set(lab.api)) / len(lab.api) if lab.api else 0.0


def _by_content(files: list[_File], lab: config.Lab, labs: list[config.Lab]) -> list[_File]:
    """Files that no name gives to any lab, and that define at least CONTENT_SHARE of this
    lab's API and a larger part of it than of any other lab's."""
    found = []
    for f in files:
        if f.problem or _claimed(f, labs):
            continue
        mine = _share(f, lab)
        if mine >= CONTENT_SHARE and all(_share(f, other) < mine for other in labs if other.id != lab.id):
            found.append(f)
    return found


def _tiers(files: list[_File], lab: config.Lab, labs: list[config.Lab]) -> list[tuple[str, list[_File]]]:
    return [
        ("name", [f for f in files if _named(f, lab) and _in_lab_folder(f, lab)]),
        ("name", [f for f in files if _named(f, lab)]),
        ("folder", [f for f in files if f.is_notebook and _in_lab_folder(f, lab)
                    and not any(_named(f, other) for other in labs if other.id != lab.id)]),
        ("content", _by_content(files, lab, labs)),
    ]


def _fingerprint(module: str) -> tuple[str, ...]:
    """Graded code compared without comments, blank lines and the `pass` left for a
    left-out statement: a notebook and the .py exported from it are the same."""
    try:
        body = ast.parse(module).body
    except (SyntaxError, ValueError, RecursionError):
        return (module,)
    return tuple(ast.dump(n) for n in body if not isinstance(n, ast.Pass))


@dataclass
class Found:
    file: _File | None
    module: notebooks.Extracted | None
    how: str = ""  # name, folder, content
    problem: str = ""  # why no file was chosen (ambiguous, unreadable); empty with no file: missing
    status: str = ""
    notes: list[str] = field(default_factory=list)


def find_lab(files: list[_File], lab: config.Lab, labs: list[config.Lab]) -> Found:
    """The file to grade for `lab` by the tiers of the module docstring, with its module."""
    for how, tier in _tiers(files, lab, labs):
        if not tier:
            continue
        readable = [f for f in tier if not f.problem]
        notes = [f"{f.problem}; not graded" for f in tier if f.problem]
        if not readable:
            return Found(None, None, how, tier[0].problem, "unreadable", notes[1:])
        modules = {id(f): f.module(lab) for f in readable}
        distinct: dict[tuple, list[_File]] = {}
        for f in readable:
            distinct.setdefault(_fingerprint(modules[id(f)].source), []).append(f)
        if len(distinct) > 1:
            where = ", ".join(str(group[0].rel) for group in list(distinct.values())[:4])
            why = {"name": "files named for the lab", "folder": f"notebooks in the folder {lab.id}/",
                   "content": "files that define the lab's functions"}[how]
            return Found(None, None, how, (
                f"{len(distinct)} different {why} were found ({where}); keep exactly one: {lab.id}/{lab.module}.py "
                f"or a notebook such as {lab.id}/{lab.id}.ipynb"), "ambiguous", notes)
        # One candidate: a .py before a notebook (its line numbers are the student's), then the shallowest.
        chosen = min(readable, key=lambda f: (f.is_notebook, len(f.rel.parts), str(f.rel)))
        return Found(chosen, modules[id(chosen)], how, notes=notes)
    return Found(None, None)


def _missing_message(lab: config.Lab, student_dir: Path) -> str:
    where = "an empty folder" if (student_dir / lab.id).is_dir() else "nothing"
    return (f"not submitted: no {lab.module}.py and no notebook for {lab.id} was found (found {where} for "
            f"{lab.id}); expected {lab.id}/{lab.module}.py, or a notebook named for the lab such as "
            f"{lab.id}.ipynb or {lab.module}.ipynb")


def collect(student_dir: Path, course: config.Course, dest: Path, labs: list[str] | None = None,
            inside: str = "") -> Intake:
    """Write a clean folder per lab under `dest` from what is in `student_dir` (its files
    read as lying in a folder named `inside`, when given: the self-check's lab folder)."""
    general: list[str] = []
    files = _walk(student_dir, general, inside)
    every_lab = list(course.labs.values())
    result = {}
    for lab_id in labs or list(course.labs):
        lab = course.lab(lab_id)
        found = find_lab(files, lab, every_lab)
        notes = list(found.notes)
        if found.file is None:
            if found.status:
                result[lab_id] = LabIntake(lab_id, None, found.status, found.problem, notes)
            else:
                result[lab_id] = LabIntake(lab_id, None, "missing", _missing_message(lab, student_dir), notes)
            continue
        chosen, module = found.file, found.module
        notes += module.notes
        if chosen.rel not in (PurePosixPath(lab_id) / f"{lab.module}.py", PurePosixPath(inside) / lab_id / f"{lab.module}.py"):
            why = {"name": "", "folder": f" (the notebook in {lab.id}/)",
                   "content": " (its name does not name the lab; it defines the lab's functions)"}[found.how]
            notes.insert(0, f"graded {chosen.rel}{why}; expected at {lab_id}/{lab.module}.py")
        folder = dest / lab_id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{lab.module}.py").write_text(module.source, encoding="utf-8")
        for f in files:  # helper modules beside the lab's file come along
            if (f.rel.parent == chosen.rel.parent and f.rel.suffix == ".py" and f is not chosen and not f.problem
                    and f.rel.name != f"{lab.module}.py"):
                (folder / f.rel.name).write_text(f.text, encoding="utf-8")
                notes += [n for n in f.decode_notes if n not in notes]
        result[lab_id] = LabIntake(lab_id, folder, "ok", "", notes, str(chosen.rel))
    return Intake(result, general)
