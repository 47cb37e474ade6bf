"""Probes of `autograder experiments`: train the student's models the lecture's way and report
plain data (losses, gradient norms, predicted classes, activations).

The worker serves this module when its spec names it (boundary/remote.spec_for(probes=...)),
beside the lab module of the student that the spec names. Nothing here decides anything:
the accuracies (from the predicted classes; the test labels never come here), statistics
and verdicts are computed on the grader's side, in autograder/experiments/.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from autograder.boundary.student import import_module
from autograder.course.mnist import Batches
from autograder.probes.common import MnistRun, predict


def _float(value) -> float | None:
    """A reported number as a float (a 0-d tensor included), None when it is not one."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if math.isfinite(value) else None
    return None


def _floats(values) -> list[float | None] | None:
    """What a training loop returned, as a list of floats (None where an entry is not a
    number); None when it is not a list or tuple."""
    return [_float(v) for v in values] if isinstance(values, (list, tuple)) else None


def _images(ctx, samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `samples` training images, flattened to (N, 784) float32 in [0, 1], and their labels."""
    images = ctx.mnist["train_images"][:samples]
    return images.reshape(len(images), -1).to(torch.float32).div(255.0), ctx.mnist["train_labels"][:samples].clone()


# --- experiment 1: XOR ---------------------------------------------------------------------


def probe_xor_curve(student, ctx, net, steps, lr, X, Y, hidden=2, num_layers=2):
    """A fresh network trained on XOR by the student's loop: lab 8-1's Perceptron with
    train_perceptron (net "perceptron"), or lab 8-2's build_xor_mlp with train_xor. The loss of
    every step, and the network's outputs on the four rows after training."""
    if net == "perceptron":
        model = student.Perceptron(2)
        losses = student.train_perceptron(model, X, Y, steps=steps, lr=lr)
    else:
        model = student.build_xor_mlp(hidden=hidden, num_layers=num_layers)
        losses = student.train_xor(model, X, Y, steps=steps, lr=lr)
    with torch.no_grad():
        return {"losses": _floats(losses), "output": model(X)}


def probe_xor_try(student, ctx, hidden, num_layers, steps, lr, X, Y):
    """One try of lab 8-2's xor_learned check: a fresh build_xor_mlp network trained by
    train_xor; its outputs on the four rows (the grader sees whether it solved XOR)."""
    model = student.build_xor_mlp(hidden=hidden, num_layers=num_layers)
    student.train_xor(model, X, Y, steps=steps, lr=lr)
    with torch.no_grad():
        return {"output": model(X)}


# --- experiment 2: the vanishing gradient ----------------------------------------------------


def probe_grad_norms(student, ctx, activation, depths, width, samples):
    """The first layer's gradient norm from lab 9-1's first_layer_grad_norm, on a fresh
    build_mlp((width,) * depth, activation) for each depth, on the first `samples` training images."""
    images, labels = _images(ctx, samples)
    norms = []
    for depth in depths:
        model = student.build_mlp(hidden_sizes=(width,) * depth, activation=activation)
        norms.append(_float(student.first_layer_grad_norm(model, images, labels)))
    return {"norms": norms}


# --- the MNIST runs of experiments 2, 4, 5 and 6 ---------------------------------------------


def relu_stack(widths) -> nn.Sequential:
    """The kit's MLP: Linear layers of the given widths with a ReLU between each two."""
    mods: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        mods += [nn.Linear(n_in, n_out)] + ([nn.ReLU()] if i < len(widths) - 2 else [])
    return nn.Sequential(*mods)


def build(student, recipe: dict) -> nn.Module:
    """The model of a recipe ("softmax": Linear(784, 10); "kit_mlp": relu_stack(widths); or the
    student's build_mlp, build_dropout_mlp or build_bn_mlp with kwargs), initialized as it says
    ("normal": torch.nn.init.normal_ on every Linear weight, as the lecture; "xavier_uniform":
    torch's; "student:METHOD": the student's init_linear_layers_(model, METHOD); none: torch's
    default)."""
    kind, kwargs = recipe["model"], dict(recipe.get("kwargs") or {})
    if kind == "softmax":
        model = nn.Linear(784, 10)
    elif kind == "kit_mlp":
        model = relu_stack(recipe["widths"])
    elif kind in ("build_mlp", "build_dropout_mlp", "build_bn_mlp"):
        if "hidden_sizes" in kwargs:
            kwargs["hidden_sizes"] = tuple(kwargs["hidden_sizes"])
        model = getattr(student, kind)(**kwargs)
    else:
        raise ValueError(f"unknown model {kind!r}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"{kind}: expected an nn.Module, found {type(model).__name__}")
    init = recipe.get("init")
    if init in ("normal", "xavier_uniform"):
        fill = nn.init.normal_ if init == "normal" else nn.init.xavier_uniform_
        for m in model.modules():
            if isinstance(m, nn.Linear):
                fill(m.weight)
    elif init and init.startswith("student:"):
        method = init.removeprefix("student:")
        if student.init_linear_layers_(model, method) is not model:
            raise TypeError(f"init_linear_layers_(model, {method!r}): expected the model it was given back")
    return model


def training_loop(student, ctx, loop: str):
    """The train_epoch a recipe trains with: the student's ("student"), or the one of the student's
    other lab module in the worker's folder ("module:NAME", e.g. lab 9-1's relu_mlp for lab 9-2)."""
    if loop == "student":
        return student.train_epoch
    name = loop.removeprefix("module:")
    return import_module(ctx.root / f"{name}.py", f"student_{name}").train_epoch


def probe_mnist_run(student, ctx, recipe, batch_size, lr, train_samples, epochs, train_eval=0, eval_twice=False):
    """The next `epochs` epochs of this worker's MNIST run (built from `recipe` on the first
    call; Adam with `lr`, shuffled batches of `batch_size` from the first `train_samples`
    training images, probes.common.MnistRun), then the predicted class of every test image
    (twice with eval_twice, to see whether eval mode is deterministic) and of the first
    `train_eval` training images."""
    run = ctx.kept.get("run")
    if run is None:
        model = build(student, recipe)
        run = ctx.kept["run"] = MnistRun.start(model, training_loop(student, ctx, recipe["loop"]), ctx.mnist,
                                               ctx.device, batch_size=batch_size, lr=lr, train_samples=train_samples)
    losses = [_float(run.train_epoch(run.model, run.train, run.optimizer, nn.CrossEntropyLoss(), run.device))
              for _ in range(epochs - 1)]
    seen = run.epoch()
    found = {"losses": [*losses, _float(seen["loss"])], "predictions": seen["predictions"]}
    if eval_twice:
        found["predictions_again"] = predict(run.model, run.test_images, run.device)
    if train_eval:
        found["train_predictions"] = predict(run.model, ctx.mnist["train_images"][:train_eval], run.device)
    return found


def probe_activations(student, ctx, recipe, samples):
    """A model built and initialized from `recipe`, before any training: the output of each of
    its ReLUs on the first `samples` training images."""
    model = build(student, recipe)
    outputs: list[torch.Tensor] = []
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.register_forward_hook(lambda module, args, out: outputs.append(out.detach().clone()))
    images, _ = _images(ctx, samples)
    with torch.no_grad():
        model(images)
    return {"layers": outputs}


# --- experiment 3: the optimizers ------------------------------------------------------------


def probe_optimizer_losses(student, ctx, optimizer, lr, steps, batch_size, hidden_sizes):
    """Lab 9-1's make_optimizer(optimizer, params, lr) on a fresh build_mlp(hidden_sizes), trained by
    the student's train_epoch one batch at a time (a loader of one batch per call), so that
    what it returns is the loss of each step; `steps` shuffled batches of the training set."""
    model = student.build_mlp(hidden_sizes=tuple(hidden_sizes), activation="relu").to(ctx.device)
    optimizer = student.make_optimizer(optimizer, model.parameters(), lr)
    generator = torch.Generator().manual_seed(torch.initial_seed())
    batches = Batches(ctx.mnist["train_images"].to(ctx.device), ctx.mnist["train_labels"].to(ctx.device), batch_size,
                      shuffle=True, generator=generator)
    criterion = nn.CrossEntropyLoss()
    losses = []
    for _, batch in zip(range(steps), batches):
        losses.append(_float(student.train_epoch(model, [batch], optimizer, criterion, ctx.device)))
    return {"losses": losses}
