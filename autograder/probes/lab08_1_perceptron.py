"""Lab 8-1 probes: call the student's perceptron code and report what came out."""
import torch
from torch import nn

from autograder.probes.common import GradProbe, linears, outcome, state, type_names


def probe_logic_gate_data(student, ctx, gate):
    return student.logic_gate_data(gate)


def probe_logic_gate_unknown(student, ctx, gate):
    return outcome(lambda: student.logic_gate_data(gate))


def probe_perceptron(student, ctx, n_in, x):
    model = student.Perceptron(n_in) if n_in != 2 else student.Perceptron()
    is_module = isinstance(model, nn.Module)
    return {
        "types": type_names(model),
        "linears": linears(model) if is_module else [],
        "n_params": sum(p.numel() for p in model.parameters()) if is_module else None,
        "output": model(x),
    }


def probe_train_perceptron(student, ctx, X, Y, steps, lr):
    """train_perceptron on a fresh Perceptron(): its starting state, the losses, the state after."""
    model = student.Perceptron()
    start = linears(model)
    start = [{k: (v.detach().clone() if isinstance(v, torch.Tensor) else v) for k, v in d.items()} for d in start]
    losses = student.train_perceptron(model, X, Y, steps=steps, lr=lr)
    return {"start": start, "losses": losses, "end": linears(model), "state": state(model)}


def probe_trained_outputs(student, ctx, X, Y, steps, lr, grid):
    """A Perceptron() trained on (X, Y) by train_perceptron: its outputs on X, and for the
    plots what train_perceptron returned (the losses) and its outputs on the grader's grid."""
    model = student.Perceptron()
    losses = student.train_perceptron(model, X, Y, steps=steps, lr=lr)
    with torch.no_grad():
        return {"output": model(X), "grid": model(grid), "losses": losses}


def probe_predict_and_accuracy(student, ctx, weight, bias, X, Y):
    """predict and accuracy on the grader's own model (weights given), with a probe layer."""
    probe = GradProbe()
    model = nn.Sequential(nn.Linear(2, 1), nn.Sigmoid(), probe)
    with torch.no_grad():
        model[0].weight.copy_(weight)
        model[0].bias.copy_(bias)
    pred = student.predict(model, X)
    calls = list(probe.grad_enabled)
    return {"pred": pred, "requires_grad": pred.requires_grad if isinstance(pred, torch.Tensor) else None,
            "grad_enabled": calls, "accuracy": student.accuracy(model, X, Y)}
