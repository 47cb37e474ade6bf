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


def expect_value_error(call: str, fn, why: str = "") -> None:
    """Assert that fn() raises ValueError; any other exception is the wrong one, and
    NotImplementedError passes through so that a stub reads 'not implemented yet'."""
    reason = f" ({why})" if why else ""
    try:
        result = fn()
    except ValueError:
        return
    except NotImplementedError:
        raise
    except Exception as e:  # noqa: BLE001 - any other exception is the wrong one
        raise AssertionError(f"{call}: expected ValueError{reason}, found {type(e).__name__}: {e}") from None
    raise AssertionError(f"{call}: expected ValueError{reason}, none was raised (it returned {type(result).__name__})")


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


class GradProbe(nn.Module):
    """Identity that records whether autograd was recording each time it ran."""

    def __init__(self):
        super().__init__()
        self.grad_enabled = []

    def forward(self, x):
        self.grad_enabled.append(torch.is_grad_enabled())
        return x


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


def textbook_epoch(model: nn.Module, loader, optimizer, criterion, device) -> list[float]:
    """The textbook training pass (train mode; per batch: zero_grad, forward on the flattened
    images moved to the device, loss, backward, step); the loss of every batch."""
    model.train()
    losses = []
    for images, labels in loader:
        optimizer.zero_grad()
        loss = criterion(model(images.reshape(images.shape[0], -1).to(device)), labels.to(device))
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def grader_train_epoch(model: nn.Module, loader, optimizer, criterion, device) -> float:
    """The textbook pass as a train_epoch, for labs whose students write none (lab 9-2)."""
    losses = textbook_epoch(model, loader, optimizer, criterion, device)
    return sum(losses) / len(losses)


def assert_mnist_accuracy(what: str, model: nn.Module, train_epoch, mnist: dict, device, params: dict) -> None:
    """The MNIST check of labs 9-1 to 9-4: `what` (the model, described in the student's
    terms) trained on the course budget must reach params["threshold"] on the test set."""
    acc = train_and_score(model, train_epoch, mnist, device, **params)
    threshold = params["threshold"]  # calibrated: see docs/calibration.md
    assert acc >= threshold, (
        f"{what} trained for {params['epochs']} epochs (Adam, lr {params['lr']}, batches of "
        f"{params['batch_size']}) reached test accuracy {acc:.4f}; expected at least {threshold}")


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


# --- train_epoch and evaluate: the loop contract shared by labs 9-1, 9-3 and 9-4 -----------


class ModeProbe(nn.Module):
    """An identity layer that records, at each forward, (training mode, autograd recording)."""

    def __init__(self):
        super().__init__()
        self.calls: list[tuple[bool, bool]] = []

    def forward(self, x):
        self.calls.append((self.training, torch.is_grad_enabled()))
        return x


def probe_model(device, hidden: int = 16) -> tuple[nn.Module, ModeProbe]:
    """A 784->hidden->10 MLP with a ModeProbe nested one level deep (so that only a
    recursive model.train()/model.eval() reaches it), on `device`."""
    probe = ModeProbe()
    model = nn.Sequential(nn.Linear(784, hidden), nn.Sequential(nn.ReLU(), probe), nn.Linear(hidden, 10))
    return model.to(device), probe


def fake_mnist_loader(n: int, batch_size: int, images: torch.Tensor | None = None,
                      labels: torch.Tensor | None = None):
    """An in-memory loader of the contract's form on the CPU (so the student's code must
    move each batch to the device); random uint8 images and labels unless given."""
    from autograder.mnist import Batches

    if images is None:
        images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8)
    if labels is None:
        labels = torch.randint(0, 10, (n,))
    return Batches(images, labels, batch_size)


def assert_train_epoch_sets_train_mode(train_epoch, device) -> None:
    """train_epoch must train in training mode even when the model arrives in eval mode
    (as it does after evaluate(): the classic bug is model.train() once, before the epochs)."""
    model, probe = probe_model(device)
    model.eval()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    train_epoch(model, fake_mnist_loader(35, 16), optimizer, nn.CrossEntropyLoss(), device)
    assert probe.calls, "train_epoch: the model's forward never ran during the epoch"
    modes = [training for training, _ in probe.calls]
    assert all(modes), (
        f"train_epoch: the model was handed in eval mode (as after evaluate()) and {modes.count(False)} of "
        f"{len(modes)} forward passes ran in eval mode; call model.train() at the start of train_epoch")
    assert all(grad for _, grad in probe.calls), "train_epoch: the forward pass ran with autograd switched off"


