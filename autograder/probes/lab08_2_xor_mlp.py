"""Lab 8-2 probes: call the student's XOR network code and report what came out."""
import torch
from torch import nn

from autograder.probes.common import GradProbe, layers, linears, outcome, state, type_names


def _build(student, hidden, num_layers, defaults):
    return student.build_xor_mlp() if defaults else student.build_xor_mlp(hidden=hidden, num_layers=num_layers)


def _network(widths: list, start: dict, with_probe: bool = False) -> tuple[nn.Sequential, GradProbe]:
    """The grader's Linear/Sigmoid stack of the given widths, holding the grader's `start` state."""
    mods = []
    for n_in, n_out in zip(widths, widths[1:]):
        mods += [nn.Linear(n_in, n_out), nn.Sigmoid()]
    probe = GradProbe()
    model = nn.Sequential(*mods, *([probe] if with_probe else []))
    model.load_state_dict(start)
    return model, probe


def probe_xor_mlp(student, ctx, hidden, num_layers, defaults):
    """The structure build_xor_mlp returns: its layers and its number of parameters."""
    model = _build(student, hidden, num_layers, defaults)
    is_module = isinstance(model, nn.Module)
    return {"layers": layers(model), "n_params": sum(p.numel() for p in model.parameters()) if is_module else None}


def probe_xor_mlp_forward(student, ctx, hidden, num_layers, defaults, x):
    """A fresh build_xor_mlp network (asked for once its structure was judged): its Linear
    layers and its output on x."""
    model = _build(student, hidden, num_layers, defaults)
    return {"linears": linears(model), "output": model(x)}


def probe_xor_mlp_bad_sizes(student, ctx, cases):
    """What build_xor_mlp(**kwargs) did for each of the grader's invalid sizes."""
    return [outcome(lambda: student.build_xor_mlp(**kwargs)) for kwargs in cases]


def probe_train_xor(student, ctx, widths, start, X, Y, steps, lr):
    """train_xor on the grader's network (lr None: the default lr): the losses and the state after."""
    model, _ = _network(widths, start)
    if lr is None:
        losses = student.train_xor(model, X, Y, steps=steps)
    else:
        losses = student.train_xor(model, X, Y, steps=steps, lr=lr)
    return {"losses": losses, "state": state(model)}


def probe_predict(student, ctx, widths, start, X):
    """predict on the grader's network (state given) with a GradProbe after its last layer."""
    model, probe = _network(widths, start, with_probe=True)
    pred = student.predict(model, X)
    return {"pred": pred, "requires_grad": pred.requires_grad if isinstance(pred, torch.Tensor) else None,
            "grad_enabled": list(probe.grad_enabled)}


def probe_accuracy(student, ctx, widths, start, X, Y):
    """accuracy on the grader's network (state given)."""
    model, _ = _network(widths, start, with_probe=True)
    return student.accuracy(model, X, Y)


def probe_xor_try(student, ctx, hidden, num_layers, X, Y, steps, lr, grid):
    """One try: a fresh build_xor_mlp network trained by train_xor on (X, Y), then its outputs
    on X, and for the plots what train_xor returned (the losses) and its outputs on the
    grader's grid. A network that is not an nn.Sequential is described and not trained."""
    model = student.build_xor_mlp(hidden=hidden, num_layers=num_layers)
    if not isinstance(model, nn.Sequential):
        return {"types": type_names(model)}
    losses = student.train_xor(model, X, Y, steps=steps, lr=lr)
    with torch.no_grad():
        return {"types": type_names(model), "output": model(X), "grid": model(grid), "losses": losses}
