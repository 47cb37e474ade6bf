"""The training runs (arms) of each experiment under a budget: which lab's module a worker
imports, which probe of probes/experiments.py it calls, with what, how many times.

Every value an arm sends is plain data the grader chose; the seeds are the lecture's 777 and
the ones after it, so that all arms of one seed start from the same random state (the
comparisons are paired by seed, as the lecture's runs shared torch.manual_seed(777)).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import torch

from autograder.course import config, seeding
from autograder.experiments import lecture as L
from autograder.experiments.lecture import Budget

XOR_ROWS = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.float32)
XOR_TARGETS = torch.tensor([[0.0], [1.0], [1.0], [0.0]])
STUCK_CHECK = ("lab08_2_xor_mlp", "xor_learned")  # the check whose retry count experiment 1 tests


@dataclass(frozen=True)
class Arm:
    """One training run in one confined worker: `calls` calls of probe `probe` with `args`."""

    experiment: str
    name: str          # the run's name within its experiment (kit words: "xavier", "mlp_2_2_1")
    lab: str           # the lab whose module the worker imports
    probe: str
    seed: int
    args: dict = field(default_factory=dict, compare=False)
    calls: int = 1
    cost: float = 1.0  # a rough estimate of its CPU time, to start the longest runs first
    uses: tuple[str, ...] = ()  # labs whose module the worker's folder holds besides (probes import it)

    @property
    def key(self) -> str:
        return f"{self.experiment}/{self.name}/{self.seed}"

    def call_seed(self, call: int) -> int:
        """The seed of call `call`: the arm's own for the first (the model is built then), then
        one derived per call, so that no two calls replay the same random numbers."""
        return self.seed if call == 0 else seeding.derive_seed(self.seed, "call", str(call))


def default_lr(name: str) -> float:
    """torch's default learning rate of the optimizer lab 9-1 calls `name` (its class's
    signature: SGD 0.001, Adadelta 1.0, Adagrad 0.01, ...)."""
    cls = next(c for n, c in vars(torch.optim).items() if n.lower() == name and isinstance(c, type))
    return float(inspect.signature(cls).parameters["lr"].default)


def stuck_settings(course: config.Course) -> dict:
    """The xor_learned check's settings in course.toml (hidden, num_layers, steps, lr, k), or
    {} when this course.toml lacks them."""
    lab, check = STUCK_CHECK
    try:
        params = course.lab(lab).check(check).params
    except KeyError:
        return {}
    keys = ("hidden", "num_layers", "steps", "lr", "k")
    return {k: params[k] for k in keys} if all(k in params for k in keys) else {}


def _mnist(recipe: dict, *, epochs: int, samples: int | None, lr: float = L.MNIST_LR, batch: int = L.MNIST_BATCH,
           evals: int | None = None, train_eval: int = 0, eval_twice: bool = False) -> tuple[dict, int, float]:
    """(args, calls, cost) of an MNIST run: `epochs` epochs in `evals` calls (each ends with the
    test predictions; default one per epoch)."""
    evals = evals or epochs
    if epochs % evals:
        raise ValueError(f"{epochs} epochs do not split into {evals} equal parts")
    n = samples or 60000
    widths = recipe.get("widths") or [784, *recipe.get("kwargs", {}).get("hidden_sizes", [256, 256]), 10]
    weights = sum(a * b for a, b in zip(widths, widths[1:]))
    # about 1e10 multiply-adds a second on one core (measured: an epoch of 784-256-256-10 takes 5 s)
    cost = weights * (3 * n * epochs + 10000 * evals * (2 if eval_twice else 1) + train_eval * evals) / 1e10
    args = {"recipe": recipe, "batch_size": batch, "lr": lr, "train_samples": samples,
            "epochs": epochs // evals, "train_eval": train_eval, "eval_twice": eval_twice}
    return args, evals, cost


def arms(exp: L.Experiment, budget: Budget, course: config.Course) -> list[Arm]:
    """The training runs of `exp` under `budget`."""
    make = {"xor": _xor, "activations": _activations, "optimizers": _optimizers, "init": _init,
            "dropout": _dropout, "batchnorm": _batchnorm}[exp.id]
    return make(exp, budget, course)


def _xor(exp, budget, course):
    rows = {"X": XOR_ROWS.clone(), "Y": XOR_TARGETS.clone()}
    out = []
    for seed in budget.seeds:
        out.append(Arm(exp.id, "perceptron", "lab08_1_perceptron", "xor_curve", seed,
                       {"net": "perceptron", "steps": budget.xor_steps, "lr": 1.0, **rows},
                       cost=budget.xor_steps / 2500))
        for name, hidden, layers in (("mlp_2_2_1", 2, 2), ("mlp_2_10_10_10_1", 10, 4)):
            out.append(Arm(exp.id, name, "lab08_2_xor_mlp", "xor_curve", seed,
                           {"net": "mlp", "hidden": hidden, "num_layers": layers, "steps": budget.xor_steps, "lr": 1.0,
                            **rows}, cost=budget.xor_steps / 2500))
    settings = stuck_settings(course)
    if settings:
        args = {k: settings[k] for k in ("hidden", "num_layers", "steps", "lr")}
        out.append(Arm(exp.id, "stuck", "lab08_2_xor_mlp", "xor_try", L.LECTURE_SEED, {**args, **rows},
                       calls=budget.stuck_tries, cost=budget.stuck_tries * settings["steps"] / 2500))
    return out


def _activations(exp, budget, course):
    out = []
    for seed in budget.seeds:
        for act in ("sigmoid", "relu"):
            out.append(Arm(exp.id, f"grad_{act}", "lab09_1_relu", "grad_norms", seed,
                           {"activation": act, "depths": list(L.GRAD_DEPTHS), "width": L.GRAD_WIDTH,
                            "samples": L.GRAD_SAMPLES}, cost=0.5))
            recipe = {"model": "build_mlp", "kwargs": {"hidden_sizes": list(L.DEEP_NARROW), "activation": act},
                      "loop": "student"}
            args, calls, cost = _mnist(recipe, epochs=budget.mnist_epochs, samples=budget.mnist_samples)
            out.append(Arm(exp.id, act, "lab09_1_relu", "mnist_run", seed, args, calls, cost))
    return out


def _optimizers(exp, budget, course):
    if budget.optimizer_steps * L.MNIST_BATCH > 60000:
        raise ValueError("the optimizer runs take at most one epoch of MNIST")
    widths = [784, *L.OPTIMIZER_WIDTHS, 10]
    weights = sum(a * b for a, b in zip(widths, widths[1:]))
    return [Arm(exp.id, name, "lab09_1_relu", "optimizer_losses", seed,
                {"optimizer": name, "lr": default_lr(name), "steps": budget.optimizer_steps,
                 "batch_size": L.MNIST_BATCH, "hidden_sizes": list(L.OPTIMIZER_WIDTHS)},
                cost=weights * 3 * L.MNIST_BATCH * budget.optimizer_steps / 1e10)
            for seed in budget.seeds for name in L.OPTIMIZERS]


# Experiment 4's runs: (name, model recipe): the kit's models (as lab 9-2's MNIST check),
# initialized by torch or by the student's init_linear_layers_, trained by the student's own
# train_epoch of lab 9-1 (lab 9-2's students write none, and the grader's loop, a model answer
# for train_epoch, stays out of the student bundle).
INIT_RUNS = (
    ("softmax", {"model": "softmax", "init": "normal"}),
    ("default", {"model": "kit_mlp", "widths": list(L.MLP_WIDTHS)}),
    ("normal", {"model": "kit_mlp", "widths": list(L.MLP_WIDTHS), "init": "normal"}),
    ("xavier", {"model": "kit_mlp", "widths": list(L.MLP_WIDTHS), "init": "student:xavier_uniform"}),
    ("he", {"model": "kit_mlp", "widths": list(L.MLP_WIDTHS), "init": "student:he_normal"}),
    ("deeper_xavier", {"model": "kit_mlp", "widths": list(L.DEEPER_WIDTHS), "init": "student:xavier_uniform"}),
)
HISTOGRAM_RUNS = ("default", "normal", "xavier", "he")


def _init(exp, budget, course):
    out = []
    recipes = dict(INIT_RUNS)
    loop_lab = exp.uses[0]
    loop = f"module:{course.lab(loop_lab).module}"
    for seed in budget.seeds:
        for name, recipe in INIT_RUNS:
            recipe = {**recipe, "loop": loop}
            if recipe["model"] == "softmax":
                recipe["widths"] = [784, 10]
            args, calls, cost = _mnist(recipe, epochs=budget.mnist_epochs, samples=budget.mnist_samples)
            out.append(Arm(exp.id, name, "lab09_2_xavier", "mnist_run", seed, args, calls, cost, uses=(loop_lab,)))
        for name in HISTOGRAM_RUNS:
            out.append(Arm(exp.id, f"activations_{name}", "lab09_2_xavier", "activations", seed,
                           {"recipe": recipes[name], "samples": L.ACTIVATION_SAMPLES}, cost=0.2))
    return out


def _dropout(exp, budget, course):
    out = []
    for seed in budget.seeds:
        for name, p in (("overfit_dropout", L.OVERFIT_P), ("overfit_plain", 0.0)):
            recipe = {"model": "build_dropout_mlp", "loop": "student",
                      "widths": [784, *(L.OVERFIT_HIDDEN,) * L.OVERFIT_LAYERS, 10],
                      "kwargs": {"p": p, "hidden": L.OVERFIT_HIDDEN, "num_hidden_layers": L.OVERFIT_LAYERS}}
            args, calls, cost = _mnist(recipe, epochs=budget.overfit_epochs, samples=budget.overfit_samples,
                                       evals=budget.overfit_evals, train_eval=budget.overfit_samples, eval_twice=True)
            out.append(Arm(exp.id, name, "lab09_3_dropout", "mnist_run", seed, args, calls, cost))
        if budget.lecture_dropout:
            for name, p in (("lecture_dropout", L.DROPOUT_P), ("lecture_plain", 0.0)):
                recipe = {"model": "build_dropout_mlp", "loop": "student", "init": "xavier_uniform",
                          "widths": list(L.DEEPER_WIDTHS), "kwargs": {"p": p, "hidden": 512, "num_hidden_layers": 4}}
                args, calls, cost = _mnist(recipe, epochs=budget.mnist_epochs, samples=budget.mnist_samples,
                                           eval_twice=True)
                out.append(Arm(exp.id, name, "lab09_3_dropout", "mnist_run", seed, args, calls, cost))
    return out


def _batchnorm(exp, budget, course):
    out = []
    train_eval = min(budget.mnist_samples or 60000, 10000)
    for seed in budget.seeds:
        for name, use in (("bn", True), ("plain", False)):
            recipe = {"model": "build_bn_mlp", "loop": "student", "widths": [784, L.BN_HIDDEN, L.BN_HIDDEN, 10],
                      "kwargs": {"hidden": L.BN_HIDDEN, "use_batchnorm": use}}
            args, calls, cost = _mnist(recipe, epochs=budget.bn_epochs, samples=budget.mnist_samples, lr=L.BN_LR,
                                       batch=L.BN_BATCH, train_eval=train_eval)
            out.append(Arm(exp.id, name, "lab09_4_batchnorm", "mnist_run", seed, args, calls, cost * 2))
    return out
