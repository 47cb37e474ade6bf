"""The one notebook reader: a lab module from a notebook, plain or nbgrader's.

What a code cell contributes is the rule of intake/graded.py, the same as for a .py file:
its imports, definitions and the assignments those definitions use; training runs, plots,
prints and IPython's `%`/`!` lines are left out and listed in a note. Outputs are never
source: they are stripped on reading (`strip_outputs`), and the size limits apply to what
is left.

A notebook made by `autograder nbgrader` holds a locked setup cell (imports, constants),
solution cells (the student's answers), autograder test cells (`check(...)` calls),
demo cells and explanations. Its module is

- the setup cells first, whole (when the originals are known, as in `autograder grade
  --nbgrader`, the originals: an edited or deleted setup cell is put back),
- then, in the student's order, the solution cells and the cells the student added, each
  by the rule.

Test and demo cells never become module code. A cell with a syntax error is left out, so
the rest can still be graded. Everything unusual (a deleted, duplicated or retyped cell,
an edited read-only cell, huge outputs) becomes a note for the student's feedback.

This module only reads JSON: it runs in the student's kernel as well as in the grader.
"""
from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import dataclass, field

from autograder.intake import encoding, graded

MAX_NOTEBOOK = 100 << 20  # a notebook is read up to nbgrader's own default limit (100 MB), outputs included
LARGE_NOTEBOOK = 5 << 20  # above this a note says that outputs are not graded


class NotebookError(ValueError):
    """Not a notebook that can be read; the message is for the student."""


@dataclass
class Cell:
    index: int  # 1-based position in the notebook, for messages
    cell_type: str
    source: str
    nbgrader: dict
    metadata: dict

    @property
    def grade_id(self) -> str | None:
        gid = self.nbgrader.get("grade_id")
        return gid if isinstance(gid, str) and gid else None

    @property
    def is_solution(self) -> bool:
        return bool(self.nbgrader.get("solution"))

    @property
    def is_grade(self) -> bool:
        return bool(self.nbgrader.get("grade"))

    @property
    def is_locked(self) -> bool:  # nbgrader's definition
        if self.is_solution:
            return False
        return self.is_grade or bool(self.nbgrader.get("locked"))

    @property
    def is_test(self) -> bool:
        return self.is_grade and not self.is_solution

    @property
    def is_demo(self) -> bool:
        meta = self.metadata.get("autograder")
        tags = self.metadata.get("tags")
        return (isinstance(meta, dict) and meta.get("role") == "demo") or (
            isinstance(tags, list) and "demo" in tags)

    @property
    def label(self) -> str:
        return f"cell {self.index}" + (f" ({self.grade_id})" if self.grade_id else "")


@dataclass
class Original:
    """A cell of the instructor's version (from nbgrader's gradebook)."""

    grade_id: str
    cell_type: str
    source: str
    locked: bool
    solution: bool
    grade: bool


@dataclass
class Extracted:
    source: str  # the module
    notes: list[str] = field(default_factory=list)
    cells: list[Cell] = field(default_factory=list)


def _text(value) -> str:
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    return value if isinstance(value, str) else ""


def read_notebook(data: bytes, name: str) -> dict:
    """The notebook as JSON; NotebookError with a message for the student otherwise."""
    if len(data) > MAX_NOTEBOOK:
        raise NotebookError(f"{name} is {len(data) >> 20} MiB, more than the {MAX_NOTEBOOK >> 20} MiB a notebook "
                            "may have; clear the outputs (Edit > Clear Outputs of All Cells), save and submit again")
    try:
        nb = json.loads(encoding.decode(data, name, []))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise NotebookError(f"{name} is not a valid notebook (not JSON: {e}); "
                            "open and save it in Jupyter again") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise NotebookError(f"{name} is not a valid notebook (no list of cells)")
    return nb


def strip_outputs(nb: dict) -> dict:
    """The notebook without what is not source: cell outputs, execution counts and
    attachments (pasted images), the notebook's own metadata kept."""
    cells = []
    for raw in nb.get("cells", []):
        if isinstance(raw, dict):
            raw = {k: v for k, v in raw.items() if k not in ("outputs", "attachments", "execution_count")}
        cells.append(raw)
    return {**nb, "cells": cells}


