"""What of a student's code is graded: the one rule for .py files and notebooks alike.

Students write their lab the way the lecture does: definitions, and around them experiment
code at the top level (an MNIST download, a 15-epoch training loop, plots, prints, seeds).
Grading imports the module in a confined worker with no network and a time limit, so the
experiment code must not run. The graded module is, in the order written:

- every import (except of the kit's own `autograder`, which the notebooks' test cells use)
  and every function and class definition;
- the top-level assignments that the graded definitions read as globals, and what those
  assignments read in turn (`device = 'cuda' if torch.cuda.is_available() else 'cpu'`
  used by `train_epoch` stays; `mnist_train = dsets.MNIST(..., download=True)` that no
  graded definition reads goes). The graded definitions are the lab's API (the names of
  the stub) and whatever they use, transitively; without a known API, every definition;
- an assignment that binds an API name itself (`build_mlp = make_builder()`);
- a change to something kept: `Perceptron.forward = forward`, `TABLE["xor"] = ...`,
  `TABLE.update(...)` where `TABLE` or `Perceptron` is a kept assignment or definition;
- `if`/`for`/`while`/`try`/`with` blocks made only of imports, definitions and assignments
  (`try: import tqdm / except ImportError: tqdm = None`), kept when they hold an import
  or a definition or set a name that is kept.

Everything else at the top level (training loops, plots, prints, seeds, the IPython `%`
and `!` lines) is left out, listed for the feedback by cell or line and its first line.
Docstrings, `pass` and `if __name__ == "__main__":` blocks are left out silently: they
do nothing when a module is imported. A left-out statement becomes `pass` in place, so
the line numbers of a .py file stay those the student sees.

Globals are found with the standard library's `symtable` (the compiler's own scopes), so a
function's parameters and locals never pull in a top-level assignment of the same name.
"""
from __future__ import annotations

import ast
import symtable
from dataclasses import dataclass, field

SHOWN = 8  # left-out statements named in the note; the rest are counted
LINE = 60  # characters of a statement's first line shown in the note

_DEFINITION = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_IMPORT = (ast.Import, ast.ImportFrom)
_ASSIGN = (ast.Assign, ast.AnnAssign, ast.AugAssign)
_BLOCK = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.Try, ast.With, ast.AsyncWith)
_TRY_STAR = (getattr(ast, "TryStar"),) if hasattr(ast, "TryStar") else ()


@dataclass
class Chunk:
    """One piece of the student's code: a .py file, or a notebook's code cell."""

    label: str  # where a note points: "cell 3", or "" for a .py file (lines are named instead)
    source: str  # the code, IPython's `%` and `!` lines already commented out
    tree: ast.Module  # its parse
    whole: bool = False  # kept as it is (an nbgrader setup cell: the instructor's own code)


@dataclass
class Selection:
    texts: list[str]  # each chunk's code, left-out statements replaced by `pass` (lines kept)
    left_out: list[tuple[int, int, str]] = field(default_factory=list)  # (chunk, line, "cell 4: for epoch ...")
    unbound: list[str] = field(default_factory=list)  # names kept code reads that only left-out code sets


@dataclass
class _Statement:
    chunk: int
    node: ast.stmt
    kind: str  # import, definition, binder, change, inert (kept), silent (left out, unlisted), other
    binds: set[str] = field(default_factory=set)  # names it sets
    changes: set[str] = field(default_factory=set)  # names whose object it changes
    reads: set[str] = field(default_factory=set)  # globals it reads (definitions: when called)


def is_kit_import(node: ast.stmt) -> bool:
    """`import autograder...` / `from autograder... import ...`: the notebooks' test cells."""
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").split(".")[0] == "autograder"
    return isinstance(node, ast.Import) and any(a.name.split(".")[0] == "autograder" for a in node.names)


def _is_main_guard(node: ast.stmt) -> bool:
    test = getattr(node, "test", None)
    return (isinstance(node, ast.If) and isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
            and test.left.id == "__name__")


def _base(target: ast.expr) -> str | None:
    """The name at the root of `a.b[c].d`, or None."""
    while isinstance(target, (ast.Attribute, ast.Subscript, ast.Starred)):
        target = target.value
    return target.id if isinstance(target, ast.Name) else None


def _targets(node: ast.stmt) -> list[ast.expr]:
    if isinstance(node, ast.Assign):
        return list(node.targets)
    return [node.target]


