"""Generate the student stubs in assignments/ from the reference solutions.

Each `### BEGIN SOLUTION` ... `### END SOLUTION` block (nbgrader's delimiters) becomes
`# YOUR CODE HERE` and `raise NotImplementedError(hint)`, at the block's indentation. The
hint is the text of a `# HINT:` comment at the top of the block, when there is one.
Everything outside the blocks is copied as is, so the API and docstrings live in the
solutions alone. The lab READMEs are written by hand in assignments/ and left alone.
"""
from __future__ import annotations

import difflib
from pathlib import Path

from autograder.config import KIT_ROOT

BEGIN, END, HINT = "### BEGIN SOLUTION", "### END SOLUTION", "# HINT:"


class StubError(ValueError):
    """A solution file whose delimiters do not pair up."""


def solution_blocks(source: str, name: str = "<solution>") -> list[tuple[int, int]]:
    """(first, last) line indexes of each solution block, delimiters included."""
    blocks, start = [], None
    for i, line in enumerate(source.splitlines()):
        marker = line.strip()
        if marker == BEGIN:
            if start is not None:
                raise StubError(f"{name}:{i + 1}: {BEGIN} inside another solution block")
            start = i
        elif marker == END:
            if start is None:
                raise StubError(f"{name}:{i + 1}: {END} without {BEGIN}")
            blocks.append((start, i))
            start = None
    if start is not None:
        raise StubError(f"{name}:{start + 1}: {BEGIN} is never closed")
    return blocks


def make_stub(source: str, name: str = "<solution>") -> str:
    """The student version of one solution file."""
    lines = source.splitlines()
    out, pos = [], 0
    for first, last in solution_blocks(source, name):
        out.extend(lines[pos:first])
        indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
        body = [l.strip() for l in lines[first + 1 : last]]
        hint = next((l[len(HINT):].strip() for l in body[:1] if l.startswith(HINT)), "")
        out.append(f"{indent}# YOUR CODE HERE")
        out.append(f"{indent}raise NotImplementedError({hint!r})" if hint else f"{indent}raise NotImplementedError()")
        pos = last + 1
    out.extend(lines[pos:])
    return "\n".join(out) + "\n"


def solution_files(root: Path = KIT_ROOT) -> list[Path]:
    return sorted((root / "solutions").glob("lab*/*.py"))


def expected_stubs(root: Path = KIT_ROOT) -> dict[Path, str]:
    """assignments/<lab>/<module>.py -> the text it should have."""
    return {
        root / "assignments" / path.parent.name / path.name: make_stub(path.read_text(), str(path))
        for path in solution_files(root)
    }


def write_stubs(root: Path = KIT_ROOT) -> list[Path]:
    """Regenerate every stub; return the files that changed."""
    changed = []
    for path, text in expected_stubs(root).items():
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            changed.append(path)
    return changed


def stale_stubs(root: Path = KIT_ROOT) -> dict[Path, str]:
    """Stubs that differ from what the solutions generate, with a unified diff each."""
    stale = {}
    for path, text in expected_stubs(root).items():
        current = path.read_text() if path.exists() else ""
        if current != text:
            stale[path] = "".join(difflib.unified_diff(
                current.splitlines(True), text.splitlines(True), str(path), "generated"))
    return stale
