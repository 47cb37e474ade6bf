"""From what the training runs returned to measurements, verdicts and plot data, on the
grader's side of the boundary.

Every reply is judged as data the student's code may have forged or broken: numbers are
checked, tensors must have their expected shape, and the accuracies are computed here from
the predicted classes (the test labels never leave this process). What comes out:

- `Measurements`: one row per (experiment, run, seed, metric, index) — measurements.csv;
- per experiment a section: the lecture's claim, the budget used, the findings (each a claim,
  the lecture's number where it gives one, the per-seed values and their summary, where in
  measurements.csv they come from, the verdict and why in plain words), the plots' data and
  notes on runs that failed.

Every finding's values are read back from the Measurements, so that the report's numbers
and the data file agree by construction (tests/test_experiments.py checks it).
"""
from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import torch

from autograder.checks.common import FALSE_FAIL, curve, number, tensor_like
from autograder.course import config
from autograder.experiments import lecture as L
from autograder.experiments import stats
from autograder.experiments.lecture import Budget, Experiment
from autograder.experiments.plan import XOR_TARGETS, Arm, default_lr, stuck_settings
from autograder.experiments.running import ArmResult, Submission

HIST_EDGES = np.logspace(-3, 3, 49)  # activation histograms: log-spaced bins over [0.001, 1000]
VANISHING_CHECK = ("lab09_1_relu", "vanishing_gradient")


@dataclass
class Measurements:
    """Rows (experiment, run, seed, metric, index, value): index is the step, epoch, depth,
    layer or try the value belongs to. Only finite numbers are measurements: anything else a
    run reported (NaN, infinity, not a number) is left out, so it shows as a gap."""

    rows: list[tuple[str, str, int, str, int, float]] = field(default_factory=list)

    def add(self, experiment: str, run: str, seed: int, metric: str, index: int, value) -> None:
        value = number(value)
        if value is not None:
            self.rows.append((experiment, run, int(seed), metric, int(index), value))

    def values(self, experiment: str, run: str, metric: str, index: int | None = None) -> dict[int, float]:
        """Per seed, the value at `index` (None: at each seed's last index)."""
        found: dict[int, tuple[int, float]] = {}
        for e, r, seed, m, i, v in self.rows:
            if (e, r, m) == (experiment, run, metric) and (index is None or i == index):
                if seed not in found or i >= found[seed][0]:
                    found[seed] = (i, v)
        return {seed: v for seed, (_, v) in sorted(found.items())}

    def series(self, experiment: str, run: str, metric: str) -> dict[int, list[float]]:
        """index -> the values of every seed at that index."""
        out: dict[int, list[float]] = defaultdict(list)
        for e, r, _, m, i, v in self.rows:
            if (e, r, m) == (experiment, run, metric):
                out[i].append(v)
        return dict(sorted(out.items()))


@dataclass
class Context:
    """What an experiment's findings are computed from."""

    exp: Experiment
    budget: Budget
    course: config.Course
    submission: Submission
    results: dict[str, ArmResult]
    arms: list[Arm]
    m: Measurements
    test_labels: torch.Tensor
    train_labels: torch.Tensor
    notes: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)  # run name -> why it has no values
    extra: dict = field(default_factory=dict)  # plot data that is not a measurement (histograms)

    def why_missing(self, *runs: str) -> str:
        for run in runs:
            if run in self.problems:
                return self.problems[run]
        return "the run returned nothing to measure"


# --- measuring: replies -> rows ------------------------------------------------------------


class BadReply(Exception):
    """A reply that is not what the probe returns for working code; the message says what."""


def _check(value, what: str, shape=None) -> torch.Tensor:
    try:
        return tensor_like(value, what, shape=shape)
    except AssertionError as e:
        raise BadReply(str(e)) from None


def _accuracy(predictions, labels: torch.Tensor, what: str) -> float:
    """The fraction of `labels` that `predictions` (probes.common.predict) got right."""
    if isinstance(predictions, dict) and "bad_output" in predictions:
        raise BadReply(f"the model's output: expected logits of shape (B, 10) for a batch of B flattened images, "
                       f"found {predictions['bad_output']}")
    pred = _check(predictions, what, shape=labels.shape)
    return (pred.to(torch.int64) == labels).double().mean().item()


def _loss_curve(ctx: Context, arm: Arm, reply, what: str) -> list:
    """The losses per step a reply holds (None where not a number), its curve (at most 200 of
    them, checks.common.curve) as "loss" rows; BadReply when there are none."""
    losses = reply.get("losses") if isinstance(reply, dict) else None
    if not isinstance(losses, list) or not losses:
        raise BadReply(f"{what} returned no list of losses")
    losses = [number(v) for v in losses]
    kept = curve(losses)
    for step, value in zip(kept["step"], kept["value"]):
        ctx.m.add(arm.experiment, arm.name, arm.seed, "loss", step, value)
    return losses


