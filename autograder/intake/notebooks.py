"""A lab module from an nbgrader notebook: which cells are graded code, and how.

A notebook made by `autograder nbgrader` holds a locked setup cell (imports, constants),
solution cells (the student's answers), autograder test cells (`check(...)` calls),
demo cells and explanations. The module that the kit grades is

- the setup cells first (when the originals are known, as in `autograder grade
  --nbgrader`, the originals: an edited or deleted setup cell is put back),
- then, in the student's order, the solution cells, and from every other code cell the
  student added only its imports, definitions and literal constants (scratch work,
  training runs and plots stay out).

Test and demo cells never become module code. A solution cell that holds statements
besides definitions runs as in a notebook: an exception stops that cell, not the module.
A cell with a syntax error is left out, so the rest can still be graded. Everything
unusual (a deleted, duplicated or retyped cell, an edited read-only cell, huge outputs)
becomes a note for the student's feedback.

This module only reads JSON: it runs in the student's kernel as well as in the grader.
"""
from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import dataclass, field

MAX_NOTEBOOK = 100 << 20  # nbgrader's own default limit on a submitted file (100 MB)
LARGE_NOTEBOOK = 5 << 20  # above this a note asks the student to clear the outputs
DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


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
        nb = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise NotebookError(f"{name} is not a valid notebook (not JSON: {e}); "
                            "open and save it in Jupyter again") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise NotebookError(f"{name} is not a valid notebook (no list of cells)")
    return nb


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


def _uncomment_magics(source: str) -> str:
    """IPython magics and shell lines become comments."""
    return "\n".join(f"# {line}" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


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


def _literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
        return True
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False


def _definitions_only(tree: ast.Module) -> tuple[list[ast.stmt], int]:
    """The imports, definitions and literal constants of a cell; and how many statements were left out."""
    kept, dropped = [], 0
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
                (getattr(node, "module", None) or "").startswith("autograder")
                or a.name.startswith("autograder") for a in node.names):
            dropped += 1
        elif isinstance(node, DEFINITIONS):
            kept.append(node)
        elif isinstance(node, ast.Assign) and _literal(node.value):
            kept.append(node)
        elif isinstance(node, ast.AnnAssign) and node.value is not None and _literal(node.value):
            kept.append(node)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # a bare string: a comment
        else:
            dropped += 1
    return kept, dropped


def _as_in_a_notebook(tree: ast.Module) -> str:
    """The cell's code so that an exception stops the cell, not the module: the body in
    try/except, as the notebook would run it (a cell error, then the next cell)."""
    handler = ast.ExceptHandler(
        type=ast.Tuple(elts=[ast.Name("Exception", ast.Load()), ast.Name("SystemExit", ast.Load())], ctx=ast.Load()),
        name=None, body=[ast.Pass()])
    wrapped = ast.Module(body=[ast.Try(body=tree.body, handlers=[handler], orelse=[], finalbody=[])], type_ignores=[])
    return ast.unparse(ast.fix_missing_locations(wrapped))


def _only_definitions(tree: ast.Module) -> bool:
    return all(isinstance(n, DEFINITIONS) or (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))
               or isinstance(n, ast.Pass) for n in tree.body)


def _parse(cell: Cell, source: str, notes: list[str]) -> ast.Module | None:
    try:
        return ast.parse(source, filename=cell.label)
    except SyntaxError as e:
        notes.append(f"{cell.label} has a syntax error (line {e.lineno}: {e.msg}); it was left out "
                     "and the rest of the notebook graded")
        return None


def module_source(nb: dict, name: str = "the notebook", *, originals: list[Original] | None = None,
                  size: int = 0) -> Extracted:
    """The lab module from a parsed notebook (read_notebook). An nbgrader notebook, or any
    notebook when `originals` (the instructor's nbgrader cells in order) are given, gives its
    setup and solution cells and the definitions of added cells (setup cells restored and
    missing cells reported with originals); any other notebook gives all its code cells."""
    cells = cells_of(nb)
    notes: list[str] = []
    if size > LARGE_NOTEBOOK:
        notes.append(f"{name} is {size / (1 << 20):.0f} MiB, mostly cell outputs; clear the outputs before "
                     "you submit (Edit > Clear Outputs of All Cells)")
    if originals is None and not any(c.grade_id for c in cells):
        code = [_uncomment_magics(c.source) for c in cells if c.cell_type == "code"]
        return Extracted("\n\n".join(code) + "\n", notes, cells)
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

    setup: list[tuple[str, str]] = []  # (header, code)
    rest: list[tuple[str, str]] = []

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
                setup.append((f"read-only cell {o.grade_id}", _uncomment_magics(o.source)))
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
            source = _uncomment_magics(cell.source)
            if cell.cell_type != "code":
                if not source.strip() or _parse(cell, source, []) is None:
                    notes.append(f"{cell.label} was changed from code to {cell.cell_type} and is not Python "
                                 "any more; it was left out")
                    continue
                notes.append(f"{cell.label} was changed from code to {cell.cell_type}; graded as code")
            if cell.is_locked:
                if cell.nbgrader.get("checksum") and cell.nbgrader["checksum"] not in (
                        checksum(cell), checksum(Cell(0, "code", cell.source, cell.nbgrader, {}))):
                    notes.append(f"the read-only {cell.label} was changed; nbgrader grades the original")
                setup.append((cell.label, source))
                continue
            tree = _parse(cell, source, notes)
            if tree is None:
                continue
            rest.append((cell.label, source if _only_definitions(tree) else _as_in_a_notebook(tree)))
            continue
        # A cell the student added (or a copy): its imports, definitions and constants.
        if cell.cell_type != "code" or _calls_the_grader(cell.source) or not cell.source.strip():
            continue
        tree = _parse(cell, _uncomment_magics(cell.source), notes)
        if tree is None:
            continue
        kept, dropped = _definitions_only(tree)
        if dropped and kept:
            notes.append(f"{cell.label}: only its imports, definitions and constants were graded "
                         f"({dropped} other statement(s) left out)")
        if kept:
            rest.append((f"{cell.label}, definitions only", ast.unparse(ast.Module(body=kept, type_ignores=[]))))

    chunks = [f"# Built by the autograder from {name}: setup cells, solution cells and the definitions "
              "of added cells."]
    chunks += [f"# --- {header} ---\n{code.rstrip()}" for header, code in setup + rest]
    return Extracted("\n\n".join(chunks) + "\n", notes, cells)