def source_size(nb: dict) -> int:
    """Bytes of the notebook's cell sources (UTF-8): what the size limit of a lab applies to."""
    return sum(len(_text(raw.get("source", "")).encode("utf-8")) for raw in nb.get("cells", []) if isinstance(raw, dict))


def cells_of(nb: dict) -> list[Cell]:
    out = []
    for i, raw in enumerate(nb.get("cells", []), 1):
        if not isinstance(raw, dict):
            continue
        metadata = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
        nbg = metadata.get("nbgrader") if isinstance(metadata.get("nbgrader"), dict) else {}
        out.append(Cell(i, str(raw.get("cell_type", "")), _text(raw.get("source", "")), nbg, metadata))
    return out


def is_nbgrader_notebook(nb: dict) -> bool:
    return any(c.grade_id for c in cells_of(nb))


def checksum(cell: Cell) -> str:
    """nbgrader's checksum of a cell (nbgrader.utils.compute_checksum)."""
    m = hashlib.md5()
    m.update(cell.source.encode())
    m.update(cell.cell_type.encode())
    m.update(str(cell.is_grade).encode())
    m.update(str(cell.is_solution).encode())
    m.update(str(cell.is_locked).encode())
    m.update((cell.grade_id or "").encode())
    if cell.is_grade:
        m.update(str(float(cell.nbgrader.get("points", 0))).encode())
    return m.hexdigest()


def ipython_lines(source: str) -> tuple[str, list[tuple[int, str]]]:
    """The source with IPython's `%` magics and `!` shell lines commented out, and those
    lines as (1-based line number, text)."""
    out, found = [], []
    for i, line in enumerate(source.splitlines(), 1):
        if line.lstrip().startswith(("%", "!")):
            out.append(f"# {line}")
            found.append((i, line.strip()))
        else:
            out.append(line)
    return "\n".join(out), found


def _uncomment_magics(source: str) -> str:
    return ipython_lines(source)[0]


def check_calls(source: str) -> list[tuple[str, str]]:
    """The (lab, check) pairs of the `check("lab", "check")` calls in a test cell's source."""
    try:
        tree = ast.parse(_uncomment_magics(source))
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and len(node.args) == 2
                and getattr(node.func, "id", getattr(node.func, "attr", None)) == "check"
                and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)):
            found.append((node.args[0].value, node.args[1].value))
    return found


def _calls_the_grader(source: str) -> bool:
    return "autograder.notebook" in source or bool(check_calls(source))


def _parse(label: str, source: str, notes: list[str]) -> ast.Module | None:
    try:
        return ast.parse(source, filename=label)
    except SyntaxError as e:
        notes.append(f"{label} has a syntax error (line {e.lineno}: {e.msg}); it was left out "
                     "and the rest of the notebook graded")
        return None


class _Chunks:
    """The code cells that may contribute to the module, in order, for graded.select."""

    def __init__(self, notes: list[str]):
        self.chunks: list[graded.Chunk] = []
        self.ipython: list[tuple[int, int, str]] = []  # IPython lines as graded.Selection.left_out
        self.notes = notes

    def add(self, label: str, source: str, whole: bool = False) -> None:
        code, magics = ipython_lines(source)
        tree = _parse(label, code, self.notes)
        if tree is not None:
            self.ipython += [(len(self.chunks), line, f"{label}: {text}") for line, text in magics]
            self.chunks.append(graded.Chunk(label, code, tree, whole))


