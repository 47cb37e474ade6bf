"""Lab 9-4 checks: BatchNorm1d by hand against torch.nn.BatchNorm1d (parameters and buffers,
outputs, gradients, running statistics, eval mode), the BN MLP, and the train/eval loop."""
import torch
from torch import nn
from torch.nn.modules.batchnorm import _NormBase

from autograder.checks.common import (
    allclose, assert_evaluate_counts_all_samples, assert_evaluate_sets_eval_mode,
    assert_train_epoch_matches_sgd, assert_train_epoch_sets_train_mode, layer_kind, max_abs_diff,
    assert_mnist_accuracy, tensor_like,
)

FORBIDDEN = [
    "torch.nn.functional.batch_norm",
    "torch.batch_norm",
    "torch.native_batch_norm",
    "torch._native_batch_norm_legit",
    "torch._native_batch_norm_legit_no_training",
    "torch.cudnn_batch_norm",
    "torch.miopen_batch_norm",
]

BUFFERS = ("running_mean", "running_var", "num_batches_tracked")

# Columns of the test batches as (mean, std): ordinary features, a wide one, two whose
# variance is at or below eps (where eps inside the square root matters), and a dead ReLU
# unit (all zeros: variance 0, so only eps keeps the division finite).
FEATURES = [(0.5, 1.0), (-3.0, 10.0), (1e-3, 1e-3), (0.2, 0.1), (0.0, 3e-3), (0.0, 0.0)]
C = len(FEATURES)


def _batch(n, device):
    mean = torch.tensor([m for m, _ in FEATURES])
    std = torch.tensor([s for _, s in FEATURES])
    return (mean + std * torch.randn(n, C)).to(device)


def _bn(student, num_features, **kwargs):
    call = f"BatchNorm1d({', '.join([str(num_features)] + [f'{k}={v}' for k, v in kwargs.items()])})"
    bn = student.BatchNorm1d(num_features, **kwargs)
    assert isinstance(bn, nn.Module), f"{call} should be an nn.Module, found {type(bn).__name__}"
    return bn, call


def _param(bn, name, call, num_features):
    value = getattr(bn, name, None)
    assert isinstance(value, nn.Parameter), (
        f"{call}: expected `{name}` to be an nn.Parameter, found {type(value).__name__}")
    assert tuple(value.shape) == (num_features,), (
        f"{call}: expected `{name}` of shape ({num_features},), found {tuple(value.shape)}")
    return value


def _buffers(bn, call):
    """The running statistics as the module holds them now (read afresh: they may be reassigned)."""
    buffers = dict(bn.named_buffers())
    missing = [k for k in BUFFERS if k not in buffers]
    assert not missing, f"{call}: the buffers lack {missing}; register the running statistics with register_buffer"
    return {k: buffers[k] for k in BUFFERS}


def _running_stats():
    """Running statistics like those the FEATURES would leave: (mean, var), var 0 for the dead unit."""
    mean = torch.tensor([m for m, _ in FEATURES]) + torch.tensor([s for _, s in FEATURES]) * 0.3 * torch.randn(C)
    var = torch.tensor([s * s for _, s in FEATURES]) * (0.5 + torch.rand(C))
    return mean, var


def _set_running_stats(bn, call, mean, var):
    for name, value in (("running_mean", mean), ("running_var", var)):
        buf = getattr(bn, name, None)
        assert isinstance(buf, torch.Tensor) and tuple(buf.shape) == tuple(value.shape), (
            f"{call}: expected a buffer `{name}` of shape {tuple(value.shape)}, found "
            f"{tuple(buf.shape) if isinstance(buf, torch.Tensor) else type(buf).__name__}")
        with torch.no_grad():
            buf.copy_(value)


