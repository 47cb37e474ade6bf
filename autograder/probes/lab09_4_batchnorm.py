"""Lab 9-4 probes: build the student's BatchNorm1d and MLP, run them on the grader's inputs
and report what came out (outputs, gradients, parameters, buffers, structure). The
reference batch norm is the grader's, computed on its side; nothing here decides."""
import torch
from torch import nn

from autograder.probes.common import contract_probes, layers, mnist_epoch, type_names

BUFFERS = ("running_mean", "running_var", "num_batches_tracked")

probe_train_epoch_modes, probe_train_epoch_sgd, probe_evaluate_modes, probe_evaluate_on = contract_probes()


def _describe(value) -> dict:
    """An attribute as plain data: its classes and, for a tensor, its shape and a copy of its values."""
    found = {"types": type_names(value)}
    if isinstance(value, torch.Tensor):
        found.update(shape=list(value.shape), value=value.detach().clone())
    return found


def _snapshot(value):
    return value.detach().clone() if isinstance(value, torch.Tensor) else value


def _buffers(bn) -> dict:
    """The running statistics as the module holds them now (read afresh: they may be reassigned)."""
    buffers = dict(bn.named_buffers())
    present = [k for k in BUFFERS if k in buffers]
    return {
        "missing": [k for k in BUFFERS if k not in buffers],
        "values": {k: buffers[k].detach().clone() for k in present},
        "requires_grad": {k: bool(buffers[k].requires_grad) for k in present},
        "grad_fn": {k: buffers[k].grad_fn is not None for k in present},
    }


def _setup(student, ctx, num_features, kwargs, weight, bias, running=None):
    """The student's BatchNorm1d(num_features, **kwargs) on the device, with the grader's weight
    and bias (and running statistics) copied in. Returns (module, what was found); the module
    is None where it cannot take them (the grader reports what was found)."""
    bn = student.BatchNorm1d(num_features, **kwargs)
    found = {"types": type_names(bn), "params": {}}
    if not isinstance(bn, nn.Module):
        return None, found
    bn = bn.to(ctx.device)
    for name, value in (("weight", weight), ("bias", bias)):
        param = getattr(bn, name, None)
        found["params"][name] = _describe(param)
        if not (isinstance(param, nn.Parameter) and tuple(param.shape) == (num_features,)):
            return None, found
        with torch.no_grad():
            param.copy_(value)
    if running is not None:
        found["running"] = {}
        for name, value in running.items():
            buf = getattr(bn, name, None)
            found["running"][name] = _describe(buf)
            if not (isinstance(buf, torch.Tensor) and tuple(buf.shape) == tuple(value.shape)):
                return None, found
            with torch.no_grad():
                buf.copy_(value)
    return bn, found


def probe_bn_fresh(student, ctx, num_features, kwargs):
    """A fresh BatchNorm1d: its classes, weight and bias, parameter names and state_dict."""
    bn = student.BatchNorm1d(num_features, **kwargs)
    found = {"types": type_names(bn)}
    if not isinstance(bn, nn.Module):
        return found
    found["params"] = {name: _describe(getattr(bn, name, None)) for name in ("weight", "bias")}
    found["param_names"] = [name for name, _ in bn.named_parameters()]
    found["state"] = {k: _snapshot(v) for k, v in bn.state_dict().items()}
    return found


def probe_bn_forward(student, ctx, num_features, kwargs, weight, bias, x, mode, running=None):
    """The output for the batch x in the given mode (from the given running statistics, if
    any), without autograd."""
    bn, found = _setup(student, ctx, num_features, kwargs, weight, bias, running)
    if bn is None:
        return found
    getattr(bn, mode)()
    with torch.no_grad():
        found["output"] = bn(x.to(ctx.device))
    return found


