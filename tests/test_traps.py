"""Forbidden torch functions are trapped when student code calls them, and only then."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from autograder.boundary.student import import_module
from autograder.boundary.traps import ForbiddenFunctionError, Trap


@pytest.fixture
def trap(tmp_path):
    t = Trap(tmp_path).install(["torch.nn.init.xavier_uniform_", "torch.nn.init.kaiming_uniform_",
                                "torch.nn.functional.dropout"])
    yield t
    t.uninstall()


def load(tmp_path, source, name):
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    return import_module(path, name)


def test_direct_and_imported_names_are_trapped(trap, tmp_path):
    mod = load(tmp_path, "import torch\nfrom torch.nn.init import xavier_uniform_ as x\n"
                         "def a(w): return torch.nn.init.xavier_uniform_(w)\ndef b(w): return x(w)\n", "m1")
    for fn in (mod.a, mod.b):
        with pytest.raises(ForbiddenFunctionError, match="xavier_uniform_ is not allowed"):
            fn(torch.empty(3, 4))
    assert trap.violations == ["torch.nn.init.xavier_uniform_"] * 2


def test_torch_modules_used_by_student_code_are_caught(trap, tmp_path):
    mod = load(tmp_path, "from torch import nn\ndef run(x): return nn.Dropout(0.5)(x)\n", "m2")
    with pytest.raises(ForbiddenFunctionError):
        mod.run(torch.ones(4, 4))


def test_building_layers_in_student_code_is_allowed(trap, tmp_path):
    mod = load(tmp_path, "from torch import nn\ndef build(): return nn.Linear(3, 2)\n", "m3")
    assert isinstance(mod.build(), nn.Linear)
    assert trap.violations == []


def test_grader_calls_are_not_trapped(trap):
    nn.init.xavier_uniform_(torch.empty(3, 4))
    nn.functional.dropout(torch.ones(3), 0.5)
    assert trap.violations == []


def test_uninstall_restores_torch(tmp_path):
    original = nn.init.xavier_uniform_
    t = Trap(tmp_path).install(["torch.nn.init.xavier_uniform_"])
    assert nn.init.xavier_uniform_ is not original
    t.uninstall()
    assert nn.init.xavier_uniform_ is original


def test_reexported_torch_functions_are_disarmed(trap, tmp_path):
    mod = load(tmp_path, "import functools, torch\nfrom torch.nn.init import xavier_uniform_\n"
                         "kaiming = torch.nn.init.kaiming_uniform_\n"
                         "partial_init = functools.partial(torch.nn.init.xavier_uniform_, gain=2.0)\n"
                         "def own(w): return w\n", "m4")
    assert sorted(trap.disarm_reexports(mod)) == ["kaiming", "partial_init", "xavier_uniform_"]
    with pytest.raises(ForbiddenFunctionError, match="is torch's torch.nn.init.xavier_uniform_"):
        mod.xavier_uniform_(torch.empty(3, 4))  # called by the grader: no student frame
    assert trap.violations == ["torch.nn.init.xavier_uniform_"]
    assert mod.own(1) == 1