def _pair(student, device, num_features=C, **kwargs):
    """The student's BatchNorm1d and torch's, with the same random weight and bias, on `device`."""
    bn, call = _bn(student, num_features, **kwargs)
    bn = bn.to(device)
    ref = nn.BatchNorm1d(num_features, **kwargs).to(device)
    weight, bias = torch.randn(num_features) * 1.5, torch.randn(num_features)
    with torch.no_grad():
        for module in (bn, ref):
            _param(module, "weight", call, num_features).copy_(weight)
            _param(module, "bias", call, num_features).copy_(bias)
    return bn, ref, call


def _close_by_feature(a, b):
    """allclose feature by feature (each column its own magnitude): (ok, worst feature, its max difference)."""
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    if a.shape != b.shape:
        return False, None, float("inf")
    cols = range(b.shape[-1]) if b.dim() else [None]
    for j in cols:
        x, y = (a[..., j], b[..., j]) if j is not None else (a, b)
        if not allclose(x, y):
            return False, j, max_abs_diff(x, y)
    return True, None, 0.0


def _assert_close(found, expected, what):
    ok, j, diff = _close_by_feature(found, expected)
    assert ok, f"{what} differs from torch.nn.BatchNorm1d's at feature {j} by up to {diff:.3g}"


def _assert_close_vector(found, expected, what):
    """A parameter's gradient: sums over the batch of terms of similar size in every feature
    (one of which may cancel to near 0), compared on the magnitude of the whole vector."""
    assert allclose(found, expected), (
        f"{what} differs from torch.nn.BatchNorm1d's by up to {max_abs_diff(found, expected):.3g}")


def _forward_backward(module, x, g):
    x = x.clone().requires_grad_()
    out = module(x)
    out_t = tensor_like(out, "BatchNorm1d output", shape=x.shape, dtype=x.dtype)
    assert out_t.requires_grad, "BatchNorm1d output is detached from the input; no gradient can flow back"
    out.backward(g)
    return out_t.detach(), x.grad


def test_bn_parameters_and_buffers(student):
    for num_features, kwargs in ((7, {}), (3, {"eps": 1e-3, "momentum": 0.3})):
        bn, call = _bn(student, num_features, **kwargs)
        ref = nn.BatchNorm1d(num_features, **kwargs)
        assert not isinstance(bn, _NormBase), f"{call}: write BatchNorm1d by hand, not derived from torch's"
        weight = _param(bn, "weight", call, num_features)
        bias = _param(bn, "bias", call, num_features)
        assert torch.equal(weight.detach(), torch.ones(num_features)), (
            f"{call}: `weight` should start as ones, found {weight.detach().tolist()}")
        assert torch.equal(bias.detach(), torch.zeros(num_features)), (
            f"{call}: `bias` should start as zeros, found {bias.detach().tolist()}")
        names = sorted(name for name, _ in bn.named_parameters())
        assert names == ["bias", "weight"], f"{call}: expected the parameters ['bias', 'weight'], found {names}"
        state, expected = bn.state_dict(), ref.state_dict()
        assert sorted(state) == sorted(expected), (
            f"{call}: expected the state_dict keys {sorted(expected)} (as torch.nn.BatchNorm1d), found {sorted(state)}")
        for key, value in expected.items():
            found = tensor_like(state[key], f"{call} state_dict()[{key!r}]", shape=value.shape, dtype=value.dtype)
            assert torch.equal(found, value), (
                f"{call}: `{key}` should start as {value.tolist()}, found {found.tolist()}")


def test_bn_train_forward(student, device):
    for kwargs in ({}, {"eps": 1e-3}):
        bn, ref, call = _pair(student, device, **kwargs)
        bn.train()
        ref.train()
        x = _batch(37, device)
        with torch.no_grad():
            out = tensor_like(bn(x), f"{call} output", shape=x.shape, dtype=x.dtype)
            expected = ref(x)
        assert not torch.isnan(out).any(), (
            f"{call} in training mode returned NaN for a feature that is constant 0 (a dead ReLU unit); "
            "eps belongs inside the square root: (x - mean) / sqrt(var + eps)")
        _assert_close(out, expected, f"{call} in training mode: the output for a (37, {C}) batch")