def probe_bn_gradients(student, ctx, num_features, kwargs, weight, bias, mode, x, grad_output, running=None):
    """Forward on x in the given mode, then backward with the grader's grad_output: the output,
    whether it is attached to the graph, and the gradients of the input, weight and bias."""
    bn, found = _setup(student, ctx, num_features, kwargs, weight, bias, running)
    if bn is None:
        return found
    getattr(bn, mode)()
    x = x.to(ctx.device).clone().requires_grad_()
    out = bn(x)
    attached = isinstance(out, torch.Tensor) and bool(out.requires_grad)
    found.update(output=out, requires_grad=attached)
    if attached and tuple(out.shape) == tuple(x.shape) and out.dtype == x.dtype:
        out.backward(grad_output.to(ctx.device))
    found["input_grad"] = x.grad
    found["param_grads"] = {name: getattr(bn, name).grad for name in ("weight", "bias")}
    return found


def probe_bn_running_stats(student, ctx, num_features, kwargs, weight, bias, batches, x_grad):
    """Training-mode forward passes without autograd on each batch (the buffers after each),
    then one with autograd recording and a backward pass (the buffers after it)."""
    bn, found = _setup(student, ctx, num_features, kwargs, weight, bias)
    if bn is None:
        return found
    bn.train()
    found["steps"] = []
    for x in batches:
        with torch.no_grad():
            bn(x.to(ctx.device))
        found["steps"].append(_buffers(bn))
    x = x_grad.to(ctx.device).clone().requires_grad_()
    out = bn(x)
    attached = isinstance(out, torch.Tensor) and bool(out.requires_grad)
    found["grad_step"] = {"types": type_names(out), "requires_grad": attached}
    if attached:
        out.sum().backward()
    found["after_grad_step"] = _buffers(bn)
    return found


def probe_bn_eval(student, ctx, num_features, kwargs, weight, bias, running, x, rows):
    """In eval mode with the grader's running statistics: the buffers, the output for the batch
    x, the buffers after it, the outputs for single rows of x, and the buffers after those."""
    bn, found = _setup(student, ctx, num_features, kwargs, weight, bias, running)
    if bn is None:
        return found
    bn.eval()
    found["before"] = _buffers(bn)
    if found["before"]["missing"]:
        return found
    x = x.to(ctx.device)
    with torch.no_grad():
        found["output"] = _snapshot(bn(x))
    found["after_batch"] = _buffers(bn)
    found["rows"] = []
    for i in rows:
        with torch.no_grad():
            found["rows"].append(_snapshot(bn(x[i:i + 1])))
    found["after_rows"] = _buffers(bn)
    return found


def probe_bn_mlp(student, ctx, cases, x):
    """build_bn_mlp(**kwargs) for each case: its layers (probes.common.layers), the classes of
    all its modules and each layer's weight length; then the second case's output for x in
    training mode. `bn_class` names the student's BatchNorm1d class."""
    cls = student.BatchNorm1d
    found = {"bn_class": f"{cls.__module__}.{cls.__qualname__}" if isinstance(cls, type) else None, "cases": []}
    for kwargs in cases:
        model = student.build_bn_mlp(**kwargs)
        desc = layers(model)
        if desc["sequential"]:
            desc["modules"] = [type_names(m) for m in model.modules()]
            for entry, m in zip(desc["layers"], model):
                weight = getattr(m, "weight", None)
                entry["weight_len"] = weight.shape[0] if isinstance(weight, torch.Tensor) and weight.dim() else None
        found["cases"].append(desc)
    model = student.build_bn_mlp(**cases[1])
    if isinstance(model, nn.Module):
        model = model.train()
        with torch.no_grad():
            found["output"] = model(x)
    return found


# --- MNIST ----------------------------------------------------------------------------------


def _build_kwargs(params):
    return {k: params[k] for k in ("hidden",) if k in params}


def mnist_training(student, params):
    """(model, train_epoch) for the MNIST check and `autograder calibrate`: the student's model,
    trained by the student's train_epoch."""
    model = student.build_bn_mlp(**_build_kwargs(params))
    # Raised in the worker, this reaches the grader as "the check could not use what your code returned".
    assert isinstance(model, nn.Module), f"build_bn_mlp: expected an nn.Module, found {type(model).__name__}"
    return model, student.train_epoch


def probe_mnist_epoch(student, ctx, **budget):
    return mnist_epoch(ctx, lambda: mnist_training(student, budget), budget)
