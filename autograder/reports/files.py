"""Writing and reading report files: atomically, so that a grade once written is never
half there, whatever happens to the process afterwards."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` through a temporary file in the same folder and
    os.replace: readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_results(path: Path) -> dict | None:
    """A student's results.json, or None when it is absent or unreadable (graded again)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def read_class(out: Path, results_file: str) -> dict[str, dict]:
    """Every student's results in OUT: {folder name: results.json}, by name; folders without
    readable results are left out. Class reports are rebuilt from this on every run."""
    found = {}
    for folder in sorted(p for p in out.iterdir() if p.is_dir()):
        results = read_results(folder / results_file)
        if results:
            found[folder.name] = results
    return found
