"""Lab 9-1 probes: call the student's build_mlp, make_optimizer, first_layer_grad_norm,
train_epoch and evaluate on the grader's inputs and report what came out."""
import torch
from torch import nn

from autograder.probes.common import ModeProbe, layers, mnist_epoch, outcome, state, type_names


def _build(student, hidden_sizes, activation, in_features, num_classes):
    if hidden_sizes is None:  # the defaults, as the student wrote them
        return student.build_mlp()
    return student.build_mlp(tuple(hidden_sizes), activation, in_features=in_features, num_classes=num_classes)


# --- build_mlp -----------------------------------------------------------------------------


def probe_build_layers(student, ctx, hidden_sizes=None, activation=None, in_features=None, num_classes=None):
    """The layers of build_mlp(...) as plain data (probes.common.layers)."""
    return layers(_build(student, hidden_sizes, activation, in_features, num_classes))


def probe_build_output(student, ctx, hidden_sizes, activation, in_features, num_classes, x):
    """build_mlp(...)'s output on the grader's input x."""
    return _build(student, hidden_sizes, activation, in_features, num_classes)(x)


def probe_build_unknown(student, ctx, hidden_sizes, activation):
    return outcome(lambda: student.build_mlp(tuple(hidden_sizes), activation))


# --- make_optimizer ------------------------------------------------------------------------


def probe_make_optimizer(student, ctx, optimizer, lr):
    """make_optimizer(optimizer, params, lr) on a fresh nn.Linear(3, 2): the optimizer's classes, the
    learning rate of every parameter group and, for every distinct tensor it holds, its
    position among the model's parameters (None for a tensor that is not one of them)."""
    model = nn.Linear(3, 2)
    params = list(model.parameters())
    opt = student.make_optimizer(optimizer, model.parameters(), lr)
    found = {"types": type_names(opt), "lrs": None, "held": None}
    if isinstance(opt, torch.optim.Optimizer):
        found["lrs"] = [_number(g.get("lr")) for g in opt.param_groups]
        held, seen = [], set()
        for g in opt.param_groups:
            for p in g["params"]:
                if id(p) not in seen:
                    seen.add(id(p))
                    held.append(next((i for i, q in enumerate(params) if q is p), None))
        found["held"] = held
    return found


def _number(v):
    """A learning rate as plain data: a float subclass (numpy's float64) as a float."""
    return float(v) if isinstance(v, float) and type(v) is not float else v


def probe_make_optimizer_unknown(student, ctx, optimizer, lr):
    return outcome(lambda: student.make_optimizer(optimizer, nn.Linear(3, 2).parameters(), lr))


# --- first_layer_grad_norm -----------------------------------------------------------------


def small_net() -> nn.Sequential:
    """The network of the first_layer_grad_norm check (the grader builds the same one)."""
    return nn.Sequential(nn.Linear(12, 9), nn.Tanh(), nn.Linear(9, 7), nn.ReLU(), nn.Linear(7, 4))


def probe_grad_norm_calls(student, ctx, start, X, Y, grads):
    """first_layer_grad_norm three times on the grader's network (state `start`) on the device:
    once as handed over, once with the gradients `grads` left over from an earlier backward
    pass, and once more straight after; the three values it returned."""
    model = small_net()
    model.load_state_dict(start)
    model = model.to(ctx.device)
    X, Y = X.to(ctx.device), Y.to(ctx.device)
    found = [student.first_layer_grad_norm(model, X, Y)]
    for name, p in model.named_parameters():
        p.grad = grads[name].to(ctx.device).clone()
    found.append(student.first_layer_grad_norm(model, X, Y))
    found.append(student.first_layer_grad_norm(model, X, Y))
    return found


def probe_deep_grad_norm(student, ctx, hidden_sizes, activation, in_features, num_classes, weights, X, Y):
    """build_mlp(...) with its Linear layers (in module order) loaded with the grader's
    `weights`, on the device; what first_layer_grad_norm returns on it for (X, Y)."""
    model = _build(student, hidden_sizes, activation, in_features, num_classes)
    linear = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if len(linear) != len(weights) or any(
            m.weight.shape != w["weight"].shape or m.bias is None or m.bias.shape != w["bias"].shape
            for m, w in zip(linear, weights)):
        return {"changed": True}  # not the network it described a moment ago: the grader says so
    with torch.no_grad():
        for m, w in zip(linear, weights):
            m.weight.copy_(w["weight"])
            m.bias.copy_(w["bias"])
    model = model.to(ctx.device)
    return {"found": student.first_layer_grad_norm(model, X.to(ctx.device), Y.to(ctx.device))}


# --- train_epoch and evaluate --------------------------------------------------------------


def train_net() -> tuple[nn.Sequential, ModeProbe]:
    """The network of the train_epoch checks: a ModeProbe in front of 784 -> 16 -> 10."""
    probe = ModeProbe()
    return nn.Sequential(probe, nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 10)), probe


def _train_epoch(student, ctx, model, batches):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)  # a train_epoch that builds its own loss differs
    return student.train_epoch(model, [tuple(b) for b in batches], optimizer, criterion, ctx.device)


def probe_train_epoch_sgd(student, ctx, start, batches):
    """One train_epoch (SGD lr 0.2 momentum 0.9, cross-entropy with label smoothing 0.1) of the
    grader's network from state `start`, on the device: what it returned and the state after."""
    model, _ = train_net()
    model.load_state_dict(start)
    model = model.to(ctx.device)
    value = _train_epoch(student, ctx, model, batches)
    return {"returned": value, "state": state(model)}


def probe_train_epoch_modes(student, ctx, batches):
    """One train_epoch of a network handed over in eval mode: what it returned, what every
    forward pass saw, and where the model's parameters are afterwards."""
    model, probe = train_net()
    model = model.to(ctx.device)
    model.eval()
    value = _train_epoch(student, ctx, model, batches)
    params = list(model.parameters())
    return {"returned": value, "calls": probe.calls, "param_device": str(params[0].device) if params else None}


def probe_evaluate(student, ctx, weight, bias, batches, training):
    """evaluate on the grader's linear classifier (weights given, a ModeProbe in front), handed
    over in training mode or not: what it returned and what every forward pass saw."""
    probe = ModeProbe()
    model = nn.Sequential(probe, nn.Linear(784, 10))
    with torch.no_grad():
        model[1].weight.copy_(weight)
        model[1].bias.copy_(bias)
    model = model.to(ctx.device)
    model.train(training)
    value = student.evaluate(model, [tuple(b) for b in batches], ctx.device)
    return {"returned": value, "calls": probe.calls}


# --- MNIST ---------------------------------------------------------------------------------


def mnist_training(student, params):
    """(model, train_epoch) for the MNIST check and `autograder calibrate`: build_mlp(),
    trained by the student's train_epoch."""
    model = student.build_mlp()
    assert isinstance(model, nn.Module), f"build_mlp(): expected an nn.Module, found {type(model).__name__}"
    return model, student.train_epoch


def probe_mnist_epoch(student, ctx, **budget):
    return mnist_epoch(ctx, lambda: mnist_training(student, budget), budget)