def _measure_xor_curve(ctx: Context, arm: Arm, replies: list) -> None:
    reply = replies[0]
    losses = _loss_curve(ctx, arm, reply, "the training loop")
    ctx.m.add(arm.experiment, arm.name, arm.seed, "final_loss", len(losses), losses[-1])
    out = _check(reply.get("output"), "the network's output on the four XOR rows", shape=(4, 1))
    accuracy = ((out.double() > 0.5).double() == XOR_TARGETS.double()).double().mean().item()
    ctx.m.add(arm.experiment, arm.name, arm.seed, "accuracy", len(losses), accuracy)


def _measure_xor_tries(ctx: Context, arm: Arm, replies: list) -> None:
    for i, reply in enumerate(replies):
        out = _check(reply.get("output") if isinstance(reply, dict) else None,
                     "the network's output on the four XOR rows", shape=(4, 1))
        solved = bool(((out.double() > 0.5).double() == XOR_TARGETS.double()).all())
        ctx.m.add(arm.experiment, arm.name, arm.call_seed(i), "solved", i + 1, 1.0 if solved else 0.0)


def _measure_grad_norms(ctx: Context, arm: Arm, replies: list) -> None:
    norms = replies[0].get("norms") if isinstance(replies[0], dict) else None
    depths = arm.args["depths"]
    if not isinstance(norms, list) or len(norms) != len(depths):
        raise BadReply(f"first_layer_grad_norm: expected {len(depths)} norms, found none")
    for depth, norm in zip(depths, norms):
        if (number(norm) or 0.0) > 0:  # a norm of 0 cannot go on the log scale: a gap
            ctx.m.add(arm.experiment, arm.name, arm.seed, "grad_norm", depth + 1, norm)


def _measure_mnist(ctx: Context, arm: Arm, replies: list) -> None:
    per_call = arm.args["epochs"]
    train_eval = arm.args.get("train_eval") or 0
    for call, reply in enumerate(replies):
        if not isinstance(reply, dict):
            raise BadReply("the training run returned nothing readable")
        epoch = (call + 1) * per_call
        add = lambda metric, value: ctx.m.add(arm.experiment, arm.name, arm.seed, metric, epoch, value)  # noqa: E731
        losses = reply.get("losses")
        if isinstance(losses, list) and losses:
            add("train_loss", losses[-1])
        add("test_accuracy", _accuracy(reply.get("predictions"), ctx.test_labels, "the test predictions"))
        if "predictions_again" in reply:
            first = _check(reply.get("predictions"), "the test predictions", shape=ctx.test_labels.shape)
            again = _check(reply["predictions_again"], "the test predictions, second pass", shape=ctx.test_labels.shape)
            add("eval_changes", float((first != again).sum().item()))
        if train_eval:
            add("train_accuracy", _accuracy(reply.get("train_predictions"), ctx.train_labels[:train_eval],
                                            "the training predictions"))


def _measure_activations(ctx: Context, arm: Arm, replies: list) -> None:
    layers = replies[0].get("layers") if isinstance(replies[0], dict) else None
    if not isinstance(layers, list) or not layers:
        raise BadReply("no hidden activations came back")
    counts, zeros = [], []
    for i, out in enumerate(layers, start=1):
        values = _check(out, f"hidden layer {i}'s activations").detach().double().flatten()
        values = values[torch.isfinite(values)]
        if values.numel() < 2:
            raise BadReply(f"hidden layer {i}'s activations: fewer than 2 finite values")
        ctx.m.add(arm.experiment, arm.name, arm.seed, "activation_std", i, values.std().item())
        zero = (values <= 0).double().mean().item()
        ctx.m.add(arm.experiment, arm.name, arm.seed, "activation_zero_fraction", i, zero)
        hist, _ = np.histogram(values[values > 0].numpy(), bins=HIST_EDGES)
        counts.append((hist / max(1, values.numel())).tolist())
        zeros.append(zero)
    ctx.extra.setdefault("histograms", {})[(arm.name, arm.seed)] = {"fractions": counts, "zeros": zeros}


