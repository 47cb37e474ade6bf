"""Lab 9-3 probes: call the student's Dropout, build_dropout_mlp, train_epoch and evaluate and
report what came out. Dropout is random here: the probes return the raw outputs (and the input
gradient after a backward pass on the grader's gradient); the grader computes fractions,
scaling, masks and expected gradients from them."""
import torch
from torch import nn
from torch.nn.modules.dropout import _DropoutNd

from autograder.probes.common import contract_probes, layers, mnist_epoch, outcome, type_names

probe_train_epoch_modes, probe_train_epoch_sgd, probe_evaluate_modes, probe_evaluate_on = contract_probes()


def _number(value):
    """A float or int subclass (numpy's float64, ...) as the plain number it equals; else as is."""
    if isinstance(value, float) and type(value) is not float:
        return float(value)
    if isinstance(value, int) and not isinstance(value, bool) and type(value) is not int:
        return int(value)
    return value


def probe_dropout_forward(student, ctx, p, x, modes=("train",), calls=1, on_device=False, return_input=False):
    """Dropout(p), switched by calling its methods `modes` in order (e.g. ["eval", "train"]), then
    `calls` forward passes on x (moved to the device when on_device): its type, the outputs and,
    if asked, x as it is after the calls (to see in-place changes)."""
    x = x.to(ctx.device) if on_device else x
    d = student.Dropout(p)
    found = {"types": type_names(d)}
    if not isinstance(d, nn.Module):
        return found
    for mode in modes:
        getattr(d, mode)()
    found["outputs"] = [d(x) for _ in range(calls)]
    if return_input:
        found["input_after"] = x
    return found


def probe_dropout_backward(student, ctx, p, x, g):
    """Dropout(p) in training mode on x (requires grad), then backward with the grader's gradient g
    when the output is a tensor of x's shape and dtype attached to the graph: the output, whether
    it requires grad, and x.grad."""
    x = x.requires_grad_()
    d = student.Dropout(p)
    found = {"types": type_names(d)}
    if not isinstance(d, nn.Module):
        return found
    d.train()
    out = d(x)
    is_tensor = isinstance(out, torch.Tensor)
    found["output"] = out
    found["requires_grad"] = bool(is_tensor and out.requires_grad)
    if found["requires_grad"] and tuple(out.shape) == tuple(x.shape) and out.dtype == x.dtype:
        out.backward(g)
    found["grad"] = x.grad
    return found


def probe_dropout_invalid(student, ctx, ps):
    """What Dropout(p) did for each p (expected: ValueError)."""
    return [outcome(lambda p=p: student.Dropout(p)) for p in ps]


def probe_dropout_p(student, ctx, p=None):
    """The attribute p of Dropout(p), or of Dropout() when p is None (None if it has none)."""
    d = student.Dropout() if p is None else student.Dropout(p)
    return _number(getattr(d, "p", None))


def probe_dropout_class(student, ctx):
    """Whether Dropout is a class, and the qualified names of its bases."""
    cls = student.Dropout
    if not isinstance(cls, type):
        return {"is_class": False, "types": type_names(cls)}
    return {"is_class": True, "mro": [f"{c.__module__}.{c.__qualname__}" for c in cls.__mro__],
            "torch_dropout": issubclass(cls, _DropoutNd)}


def probe_dropout_mlp(student, ctx, kwargs):
    """build_dropout_mlp(**kwargs) described: the layers (probes.common.layers), for each whether it
    is this module's Dropout and its p, and any torch dropout module anywhere inside."""
    model = student.build_dropout_mlp(**kwargs)
    found = layers(model)
    if not isinstance(model, nn.Module):
        return found
    found["torch_dropouts"] = [type(m).__name__ for m in model.modules() if isinstance(m, _DropoutNd)]
    if found["sequential"]:
        for entry, m in zip(found["layers"], model):
            entry["student_dropout"] = isinstance(m, student.Dropout)
            if entry["student_dropout"]:
                entry["p"] = _number(getattr(m, "p", "?"))
    return found


def probe_dropout_mlp_eval(student, ctx, kwargs, x, calls=1, on_device=False):
    """build_dropout_mlp(**kwargs) in eval mode (on the device when on_device): its type and
    `calls` forward passes on x without autograd."""
    model = student.build_dropout_mlp(**kwargs)
    found = {"types": type_names(model)}
    if not isinstance(model, nn.Module):
        return found
    if on_device:
        model, x = model.to(ctx.device), x.to(ctx.device)
    model = model.eval()
    with torch.no_grad():
        found["outputs"] = [model(x) for _ in range(calls)]
    return found


# --- MNIST ----------------------------------------------------------------------------------


def build_kwargs(params):
    return {k: params[k] for k in ("p", "hidden", "num_hidden_layers") if k in params}


def mnist_training(student, params):
    """(model, train_epoch) for the MNIST check and `autograder calibrate`: the student's model,
    trained by the student's train_epoch."""
    model = student.build_dropout_mlp(**build_kwargs(params))
    if not isinstance(model, nn.Module):
        raise TypeError(f"build_dropout_mlp: expected an nn.Module, found {type(model).__name__}")
    return model, student.train_epoch


def probe_mnist_epoch(student, ctx, **budget):
    """The MNIST run's next epoch; `budget` (every setting of the check but its threshold)
    also carries build_dropout_mlp's arguments p, hidden and num_hidden_layers."""
    return mnist_epoch(ctx, lambda: mnist_training(student, budget), budget)
