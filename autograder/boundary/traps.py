"""Trap the torch functions a lab forbids, wherever the student's code reaches them from.

Each forbidden function is replaced, in the module that defines it, by a wrapper that
raises when the call comes from the student's code. Installed before the student's
module is imported, so `from torch.nn.init import xavier_uniform_` binds the wrapper
too. A call counts as the student's when, walking the stack outwards, a frame from the
submission folder comes before any torch module constructor: nn.Linear() built inside
student code still runs torch's own default initialization, and that is allowed.
"""
from __future__ import annotations

import functools
import importlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

# Frames of these torch functions start legitimate internal use (building a layer).
_CONSTRUCTION = {"reset_parameters", "__init__", "_reset_parameters"}


class ForbiddenFunctionError(AssertionError):
    """Student code called a function the lab asks them to write themselves."""


@dataclass
class Trap:
    root: Path
    violations: list[str] = field(default_factory=list)
    _saved: list[tuple[object, str, object]] = field(default_factory=list)

    def _called_by_student(self) -> bool:
        frame = sys._getframe(2)
        root = str(self.root.resolve()) + os.sep
        while frame is not None:
            filename = frame.f_code.co_filename
            if filename.startswith(root):
                return True
            if frame.f_code.co_name in _CONSTRUCTION and "torch" in Path(filename).parts:
                return False
            frame = frame.f_back
        return False

    def _wrap(self, qualname: str, original):
        trap = self

        def forbidden(*args, **kwargs):
            if trap._called_by_student():
                message = (
                    f"{qualname} is not allowed in this lab: the point is to write it yourself "
                    "with basic tensor operations"
                )
                trap.violations.append(qualname)
                raise ForbiddenFunctionError(message)
            return original(*args, **kwargs)

        forbidden.__name__ = getattr(original, "__name__", qualname)
        forbidden.__doc__ = getattr(original, "__doc__", None)
        return forbidden

    def install(self, qualnames: list[str]) -> "Trap":
        """Replace each dotted name (module path + attribute) by its trapped wrapper."""
        for qualname in qualnames:
            module_name, attr = qualname.rsplit(".", 1)
            module = importlib.import_module(module_name)
            original = getattr(module, attr, None)
            if original is None:  # not in this torch release
                continue
            self._saved.append((module, attr, original))
            setattr(module, attr, self._wrap(qualname, original))
        return self

    def disarm_reexports(self, module) -> list[str]:
        """Replace names in the student's `module` that are a trapped torch function itself
        (or a functools.partial of one): the grader would call those directly, with no
        student frame on the stack. The replacement raises like the trap. Returns the names."""
        trapped = {}
        for owner, attr, original in self._saved:
            qualname = f"{owner.__name__}.{attr}"
            trapped[id(original)] = qualname
            trapped[id(getattr(owner, attr))] = qualname
        replaced = []
        for name, value in list(vars(module).items()):
            target = value.func if isinstance(value, functools.partial) else value
            qualname = trapped.get(id(target))
            if qualname is None:
                continue
            setattr(module, name, self._reexport_stub(name, qualname))
            replaced.append(name)
        return replaced

    def _reexport_stub(self, name: str, qualname: str):
        trap = self

        def reexported(*args, **kwargs):
            trap.violations.append(qualname)
            raise ForbiddenFunctionError(
                f"{name} is torch's {qualname}, not your own code: this lab asks you to write it yourself")

        reexported.__name__ = name
        return reexported

    def uninstall(self) -> None:
        for module, attr, original in reversed(self._saved):
            setattr(module, attr, original)
        self._saved.clear()