def test_bn_gradients(student, device):
    # Input gradients reach ~1/sqrt(var + eps) ~ 300 on the small-variance features: every
    # feature is compared on its own magnitude.
    for kwargs in ({}, {"eps": 1e-3}):
        for mode in ("train", "eval"):
            bn, ref, call = _pair(student, device, **kwargs)
            if mode == "eval":
                mean, var = _running_stats()
                for module in (bn, ref):
                    _set_running_stats(module, call, mean, var)
            getattr(bn, mode)()
            getattr(ref, mode)()
            x, g = _batch(29, device), torch.randn(29, C, device=device)
            out, gx = _forward_backward(bn, x, g)
            ref_out, ref_gx = _forward_backward(ref, x, g)
            where = f"{call} in {mode} mode"
            assert gx is not None, f"{where}: no gradient reached the input"
            _assert_close(out, ref_out, f"{where}: the output")
            _assert_close(gx, ref_gx, f"{where}: the gradient with respect to the input")
            for name in ("weight", "bias"):
                grad = getattr(bn, name).grad
                assert grad is not None, f"{where}: no gradient reached `{name}`"
                grad = tensor_like(grad, f"{where}: the gradient of `{name}`", shape=(C,))
                _assert_close_vector(grad, getattr(ref, name).grad, f"{where}: the gradient with respect to `{name}`")


def test_bn_running_stats(student, device):
    for kwargs in ({"momentum": 0.3, "eps": 1e-3}, {}):
        bn, ref, call = _pair(student, device, **kwargs)
        bn.train()
        ref.train()
        for step, n in enumerate((16, 9, 30, 2, 23), start=1):
            x = _batch(n, device)
            with torch.no_grad():
                bn(x)
                ref(x)
            found, expected = _buffers(bn, call), ref.state_dict()
            for key in BUFFERS:
                tensor_like(found[key], f"{call} {key} after {step} training steps", shape=expected[key].shape,
                            dtype=expected[key].dtype)
                assert not found[key].requires_grad and found[key].grad_fn is None, (
                    f"{call}: `{key}` records autograd history after a training step; update the running "
                    "statistics under torch.no_grad() or from detached values")
            nbt = found["num_batches_tracked"].item()
            assert nbt == step, f"{call}: after {step} training steps `num_batches_tracked` should be {step}, found {nbt}"
            for key in ("running_mean", "running_var"):
                _assert_close(
                    found[key], expected[key],
                    f"{call}: after {step} training steps (batches of 16, 9, 30, 2, 23 rows; the running variance "
                    f"uses the unbiased batch variance), `{key}`")
        # The update also happens when autograd is recording, as it does inside train_epoch.
        x = _batch(11, device).requires_grad_()
        bn(x).sum().backward()
        ref(x.detach())
        found = _buffers(bn, call)
        for key in BUFFERS:
            assert not found[key].requires_grad, (
                f"{call}: `{key}` records autograd history after a training step with gradients on; "
                "update the running statistics under torch.no_grad() or from detached values")
        for key in ("running_mean", "running_var"):
            _assert_close(found[key], ref.state_dict()[key], f"{call}: after a training step with gradients on, `{key}`")


def test_bn_eval_mode(student, device):
    bn, ref, call = _pair(student, device, eps=1e-3, momentum=0.2)
    mean, var = _running_stats()
    for module in (bn, ref):
        _set_running_stats(module, call, mean, var)
    bn.eval()
    ref.eval()
    before = {k: v.clone() for k, v in _buffers(bn, call).items()}
    x = _batch(20, device)
    with torch.no_grad():
        out = tensor_like(bn(x), f"{call} output in eval mode", shape=x.shape, dtype=x.dtype)
        expected = ref(x)
    _assert_close(out, expected, f"{call} in eval mode (normalizing with the running statistics): the output")
    _assert_unchanged(bn, call, before)
    for i in (0, 7, 19):
        with torch.no_grad():
            row = tensor_like(bn(x[i:i + 1]), f"{call} output in eval mode for one row", shape=(1, C))
        assert allclose(row, out[i:i + 1]), (
            f"{call} in eval mode: row {i} alone gives a different output than inside the batch (differs by "
            f"{max_abs_diff(row, out[i:i + 1]):.3g}); eval mode must use the running statistics, not the batch's")
    _assert_unchanged(bn, call, before)


