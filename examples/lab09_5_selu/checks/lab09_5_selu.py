"""Lab 9-5 (example) checks: selu's values against torch's definition, and the SELU layer.

Every expected value is computed here, on the grader's side, from inputs chosen here; the
student's code runs in the worker (probes/lab09_5_selu.py)."""
import torch

from autograder.checks.common import allclose, is_a, max_abs_diff, short_type, tensor_like

FORBIDDEN = ["torch.nn.functional.selu", "torch.selu", "torch.selu_"]


def _inputs() -> torch.Tensor:
    # Both sides of 0, 0 itself, and values far out where exp under- or overflows.
    return torch.cat([torch.linspace(-8, 8, 161), torch.tensor([0.0, -50.0, 30.0]), torch.randn(200) * 3])


def test_selu_values(student):
    x = _inputs()
    found = tensor_like(student.probe("selu", x=x), "selu(x)", shape=x.shape, dtype=x.dtype)
    expected = torch.nn.functional.selu(x)
    assert allclose(found, expected, rtol=1e-5, atol_scale=1e-6), (
        f"selu: expected SCALE * (x if x > 0 else ALPHA * (exp(x) - 1)); the output differs by up to "
        f"{max_abs_diff(found, expected):.3g} (at x = {x[(found - expected).abs().argmax()].item():.3g})")


def test_selu_module(student):
    x = _inputs().reshape(4, -1)
    found = student.probe("selu_module", x=x)
    assert is_a(found, "torch.nn.modules.module.Module"), f"SELU() should be an nn.Module, found {short_type(found)}"
    assert found["n_params"] == 0, f"SELU() should have no parameters, found {found['n_params']}"
    out = tensor_like(found["output"], "SELU()(x)", shape=x.shape)
    assert allclose(out, torch.nn.functional.selu(x), rtol=1e-5, atol_scale=1e-6), "SELU()(x) should equal selu(x)"
