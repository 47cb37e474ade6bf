"""What the lab checks share: statistical bounds, calling student code, the grader's own
evaluation and training budget, and structure descriptions.

Every stochastic check is built to fail a correct implementation with probability at most
FALSE_FAIL; the bounds below turn that into tolerances for a given sample size.
"""
from __future__ import annotations

import copy
import math

import torch
from torch import nn

FALSE_FAIL = 1e-6  # largest allowed probability that a correct solution fails one check


# --- statistics ----------------------------------------------------------------------------


def normal_quantile(alpha: float) -> float:
    """z with P(|N(0,1)| > z) = alpha."""
    return math.sqrt(2.0) * torch.special.erfinv(torch.tensor(1.0 - alpha, dtype=torch.float64)).item()


def dkw_epsilon(n: int, alpha: float = FALSE_FAIL) -> float:
    """Dvoretzky-Kiefer-Wolfowitz (Massart's constant): P(sup|F_n - F| > eps) <= 2 exp(-2 n eps^2)."""
    return math.sqrt(math.log(2.0 / alpha) / (2.0 * n))


def hoeffding_t(n: int, alpha: float = FALSE_FAIL, width: float = 1.0) -> float:
    """P(|mean - mu| >= t) <= 2 exp(-2 n t^2 / width^2) for n independent values in an interval of `width`."""
    return width * math.sqrt(math.log(2.0 / alpha) / (2.0 * n))


def ks_distance(sample: torch.Tensor, cdf) -> float:
    """sup |F_n(x) - F(x)| of the sample against the continuous CDF `cdf` (a tensor function)."""
    x, _ = torch.sort(sample.detach().flatten().double().cpu())
    n = x.numel()
    f = cdf(x)
    upper = torch.arange(1, n + 1, dtype=torch.float64) / n - f
    lower = f - torch.arange(0, n, dtype=torch.float64) / n
    return max(upper.max().item(), lower.max().item())


def uniform_cdf(bound: float):
    return lambda x: ((x + bound) / (2 * bound)).clamp(0.0, 1.0)


def normal_cdf(std: float):
    return lambda x: 0.5 * (1.0 + torch.erf(x / (std * math.sqrt(2.0))))


# --- calling student code ------------------------------------------------------------------


def tensor_like(value, what: str, shape=None, dtype=None) -> torch.Tensor:
    """Assert `value` is a plain torch.Tensor of the expected shape and dtype; return it."""
    assert isinstance(value, torch.Tensor), f"{what}: expected a torch.Tensor, found {type(value).__name__}"
    if shape is not None:
        assert tuple(value.shape) == tuple(shape), (
            f"{what}: expected shape {tuple(shape)}, found {tuple(value.shape)}")
    if dtype is not None:
        assert value.dtype == dtype, f"{what}: expected dtype {dtype}, found {value.dtype}"
    # Read values through a plain tensor: a subclass cannot lie about them afterwards.
    return value.as_subclass(torch.Tensor) if type(value) is not torch.Tensor else value


def python_float(value, what: str) -> float:
    """Assert `value` is a real number (float, int or 0-d tensor is not allowed); return it."""
    assert isinstance(value, (float, int)) and not isinstance(value, bool), (
        f"{what}: expected a Python float, found {type(value).__name__} (use .item())")
    assert math.isfinite(value), f"{what}: expected a finite number, found {value}"
    return float(value)


def allclose(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-4, atol_scale: float = 1e-5) -> bool:
    """float32-rounding tolerance scaled to the magnitude of the reference `b`."""
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    atol = atol_scale * max(1.0, b.abs().max().item() if b.numel() else 1.0)
    return a.shape == b.shape and bool(torch.allclose(a, b, rtol=rtol, atol=atol))


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.detach().double().cpu() - b.detach().double().cpu()).abs().max().item()


# --- structure -----------------------------------------------------------------------------


def computes(module: nn.Module, fn, lo: float = -6.0, hi: float = 6.0) -> bool:
    """Does `module` compute the elementwise function `fn`? Judged on a probe, not by type."""
    if any(True for _ in module.parameters()):
        return False
    x = torch.linspace(lo, hi, 241).reshape(1, -1)
    try:
        with torch.no_grad():
            y = module(x)
    except Exception:  # noqa: BLE001 - a module that cannot take the probe is not this function
        return False
    return isinstance(y, torch.Tensor) and y.shape == x.shape and allclose(y, fn(x), rtol=1e-5, atol_scale=1e-6)


ACTIVATIONS = {
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "leaky_relu": lambda x: nn.functional.leaky_relu(x, 0.01),
}


def layer_kind(module: nn.Module) -> str:
    """'Linear(784->256)', 'relu', 'sigmoid', ..., or the class name for anything else."""
    if isinstance(module, nn.Linear):
        return f"Linear({module.in_features}->{module.out_features})"
    for name, fn in ACTIVATIONS.items():
        if computes(module, fn):
            return name
    return type(module).__name__


def describe_layers(model: nn.Module) -> list[str]:
    """The layer sequence of an nn.Sequential, each layer described by what it is or computes."""
    assert isinstance(model, nn.Sequential), f"expected an nn.Sequential, found {type(model).__name__}"
    return [layer_kind(m) for m in model]


# --- the grader's own evaluation and training ----------------------------------------------


def grader_accuracy(model: nn.Module, batches, device) -> float:
    """Fraction of all samples classified correctly, computed by the grader, in eval mode."""
    model.eval()
    correct = seen = 0
    with torch.no_grad():
        for images, labels in batches:
            logits = model(images.reshape(images.shape[0], -1).to(device))
            logits = tensor_like(logits, "model output", shape=(images.shape[0], 10))
            correct += (logits.argmax(dim=1) == labels.to(device)).sum().item()
            seen += labels.shape[0]
    return correct / seen


def reference_sgd_bce(model: nn.Module, X, Y, steps: int, lr: float) -> tuple[nn.Module, list[float]]:
    """A deep copy of `model` trained by the textbook loop: BCELoss + torch.optim.SGD."""
    ref = copy.deepcopy(model)
    opt = torch.optim.SGD(ref.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.BCELoss()(ref(X), Y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return ref, losses


def train_and_score(model: nn.Module, train_epoch, mnist: dict, device, *, epochs: int,
                    batch_size: int, lr: float, train_samples: int | None = None, **_) -> float:
    """Train `model` with the student's `train_epoch` on the course budget (Adam, shuffled
    in-memory batches on the device), then return the grader's own test accuracy.

    The training order follows the check's seed, so a rerun gives the same figure.
    """
    n = train_samples or len(mnist["train_labels"])
    generator = torch.Generator().manual_seed(torch.initial_seed())
    from autograder.mnist import Batches

    train = Batches(mnist["train_images"][:n], mnist["train_labels"][:n], batch_size, shuffle=True,
                    generator=generator)
    test = Batches(mnist["test_images"], mnist["test_labels"], 1000)
    model = model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for epoch in range(epochs):
        loss = train_epoch(model, train, optimizer, nn.CrossEntropyLoss(), device)
        assert isinstance(loss, (float, int)) and math.isfinite(loss), (
            f"train_epoch: expected the mean loss as a finite Python float, found {loss!r} after epoch {epoch + 1}")
    return grader_accuracy(model, test, device)