def _flatten(target: ast.expr) -> list[ast.expr]:
    if isinstance(target, (ast.Tuple, ast.List)):
        return [t for elt in target.elts for t in _flatten(elt)]
    return [target.value] if isinstance(target, ast.Starred) else [target]


def _reads(node: ast.stmt) -> set[str]:
    """The global names a top-level statement reads: at the top level when it runs, and in
    the functions, lambdas and comprehensions it creates when they run."""
    try:
        table = symtable.symtable(ast.unparse(node), "<cell>", "exec")
    except (SyntaxError, ValueError, RecursionError):
        return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    found = {s.get_name() for s in table.get_symbols() if s.is_referenced()}
    stack = list(table.get_children())
    while stack:
        scope = stack.pop()
        found |= {s.get_name() for s in scope.get_symbols() if s.is_global() and s.is_referenced()}
        stack.extend(scope.get_children())
    return found


def _leaves(node: ast.stmt):
    """The simple statements inside a block, blocks' conditions aside."""
    bodies = [getattr(node, attr, []) for attr in ("body", "orelse", "finalbody")]
    bodies += [h.body for h in getattr(node, "handlers", [])]
    for body in bodies:
        for child in body:
            if isinstance(child, _BLOCK + _TRY_STAR):
                yield from _leaves(child)
            else:
                yield child


def _binds_of(node: ast.stmt) -> set[str]:
    """The names a statement sets at the top level (definitions, imports, assignments, loop
    variables, `with ... as`), not inside the functions it defines."""
    names = set()
    try:
        table = symtable.symtable(ast.unparse(node), "<cell>", "exec")
        names = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    except (SyntaxError, ValueError, RecursionError):
        pass
    return names


def _classify(chunk: int, node: ast.stmt) -> _Statement:
    if isinstance(node, ast.Pass) or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
        return _Statement(chunk, node, "inert")  # kept: a docstring or `pass` does nothing
    if is_kit_import(node) or _is_main_guard(node):
        return _Statement(chunk, node, "silent")
    if isinstance(node, _IMPORT):
        return _Statement(chunk, node, "import", binds=_binds_of(node))
    if isinstance(node, _DEFINITION):
        return _Statement(chunk, node, "definition", binds={node.name}, reads=_reads(node))
    if isinstance(node, _ASSIGN) and (not isinstance(node, ast.AnnAssign) or node.value is not None):
        binds, changes = set(), set()
        for target in (t for top in _targets(node) for t in _flatten(top)):
            if isinstance(target, ast.Name):
                binds.add(target.id)
            elif _base(target):
                changes.add(_base(target))
        if isinstance(node, ast.AugAssign):
            changes |= binds
        return _Statement(chunk, node, "binder", binds=binds, changes=changes, reads=_reads(node))
    if (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute) and _base(node.value.func.value)):
        # `TABLE.update(...)`: kept only when TABLE is kept and set here (never a module's call
        # such as torch.manual_seed, plt.plot): decided in select().
        return _Statement(chunk, node, "change", changes={_base(node.value.func.value)}, reads=_reads(node))
    if isinstance(node, _BLOCK + _TRY_STAR) and not _is_main_guard(node):
        leaves = list(_leaves(node))
        simple = all(isinstance(leaf, _IMPORT + _DEFINITION + _ASSIGN + (ast.Pass,)) or (
            isinstance(leaf, ast.Expr) and isinstance(leaf.value, ast.Constant)) for leaf in leaves)
        if simple and leaves:
            defines = any(isinstance(leaf, _IMPORT + _DEFINITION) and not is_kit_import(leaf) for leaf in leaves)
            return _Statement(chunk, node, "import" if defines else "binder", binds=_binds_of(node),
                              reads=_reads(node))
    return _Statement(chunk, node, "other", binds=_binds_of(node))


def _first_line(source: str, node: ast.stmt) -> str:
    line = source.splitlines()[node.lineno - 1] if node.lineno - 1 < len(source.splitlines()) else ""
    line = line.strip()
    return line if len(line) <= LINE else line[:LINE - 3].rstrip() + "..."


def _where(chunk: Chunk, node: ast.stmt) -> str:
    return f"{chunk.label}" if chunk.label else f"line {node.lineno}"


def _offset(lines: list[str], lineno: int, col: int) -> int:
    """The character offset of (lineno, col) in the text: ast's columns count UTF-8 bytes."""
    before = sum(len(line) for line in lines[:lineno - 1])
    return before + len(lines[lineno - 1].encode("utf-8")[:col].decode("utf-8", errors="ignore"))


