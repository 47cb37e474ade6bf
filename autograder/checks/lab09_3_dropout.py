"""Lab 9-3 checks: Dropout by hand (statistics, scaling, gradient, modes), the dropout MLP,
and the train/eval modes of train_epoch and evaluate."""
import torch

from autograder.checks.common import (
    FALSE_FAIL, allclose, assert_mnist_accuracy, expect_value_error, hoeffding_t, is_a, judged, layer_kind,
    max_abs_diff, short_type, tensor_like)
from autograder.checks.contract import (  # noqa: F401 - checks of this lab (course.toml)
    test_evaluate_counts_all_samples, test_evaluate_sets_eval_mode, test_train_epoch_matches_sgd,
    test_train_epoch_sets_train_mode)

FORBIDDEN = [
    "torch.nn.functional.dropout",
    "torch.nn.functional.dropout1d",
    "torch.nn.functional.dropout2d",
    "torch.nn.functional.dropout3d",
    "torch.nn.functional.alpha_dropout",
    "torch.nn.functional.feature_alpha_dropout",
    "torch.dropout",
    "torch.dropout_",
    "torch.native_dropout",
    "torch.alpha_dropout",
    "torch.alpha_dropout_",
    "torch.feature_dropout",
    "torch.feature_dropout_",
    "torch.feature_alpha_dropout",
    "torch.feature_alpha_dropout_",
]

# A float32 uniform draw lives on a grid of 2^-24 and p is compared in float32, so the true
# drop probability of a correct mask (rand < p, or the complement of rand > p / rand >= p) is
# within 2 * 2^-24 + 2^-24 of p; 1e-6 covers that and is far below every tolerance below.
GRID = 1e-6

MODULE = "torch.nn.modules.module.Module"
DROPOUT_ND = "torch.nn.modules.dropout._DropoutNd"  # the base of torch's nn.Dropout family


def _nonzero_input(shape, generator=None):
    """Values with |x| in [0.5, 1.5) and random signs: an exact zero in the output is a drop."""
    sign = torch.where(torch.rand(shape, generator=generator) < 0.5, -1.0, 1.0)
    return (torch.rand(shape, generator=generator) + 0.5) * sign


def _assert_module(found, p):
    assert is_a(found, MODULE), f"Dropout({p}) should be an nn.Module, found {short_type(found)}"


def _forward(student, p, x, what, **how) -> list[torch.Tensor]:
    """The outputs of the student's Dropout(p) on x (probe dropout_forward; `how` picks the modes,
    the number of calls and the device), each checked to be a tensor shaped like x."""
    found = student.probe("dropout_forward", p=p, x=x, **how)
    _assert_module(found, p)
    return [tensor_like(out, what, shape=x.shape, dtype=x.dtype) for out in found["outputs"]]


def _plot_zero_fractions(student, plots):
    """The fraction of zeros Dropout(p) leaves in training mode, for p from 0 to 1 (20000
    elements each, drawn from the grader's own generator so that the verdict's draws stay put)."""
    x = _nonzero_input((100, 200), torch.Generator().manual_seed(0))
    ps = [i / 10 for i in range(11)]
    fractions = []
    for p in ps:
        try:
            out, = _forward(student, p, x, f"Dropout({p}) output")
            fractions.append((out == 0).double().mean().item())
        except Exception:  # noqa: BLE001 - a gap in the plot, whatever went wrong
            fractions.append(None)
    if any(f is not None for f in fractions):
        plots.record("dropout_zero_fraction", p=ps, fraction=fractions, n=x.numel())


def _plot_modes(student, plots, p=0.6):
    """Dropout(p)'s output against its input in training and in eval mode, 400 elements."""
    generator = torch.Generator().manual_seed(1)
    x = (torch.rand((20, 20), generator=generator) * 4 - 2)
    found = {}
    for mode in ("train", "eval"):
        out, = _forward(student, p, x, f"Dropout({p}) output in {mode} mode", modes=[mode])
        found[mode] = out.flatten()
    plots.record("dropout_modes", p=p, x=x.flatten(), **found)


def test_dropout_zero_fraction(student, plots):
    plots.then(_plot_zero_fractions, student, plots)
    # Hoeffding: n = 10^6 independent drop indicators; P(|fraction - p| >= t) <= 2 exp(-2 n t^2).
    # Two values of p share FALSE_FAIL: t = sqrt(ln(4 / FALSE_FAIL) / (2 n)) = 0.0028, plus GRID.
    # p used as the keep probability is off by |1 - 2p| >= 0.4.
    ps = (0.2, 0.7)
    x = _nonzero_input((20, 50, 1000))
    n = x.numel()
    t = hoeffding_t(n, FALSE_FAIL / len(ps)) + GRID
    for p in ps:
        out, = _forward(student, p, x, f"Dropout({p}) output for a (20, 50, 1000) input")
        frac = (out == 0).double().mean().item()
        hint = " (is p used as the probability to keep?)" if abs(frac - (1 - p)) <= t else ""
        assert abs(frac - p) <= t, (
            f"Dropout({p}) in training mode: expected a fraction {p} of the {n} elements zeroed "
            f"(within {t:.4f}), found {frac:.4f}{hint}")


