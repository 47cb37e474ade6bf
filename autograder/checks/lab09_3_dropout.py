"""Lab 9-3 checks: Dropout by hand (statistics, scaling, gradient, modes), the dropout MLP,
and the train/eval modes of train_epoch and evaluate."""
import torch
from torch import nn
from torch.nn.modules.dropout import _DropoutNd

from autograder.checks.common import (
    FALSE_FAIL, allclose, expect_value_error, assert_evaluate_counts_all_samples, assert_evaluate_sets_eval_mode,
    assert_train_epoch_matches_sgd, assert_train_epoch_sets_train_mode, hoeffding_t, layer_kind,
    assert_mnist_accuracy, max_abs_diff, tensor_like,
)

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


def _nonzero_input(shape, device="cpu"):
    """Values with |x| in [0.5, 1.5) and random signs: an exact zero in the output is a drop."""
    sign = torch.where(torch.rand(shape) < 0.5, -1.0, 1.0)
    return ((torch.rand(shape) + 0.5) * sign).to(device)


def _dropout(student, p):
    d = student.Dropout(p)
    assert isinstance(d, nn.Module), f"Dropout({p}) should be an nn.Module, found {type(d).__name__}"
    return d


def _forward(d, x, what):
    return tensor_like(d(x), what, shape=x.shape, dtype=x.dtype)


def test_dropout_zero_fraction(student):
    # Hoeffding: n = 10^6 independent drop indicators; P(|fraction - p| >= t) <= 2 exp(-2 n t^2).
    # Two values of p share FALSE_FAIL: t = sqrt(ln(4 / FALSE_FAIL) / (2 n)) = 0.0028, plus GRID.
    # p used as the keep probability is off by |1 - 2p| >= 0.4.
    ps = (0.2, 0.7)
    x = _nonzero_input((20, 50, 1000))
    n = x.numel()
    t = hoeffding_t(n, FALSE_FAIL / len(ps)) + GRID
    for p in ps:
        d = _dropout(student, p)
        d.train()
        out = _forward(d, x, f"Dropout({p}) output for a (20, 50, 1000) input")
        frac = (out == 0).double().mean().item()
        hint = " (is p used as the probability to keep?)" if abs(frac - (1 - p)) <= t else ""
        assert abs(frac - p) <= t, (
            f"Dropout({p}) in training mode: expected a fraction {p} of the {n} elements zeroed "
            f"(within {t:.4f}), found {frac:.4f}{hint}")


def test_dropout_scaling(student):
    x = _nonzero_input((300, 200))
    original = x.clone()
    for p in (0.25, 0.6):
        d = _dropout(student, p)
        d.train()
        out = _forward(d, x, f"Dropout({p}) output")
        assert torch.equal(x, original), f"Dropout({p}) changed its input tensor in place; return a new tensor"
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
    d = _dropout(student, 0.0)
    d.train()
    out = _forward(d, x0, "Dropout(0.0) output")
    differ = (out != x0).sum().item()
    dropped = (out == 0).sum().item()
    assert differ <= 1 and dropped == differ, (
        f"Dropout(0.0) in training mode should return the input unchanged; {differ} of 4096 elements differ")
    d = _dropout(student, 1.0)
    d.train()
    out = _forward(d, x0, "Dropout(1.0) output")
    assert not torch.isnan(out).any(), "Dropout(1.0) in training mode returned NaN (0 / 0?); expected all zeros"
    assert (out == 0).all(), (
        f"Dropout(1.0) in training mode should zero every element; {(out != 0).sum().item()} of 4096 are nonzero")


def test_dropout_gradient(student):
    p = 0.4
    x = _nonzero_input((200, 300)).requires_grad_()
    d = _dropout(student, p)
    d.train()
    out = _forward(d, x, f"Dropout({p}) output")
    g = torch.randn(x.shape)
    assert out.requires_grad, f"Dropout({p}): the output is detached from the input; no gradient can flow back"
    out.backward(g)
    assert x.grad is not None, f"Dropout({p}): no gradient reached the input"
    mask = (out.detach() != 0).to(x.dtype)
    expected = g * mask / (1 - p)
    assert allclose(x.grad, expected, rtol=1e-5, atol_scale=1e-6), (
        f"Dropout({p}): d(out)/d(x) should be mask / (1 - p) (0 for dropped elements, {1 / (1 - p):.4f} for kept "
        f"ones); the input gradient is off by up to {max_abs_diff(x.grad, expected):.3g}")


def test_dropout_eval_identity(student, device):
    x = _nonzero_input((50, 40), device)
    for p in (0.6, 1.0):
        d = _dropout(student, p)
        d.eval()
        out = _forward(d, x, f"Dropout({p}) output in eval mode")
        assert torch.equal(out, x), (
            f"Dropout({p}) in eval mode should return the input unchanged; "
            f"{(out != x).sum().item()} of {x.numel()} elements differ")
    d = _dropout(student, 0.6)
    d.eval()
    d.train()
    out = _forward(d, x, "Dropout(0.6) output after .eval() then .train()")
    # 2000 elements all kept with probability 0.4^2000: the mode must follow self.training.
    assert (out == 0).any(), "Dropout(0.6) switched back to training mode still dropped nothing; follow self.training"
    model = student.build_dropout_mlp(p=0.5, hidden=32, num_hidden_layers=2, in_features=40, num_classes=3)
    model = model.to(device).eval()
    with torch.no_grad():
        y1 = tensor_like(model(x), "build_dropout_mlp(...) output", shape=(50, 3))
        y2 = tensor_like(model(x), "build_dropout_mlp(...) output", shape=(50, 3))
    assert torch.equal(y1, y2), (
        "build_dropout_mlp(p=0.5): in eval mode two forward passes on the same input differ; "
        "dropout must be off in eval mode")


