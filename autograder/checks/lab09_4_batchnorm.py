"""Lab 9-4 checks: BatchNorm1d by hand against torch.nn.BatchNorm1d (parameters and buffers,
outputs, gradients, running statistics, eval mode), the BN MLP, and the train/eval loop.

The student's module runs in the worker (probes/lab09_4_batchnorm.py), on the weight, bias,
running statistics and batches chosen here; every reference is torch.nn.BatchNorm1d built
here, on the CPU, from those same inputs."""
import torch
from torch import nn

from autograder.checks.common import (
    allclose, assert_mnist_accuracy, is_a, kind, layer_kind, max_abs_diff, short_type, tensor_like)
from autograder.checks.contract import (  # noqa: F401 - checks of this lab (course.toml)
    test_evaluate_counts_all_samples, test_evaluate_sets_eval_mode, test_train_epoch_matches_sgd,
    test_train_epoch_sets_train_mode)

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
MODULE = "torch.nn.modules.module.Module"
PARAMETER = "torch.nn.parameter.Parameter"
TORCH_NORM = "torch.nn.modules.batchnorm._NormBase"

# Columns of the test batches as (mean, std): ordinary features, a wide one, two whose
# variance is at or below eps (where eps inside the square root matters), and a dead ReLU
# unit (all zeros: variance 0, so only eps keeps the division finite).
FEATURES = [(0.5, 1.0), (-3.0, 10.0), (1e-3, 1e-3), (0.2, 0.1), (0.0, 3e-3), (0.0, 0.0)]
C = len(FEATURES)


def _batch(n):
    mean = torch.tensor([m for m, _ in FEATURES])
    std = torch.tensor([s for _, s in FEATURES])
    return mean + std * torch.randn(n, C)


def _call(num_features, kwargs):
    return f"BatchNorm1d({', '.join([str(num_features)] + [f'{k}={v}' for k, v in kwargs.items()])})"


def _weight_and_bias(num_features=C):
    """The random weight and bias the grader copies into the student's module and its own."""
    return torch.randn(num_features) * 1.5, torch.randn(num_features)


def _running_stats():
    """Running statistics like those the FEATURES would leave: (mean, var), var 0 for the dead unit."""
    mean = torch.tensor([m for m, _ in FEATURES]) + torch.tensor([s for _, s in FEATURES]) * 0.3 * torch.randn(C)
    var = torch.tensor([s * s for _, s in FEATURES]) * (0.5 + torch.rand(C))
    return {"running_mean": mean, "running_var": var}


def _reference(kwargs, weight, bias, running=None, num_features=C):
    """torch.nn.BatchNorm1d on the CPU holding the grader's weight, bias (and running statistics)."""
    ref = nn.BatchNorm1d(num_features, **kwargs)
    with torch.no_grad():
        ref.weight.copy_(weight)
        ref.bias.copy_(bias)
        for name, value in (running or {}).items():
            getattr(ref, name).copy_(value)
    return ref


def _assert_module(found, call):
    assert is_a(found, MODULE), f"{call} should be an nn.Module, found {short_type(found)}"


def _assert_param(desc, name, call, num_features):
    assert is_a(desc, PARAMETER), f"{call}: expected `{name}` to be an nn.Parameter, found {short_type(desc)}"
    assert tuple(desc["shape"]) == (num_features,), (
        f"{call}: expected `{name}` of shape ({num_features},), found {tuple(desc['shape'])}")


def _assert_setup(found, call, num_features=C, running=None):
    """What the probe found while copying the grader's weight, bias (and running statistics) in."""
    _assert_module(found, call)
    for name in ("weight", "bias"):
        _assert_param(found["params"][name], name, call, num_features)
    for name, value in (running or {}).items():
        buf = found["running"][name]
        assert "shape" in buf and tuple(buf["shape"]) == tuple(value.shape), (
            f"{call}: expected a buffer `{name}` of shape {tuple(value.shape)}, found "
            f"{tuple(buf['shape']) if 'shape' in buf else short_type(buf)}")


def _buffers(seen, call):
    """The running statistics the probe read from the module (probes' _buffers)."""
    missing = seen["missing"]
    assert not missing, f"{call}: the buffers lack {missing}; register the running statistics with register_buffer"
    return seen["values"]


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