def assert_train_epoch_matches_sgd(train_epoch, device) -> None:
    """One epoch over batches of 16, 16 and 3 with SGD must equal the textbook loop (zero_grad,
    forward on flattened images moved to the device, loss, backward, step), starting from
    gradients left over from an earlier call; the result is the mean of the batch losses."""
    model = nn.Sequential(nn.Linear(784, 12), nn.ReLU(), nn.Linear(12, 10)).to(device)
    for p in model.parameters():
        p.grad = torch.randn_like(p)  # left over from an earlier backward
    ref = copy.deepcopy(model)
    loader = fake_mnist_loader(35, 16)
    # Written out rather than calling textbook_epoch: this check is public, and the student
    # bundle must not carry a ready-made loop (tests/test_release.py).
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.05)
    criterion = nn.CrossEntropyLoss()
    batch_losses, sizes = [], []
    for images, labels in loader:
        ref_opt.zero_grad()
        loss = criterion(ref(images.reshape(images.shape[0], -1).to(device)), labels.to(device))
        loss.backward()
        ref_opt.step()
        batch_losses.append(loss.item())
        sizes.append(labels.shape[0])
    found = python_float(
        train_epoch(model, loader, torch.optim.SGD(model.parameters(), lr=0.05), nn.CrossEntropyLoss(), device),
        "train_epoch return value")
    for (name, p), q in zip(model.named_parameters(), ref.parameters()):
        assert allclose(p, q), (
            f"train_epoch: after one epoch of SGD parameter {name} differs from the textbook loop (for every "
            "batch: zero_grad, forward on the flattened images, loss, backward, step; gradients left over "
            f"from an earlier call must not leak into the first step) by up to {max_abs_diff(p, q):.3g}")
    expected = sum(batch_losses) / len(batch_losses)
    if abs(found - expected) > 1e-4 * max(1.0, abs(expected)):
        hints = {
            "the last batch's loss": batch_losses[-1],
            "the sum of the batch losses": sum(batch_losses),
            "a mean over samples rather than batches": sum(l * s for l, s in zip(batch_losses, sizes)) / sum(sizes),
        }
        hint = "".join(f" (that is {k})" for k, v in hints.items() if abs(found - v) <= 1e-4 * max(1.0, abs(v)))
        raise AssertionError(
            f"train_epoch: expected the mean of the {len(batch_losses)} batch losses, {expected:.5f} "
            f"(batches of {sizes}), found {found:.5f}{hint}")


def assert_evaluate_sets_eval_mode(evaluate, device) -> None:
    """evaluate must run every forward pass in eval mode with autograd off, even when the
    model arrives in training mode (as it does after train_epoch)."""
    model, probe = probe_model(device)
    model.train()
    acc = python_float(evaluate(model, fake_mnist_loader(35, 16), device), "evaluate return value")
    assert 0.0 <= acc <= 1.0, f"evaluate: expected a fraction between 0 and 1, found {acc}"
    assert probe.calls, "evaluate: the model's forward never ran"
    modes = [training for training, _ in probe.calls]
    assert not any(modes), (
        f"evaluate: the model was handed in training mode (as after train_epoch) and {sum(modes)} of "
        f"{len(modes)} forward passes ran in training mode; call model.eval() in evaluate")
    grads = [grad for _, grad in probe.calls]
    assert not any(grads), (
        f"evaluate: {sum(grads)} of {len(grads)} forward passes recorded autograd history; "
        "wrap the loop in torch.no_grad()")


def assert_evaluate_counts_all_samples(evaluate, device) -> None:
    """evaluate returns the fraction of ALL samples correct: 107 samples in batches of 50, 50
    and 7, where the batch accuracies are 0.5, 0.5 and 1.0 (57/107, not their mean 2/3)."""
    # Class c lights up pixel block c (78 pixels) and the model sums each block: the margin
    # between the right logit (~78) and any other (<13) leaves no room for rounding.
    n, block = 107, 78
    classes = torch.randint(0, 10, (n,))
    images = torch.randint(0, 41, (n, 784), dtype=torch.uint8)
    for i, c in enumerate(classes.tolist()):
        images[i, c * block:(c + 1) * block] = 255
    correct = torch.zeros(n, dtype=torch.bool)
    for start in (0, 50):  # half of each full batch right, in shuffled positions
        correct[start + torch.randperm(50)[:25]] = True
    correct[100:] = True
    labels = torch.where(correct, classes, (classes + 1) % 10)
    model = nn.Linear(784, 10)
    with torch.no_grad():
        model.weight.zero_()
        for c in range(10):
            model.weight[c, c * block:(c + 1) * block] = 1.0
        model.bias.zero_()
    model = model.to(device)
    loader = fake_mnist_loader(n, 50, images=images.reshape(n, 28, 28), labels=labels)
    expected = grader_accuracy(model, loader, device)
    found = python_float(evaluate(model, loader, device), "evaluate return value")
    if abs(found - expected) > 1e-9:
        hint = " (that is the mean of the per-batch accuracies; the last batch is smaller)" if abs(
            found - 2 / 3) < 1e-6 else ""
        raise AssertionError(
            f"evaluate: 57 of 107 samples (batches of 50, 50 and 7) are classified correctly, so expected "
            f"{expected:.5f}, found {found:.5f}{hint}")