def module_source(nb: dict, name: str = "the notebook", *, originals: list[Original] | None = None,
                  size: int = 0, api: tuple[str, ...] | list[str] = ()) -> Extracted:
    """The lab module from a parsed notebook (read_notebook), by the rule of intake/graded.py
    for what each code cell contributes; `api` is the lab's API (config.Lab.api), empty when
    unknown. An nbgrader notebook, or any notebook when `originals` (the instructor's
    nbgrader cells in order) are given, contributes its setup cells whole (restored from the
    originals when given, missing cells reported) and its solution and added cells by the
    rule; test and demo cells never. Any other notebook contributes every code cell by the
    rule."""
    cells = cells_of(nb)
    notes: list[str] = []
    if size > LARGE_NOTEBOOK:
        notes.append(f"{name} is {size / (1 << 20):.0f} MiB, mostly cell outputs (outputs are not graded; "
                     "Edit > Clear Outputs of All Cells keeps the file small)")
    found = _Chunks(notes)
    if originals is None and not any(c.grade_id for c in cells):
        for cell in cells:
            if cell.cell_type == "code" and cell.source.strip():
                found.add(cell.label, cell.source)
        return _assemble(found, name, api, notes, cells, "the code cells")
    by_id = {o.grade_id: o for o in originals or []}

    # Duplicates: the first cell with an id keeps it; the others count as cells the student added.
    seen: dict[str, Cell] = {}
    duplicated: set[int] = set()
    for cell in cells:
        gid = cell.grade_id
        if gid is None:
            continue
        if gid in seen:
            duplicated.add(cell.index)
            notes.append(f"cell {cell.index} is a copy of {seen[gid].label}; the copy is graded as a cell you added")
        else:
            seen[gid] = cell
        if originals is not None and gid not in by_id and cell.index not in duplicated:
            notes.append(f"{cell.label} is not part of the assignment; graded as a cell you added")
            duplicated.add(cell.index)

    if originals is not None:
        for o in originals:
            if not o.locked or o.grade or o.solution:
                continue
            cell = seen.get(o.grade_id)
            if cell is None:
                notes.append(f"the read-only cell {o.grade_id} was deleted; the original was put back for grading")
            elif cell.source != o.source or cell.cell_type != o.cell_type:
                notes.append(f"the read-only {cell.label} was changed; the original was graded")
            if o.cell_type == "code":
                found.add(f"read-only cell {o.grade_id}", o.source, whole=True)
        present = {c.grade_id for c in cells if c.grade_id and c.index not in duplicated}
        for o in originals:
            if o.grade and not o.solution and o.grade_id not in present:
                notes.append(f"the test cell {o.grade_id} was deleted; it was put back and its check still counts")
            if o.solution and o.grade_id not in present:
                notes.append(f"the solution cell {o.grade_id} is missing from the notebook; what it should define "
                             "is graded as missing unless another cell defines it")
        order = [o.grade_id for o in originals if o.solution]
        mine = [c.grade_id for c in cells if c.is_solution and c.grade_id in order and c.index not in duplicated]
        if mine != [g for g in order if g in mine]:
            notes.append("the solution cells are not in their original order; they were graded in your order")

    for cell in cells:
        own = cell.index not in duplicated and cell.grade_id is not None
        if cell.is_demo or (own and cell.is_test):
            continue
        if own and (cell.is_solution or cell.is_locked):
            if cell.is_locked and originals is not None:
                continue  # the setup cells were restored above
            original = by_id.get(cell.grade_id)
            was = original.cell_type if original else (cell.nbgrader.get("cell_type") or cell.cell_type)
            if was != "code":
                continue  # a written answer or a read-only text: not code by design
            if cell.cell_type != "code":
                if not cell.source.strip() or _parse(cell.label, _uncomment_magics(cell.source), []) is None:
                    notes.append(f"{cell.label} was changed from code to {cell.cell_type} and is not Python "
                                 "any more; it was left out")
                    continue
                notes.append(f"{cell.label} was changed from code to {cell.cell_type}; graded as code")
            if cell.is_locked:
                if cell.nbgrader.get("checksum") and cell.nbgrader["checksum"] not in (
                        checksum(cell), checksum(Cell(0, "code", cell.source, cell.nbgrader, {}))):
                    notes.append(f"the read-only {cell.label} was changed; nbgrader grades the original")
                found.add(cell.label, cell.source, whole=True)
                continue
            found.add(cell.label, cell.source)
            continue
        # A cell the student added (or a copy): by the same rule as any code.
        if cell.cell_type != "code" or _calls_the_grader(cell.source) or not cell.source.strip():
            continue
        found.add(cell.label, cell.source)
    return _assemble(found, name, api, notes, cells, "the setup cells, and the solution and added cells")


def _assemble(found: _Chunks, name: str, api, notes: list[str], cells: list[Cell], what: str) -> Extracted:
    selection = graded.select(found.chunks, api)
    left = graded.Selection(selection.texts, found.ipython + selection.left_out, selection.unbound)
    notes += graded.left_out_note(left, name)
    chunks = [f"# Built by the autograder from {name}: {what}, by the rule of autograder/intake/graded.py."]
    chunks += [f"# --- {chunk.label} ---\n{text.rstrip()}" for chunk, text in zip(found.chunks, selection.texts)]
    return Extracted("\n\n".join(chunks) + "\n", notes, cells)
