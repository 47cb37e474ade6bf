"""What the lab probes share: describing models as plain data, recording layers, in-memory
loaders, and the MNIST training run. Runs in the worker; decides nothing."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from autograder.course.mnist import Batches


def outcome(fn) -> dict:
    """Call fn(); {"returned": type name} or {"raised": type name, "builtin": ..., "message": ...}.
    NotImplementedError passes through, so that a stub reads 'not implemented yet'."""
    try:
        value = fn()
    except NotImplementedError:
        raise
    except Exception as e:  # noqa: BLE001 - which exception it was is the observation
        builtin = next((c.__name__ for c in type(e).__mro__ if c.__module__ == "builtins"), "Exception")
        return {"raised": type(e).__name__, "builtin": builtin, "message": str(e)[:500]}
    return {"returned": type(value).__name__}


def type_names(obj) -> list[str]:
    """The qualified names of obj's classes, most derived first: the grader's isinstance."""
    return [f"{c.__module__}.{c.__qualname__}" for c in type(obj).__mro__]


def state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Parameters and buffers by name, as plain tensors."""
    return {k: v for k, v in model.state_dict().items() if isinstance(v, torch.Tensor)}


def linears(model: nn.Module) -> list[dict]:
    """Every nn.Linear in the model, in module order: sizes, weight and bias."""
    return [{"name": name, "in": m.in_features, "out": m.out_features, "weight": m.weight,
             "bias": m.bias if m.bias is not None else None}
            for name, m in model.named_modules() if isinstance(m, nn.Linear)]


ACTIVATION_PROBE = torch.linspace(-6.0, 6.0, 241).reshape(1, -1)


def layers(model) -> dict:
    """An nn.Sequential's layers as plain data: each Linear's sizes and parameters, and for any
    parameter-free layer what it computes on ACTIVATION_PROBE (the grader names the function)."""
    if not isinstance(model, nn.Sequential):
        return {"sequential": False, "types": type_names(model)}
    out = []
    for m in model:
        entry = {"types": type_names(m), "n_params": sum(p.numel() for p in m.parameters())}
        if isinstance(m, nn.Linear):
            entry.update({"in": m.in_features, "out": m.out_features})
        elif entry["n_params"] == 0:
            try:
                with torch.no_grad():
                    entry["response"] = m(ACTIVATION_PROBE.clone())
            except Exception:  # noqa: BLE001 - a layer that cannot take the probe computes nothing known
                entry["response"] = None
        out.append(entry)
    return {"sequential": True, "layers": out}


class GradProbe(nn.Module):
    """Identity that records whether autograd was recording each time it ran."""

    def __init__(self):
        super().__init__()
        self.grad_enabled = []

    def forward(self, x):
        self.grad_enabled.append(torch.is_grad_enabled())
        return x


class ModeProbe(nn.Module):
    """Identity that records, at each forward: training mode, autograd recording, input
    shape and whether the input was on the model's device."""

    def __init__(self):
        super().__init__()
        self.calls: list[dict] = []

    def forward(self, x):
        self.calls.append({"training": self.training, "grad": torch.is_grad_enabled(),
                           "shape": list(x.shape), "device": str(x.device)})
        return x


def loader(images: torch.Tensor, labels: torch.Tensor, batch_size: int) -> Batches:
    """An in-memory loader of the contract's form, on the CPU (the student's code must move
    each batch to the device)."""
    return Batches(images, labels, batch_size)


# --- the loop contract of labs 9-1, 9-3 and 9-4 ---------------------------------------------


def contract_mlp(device: str, hidden: int = 12, with_probe: bool = False) -> tuple[nn.Module, ModeProbe]:
    """784 -> hidden -> 10 with ReLU; with a ModeProbe nested one level deep (so that only a
    recursive model.train()/model.eval() reaches it)."""
    probe = ModeProbe()
    middle = nn.Sequential(nn.ReLU(), probe) if with_probe else nn.ReLU()
    return nn.Sequential(nn.Linear(784, hidden), middle, nn.Linear(hidden, 10)).to(device), probe


def train_epoch_modes(train_epoch, device: str, images, labels) -> dict:
    """train_epoch on a model handed in eval mode (as after evaluate()): what each forward saw."""
    model, probe = contract_mlp(device, hidden=16, with_probe=True)
    model.eval()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    value = train_epoch(model, loader(images, labels, 16), optimizer, nn.CrossEntropyLoss(), device)
    return {"returned": value, "calls": probe.calls}


def train_epoch_sgd(train_epoch, device: str, start: dict, grads: dict, images, labels, lr: float) -> dict:
    """One epoch of SGD(lr) by train_epoch from the grader's `start` state, with `grads` left over
    from an earlier backward pass; the state after it and what train_epoch returned."""
    model, _ = contract_mlp(device)
    model.load_state_dict(start)
    for name, p in model.named_parameters():
        p.grad = grads[name].to(device).clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    value = train_epoch(model, loader(images, labels, 16), optimizer, nn.CrossEntropyLoss(), device)
    return {"returned": value, "state": state(model)}


def evaluate_modes(evaluate, device: str, images, labels) -> dict:
    """evaluate on a model handed in training mode (as after train_epoch): what each forward saw."""
    model, probe = contract_mlp(device, hidden=16, with_probe=True)
    model.train()
    value = evaluate(model, loader(images, labels, 16), device)
    return {"returned": value, "calls": probe.calls}