def _render(source: str, dropped: list[ast.stmt]) -> str:
    """The source with each dropped statement replaced by `pass`, line numbers unchanged."""
    lines = source.splitlines(keepends=True)
    text = source
    for node in sorted(dropped, key=lambda n: (n.lineno, n.col_offset), reverse=True):
        start = _offset(lines, node.lineno, node.col_offset)
        end = _offset(lines, node.end_lineno, node.end_col_offset)
        text = text[:start] + "pass" + "\n" * text[start:end].count("\n") + text[end:]
    return text


def select(chunks: list[Chunk], api: tuple[str, ...] | list[str] = ()) -> Selection:
    """Which statements of `chunks` (in order) make the graded module, by the rule in this
    module's docstring; `api` is the lab's API (course.config.Lab.api), or empty."""
    statements = [_classify(i, node) for i, chunk in enumerate(chunks) for node in chunk.tree.body]
    whole = [s for s in statements if chunks[s.chunk].whole]
    own = [s for s in statements if not chunks[s.chunk].whole]
    set_here = set().union(*(s.binds for s in own if s.kind in ("definition", "binder")))

    needed = set(api) if api else set().union(*(s.binds for s in own if s.kind == "definition"))
    for s in whole:
        needed |= s.reads
    reached: set[int] = set()
    frontier = list(needed)
    while frontier:
        name = frontier.pop()
        for i, s in enumerate(own):
            if i in reached or s.kind not in ("definition", "binder", "change", "import"):
                continue
            if name in s.binds or (name in s.changes and s.kind != "import" and name in set_here):
                if s.kind == "import" and not s.reads:
                    continue  # a plain import is kept anyway and reads nothing
                reached.add(i)
                for new in s.reads - needed:
                    needed.add(new)
                    frontier.append(new)

    kept, dropped = set(), []
    for i, s in enumerate(own):
        keep = s.kind in ("import", "definition", "inert") or (s.kind in ("binder", "change") and i in reached)
        if keep:
            kept.add(i)
        else:
            dropped.append(s)

    texts = []
    for c, chunk in enumerate(chunks):
        gone = [s.node for s in dropped if s.chunk == c]
        texts.append(_render(chunk.source, gone) if gone else chunk.source)
    left_out = [(s.chunk, s.node.lineno, f"{_where(chunks[s.chunk], s.node)}: "
                 f"{_first_line(chunks[s.chunk].source, s.node)}") for s in dropped if s.kind != "silent"]
    bound = set().union(*(s.binds for s in whole), *(own[i].binds for i in kept))
    only_dropped = set().union(*(s.binds for s in dropped if s.kind != "silent")) - bound
    unbound = sorted(needed & only_dropped)
    return Selection(texts, left_out, unbound)


def left_out_note(selection: Selection, name: str) -> list[str]:
    """The notes for the feedback: what was not run when grading, compactly (a notebook: each
    cell with the first line of its first left-out statement and how many more; a .py
    file: each statement's line, the first SHOWN of them), and the names the graded code
    reads that only left-out code sets."""
    notes = []
    if selection.left_out:
        groups: dict[int, list[str]] = {}
        for chunk, _, item in sorted(selection.left_out):
            groups.setdefault(chunk, []).append(item)
        parts = []
        for items in groups.values():
            where, _, first = items[0].partition(": ")
            if where.startswith("line "):  # a .py file: every statement has its own line number
                parts += [f"{w}: `{t}`" for w, _, t in (i.partition(": ") for i in items)]
            else:
                parts.append(f"{where}: `{first}`" + (f" and {len(items) - 1} more" if len(items) > 1 else ""))
        more = len(parts) - SHOWN
        notes.append(f"{name}: {len(selection.left_out)} top-level statement(s) were not run when grading "
                     "(only imports, definitions and the assignments your definitions use are graded): "
                     + "; ".join(parts[:SHOWN]) + (f"; and {more} more" if more > 0 else ""))
    for var in selection.unbound:
        notes.append(f"{name}: your definitions use `{var}`, which only code that was not run sets; "
                     f"set `{var}` at the top level with a plain assignment (not inside a loop or a call)")
    return notes


def top_level_names(tree: ast.Module) -> set[str]:
    """The names a module's top level defines or assigns (for finding a lab by content)."""
    names = set()
    for node in tree.body:
        if isinstance(node, _DEFINITION):
            names.add(node.name)
        elif isinstance(node, _ASSIGN):
            names |= {t.id for top in _targets(node) for t in _flatten(top) if isinstance(t, ast.Name)}
    return names