def _assert_unchanged(bn, call, before):
    after = _buffers(bn, call)
    for key in BUFFERS:
        assert torch.equal(after[key], before[key]), (
            f"{call}: a forward pass in eval mode changed `{key}`; eval mode must update nothing")


def _describe(model, student):
    kinds = []
    for m in model:
        if isinstance(m, student.BatchNorm1d):
            weight = getattr(m, "weight", None)
            kinds.append(f"BatchNorm1d({weight.shape[0] if isinstance(weight, torch.Tensor) else '?'})")
        else:
            kinds.append(layer_kind(m))
    return kinds


def test_bn_mlp_structure(student):
    cases = [
        ({"hidden": 24}, True, 784, 24, 10),
        ({"hidden": 16, "in_features": 30, "num_classes": 4}, True, 30, 16, 4),
        ({"hidden": 16, "use_batchnorm": False, "in_features": 30, "num_classes": 4}, False, 30, 16, 4),
        ({}, True, 784, 32, 10),
    ]
    for kwargs, use_bn, n_in, hidden, n_out in cases:
        call = f"build_bn_mlp({', '.join(f'{k}={v}' for k, v in kwargs.items())})"
        model = student.build_bn_mlp(**kwargs)
        assert isinstance(model, nn.Sequential), f"{call}: expected an nn.Sequential, found {type(model).__name__}"
        torch_bns = [type(m).__name__ for m in model.modules() if isinstance(m, _NormBase)]
        assert not torch_bns, f"{call}: found torch's {torch_bns[0]}; use the BatchNorm1d class written in this lab"
        bn = [f"BatchNorm1d({hidden})"] if use_bn else []
        expected = ([f"Linear({n_in}->{hidden})"] + bn + ["relu", f"Linear({hidden}->{hidden})"] + bn
                    + ["relu", f"Linear({hidden}->{n_out})"])
        found = _describe(model, student)
        hint = " (normalization comes before the activation)" if sorted(found) == sorted(expected) else ""
        assert found == expected, f"{call}: expected the layers {expected}, found {found}{hint}"
    model = student.build_bn_mlp(**cases[1][0]).train()
    with torch.no_grad():
        tensor_like(model(torch.randn(8, 30)), "build_bn_mlp(hidden=16, in_features=30, num_classes=4) output",
                    shape=(8, 4))


def test_train_epoch_sets_train_mode(student, device):
    assert_train_epoch_sets_train_mode(student.train_epoch, device)


def test_train_epoch_matches_sgd(student, device):
    assert_train_epoch_matches_sgd(student.train_epoch, device)


def test_evaluate_sets_eval_mode(student, device):
    assert_evaluate_sets_eval_mode(student.evaluate, device)


def test_evaluate_counts_all_samples(student, device):
    assert_evaluate_counts_all_samples(student.evaluate, device)


def _build_kwargs(params):
    return {k: params[k] for k in ("hidden",) if k in params}


def mnist_training(student, params):
    """(model, train_epoch) for the MNIST check and `autograder calibrate`: the student's model,
    trained by the student's train_epoch."""
    model = student.build_bn_mlp(**_build_kwargs(params))
    assert isinstance(model, nn.Module), f"build_bn_mlp: expected an nn.Module, found {type(model).__name__}"
    return model, student.train_epoch


def test_mnist_accuracy(student, device, mnist, params):
    build = ", ".join(f"{k}={v}" for k, v in _build_kwargs(params).items())
    model, train_epoch = mnist_training(student, params)
    assert_mnist_accuracy(f"build_bn_mlp({build}) with your train_epoch", model, train_epoch, mnist, device, params)