def _measure_optimizer(ctx: Context, arm: Arm, replies: list) -> None:
    losses = _loss_curve(ctx, arm, replies[0], "train_epoch")
    tail = [v for v in losses[-max(1, len(losses) // 5):] if v is not None]
    if tail:
        ctx.m.add(arm.experiment, arm.name, arm.seed, "end_loss", len(losses), statistics.fmean(tail))
    ctx.extra.setdefault("smoothed", {})[(arm.name, arm.seed)] = _smooth(losses)


def _smooth(losses: list, points: int = 50) -> tuple[list[int], list[float | None]]:
    """Losses per step averaged over windows (a running mean for the plot), at most `points`."""
    window = max(1, len(losses) // points)
    steps, means = [], []
    for start in range(0, len(losses), window):
        chunk = [v for v in losses[start:start + window] if v is not None]
        steps.append(start + window)
        means.append(statistics.fmean(chunk) if chunk else None)
    return steps, means


MEASURE = {"xor_curve": _measure_xor_curve, "xor_try": _measure_xor_tries, "grad_norms": _measure_grad_norms,
           "mnist_run": _measure_mnist, "activations": _measure_activations,
           "optimizer_losses": _measure_optimizer}


def measure(ctx: Context) -> None:
    """Turn every run's replies into rows of ctx.m; what went wrong becomes a note (one per run
    and reason, with the seeds it happened on)."""
    failed: dict[tuple[str, str], list[int]] = defaultdict(list)
    for arm in ctx.arms:
        missing = [lab for lab in (arm.lab, *arm.uses) if ctx.submission.folder(lab) is None]
        if missing:
            got = ctx.submission.labs.get(missing[0])
            why = f"{missing[0]} was not found: {got.message if got else 'not taken in'}"
            if missing[0] != arm.lab:
                why = f"this run trains with your {missing[0]} train_epoch, and {why}"
            ctx.problems.setdefault(arm.name, why)
            continue
        result = ctx.results.get(arm.key)
        if result is None:
            continue
        try:
            if result.replies:
                MEASURE[arm.probe](ctx, arm, result.replies)
        except BadReply as e:
            result.error = result.error or str(e)
        if result.error:
            ctx.problems.setdefault(arm.name, result.error)
            failed[(arm.name, result.error)].append(arm.seed)
    for (name, error), seeds in failed.items():
        ctx.notes.append(f"{name} (seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}): {error}")


# --- findings -------------------------------------------------------------------------------
#
# A finding's values are computed from the measurements by its `source`, plain data written
# with it to experiments.json, so that anyone can recompute them from measurements.csv:
#   {"op": "value", "terms": [sel]}             per seed, the term's value
#       optional "where": sel, "equals": x      ... only the seeds whose `where` value equals x
#   {"op": "minus", "terms": [a, b], "sign": s} per seed, s * (a - b)
#   {"op": "ratio", "terms": [a, b]}            per seed, a / b
#   {"op": "gap", "terms": [a, b, c, d]}        per seed, (a - b) - (c - d)
#   {"op": "rank", "terms": [t1, ...], "of": i} per seed, 1 + how many terms are below term i
#   {"op": "max", "terms": [sel]}               per seed, the largest value at any index
#   {"op": "rate", "terms": [sel]}              per try (keyed by its seed), 1 - the value
# where a term (sel) is {"run", "metric", "index"}: the value at that index, or at each seed's
# last index when "index" is null.


def sel(run: str, metric: str, index: int | None = None) -> dict:
    return {"run": run, "metric": metric, "index": index}


def evaluate(m: Measurements, experiment: str, source: dict) -> dict[int, float]:
    """The values a finding's `source` (above) selects from the measurements, by seed."""
    op, terms = source["op"], source["terms"]
    if op in ("max", "rate"):
        t = terms[0]
        rows = [(s, i, v) for e, r, s, mm, i, v in m.rows if (e, r, mm) == (experiment, t["run"], t["metric"])]
        if op == "rate":
            return {s: 1.0 - v for s, _, v in rows}
        most: dict[int, float] = {}
        for s, _, v in rows:
            most[s] = max(v, most.get(s, v))
        return dict(sorted(most.items()))
    got = [m.values(experiment, t["run"], t["metric"], t["index"]) for t in terms]
    seeds = sorted(set.intersection(*(set(g) for g in got)))
    if op == "value":
        where = m.values(experiment, source["where"]["run"], source["where"]["metric"], source["where"]["index"]) \
            if "where" in source else None
        return {s: got[0][s] for s in seeds if where is None or where.get(s) == source["equals"]}
    if op == "minus":
        return {s: source["sign"] * (got[0][s] - got[1][s]) for s in seeds}
    if op == "ratio":
        return {s: got[0][s] / got[1][s] for s in seeds if got[1][s] != 0}
    if op == "gap":
        return {s: (got[0][s] - got[1][s]) - (got[2][s] - got[3][s]) for s in seeds}
    if op == "rank":
        i = source["of"]
        return {s: 1.0 + sum(1 for g in got if g[s] < got[i][s]) for s in seeds}
    raise ValueError(f"unknown op {op!r}")


def finding(claim: str, verdict: str, why: str, values: dict[int, float] | None = None, lecture: float | None = None,
            source: dict | None = None, measured: dict | None = None) -> dict:
    """One line of an experiment's table. `values` are per seed (or per try); `measured` is
    their summary unless given (a rate)."""
    if measured is None and values:
        measured = stats.summary(list(values.values()))
    return {"claim": claim, "lecture": lecture, "measured": measured,
            "values": {str(k): v for k, v in (values or {}).items()}, "source": source,
            "verdict": verdict, "why": why}


def _runs(source: dict) -> list[str]:
    return [t["run"] for t in source["terms"]]


def lecture_number(ctx: Context, run: str, metric: str, claim: str, comparable: bool, log: bool = False,
           where: tuple[dict, float] | None = None) -> dict:
    """The lecture's number for `run` against our last `metric` per seed (only the seeds whose
    `where` selection equals its value, when given)."""
    lecture = ctx.exp.numbers[run]
    source = {"op": "value", "terms": [sel(run, metric)]}
    if where is not None:
        source.update({"where": where[0], "equals": where[1]})
    values = evaluate(ctx.m, ctx.exp.id, source)
    if not values:
        return finding(claim, stats.NOT_MEASURED, ctx.why_missing(run), lecture=lecture, source=source)
    seed_note = f"; with the lecture's seed {L.LECTURE_SEED}: {values[L.LECTURE_SEED]:.4g}" \
        if L.LECTURE_SEED in values else ""
    if not comparable:
        return finding(claim, stats.NOT_COMPARABLE, f"the {ctx.budget.name} budget is smaller than the lecture's "
                       f"(run without --quick to compare){seed_note}", values, lecture, source)
    verdict, why = stats.number_verdict(lecture, list(values.values()), log=log)
    return finding(claim, verdict, why + seed_note, values, lecture, source)


def compare(ctx: Context, better: str, worse: str, metric: str, claim: str, what: str, lower: bool = False,
            index: int | None = None) -> dict:
    """A paired comparison by seed of `better` against `worse` (the lecture's way round): their
    difference, positive where the lecture's claim goes its way (reversed when lower is better)."""
    source = {"op": "minus", "terms": [sel(better, metric, index), sel(worse, metric, index)],
              "sign": -1.0 if lower else 1.0}
    return paired(ctx, source, claim, what)


def paired(ctx: Context, source: dict, claim: str, what: str) -> dict:
    """A comparison by seed whose `source` gives, per seed, a difference positive where the
    lecture's claim goes its way."""
    diffs = evaluate(ctx.m, ctx.exp.id, source)
    if not diffs:
        return finding(claim, stats.NOT_MEASURED, ctx.why_missing(*_runs(source)), source=source)
    verdict, why = stats.compare_verdict(list(diffs.values()), what)
    return finding(claim, verdict, why, diffs, source=source)


def every_seed(ctx: Context, source: dict, claim: str, test, what: str, lecture: float | None = None,
               extra=None) -> dict:
    """A claim each seed's value must bear out (`test(value)`); `extra(values)` may add words
    to why it failed."""
    values = evaluate(ctx.m, ctx.exp.id, source)
    if not values:
        return finding(claim, stats.NOT_MEASURED, ctx.why_missing(*_runs(source)), lecture=lecture, source=source)
    verdict, why = stats.all_verdict([bool(test(v)) for v in values.values()], what)
    if verdict != stats.HOLDS and extra is not None:
        why += extra(values)
    return finding(claim, verdict, why, values, lecture, source)


def series_plot(ctx: Context, title: str, xlabel: str, ylabel: str, runs: list[tuple[str, str, str]],
                log_y: bool = False, marks: list[tuple] = (), dashed: tuple[str, ...] = ()) -> dict | None:
    """A `series` plot (reports/plots.py): for each (run, metric, label) the mean over seeds at
    each index with the band from the lowest to the highest seed, one colour per run (labels in
    `dashed` dashed); `marks` are (y, label) or (y, label, run), drawn in that run's colour."""
    colours = list(dict.fromkeys(run for run, _, _ in runs))
    series = []
    for run, metric, label in runs:
        by_index = ctx.m.series(ctx.exp.id, run, metric)
        if not by_index:
            continue
        xs = list(by_index)
        series.append({"label": label, "x": xs, "mean": [statistics.fmean(by_index[x]) for x in xs],
                       "low": [min(by_index[x]) for x in xs], "high": [max(by_index[x]) for x in xs],
                       "dashed": label in dashed, "color": colours.index(run)})
    if not series:
        return None
    return {"kind": "series", "title": title, "xlabel": xlabel, "ylabel": ylabel, "log_y": log_y, "series": series,
            "marks": [{"y": y, "label": text, **({"color": colours.index(rest[0])} if rest else {})}
                      for y, text, *rest in marks]}


def _xor(ctx: Context) -> tuple[list[dict], list[dict]]:
    exp, b = ctx.exp, ctx.budget
    ln2 = math.log(2)
    out = [every_seed(ctx, {"op": "value", "terms": [sel("perceptron", "final_loss")]},
                      "A single perceptron cannot learn XOR: its cost stays at ln 2 ≈ 0.693",
                      lambda v: abs(v - ln2) < 0.01, f"after {b.xor_steps} steps its cost was within 0.01 of ln 2",
                      lecture=ln2)]
    for run, widths in (("mlp_2_2_1", "2-2-1"), ("mlp_2_10_10_10_1", "2-10-10-10-1")):
        solved = ctx.m.values(exp.id, run, "accuracy")
        claim = f"A {widths} MLP learns XOR: cost {exp.numbers[run]:g} after 10001 steps"
        f = lecture_number(ctx, run, "final_loss", claim, b.xor_steps == 10001, log=True,
                   where=(sel(run, "accuracy"), 1.0))
        if solved:
            count = sum(1 for a in solved.values() if a == 1.0)
            if count == 0:
                f["verdict"] = stats.FAILS
                f["why"] = f"no run of {len(solved)} classified all four rows"
            else:
                others = "" if count == len(solved) else \
                    " (only they count here; the others stayed stuck: see the stuck rate below)"
                f["why"] = f"{count} of {len(solved)} runs classified all four rows{others}; " + f["why"]
        out.append(f)
    out.append(compare(ctx, "mlp_2_10_10_10_1", "mlp_2_2_1", "final_loss",
                       "The deeper, wider 2-10-10-10-1 MLP ends with a lower cost than the 2-2-1",
                       "the 2-10-10-10-1's final cost was lower", lower=True))
    out.append(_stuck(ctx))
    plot = series_plot(ctx, "XOR: cost per step (mean over seeds; band: lowest to highest seed)", "training step",
                       "BCE loss", [("perceptron", "loss", "perceptron (8-1)"),
                                    ("mlp_2_2_1", "loss", "2-2-1 MLP (8-2)"),
                                    ("mlp_2_10_10_10_1", "loss", "2-10-10-10-1 MLP (8-2)")],
                       log_y=True, marks=[(ln2, "ln 2: the cost of guessing 0.5")])
    return out, [plot] if plot else []


def _stuck(ctx: Context) -> dict:
    settings = stuck_settings(ctx.course)
    if not settings:
        return finding("The xor_learned check's retry count is enough", stats.NOT_MEASURED,
                       "this course.toml has no xor_learned check with hidden, num_layers, steps, lr and k")
    k = settings["k"]
    limit = FALSE_FAIL ** (1 / k)
    claim = (f"The xor_learned check's k = {k} tries are enough: a 2-{settings['hidden']}-1 network trained "
             f"{settings['steps']} steps at lr {settings['lr']:g} stays stuck in at most {limit:.3f} of tries "
             f"({limit:.3f}^{k} = {FALSE_FAIL:g}, the check's false-fail bound)")
    source = {"op": "rate", "terms": [sel("stuck", "solved")]}
    values = evaluate(ctx.m, ctx.exp.id, source)
    if not values:
        return finding(claim, stats.NOT_MEASURED, ctx.why_missing("stuck"), source=source)
    stuck, n = int(sum(values.values())), len(values)
    verdict, why, (low, high) = stats.rate_verdict(stuck, n, limit, "tries that did not classify all four rows")
    measured = {"n": n, "count": stuck, "rate": stuck / n, "low": low, "high": high}
    return finding(claim, verdict, why, values, source=source, measured=measured)


def _activations(ctx: Context) -> tuple[list[dict], list[dict]]:
    deepest = max(L.GRAD_DEPTHS) + 1
    try:
        max_ratio = float(ctx.course.lab(VANISHING_CHECK[0]).check(VANISHING_CHECK[1]).params["max_ratio"])
    except KeyError:
        max_ratio = 0.01
    depth = f"{len(L.DEEP_NARROW)} hidden layers of {L.DEEP_NARROW[0]}"
    out = [every_seed(ctx, {"op": "ratio", "terms": [sel("grad_sigmoid", "grad_norm", deepest),
                                                     sel("grad_relu", "grad_norm", deepest)]},
                      f"The first layer's gradient vanishes with depth under sigmoid, not under ReLU: at {deepest} "
                      f"layers sigmoid's is below {max_ratio:g} of ReLU's (the vanishing_gradient check's bound)",
                      lambda r: r < max_ratio,
                      f"sigmoid's first-layer gradient norm was below {max_ratio:g} of ReLU's"),
           compare(ctx, "relu", "sigmoid", "test_accuracy",
                   f"A deep sigmoid network ({depth}) learns far more slowly than the same ReLU network: test "
                   "accuracy after the first epoch", "ReLU's test accuracy was higher", index=1),
           compare(ctx, "relu", "sigmoid", "test_accuracy",
                   f"... and it is still behind after the last epoch ({ctx.budget.mnist_epochs})",
                   "ReLU's test accuracy was higher")]
    plots = [series_plot(ctx, "First layer's gradient norm against depth (mean; band: lowest to highest seed)",
                         f"Linear layers ({L.GRAD_WIDTH} units per hidden layer), built with your build_mlp",
                         "first layer's gradient norm", [("grad_sigmoid", "grad_norm", "sigmoid"),
                                                        ("grad_relu", "grad_norm", "ReLU")], log_y=True),
             series_plot(ctx, f"MNIST test accuracy per epoch, {depth}", "epoch", "test accuracy",
                         [("sigmoid", "test_accuracy", "sigmoid"), ("relu", "test_accuracy", "ReLU")])]
    return out, [p for p in plots if p]


def _optimizers(ctx: Context) -> tuple[list[dict], list[dict]]:
    source = {"op": "rank", "terms": [sel(name, "end_loss") for name in L.OPTIMIZERS],
              "of": L.OPTIMIZERS.index("adam")}
    out = [every_seed(ctx, source, "Adam is a good default: its loss at the end of the budget is among the three "
                      "lowest of the eight", lambda r: r <= 3,
                      "Adam's mean loss over the last fifth of the steps ranked among the three lowest")]
    rows = []
    for name in L.OPTIMIZERS:
        v = list(ctx.m.values(ctx.exp.id, name, "end_loss").values())
        s = stats.summary(v) if v else None
        rows.append([name, f"{default_lr(name):g}", f"{s['mean']:.4f} ± {s['sd']:.4f}" if s else "not measured"])
    ctx.extra["table"] = {"head": ["optimizer", "lr (torch's default)", "loss over the last fifth of the steps"],
                          "rows": rows}
    series = []
    for name in L.OPTIMIZERS:
        curves = [c for c in (ctx.extra.get("smoothed", {}).get((name, s)) for s in ctx.budget.seeds) if c]
        if curves:
            steps = curves[0][0]
            means = [_mean_of([c[1][i] for c in curves if i < len(c[1])]) for i in range(len(steps))]
            series.append({"label": name, "x": steps, "mean": means, "low": None, "high": None, "dashed": False})
    plots = [{"kind": "series", "title": "Loss per step (running mean; mean over seeds)",
              "xlabel": f"step (batches of {L.MNIST_BATCH})", "ylabel": "cross-entropy loss", "log_y": True,
              "series": series, "marks": []}] if series else []
    return out, plots


def _mean_of(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def _init(ctx: Context) -> tuple[list[dict], list[dict]]:
    exp, comparable = ctx.exp, ctx.budget.lecture_scale
    acc = "test_accuracy"
    out = [lecture_number(ctx, "softmax", acc, "Softmax regression reaches 0.894", comparable),
           lecture_number(ctx, "normal", acc, "A ReLU MLP (784-256-256-10) with normal_ initialization reaches 0.942",
                          comparable),
           lecture_number(ctx, "xavier", acc, "The same MLP with Xavier initialization (your xavier_uniform) reaches "
                                              "0.9805", comparable),
           lecture_number(ctx, "deeper_xavier", acc, "The deeper MLP (784-512-512-512-512-10) with Xavier reaches "
                                                     "0.9819", comparable),
           compare(ctx, "normal", "softmax", "test_accuracy", "Hidden ReLU layers beat softmax regression",
                   "the MLP's test accuracy was higher"),
           compare(ctx, "xavier", "normal", "test_accuracy", "Xavier initialization beats normal_ (0.9805 against "
                                                             "0.942)", "Xavier's test accuracy was higher"),
           compare(ctx, "he", "normal", "test_accuracy", "He initialization (your he_normal) beats normal_ too",
                   "He's test accuracy was higher"),
           compare(ctx, "deeper_xavier", "xavier", "test_accuracy", "The deeper MLP beats the one with two hidden "
                                                                    "layers (0.9819 against 0.9805)",
                   "the deeper MLP's test accuracy was higher"),
           every_seed(ctx, {"op": "ratio", "terms": [sel("activations_normal", "activation_std", 2),
                                                     sel("activations_xavier", "activation_std", 2)]},
                      "normal_ (std 1) blows the activations up where Xavier keeps them near the input's scale: "
                      "the second hidden layer's spread at least 10 times Xavier's", lambda r: r >= 10,
                      "the second hidden layer's standard deviation under normal_ was at least 10 times Xavier's")]
    marks = [(exp.numbers[n], f"lecture: {label} {exp.numbers[n]:g}", n)
             for n, label in (("softmax", "softmax"), ("normal", "normal_"), ("xavier", "Xavier"),
                              ("deeper_xavier", "deeper"))]
    plots = [series_plot(ctx, "MNIST test accuracy per epoch: the lecture's models (dotted: the lecture's numbers)",
                         "epoch", "test accuracy",
                         [("softmax", "test_accuracy", "softmax (normal_)"),
                          ("normal", "test_accuracy", "MLP, normal_"),
                          ("xavier", "test_accuracy", "MLP, your Xavier"),
                          ("deeper_xavier", "test_accuracy", "deeper MLP, your Xavier")], marks=marks),
             series_plot(ctx, "MNIST test accuracy per epoch: initializations of the 784-256-256-10 MLP", "epoch",
                         "test accuracy", [("default", "test_accuracy", "torch's default"),
                                           ("normal", "test_accuracy", "normal_ (std 1)"),
                                           ("xavier", "test_accuracy", "your xavier_uniform"),
                                           ("he", "test_accuracy", "your he_normal")]),
             _histogram_plot(ctx)]
    return out, [p for p in plots if p]


HISTOGRAM_LABELS = (("default", "torch's default"), ("normal", "normal_ (std 1)"), ("xavier", "your xavier_uniform"),
                    ("he", "your he_normal"))


def _histogram_plot(ctx: Context) -> dict | None:
    hist = ctx.extra.get("histograms", {})
    seed = next((s for s in ctx.budget.seeds if any((f"activations_{n}", s) in hist for n, _ in HISTOGRAM_LABELS)),
                None)
    if seed is None:
        return None
    series = [{"label": label, **hist[(f"activations_{name}", seed)]} for name, label in HISTOGRAM_LABELS
              if (f"activations_{name}", seed) in hist]
    return {"kind": "activation_histograms", "edges": HIST_EDGES.tolist(), "seed": seed, "series": series}


def _dropout(ctx: Context) -> tuple[list[dict], list[dict]]:
    exp, b = ctx.exp, ctx.budget
    p = L.OVERFIT_P
    out = [paired(ctx, {"op": "gap", "terms": [sel("overfit_plain", "train_accuracy"), sel("overfit_plain",
                                                                                           "test_accuracy"),
                                               sel("overfit_dropout", "train_accuracy"),
                                               sel("overfit_dropout", "test_accuracy")]},
                  f"On a small training set ({b.overfit_samples} images, {b.overfit_epochs} epochs) dropout (p = {p}) "
                  "narrows the gap between training and test accuracy", "the gap was narrower with dropout"),
           compare(ctx, "overfit_dropout", "overfit_plain", "test_accuracy",
                   "... and raises the test accuracy there", "the test accuracy was higher with dropout"),
           every_seed(ctx, {"op": "max", "terms": [sel("overfit_dropout", "eval_changes")]},
                      "Dropout is off in eval mode: two passes over the test set give the same predictions",
                      lambda v: v == 0, "no test prediction changed between two passes in eval mode",
                      extra=lambda v: (f"; up to {int(max(v.values()))} of {len(ctx.test_labels)} test predictions "
                                       "changed: your Dropout still drops in eval mode (it must return its input "
                                       "unchanged when self.training is False)"))]
    if b.lecture_dropout:
        out.append(lecture_number(ctx, "lecture_dropout", "test_accuracy",
                                  "The lecture's deep network with dropout reaches 0.9772", b.lecture_scale))
        out.append(lecture_number(ctx, "lecture_plain", "test_accuracy", "... and 0.9819 without dropout",
                                  b.lecture_scale))
    train, test = f"dropout {p}, training", f"dropout {p}, test"
    plots = [series_plot(ctx, f"Training (dashed) and test accuracy on {b.overfit_samples} training images", "epoch",
                         "accuracy", [("overfit_plain", "train_accuracy", "no dropout, training"),
                                      ("overfit_plain", "test_accuracy", "no dropout, test"),
                                      ("overfit_dropout", "train_accuracy", train),
                                      ("overfit_dropout", "test_accuracy", test)],
                         dashed=("no dropout, training", train))]
    if b.lecture_dropout:
        plots.append(series_plot(ctx, "The lecture's deep network on all of MNIST: test accuracy per epoch", "epoch",
                                 "test accuracy", [("lecture_plain", "test_accuracy", "no dropout"),
                                                   ("lecture_dropout", "test_accuracy", f"dropout {L.DROPOUT_P}")],
                                 marks=[(exp.numbers["lecture_dropout"], "lecture: dropout 0.9772", "lecture_dropout"),
                                        (exp.numbers["lecture_plain"], "lecture: no dropout 0.9819", "lecture_plain")]))
    return out, [p for p in plots if p]


def _batchnorm(ctx: Context) -> tuple[list[dict], list[dict]]:
    exp, comparable = ctx.exp, ctx.budget.lecture_scale
    out = [lecture_number(ctx, "bn", "test_accuracy", "With batch normalization the test accuracy reaches 0.97",
                          comparable),
           lecture_number(ctx, "plain", "test_accuracy", "Without it, 0.96", comparable),
           compare(ctx, "bn", "plain", "test_accuracy", "Batch normalization beats the plain network on the test set",
                   "the test accuracy was higher with batch normalization"),
           compare(ctx, "bn", "plain", "train_accuracy", "... and on the training set",
                   "the training accuracy was higher with batch normalization")]
    plots = [series_plot(ctx, "Training (dashed) and test accuracy per epoch, 784-32-32-10", "epoch", "accuracy",
                         [("plain", "train_accuracy", "plain, training"), ("plain", "test_accuracy", "plain, test"),
                          ("bn", "train_accuracy", "batch norm, training"),
                          ("bn", "test_accuracy", "batch norm, test")],
                         dashed=("plain, training", "batch norm, training"),
                         marks=[(exp.numbers["bn"], "lecture: batch norm 0.97", "bn"),
                                (exp.numbers["plain"], "lecture: plain 0.96", "plain")])]
    return out, [p for p in plots if p]


FINDINGS = {"xor": _xor, "activations": _activations, "optimizers": _optimizers, "init": _init,
            "dropout": _dropout, "batchnorm": _batchnorm}


def budget_used(exp: Experiment, budget: Budget, course: config.Course) -> str:
    """What this experiment measured, in words: seeds and budget."""
    seeds = (f"{len(budget.seeds)} seeds ({', '.join(map(str, budget.seeds))}; paired: every run of a seed starts "
             "from it)")
    data = "all 60000 training images" if budget.mnist_samples is None else \
        f"the first {budget.mnist_samples} training images"
    if exp.id == "xor":
        s = stuck_settings(course)
        tries = (f"; the stuck rate over {budget.stuck_tries} fresh 2-{s['hidden']}-1 networks at the xor_learned "
                 f"check's settings ({s['steps']} steps, lr {s['lr']:g})") if s else ""
        return f"{seeds}; {budget.xor_steps} steps of SGD lr 1 per network{tries}"
    if exp.id == "activations":
        return (f"{seeds}; gradient norms on a batch of {L.GRAD_SAMPLES} training images for 2 to "
                f"{max(L.GRAD_DEPTHS) + 1} Linear layers; MNIST {budget.mnist_epochs} epochs on {data}, Adam lr "
                f"{L.MNIST_LR:g}, batches of {L.MNIST_BATCH}")
    if exp.id == "optimizers":
        return f"{seeds}; {budget.optimizer_steps} steps of batches of {L.MNIST_BATCH} per optimizer"
    if exp.id == "init":
        loop = course.lab(exp.uses[0]).module
        return (f"{seeds}; {budget.mnist_epochs} epochs on {data}, Adam lr {L.MNIST_LR:g}, batches of "
                f"{L.MNIST_BATCH}, trained by your {loop}.py's train_epoch (lab 9-1); activations of "
                f"{L.ACTIVATION_SAMPLES} training images at initialization")
    if exp.id == "dropout":
        lecture = f"; the lecture's pair: {budget.mnist_epochs} epochs on {data}" if budget.lecture_dropout else \
            "; the lecture's own pair (all of MNIST, 15 epochs) runs only without --quick"
        return (f"{seeds}; {budget.overfit_epochs} epochs on {budget.overfit_samples} training images, accuracies "
                f"measured {budget.overfit_evals} times{lecture}")
    return (f"{seeds}; {budget.bn_epochs} epochs on {data}, Adam lr {L.BN_LR:g}, batches of {L.BN_BATCH}; training "
            f"accuracy on the first {min(budget.mnist_samples or 60000, 10000)} training images")


def section(ctx: Context) -> dict:
    """An experiment's part of the report (plain data, written to experiments.json)."""
    exp = ctx.exp
    seconds = sum(ctx.results[a.key].seconds for a in ctx.arms if a.key in ctx.results)
    base = {"number": exp.number, "id": exp.id, "title": exp.title, "labs": list(exp.labs), "claim": exp.claim,
            "lecture": exp.lecture, "budget": budget_used(exp, ctx.budget, ctx.course), "seconds": seconds}
    found = [lab for lab in exp.labs if ctx.submission.folder(lab) is not None]
    if not found:
        why = "; ".join(f"{lab}: {ctx.submission.labs[lab].message}" for lab in exp.labs if lab in ctx.submission.labs)
        return {**base, "status": "skipped", "why": why or "its labs were not asked for", "findings": [], "plots": [],
                "notes": [], "table": None}
    measure(ctx)
    findings, plots = FINDINGS[exp.id](ctx)
    return {**base, "status": "run", "why": "", "findings": findings, "plots": plots, "notes": ctx.notes,
            "table": ctx.extra.get("table")}
