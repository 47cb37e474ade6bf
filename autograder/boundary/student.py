"""Import a student's module and describe what went wrong in the student's terms."""
from __future__ import annotations

import importlib.util
import sys
import traceback
from pathlib import Path

from autograder.course.config import STUDENT_PACKAGES


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
    except ModuleNotFoundError as e:
        raise StudentImportError(missing_package(path.name, e.name, describe(e, path.parent))) from None
    except Exception as e:  # noqa: BLE001 - any failure of student code is reported, not raised
        # BaseExceptions other than SystemExit (the check's time limit, Ctrl-C) pass through.
        raise StudentImportError(
            f"importing {path.name} raised {describe(e, path.parent)}"
        ) from None
    return module


def missing_name(module: str, name: str, close: str = "") -> str:
    """The message for a name of the lab's API that the student's module does not define;
    `close` is the module's closest name (difflib), when it has one."""
    if close:
        return f"{module}.py defines no `{name}`; it defines `{close}`: keep the names of the stub"
    return f"{module}.py defines no `{name}`: keep the names and signatures of the stub"


def missing_package(file: str, name: str | None, raised: str) -> str:
    """The message for an import of something not installed where student code runs: the
    package by name, and what may be imported (config.STUDENT_PACKAGES)."""
    if not name:
        return f"importing {file} raised {raised}"
    top = name.split(".")[0]
    if top in STUDENT_PACKAGES or top in sys.stdlib_module_names:
        return f"importing {file} raised {raised}"  # an installed package's own import error
    return (f"{file} imports `{top}`, which is not installed where your code is graded ({raised}); "
            f"your code may import {', '.join(STUDENT_PACKAGES)} and Python's standard library: remove "
            f"the import of `{top}`, or keep it out of the lab's file")


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
