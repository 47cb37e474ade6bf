"""What the lab checks share: statistical bounds, judging the plain data that probes send
back, structure descriptions, the grader's reference training, and the judges of the
train/evaluate contract and of MNIST.

The checks run on the grader's side of the boundary and never touch the student's code:
`student.probe(name, **inputs)` runs probes/<lab>.py in the confined worker and returns
plain data, and every expected value is computed here, from the inputs the check chose.
Every stochastic check is built to fail a correct implementation with probability at most
FALSE_FAIL; the bounds below turn that into tolerances for a given sample size.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from autograder.boundary.student import missing_name
from autograder.boundary.wire import Opaque

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


# --- judging what came back ----------------------------------------------------------------


def kind(value) -> str:
    """The type name of a returned value, as the student would write it."""
    return value.type if isinstance(value, Opaque) else type(value).__name__


def tensor_like(value, what: str, shape=None, dtype=None) -> torch.Tensor:
    """Assert `value` is a tensor of the expected shape and dtype; return it."""
    assert isinstance(value, torch.Tensor), f"{what}: expected a torch.Tensor, found {kind(value)}"
    if shape is not None:
        assert tuple(value.shape) == tuple(shape), (
            f"{what}: expected shape {tuple(shape)}, found {tuple(value.shape)}")
    if dtype is not None:
        assert value.dtype == dtype, f"{what}: expected dtype {dtype}, found {value.dtype}"
    return value


def expect_value_error(call: str, result: dict, why: str = "") -> None:
    """Judge probes.common.outcome(): the call must have raised ValueError (or a subclass)."""
    reason = f" ({why})" if why else ""
    if "raised" in result:
        if "ValueError" in (result["raised"], result.get("builtin")):
            return
        raise AssertionError(
            f"{call}: expected ValueError{reason}, found {result['raised']}: {result.get('message', '')}")
    returned = result.get("returned")
    what = "None" if returned in (None, "None", "NoneType") else f"a {returned}"
    raise AssertionError(f"{call}: expected ValueError{reason}, but the call returned {what} and raised nothing")


def judged(student, names) -> list[str]:
    """The functions that a check covering several of them judges: all but those the
    student renamed (the module lacks the stub's name and defines a close one), which their
    own checks charge. Call it only where every function in `names` has checks of its own.
    A name that is simply absent is not skipped, so deleting a stub gains nothing.
    AssertionError with the missing-name message when every one was renamed."""
    missing = getattr(student, "missing", {})
    renamed = [n for n in names if missing.get(n)]
    kept = [n for n in names if n not in renamed]
    if not kept:
        raise AssertionError(missing_name(student.module, renamed[0], missing[renamed[0]]))
    return kept


def python_float(value, what: str) -> float:
    """Assert `value` is a real number (float, int or 0-d tensor is not allowed); return it."""
    assert isinstance(value, (float, int)) and not isinstance(value, bool), (
        f"{what}: expected a Python float, found {kind(value)} (use .item())")
    assert math.isfinite(value), f"{what}: expected a finite number, found {value}"
    return float(value)


def allclose(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-4, atol_scale: float = 1e-5) -> bool:
    """float32-rounding tolerance scaled to the magnitude of the reference `b`."""
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    atol = atol_scale * max(1.0, b.abs().max().item() if b.numel() else 1.0)
    return a.shape == b.shape and bool(torch.allclose(a, b, rtol=rtol, atol=atol))


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.detach().double().cpu() - b.detach().double().cpu()).abs().max().item()


def is_a(description: dict, qualname: str) -> bool:
    """Whether a described object (probes.common.type_names) is an instance of `qualname`."""
    return qualname in description.get("types", ())


def short_type(description: dict) -> str:
    types = description.get("types") or ["?"]
    return types[0].rsplit(".", 1)[-1]


# --- structure -----------------------------------------------------------------------------


ACTIVATIONS = {
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "leaky_relu": lambda x: nn.functional.leaky_relu(x, 0.01),
}
ACTIVATION_PROBE = torch.linspace(-6.0, 6.0, 241).reshape(1, -1)  # the same as probes.common's


def layer_kind(entry: dict) -> str:
    """'Linear(784->256)', 'relu', 'sigmoid', ... for one layer of probes.common.layers(), judged
    by what it computes on the probe input; the class name for anything else."""
    if is_a(entry, "torch.nn.modules.linear.Linear"):
        return f"Linear({entry['in']}->{entry['out']})"
    response = entry.get("response")
    if isinstance(response, torch.Tensor) and response.shape == ACTIVATION_PROBE.shape:
        for name, fn in ACTIVATIONS.items():
            if allclose(response, fn(ACTIVATION_PROBE), rtol=1e-5, atol_scale=1e-6):
                return name
    return short_type(entry)


def describe_layers(description: dict, what: str) -> list[str]:
    """The layer sequence of a described nn.Sequential."""
    assert description.get("sequential"), f"{what}: expected an nn.Sequential, found {short_type(description)}"
    return [layer_kind(e) for e in description["layers"]]


def rebuild_mlp(kinds: list[str]) -> nn.Sequential:
    """The grader's own copy of a Linear/activation stack described by describe_layers."""
    layers = []
    for k in kinds:
        if k.startswith("Linear("):
            n_in, n_out = k[len("Linear("):-1].split("->")
            layers.append(nn.Linear(int(n_in), int(n_out)))
        elif k == "leaky_relu":
            layers.append(nn.LeakyReLU(0.01))
        else:
            layers.append({"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}[k]())
    return nn.Sequential(*layers)


# --- the grader's reference training -------------------------------------------------------


def reference_sgd_bce(model: nn.Module, X, Y, steps: int, lr: float) -> list[float]:
    """Train the grader's `model` in place by the textbook loop: BCELoss + torch.optim.SGD."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.BCELoss()(model(X), Y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def batches(images: torch.Tensor, labels: torch.Tensor, batch_size: int):
    """The batches the worker's loader (probes.common.loader) yields for the same tensors."""
    from autograder.course.mnist import Batches

    return list(Batches(images, labels, batch_size))


def assert_state_close(found: dict, expected: dict, what: str) -> None:
    """Every tensor of the grader's `expected` state matches the student's `found` one."""
    assert isinstance(found, dict), f"{what}: the model's state could not be read ({kind(found)})"
    for name, q in expected.items():
        p = found.get(name)
        assert isinstance(p, torch.Tensor) and p.shape == q.shape, f"{what}: parameter {name} is missing or reshaped"
        assert allclose(p, q), f"{what}: parameter {name} differs by up to {max_abs_diff(p, q):.3g}"


# --- MNIST ---------------------------------------------------------------------------------


def mnist_budget(params: dict) -> dict:
    """What the worker gets of the check's settings: the budget and the model's size, never
    the threshold."""
    return {k: v for k, v in params.items() if k not in ("threshold", "stop_at_threshold")}


def mnist_accuracy(seen: dict, test_labels: torch.Tensor, epoch: int) -> float:
    """Score one epoch's predictions against the test labels, which only the grader holds."""
    loss = seen.get("loss", "nothing") if isinstance(seen, dict) else "nothing"
    assert isinstance(loss, (float, int)) and not isinstance(loss, bool) and math.isfinite(loss), (
        f"train_epoch: expected the mean loss as a finite Python float, found {loss!r} after epoch {epoch}")
    pred = seen.get("predictions")
    if isinstance(pred, dict) and "bad_output" in pred:
        raise AssertionError(f"model output: expected logits of shape ({pred.get('batch')}, 10) for a batch of "
                             f"{pred.get('batch')} flattened images, found {pred['bad_output']}")
    pred = tensor_like(pred, "the model's test predictions", shape=test_labels.shape)
    return (pred.to(torch.int64) == test_labels).double().mean().item()


def mnist_accuracies(student, test_labels: torch.Tensor, params: dict) -> list[float]:
    """Train for params["epochs"] epochs, scoring the test predictions after each; with
    params["stop_at_threshold"], stop at the first epoch end that reaches params["threshold"].
    Returns the accuracies seen.

    Stopping there cannot turn a correct solution's pass into a fail: the threshold was
    calibrated on the whole budget, and a correct solution now fails only if every epoch end
    misses it. `benchmarks/early_stop.py` measures that the verdicts on the broken-solution
    corpus are the same as with every epoch trained (docs/performance.md)."""
    accuracies = []
    for epoch in range(1, params["epochs"] + 1):
        accuracies.append(mnist_accuracy(student.probe("mnist_epoch", **mnist_budget(params)), test_labels, epoch))
        if params.get("stop_at_threshold") and accuracies[-1] >= params["threshold"]:
            break
    return accuracies


def assert_mnist_accuracy(what: str, student, test_labels: torch.Tensor, params: dict, plots=None) -> None:
    """The MNIST check of labs 9-1 to 9-4: `what` (the model, described in the student's
    terms) trained on the course budget must reach params["threshold"] on the test set: at
    the end of some epoch with params["stop_at_threshold"], else at the end of the last.
    The accuracies go to `plots` (the plugin's recorder), never the threshold: the page
    takes it from course.toml where the check is public (reports/plots.py)."""
    accuracies = mnist_accuracies(student, test_labels, params)
    if plots is not None:
        plots.record("mnist_accuracy", accuracy=accuracies, epochs=params["epochs"],
                     stop_at_threshold=bool(params.get("stop_at_threshold")))
    threshold = params["threshold"]  # calibrated: see docs/calibration.md
    assert accuracies[-1] >= threshold, (
        f"{what} trained for {params['epochs']} epochs (Adam, lr {params['lr']}, batches of "
        f"{params['batch_size']}) reached test accuracy {', '.join(f'{a:.4f}' for a in accuracies)} "
        f"after each epoch; expected at least {threshold}")


# --- plot data (drawn by reports/plots.py on the grader's side) ----------------------------

PLOT_POINTS = 200  # the most points kept of a curve (a loss per step)
MAP_LIMITS, MAP_SIZE = (-0.5, 1.5), 33  # the square a 2-input network's decision map covers; 0 and 1 on the grid


def number(value) -> float | None:
    """`value` as a float when it is a finite real number (a 0-d tensor included), else None."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def curve(values, points: int = PLOT_POINTS) -> dict:
    """At most `points` evenly spaced entries of a sequence, the first and last kept:
    {"step": 1-based positions, "value": floats, None where an entry is not a real number}.
    Anything but a list or tuple gives an empty curve."""
    values = list(values) if isinstance(values, (list, tuple)) else []
    n = len(values)
    if n > points:
        keep = sorted({round(i * (n - 1) / (points - 1)) for i in range(points)})
    else:
        keep = range(n)
    return {"step": [i + 1 for i in keep], "value": [number(values[i]) for i in keep]}


def map_grid() -> torch.Tensor:
    """(MAP_SIZE**2, 2) float32 points covering MAP_LIMITS twice, the first coordinate varying
    fastest: where a decision map evaluates a network."""
    axis = torch.linspace(*MAP_LIMITS, MAP_SIZE)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([x.flatten(), y.flatten()], dim=1)


def record_decision_map(plots, what: str, grid_output, rows: torch.Tensor, targets: torch.Tensor) -> None:
    """A decision map (reports/plots.py decision_map): a 2-input network's outputs on map_grid()
    (probabilities of class 1), with the training rows and their targets; outputs that are not
    a (MAP_SIZE**2, 1) tensor are left out."""
    if not (isinstance(grid_output, torch.Tensor) and tuple(grid_output.shape) == (MAP_SIZE ** 2, 1)):
        return
    plots.record("decision_map", data=what, limits=list(MAP_LIMITS), size=MAP_SIZE,
                 prob=grid_output.detach().double().flatten().clamp(0, 1),
                 rows=rows.tolist(), targets=targets.flatten().tolist())