def test_bn_parameters_and_buffers(student):
    for num_features, kwargs in ((7, {}), (3, {"eps": 1e-3, "momentum": 0.3})):
        call = _call(num_features, kwargs)
        found = student.probe("bn_fresh", num_features=num_features, kwargs=kwargs)
        _assert_module(found, call)
        assert not is_a(found, TORCH_NORM), f"{call}: write BatchNorm1d by hand, not derived from torch's"
        params = found["params"]
        for name in ("weight", "bias"):
            _assert_param(params[name], name, call, num_features)
        weight, bias = params["weight"]["value"], params["bias"]["value"]
        assert torch.equal(weight, torch.ones(num_features)), (
            f"{call}: `weight` should start as ones, found {weight.tolist()}")
        assert torch.equal(bias, torch.zeros(num_features)), (
            f"{call}: `bias` should start as zeros, found {bias.tolist()}")
        names = sorted(found["param_names"])
        assert names == ["bias", "weight"], f"{call}: expected the parameters ['bias', 'weight'], found {names}"
        state, expected = found["state"], nn.BatchNorm1d(num_features, **kwargs).state_dict()
        assert isinstance(state, dict), f"{call}: state_dict() could not be read ({kind(state)})"
        assert sorted(state) == sorted(expected), (
            f"{call}: expected the state_dict keys {sorted(expected)} (as torch.nn.BatchNorm1d), found {sorted(state)}")
        for key, value in expected.items():
            value = tensor_like(state[key], f"{call} state_dict()[{key!r}]", shape=value.shape, dtype=value.dtype)
            assert torch.equal(value, expected[key]), (
                f"{call}: `{key}` should start as {expected[key].tolist()}, found {value.tolist()}")


def _feature_stats(out) -> dict:
    """Per-feature mean and (biased) variance of a (batch, features) output."""
    out = out.detach().double().cpu()
    return {"mean": out.mean(dim=0), "var": out.var(dim=0, unbiased=False)}


def _plot_modes(student, plots, kwargs, weight, bias, x):
    """Per-feature mean and variance of the student's BatchNorm1d output on x, in training
    mode and in eval mode (from the grader's running statistics), beside torch's."""
    running = _running_stats()
    found = {}
    for mode in ("train", "eval"):
        seen = student.probe("bn_forward", num_features=C, kwargs=kwargs, weight=weight, bias=bias, x=x, mode=mode,
                             running=running if mode == "eval" else None)
        out = tensor_like(seen.get("output"), f"BatchNorm1d output in {mode} mode", shape=x.shape)
        with torch.no_grad():
            expected = getattr(_reference(kwargs, weight, bias, running if mode == "eval" else None), mode)()(x)
        found[mode] = {"yours": _feature_stats(out), "torch": _feature_stats(expected)}
    plots.record("batchnorm_stats", features=C, **found)


def test_bn_train_forward(student, plots):
    for kwargs in ({}, {"eps": 1e-3}):
        call = _call(C, kwargs)
        weight, bias = _weight_and_bias()
        x = _batch(37)
        if not kwargs:
            plots.then(_plot_modes, student, plots, kwargs, weight, bias, x)
        found = student.probe("bn_forward", num_features=C, kwargs=kwargs, weight=weight, bias=bias, x=x,
                              mode="train")
        _assert_setup(found, call)
        out = tensor_like(found["output"], f"{call} output", shape=x.shape, dtype=x.dtype)
        with torch.no_grad():
            expected = _reference(kwargs, weight, bias).train()(x)
        assert not torch.isnan(out).any(), (
            f"{call} in training mode returned NaN for a feature that is constant 0 (a dead ReLU unit); "
            "eps belongs inside the square root: (x - mean) / sqrt(var + eps)")
        _assert_close(out, expected, f"{call} in training mode: the output for a (37, {C}) batch")


def _reference_forward_backward(module, x, g):
    x = x.clone().requires_grad_()
    out = module(x)
    out.backward(g)
    return out.detach(), x.grad