def evaluate_on(evaluate, device: str, weight, bias, images, labels, batch_size: int) -> dict:
    """evaluate on the grader's linear classifier (weights given) over the given batches."""
    model = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        model.weight.copy_(weight)
        model.bias.copy_(bias)
    return {"returned": evaluate(model.to(device), loader(images, labels, batch_size), device)}


# --- MNIST ----------------------------------------------------------------------------------


def textbook_epoch(model: nn.Module, loader, optimizer, criterion, device="cpu") -> list[float]:
    """The textbook training pass: train mode; per batch zero_grad, forward on the flattened
    images moved to the device, loss, backward, step. Returns every batch's loss.

    The one loop of both sides: the grader's reference training (checks, on the CPU) and the
    loop of models whose students write no train_epoch (lab 9-2, the calibration baseline)."""
    model.train()
    losses = []
    for images, labels in loader:
        optimizer.zero_grad()
        loss = criterion(model(images.reshape(images.shape[0], -1).to(device)), labels.to(device))
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def textbook_train_epoch(model: nn.Module, loader, optimizer, criterion, device) -> float:
    """textbook_epoch with train_epoch's signature and result: the mean batch loss."""
    losses = textbook_epoch(model, loader, optimizer, criterion, device)
    return sum(losses) / len(losses)


@dataclass
class MnistRun:
    """The MNIST training of a check, one epoch at a time: the student's `train_epoch` on the
    course budget (Adam, shuffled in-memory batches on the device), and after each epoch the
    model's predicted class for every test image. The grader scores each epoch's predictions
    (the worker never sees the test labels) and stops the run once the threshold is reached.
    Every tensor lives on the device from the start: no batch is copied from the host."""

    model: nn.Module
    train_epoch: object
    train: Batches
    test_images: torch.Tensor
    optimizer: torch.optim.Optimizer
    device: str

    @classmethod
    def start(cls, model: nn.Module, train_epoch, mnist: dict | None, device: str, *, batch_size: int,
              lr: float, train_samples: int | None = None, **_) -> "MnistRun":
        if mnist is None:
            raise RuntimeError("MNIST is not prepared on the grading machine (the grader reports it)")
        n = train_samples or len(mnist["train_labels"])
        generator = torch.Generator().manual_seed(torch.initial_seed())
        train = Batches(mnist["train_images"][:n].to(device), mnist["train_labels"][:n].to(device), batch_size,
                        shuffle=True, generator=generator)
        model = model.to(device)
        params = list(model.parameters())
        # Fused Adam: the same update in one kernel per step, about a quarter of the epoch faster.
        fused = bool(params) and all(p.dtype == torch.float32 for p in params)
        return cls(model, train_epoch, train, mnist["test_images"].to(device),
                   torch.optim.Adam(params, lr=lr, fused=fused or None), device)

    def epoch(self) -> dict:
        """One more epoch: {"loss": what train_epoch returned, "predictions": int64 (10000,)}."""
        loss = self.train_epoch(self.model, self.train, self.optimizer, nn.CrossEntropyLoss(), self.device)
        return {"loss": loss, "predictions": predict(self.model, self.test_images, self.device)}


def mnist_epoch(ctx, build, budget: dict) -> dict:
    """The probe of every MNIST check: the next epoch of this check's run, started on the
    first call with `build()` -> (model, train_epoch). The run lives in the worker, which
    serves this check alone, between the grader's calls."""
    run = ctx.kept.get("mnist_run")
    if run is None:
        model, train_epoch = build()
        run = ctx.kept["mnist_run"] = MnistRun.start(model, train_epoch, ctx.mnist, ctx.device, **budget)
    return run.epoch()


def predict(model: nn.Module, images: torch.Tensor, device: str, batch_size: int = 1000):
    """The class the model predicts for each image (eval mode, no autograd), or what came out
    instead of (B, 10) logits (the grader reports it)."""
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size].to(device).reshape(-1, 784).to(torch.float32).div_(255.0)
            logits = model(x)
            if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (x.shape[0], 10):
                shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
                return {"bad_output": str(shape), "batch": x.shape[0]}
            out.append(logits.argmax(dim=1).cpu())
    return torch.cat(out)


def contract_probes():
    """The four probes of the train/evaluate contract, on the student's train_epoch and evaluate
    (a lab's probe module binds them: probe_train_epoch_modes, ... = contract_probes())."""

    def probe_train_epoch_modes(student, ctx, images, labels):
        return train_epoch_modes(student.train_epoch, ctx.device, images, labels)

    def probe_train_epoch_sgd(student, ctx, start, grads, images, labels, lr):
        return train_epoch_sgd(student.train_epoch, ctx.device, start, grads, images, labels, lr)

    def probe_evaluate_modes(student, ctx, images, labels):
        return evaluate_modes(student.evaluate, ctx.device, images, labels)

    def probe_evaluate_on(student, ctx, weight, bias, images, labels, batch_size):
        return evaluate_on(student.evaluate, ctx.device, weight, bias, images, labels, batch_size)

    return probe_train_epoch_modes, probe_train_epoch_sgd, probe_evaluate_modes, probe_evaluate_on