def test_dropout_scaling(student):
    x = _nonzero_input((300, 200))
    for p in (0.25, 0.6):
        seen = student.probe("dropout_forward", p=p, x=x, return_input=True)
        _assert_module(seen, p)
        out = tensor_like(seen["outputs"][0], f"Dropout({p}) output", shape=x.shape, dtype=x.dtype)
        assert torch.equal(seen["input_after"], x), (
            f"Dropout({p}) changed its input tensor in place; return a new tensor")
        kept = out != 0
        found, expected = out[kept], x[kept] / (1 - p)
        assert allclose(found, expected, rtol=1e-5, atol_scale=1e-6), (
            f"Dropout({p}) in training mode: each kept element should be x / (1 - p) = x * {1 / (1 - p):.4f}; "
            f"found values off by up to {max_abs_diff(found, expected):.3g}"
            + (" (kept elements are not scaled at all)" if allclose(found, x[kept]) else ""))
    # p = 0: the identity. A mask drawn as rand > 0 drops a value that is exactly 0.0, which a
    # float32 draw hits with probability 2^-24; over n = 4096 elements two such drops happen
    # with probability <= C(n, 2) 2^-48 < 3e-8, so one dropped element is forgiven.
    x0 = _nonzero_input((64, 64))
    out, = _forward(student, 0.0, x0, "Dropout(0.0) output")
    differ = (out != x0).sum().item()
    dropped = (out == 0).sum().item()
    assert differ <= 1 and dropped == differ, (
        f"Dropout(0.0) in training mode should return the input unchanged; {differ} of 4096 elements differ")
    out, = _forward(student, 1.0, x0, "Dropout(1.0) output")
    assert not torch.isnan(out).any(), "Dropout(1.0) in training mode returned NaN (0 / 0?); expected all zeros"
    assert (out == 0).all(), (
        f"Dropout(1.0) in training mode should zero every element; {(out != 0).sum().item()} of 4096 are nonzero")


def test_dropout_gradient(student):
    p = 0.4
    x = _nonzero_input((200, 300))
    g = torch.randn(x.shape)
    # The worker runs forward and backward(g); the expected gradient comes from its output's mask.
    found = student.probe("dropout_backward", p=p, x=x, g=g)
    _assert_module(found, p)
    out = tensor_like(found["output"], f"Dropout({p}) output", shape=x.shape, dtype=x.dtype)
    assert found["requires_grad"], f"Dropout({p}): the output is detached from the input; no gradient can flow back"
    grad = found["grad"]
    assert grad is not None, f"Dropout({p}): no gradient reached the input"
    grad = tensor_like(grad, f"Dropout({p}) input gradient", shape=x.shape)
    mask = (out != 0).to(x.dtype)
    expected = g * mask / (1 - p)
    assert allclose(grad, expected, rtol=1e-5, atol_scale=1e-6), (
        f"Dropout({p}): d(out)/d(x) should be mask / (1 - p) (0 for dropped elements, {1 / (1 - p):.4f} for kept "
        f"ones); the input gradient is off by up to {max_abs_diff(grad, expected):.3g}")


def test_dropout_eval_identity(student, plots):
    plots.then(_plot_modes, student, plots)
    x = _nonzero_input((50, 40))
    for p in (0.6, 1.0):
        out, = _forward(student, p, x, f"Dropout({p}) output in eval mode", modes=["eval"], on_device=True)
        assert torch.equal(out, x), (
            f"Dropout({p}) in eval mode should return the input unchanged; "
            f"{(out != x).sum().item()} of {x.numel()} elements differ")
    out, = _forward(student, 0.6, x, "Dropout(0.6) output after .eval() then .train()", modes=["eval", "train"],
                    on_device=True)
    # 2000 elements all kept with probability 0.4^2000: the mode must follow self.training.
    assert (out == 0).any(), "Dropout(0.6) switched back to training mode still dropped nothing; follow self.training"
    # The MLP part: build_dropout_mlp has a check of its own (dropout_mlp_structure), so a
    # renamed build_dropout_mlp is charged there, not here (common.judged).
    if "build_dropout_mlp" not in judged(student, ("Dropout", "build_dropout_mlp")):
        return
    kwargs = {"p": 0.5, "hidden": 32, "num_hidden_layers": 2, "in_features": 40, "num_classes": 3}
    found = student.probe("dropout_mlp_eval", kwargs=kwargs, x=x, calls=2, on_device=True)
    assert is_a(found, MODULE), f"build_dropout_mlp(p=0.5): expected an nn.Module, found {short_type(found)}"
    y1, y2 = (tensor_like(y, "build_dropout_mlp(...) output", shape=(50, 3)) for y in found["outputs"])
    assert torch.equal(y1, y2), (
        "build_dropout_mlp(p=0.5): in eval mode two forward passes on the same input differ; "
        "dropout must be off in eval mode")


