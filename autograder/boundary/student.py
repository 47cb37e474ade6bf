"""Import a student's module and describe what went wrong in the student's terms."""
from __future__ import annotations

import importlib.util
import sys
import traceback
from pathlib import Path


class StudentImportError(Exception):
    """The student's module could not be imported; the message says why and where."""


def import_module(path: Path, name: str):
    """Import the file at `path` as a fresh module called `name`.

    The module's folder goes first on sys.path so that helper files beside it import.
    Any exception, SystemExit included, becomes a StudentImportError.
    """
    if not path.is_file():
        raise StudentImportError(f"{path.name} was not found in {path.parent}; expected the lab's module there")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        raise StudentImportError(f"{path.name} has a syntax error at line {e.lineno}: {e.msg}") from None
    except SystemExit as e:
        raise StudentImportError(f"{path.name} called sys.exit({e.code!r}) while being imported; remove it") from None
    except Exception as e:  # noqa: BLE001 - any failure of student code is reported, not raised
        # BaseExceptions other than SystemExit (the check's time limit, Ctrl-C) pass through.
        raise StudentImportError(
            f"importing {path.name} raised {describe(e, path.parent)}"
        ) from None
    return module


def student_frame(tb, root: Path):
    """The deepest traceback frame whose file lies under `root`, or None."""
    found = None
    for frame, lineno in traceback.walk_tb(tb):
        try:
            inside = Path(frame.f_code.co_filename).resolve().is_relative_to(root.resolve())
        except (OSError, ValueError):
            inside = False
        if inside:
            found = (frame, lineno)
    return found


def describe(exc: BaseException, root: Path) -> str:
    """'TypeError: message (perceptron.py, line 12, in forward)' for an exception from student code."""
    text = f"{type(exc).__name__}: {exc}".rstrip(": ")
    where = student_frame(exc.__traceback__, root)
    if where:
        frame, lineno = where
        text += f" ({Path(frame.f_code.co_filename).name}, line {lineno}, in {frame.f_code.co_name})"
    return text