def test_dropout_invalid_p(student):
    for p in (-0.1, 1.5, 2):
        expect_value_error(f"Dropout({p})", lambda: student.Dropout(p), "p must lie in [0, 1]")
    for p in (0, 0.3, 1):
        d = student.Dropout(p)
        assert getattr(d, "p", None) == p, f"Dropout({p}): expected attribute p == {p}, found {getattr(d, 'p', None)!r}"
    d = student.Dropout()
    assert getattr(d, "p", None) == 0.5, f"Dropout(): the default p should be 0.5, found {getattr(d, 'p', None)!r}"


def test_dropout_independent_masks(student):
    # Two independent Bernoulli(keep = 1 - p) indicators agree with probability q = p^2 + (1 - p)^2.
    # Each comparison below pairs disjoint elements, so Hoeffding applies to the agreement rate over
    # n pairs: t = sqrt(ln(2 * 3 / FALSE_FAIL) / (2 n)) (three comparisons share FALSE_FAIL), plus
    # 2 * GRID for the drop probability. A mask reused across calls, rows or columns agrees on 1.0.
    p = 0.3
    q = p ** 2 + (1 - p) ** 2
    x = _nonzero_input((400, 500))
    d = _dropout(student, p)
    d.train()
    m1 = _forward(d, x, f"Dropout({p}) output") != 0
    m2 = _forward(d, x, f"Dropout({p}) output") != 0
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


def _describe(model, student):
    kinds = []
    for m in model:
        if isinstance(m, student.Dropout):
            kinds.append(f"Dropout(p={getattr(m, 'p', '?')})")
        else:
            kinds.append(layer_kind(m))
    return kinds


def test_dropout_mlp_structure(student):
    assert isinstance(student.Dropout, type) and not issubclass(student.Dropout, _DropoutNd), (
        "Dropout must be written by hand, not derived from torch's nn.Dropout")
    cases = [
        ({"p": 0.35, "hidden": 48, "num_hidden_layers": 3, "in_features": 20, "num_classes": 7}, 0.35, 20, 48, 3, 7),
        ({"p": 0.1, "hidden": 16, "num_hidden_layers": 1, "in_features": 9, "num_classes": 4}, 0.1, 9, 16, 1, 4),
        ({}, 0.3, 784, 512, 4, 10),
    ]
    for kwargs, p, n_in, hidden, layers, n_out in cases:
        call = f"build_dropout_mlp({', '.join(f'{k}={v}' for k, v in kwargs.items())})"
        model = student.build_dropout_mlp(**kwargs)
        assert isinstance(model, nn.Sequential), f"{call}: expected an nn.Sequential, found {type(model).__name__}"
        torch_dropouts = [type(m).__name__ for m in model.modules() if isinstance(m, _DropoutNd)]
        assert not torch_dropouts, (
            f"{call}: found torch's {torch_dropouts[0]}; use the Dropout class written in this lab")
        expected = []
        for i in range(layers):
            expected += [f"Linear({n_in if i == 0 else hidden}->{hidden})", "relu", f"Dropout(p={p})"]
        expected.append(f"Linear({hidden if layers else n_in}->{n_out})")
        found = _describe(model, student)
        assert found == expected, f"{call}: expected the layers {expected}, found {found}"
    model = student.build_dropout_mlp(**cases[0][0]).eval()
    with torch.no_grad():
        tensor_like(model(torch.randn(5, 20)), "build_dropout_mlp(in_features=20, num_classes=7) output",
                    shape=(5, 7))


def test_train_epoch_sets_train_mode(student, device):
    assert_train_epoch_sets_train_mode(student.train_epoch, device)


def test_train_epoch_matches_sgd(student, device):
    assert_train_epoch_matches_sgd(student.train_epoch, device)


def test_evaluate_sets_eval_mode(student, device):
    assert_evaluate_sets_eval_mode(student.evaluate, device)


def test_evaluate_counts_all_samples(student, device):
    assert_evaluate_counts_all_samples(student.evaluate, device)


def _build_kwargs(params):
    return {k: params[k] for k in ("p", "hidden", "num_hidden_layers") if k in params}


def mnist_training(student, params):
    """(model, train_epoch) for the MNIST check and `autograder calibrate`: the student's model,
    trained by the student's train_epoch."""
    model = student.build_dropout_mlp(**_build_kwargs(params))
    assert isinstance(model, nn.Module), f"build_dropout_mlp: expected an nn.Module, found {type(model).__name__}"
    return model, student.train_epoch


def test_mnist_accuracy(student, device, mnist, params):
    build = ", ".join(f"{k}={v}" for k, v in _build_kwargs(params).items())
    model, train_epoch = mnist_training(student, params)
    assert_mnist_accuracy(f"build_dropout_mlp({build}) with your train_epoch", model, train_epoch, mnist, device, params)