def test_dropout_invalid_p(student):
    ps = (-0.1, 1.5, 2)
    for p, result in zip(ps, student.probe("dropout_invalid", ps=ps)):
        expect_value_error(f"Dropout({p})", result, "p must lie in [0, 1]")
    for p in (0, 0.3, 1):
        found = student.probe("dropout_p", p=p)
        assert found == p, f"Dropout({p}): expected attribute p == {p}, found {found!r}"
    found = student.probe("dropout_p")
    assert found == 0.5, f"Dropout(): the default p should be 0.5, found {found!r}"


def test_dropout_independent_masks(student):
    # Two independent Bernoulli(keep = 1 - p) indicators agree with probability q = p^2 + (1 - p)^2.
    # Each comparison below pairs disjoint elements, so Hoeffding applies to the agreement rate over
    # n pairs: t = sqrt(ln(2 * 3 / FALSE_FAIL) / (2 n)) (three comparisons share FALSE_FAIL), plus
    # 2 * GRID for the drop probability. A mask reused across calls, rows or columns agrees on 1.0.
    p = 0.3
    q = p ** 2 + (1 - p) ** 2
    x = _nonzero_input((400, 500))
    m1, m2 = (out != 0 for out in _forward(student, p, x, f"Dropout({p}) output", calls=2))
    comparisons = {
        "even and odd rows (samples) of one call": (m1[0::2], m1[1::2]),
        "even and odd columns (features) of one call": (m1[:, 0::2], m1[:, 1::2]),
        "two calls on the same input": (m1, m2),
    }
    for what, (a, b) in comparisons.items():
        n = a.numel()
        t = hoeffding_t(n, FALSE_FAIL / len(comparisons)) + 2 * GRID
        agree = (a == b).double().mean().item()
        assert abs(agree - q) <= t, (
            f"Dropout({p}): the drop masks of {what} should be independent and agree on a fraction "
            f"{q:.2f} of the elements (within {t:.4f}), found {agree:.4f}; draw a fresh mask for every element "
            "on every call")


def _describe(found: dict) -> list[str]:
    """The layers of a described build_dropout_mlp(...): this lab's Dropout with its p, else layer_kind."""
    return [f"Dropout(p={e.get('p', '?')})" if e.get("student_dropout") else layer_kind(e) for e in found["layers"]]


def test_dropout_mlp_structure(student):
    cls = student.probe("dropout_class")
    assert cls["is_class"] and DROPOUT_ND not in cls["mro"], (
        "Dropout must be written by hand, not derived from torch's nn.Dropout")
    cases = [
        ({"p": 0.35, "hidden": 48, "num_hidden_layers": 3, "in_features": 20, "num_classes": 7}, 0.35, 20, 48, 3, 7),
        ({"p": 0.1, "hidden": 16, "num_hidden_layers": 1, "in_features": 9, "num_classes": 4}, 0.1, 9, 16, 1, 4),
        ({}, 0.3, 784, 512, 4, 10),
    ]
    for kwargs, p, n_in, hidden, layers, n_out in cases:
        call = f"build_dropout_mlp({', '.join(f'{k}={v}' for k, v in kwargs.items())})"
        found = student.probe("dropout_mlp", kwargs=kwargs)
        assert found.get("sequential"), f"{call}: expected an nn.Sequential, found {short_type(found)}"
        torch_dropouts = found["torch_dropouts"]
        assert not torch_dropouts, (
            f"{call}: found torch's {torch_dropouts[0]}; use the Dropout class written in this lab")
        expected = []
        for i in range(layers):
            expected += [f"Linear({n_in if i == 0 else hidden}->{hidden})", "relu", f"Dropout(p={p})"]
        expected.append(f"Linear({hidden if layers else n_in}->{n_out})")
        found = _describe(found)
        assert found == expected, f"{call}: expected the layers {expected}, found {found}"
    found = student.probe("dropout_mlp_eval", kwargs=cases[0][0], x=torch.randn(5, 20))
    tensor_like(found["outputs"][0], "build_dropout_mlp(in_features=20, num_classes=7) output", shape=(5, 7))






def test_mnist_accuracy(student, test_labels, params, plots):
    build = ", ".join(f"{k}={params[k]}" for k in ("p", "hidden", "num_hidden_layers") if k in params)
    assert_mnist_accuracy(f"build_dropout_mlp({build}) with your train_epoch", student, test_labels, params, plots)