def test_bn_gradients(student):
    # Input gradients reach ~1/sqrt(var + eps) ~ 300 on the small-variance features: every
    # feature is compared on its own magnitude.
    for kwargs in ({}, {"eps": 1e-3}):
        for mode in ("train", "eval"):
            call = _call(C, kwargs)
            weight, bias = _weight_and_bias()
            running = _running_stats() if mode == "eval" else None
            x, g = _batch(29), torch.randn(29, C)
            found = student.probe("bn_gradients", num_features=C, kwargs=kwargs, weight=weight, bias=bias,
                                  mode=mode, x=x, grad_output=g, running=running)
            _assert_setup(found, call, running=running)
            where = f"{call} in {mode} mode"
            out = tensor_like(found["output"], f"{where}: BatchNorm1d output", shape=x.shape, dtype=x.dtype)
            assert found["requires_grad"] is True, (
                f"{where}: BatchNorm1d output is detached from the input; no gradient can flow back")
            ref = getattr(_reference(kwargs, weight, bias, running), mode)()
            ref_out, ref_gx = _reference_forward_backward(ref, x, g)
            gx = found["input_grad"]
            assert gx is not None, f"{where}: no gradient reached the input"
            gx = tensor_like(gx, f"{where}: the gradient with respect to the input", shape=x.shape)
            _assert_close(out, ref_out, f"{where}: the output")
            _assert_close(gx, ref_gx, f"{where}: the gradient with respect to the input")
            for name in ("weight", "bias"):
                grad = found["param_grads"][name]
                assert grad is not None, f"{where}: no gradient reached `{name}`"
                grad = tensor_like(grad, f"{where}: the gradient of `{name}`", shape=(C,))
                _assert_close_vector(grad, getattr(ref, name).grad, f"{where}: the gradient with respect to `{name}`")


def test_bn_running_stats(student):
    sizes = (16, 9, 30, 2, 23)
    for kwargs in ({"momentum": 0.3, "eps": 1e-3}, {}):
        call = _call(C, kwargs)
        weight, bias = _weight_and_bias()
        batches = [_batch(n) for n in sizes]
        x_grad = _batch(11)
        found = student.probe("bn_running_stats", num_features=C, kwargs=kwargs, weight=weight, bias=bias,
                              batches=batches, x_grad=x_grad)
        _assert_setup(found, call)
        ref = _reference(kwargs, weight, bias).train()
        for step, (x, seen) in enumerate(zip(batches, found["steps"], strict=True), start=1):
            with torch.no_grad():
                ref(x)
            buffers, expected = _buffers(seen, call), ref.state_dict()
            for key in BUFFERS:
                tensor_like(buffers[key], f"{call} {key} after {step} training steps", shape=expected[key].shape,
                            dtype=expected[key].dtype)
                assert not seen["requires_grad"][key] and not seen["grad_fn"][key], (
                    f"{call}: `{key}` records autograd history after a training step; update the running "
                    "statistics under torch.no_grad() or from detached values")
            nbt = buffers["num_batches_tracked"].item()
            assert nbt == step, f"{call}: after {step} training steps `num_batches_tracked` should be {step}, found {nbt}"
            for key in ("running_mean", "running_var"):
                _assert_close(
                    buffers[key], expected[key],
                    f"{call}: after {step} training steps (batches of 16, 9, 30, 2, 23 rows; the running variance "
                    f"uses the unbiased batch variance), `{key}`")
        # The update also happens when autograd is recording, as it does inside train_epoch.
        grad_step = found["grad_step"]
        assert grad_step["requires_grad"] is True, (
            f"{call}: in training mode with gradients on, the output is "
            + ("detached from the input; no gradient can flow back" if is_a(grad_step, "torch.Tensor")
               else f"a {short_type(grad_step)}, not a tensor"))
        ref(x_grad)
        seen = found["after_grad_step"]
        buffers = _buffers(seen, call)
        for key in BUFFERS:
            assert not seen["requires_grad"][key], (
                f"{call}: `{key}` records autograd history after a training step with gradients on; "
                "update the running statistics under torch.no_grad() or from detached values")
        for key in ("running_mean", "running_var"):
            found_key = tensor_like(buffers[key], f"{call} {key} after a training step with gradients on",
                                    shape=ref.state_dict()[key].shape)
            _assert_close(found_key, ref.state_dict()[key],
                          f"{call}: after a training step with gradients on, `{key}`")


def test_bn_eval_mode(student):
    kwargs = {"eps": 1e-3, "momentum": 0.2}
    call = _call(C, kwargs)
    weight, bias = _weight_and_bias()
    running = _running_stats()
    x, rows = _batch(20), (0, 7, 19)
    found = student.probe("bn_eval", num_features=C, kwargs=kwargs, weight=weight, bias=bias, running=running,
                          x=x, rows=list(rows))
    _assert_setup(found, call, running=running)
    before = _buffers(found["before"], call)
    out = tensor_like(found["output"], f"{call} output in eval mode", shape=x.shape, dtype=x.dtype)
    with torch.no_grad():
        expected = _reference(kwargs, weight, bias, running).eval()(x)
    _assert_close(out, expected, f"{call} in eval mode (normalizing with the running statistics): the output")
    _assert_unchanged(found["after_batch"], call, before)
    for i, row in zip(rows, found["rows"], strict=True):
        row = tensor_like(row, f"{call} output in eval mode for one row", shape=(1, C))
        assert allclose(row, out[i:i + 1]), (
            f"{call} in eval mode: row {i} alone gives a different output than inside the batch (differs by "
            f"{max_abs_diff(row, out[i:i + 1]):.3g}); eval mode must use the running statistics, not the batch's")
    _assert_unchanged(found["after_rows"], call, before)


def _assert_unchanged(seen, call, before):
    after = _buffers(seen, call)
    for key in BUFFERS:
        assert torch.equal(after[key], before[key]), (
            f"{call}: a forward pass in eval mode changed `{key}`; eval mode must update nothing")


def _describe(desc, bn_class):
    """The layers of a described nn.Sequential, the student's BatchNorm1d as 'BatchNorm1d(n)'."""
    kinds = []
    for entry in desc["layers"]:
        if bn_class is not None and is_a(entry, bn_class):
            n = entry.get("weight_len")
            kinds.append(f"BatchNorm1d({n if isinstance(n, int) else '?'})")
        else:
            kinds.append(layer_kind(entry))
    return kinds


def test_bn_mlp_structure(student):
    cases = [
        ({"hidden": 24}, True, 784, 24, 10),
        ({"hidden": 16, "in_features": 30, "num_classes": 4}, True, 30, 16, 4),
        ({"hidden": 16, "use_batchnorm": False, "in_features": 30, "num_classes": 4}, False, 30, 16, 4),
        ({}, True, 784, 32, 10),
    ]
    found = student.probe("bn_mlp", cases=[c[0] for c in cases], x=torch.randn(8, 30))
    for (kwargs, use_bn, n_in, hidden, n_out), desc in zip(cases, found["cases"], strict=True):
        call = f"build_bn_mlp({', '.join(f'{k}={v}' for k, v in kwargs.items())})"
        assert desc.get("sequential") is True, f"{call}: expected an nn.Sequential, found {short_type(desc)}"
        torch_bns = [types[0].rsplit(".", 1)[-1] for types in desc["modules"] if TORCH_NORM in types]
        assert not torch_bns, f"{call}: found torch's {torch_bns[0]}; use the BatchNorm1d class written in this lab"
        bn = [f"BatchNorm1d({hidden})"] if use_bn else []
        expected = ([f"Linear({n_in}->{hidden})"] + bn + ["relu", f"Linear({hidden}->{hidden})"] + bn
                    + ["relu", f"Linear({hidden}->{n_out})"])
        layers = _describe(desc, found["bn_class"])
        hint = " (normalization comes before the activation)" if sorted(layers) == sorted(expected) else ""
        assert layers == expected, f"{call}: expected the layers {expected}, found {layers}{hint}"
    tensor_like(found.get("output"), "build_bn_mlp(hidden=16, in_features=30, num_classes=4) output", shape=(8, 4))






def test_mnist_accuracy(student, test_labels, params, plots):
    build = ", ".join(f"{k}={v}" for k, v in params.items() if k == "hidden")
    assert_mnist_accuracy(f"build_bn_mlp({build}) with your train_epoch", student, test_labels, params, plots)
