"""Plots of the reports, drawn on the grader's side (matplotlib, Agg) as PNG bytes.

A check records plain data for a plot (engine/plugin.py's `plots` fixture, kept in its lab
record); `png(item)` draws it, by the item's "kind":

| kind | recorded by | what it shows |
| --- | --- | --- |
| loss_curve | 8-1 and_or_learned, xor_not_learned, train_perceptron_matches_sgd; 8-2 xor_learned, train_xor_matches_sgd | the loss per step of the student's training loop, beside the reference's from the same start where the check trains one |
| decision_map | 8-1 and_or_learned, xor_not_learned; 8-2 xor_learned | the trained network's output on a grid over the inputs, its 0.5 boundary and the training rows |
| grad_norm_depth | 9-1 vanishing_gradient | the first layer's gradient norm against the number of hidden layers, sigmoid and ReLU |
| mnist_accuracy | the MNIST checks of 9-1 to 9-4 | test accuracy after each epoch, and the threshold where the page may show it |
| init_histogram | 9-2 xavier_*_scale, he_*_scale | a histogram of the values drawn over the target density, with the fans |
| dropout_zero_fraction | 9-3 dropout_zero_fraction | the fraction of zeros against p, beside the line fraction = p |
| dropout_modes | 9-3 dropout_eval_identity | output against input in training mode and in eval mode |
| batchnorm_stats | 9-4 bn_train_forward | per-feature mean and variance of the output in training and eval mode, beside torch's |

and for the class report `score_histogram` and `class_accuracies`; for `autograder experiments`
(autograder/experiments/findings.py) `series` (lines of a mean over seeds with their band, the
lecture's numbers as dotted lines) and `activation_histograms`. The data is read back
from results.json, so every renderer checks what it reads; a plot that cannot be drawn is
None and the page says so. No text in a plot comes from the data but numbers: titles and
labels are the kit's words. Rendering is serialized (one lock) because matplotlib's state is
not thread-safe and students' reports are written from several threads; figures already
drawn are cached by their data, since a student's page is rewritten after every lab.
"""
from __future__ import annotations

import functools
import io
import json
import math
import textwrap
import threading

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib import ticker  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

YOURS, REFERENCE, TARGET, THRESHOLD = "#1f6fb4", "#e07b00", "#444444", "#c0392b"
DPI = 100
PALETTE = 64  # colours of a plot's PNG
_lock = threading.Lock()
_RENDERERS: dict = {}


# What each plot shows (an image's alt text) and what to look for in it (its caption).
TITLES = {
    "loss_curve": "Loss per training step",
    "decision_map": "Decision map of the trained network",
    "grad_norm_depth": "First-layer gradient norm against depth",
    "mnist_accuracy": "MNIST test accuracy per epoch",
    "init_histogram": "Histogram of the initial weights over the target density",
    "dropout_zero_fraction": "Fraction of zeros against p",
    "dropout_modes": "Dropout output against input in training and eval mode",
    "batchnorm_stats": "Per-feature mean and variance of the BatchNorm1d output",
    "series": "A measurement per step or epoch: the mean over seeds and its spread",
    "activation_histograms": "Hidden activations at initialization, per layer",
}
CAPTIONS = {
    "loss_curve": "The loss should fall from about ln 2 towards 0. A curve flat at ln 2 learns nothing (no backward, "
                  "no step, or zero_grad after backward). Where a reference curve is drawn, it started from your "
                  "model's weights on the same data: the two should lie on top of each other.",
    "decision_map": "Red where the network outputs above 0.5 (it predicts 1), blue below; the black line is the "
                    "boundary. Every square (target 1) should sit in red and every circle (target 0) in blue.",
    "grad_norm_depth": "With sigmoid the first layer's gradient shrinks about tenfold per layer (sigmoid's slope is "
                       "at most 1/4); with ReLU it shrinks far less, so deep ReLU networks still train.",
    "mnist_accuracy": "The test accuracy of the model your code trained on the course's budget.",
    "init_histogram": "The bars are your values, the line the density they should follow. Too wide or too narrow: "
                      "the wrong fans or formula. A flat top where a bell belongs (or the reverse): uniform and "
                      "normal swapped.",
    "dropout_zero_fraction": "Each dot should sit on the dashed line: Dropout(p) zeroes a fraction p of the "
                             "elements. Dots on the other diagonal mean p is used as the probability to keep.",
    "dropout_modes": "In training mode every element is either dropped (0) or scaled by 1 / (1 - p); in eval mode "
                     "the output is the input.",
    "batchnorm_stats": "Your bars should match torch's: in training mode each feature is normalized with the "
                       "batch's own statistics, in eval mode with the running statistics.",
    "series": "Lines: the mean over seeds; shaded: from the lowest to the highest seed; dotted: the lecture's "
              "numbers where it gives one.",
    "activation_histograms": "Each hidden layer's activations at initialization, on a log scale (the share at "
                             "exactly 0, which ReLU sets, is in the legend). Under normal_ (std 1) they spread "
                             "orders of magnitude wider than under Xavier or He.",
}


def renderer(kind: str):
    """Register the decorated function as the renderer of plots of `kind`: (item, threshold) -> Figure."""
    def register(fn):
        _RENDERERS[kind] = fn
        return fn
    return register


def kinds() -> list[str]:
    """The plot kinds `png` can draw."""
    return sorted(_RENDERERS)


def png(item: dict, threshold: float | None = None) -> bytes | None:
    """The PNG of one recorded plot (a dict with "kind"), or None when its kind is unknown,
    it was omitted, or its data cannot be drawn. `threshold`: the line of an mnist_accuracy
    plot, None where the page may not show it (a hidden check's threshold)."""
    if not isinstance(item, dict) or item.get("kind") not in _RENDERERS or "omitted" in item:
        return None
    try:
        key = json.dumps(item, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        return None
    return _cached(key, threshold)


@functools.lru_cache(maxsize=512)
def _cached(key: str, threshold: float | None) -> bytes | None:
    item = json.loads(key)
    with _lock:
        try:
            fig = _RENDERERS[item["kind"]](item, threshold)
        except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError):
            return None  # data that does not fit its kind (an old or damaged results.json)
        return _to_png(fig)


def _to_png(fig: Figure) -> bytes:
    """The figure as a PNG of PALETTE colours: a third of the full-colour size, which keeps a
    page with twenty plots light on a phone. Drawn to memory and encoded once. Octree
    quantization keeps every line's colour, even one that shows in few pixels (a legend's
    swatch, a line under another), which median cut merged into a neighbour's in plots of
    eight lines; it is also about a tenth smaller."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    image = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    out = io.BytesIO()
    image.convert("RGB").quantize(PALETTE, method=Image.Quantize.FASTOCTREE).save(out, format="PNG")
    return out.getvalue()


# Margins around the axes in inches (left, right, bottom, top): fixed, because a layout
# engine measuring every label costs a third of the drawing time.
MARGINS = (0.75, 0.15, 0.55, 0.35)


def _figure(width: float = 6.0, height: float = 3.6, margins=MARGINS, **subplots):
    left, right, bottom, top = margins
    fig = Figure(figsize=(width, height), dpi=DPI)
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height,
                        wspace=0.3, hspace=0.55)
    return fig, fig.subplots(**subplots)


def _numbers(values, length: int | None = None) -> np.ndarray:
    """A list of numbers (None for a gap) as float64 with NaN for the gaps; ValueError if
    it is not such a list, or not of `length`."""
    if not isinstance(values, list) or any(
            v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))) for v in values):
        raise ValueError("not a list of numbers")
    if length is not None and len(values) != length:
        raise ValueError("wrong length")
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError("not a finite number")
    return float(value)


def _label(text) -> str:
    """Kit words recorded with the data (a curve's label), made inert for matplotlib's mathtext."""
    return str(text)[:80].replace("$", "").replace("\\", "")


def _finish(ax, xlabel: str, ylabel: str, title: str, legend: str = "best", **grid) -> None:
    """Axis labels, a title, the legend and a light grid: what every plot ends with."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=11)
    ax.legend(fontsize=8, loc=legend)
    ax.grid(alpha=0.3, **grid)


def _note_gaps(ax, values: np.ndarray, what: str) -> None:
    """Say in the plot how many of the `what` are missing (not a finite number, or a call
    that failed), so that a gap is not read as a point."""
    missing = int(np.isnan(values).sum())
    if missing:
        ax.text(0.99, 0.02, f"{missing} of {values.size} {what} missing: not a finite number, or the call failed",
                transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color=THRESHOLD)


# --- the students' plots -------------------------------------------------------------------


@renderer("loss_curve")
def loss_curve(item: dict, threshold=None) -> Figure:
    """{"data": what was trained on, "lr": float, "curves": up to 4 of {"label", "step": [int],
    "value": [float | None]}}: the first curve solid (the student's), the next dashed; log
    scale when the loss falls twentyfold or more."""
    fig, ax = _figure()
    drawn = []
    for i, c in enumerate(item["curves"][:4]):
        steps, loss = _numbers(c["step"]), _numbers(c["value"], len(c["step"]))
        ax.plot(steps, loss, color=(YOURS, REFERENCE)[i % 2], linestyle=("-", "--")[i % 2],
                linewidth=2 if i == 0 else 1.5, label=_label(c["label"]))
        _note_gaps(ax, loss, "losses")
        drawn.append(loss[np.isfinite(loss)])
    values = np.concatenate(drawn) if drawn else np.array([])
    if values.size and values.min() > 0 and values.max() / values.min() > 20:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.axhline(math.log(2), color=TARGET, linestyle=":", linewidth=1, label="ln 2: the loss of guessing 0.5")
    _finish(ax, "training step", "BCE loss", f"Loss per step on {_label(item['data'])}, lr {_number(item['lr']):g}")
    return fig


@renderer("decision_map")
def decision_map(item: dict, threshold=None) -> Figure:
    """{"data": a title, "limits": [lo, hi], "size": n, "prob": n*n outputs in [0, 1] on
    checks.common.map_grid() (first coordinate fastest), "rows": [[x1, x2]], "targets": [0 | 1]}."""
    size = int(item["size"])
    lo, hi = (_number(v) for v in item["limits"])
    prob = _numbers(item["prob"], size * size).reshape(size, size)
    axis = np.linspace(lo, hi, size)
    fig, ax = _figure(4.6, 4.1, margins=(0.75, 0.1, 1.0, 0.35))
    shade = ax.contourf(axis, axis, np.nan_to_num(prob, nan=0.5), levels=np.linspace(0, 1, 11), cmap="RdBu_r",
                        vmin=0, vmax=1)
    if np.nanmin(prob) < 0.5 < np.nanmax(prob):
        ax.contour(axis, axis, prob, levels=[0.5], colors="black", linewidths=1.5)
    fig.colorbar(shade, ax=ax, label="output (probability of 1)")
    rows, targets = np.array(item["rows"], dtype=float), _numbers(item["targets"])
    for target, marker in ((0.0, "o"), (1.0, "s")):
        pick = targets == target
        ax.scatter(rows[pick, 0], rows[pick, 1], marker=marker, s=90, edgecolors="black", linewidths=1.5,
                   c="white" if target == 0 else "black", label=f"target {target:g}", zorder=3)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_title(_label(item["data"]), fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
    _note_gaps(ax, prob.flatten(), "outputs")
    return fig


@renderer("grad_norm_depth")
def grad_norm_depth(item: dict, threshold=None) -> Figure:
    """{"depths": [int], "sigmoid": [float | None], "relu": [float | None]}: gradient norms, log scale."""
    depths = _numbers(item["depths"])
    fig, ax = _figure()
    for name, color, marker in (("sigmoid", REFERENCE, "o"), ("relu", YOURS, "s")):
        norms = _numbers(item[name], len(depths))
        ax.semilogy(depths, np.where(norms > 0, norms, np.nan), marker=marker, color=color,
                    label={"relu": "ReLU"}.get(name, name))
    _finish(ax, "hidden layers (64 units each), built with your build_mlp", "first layer's gradient norm",
            "The vanishing gradient: first-layer gradient norm against depth", which="both")
    return fig


@renderer("mnist_accuracy")
def mnist_accuracy(item: dict, threshold: float | None = None) -> Figure:
    """{"accuracy": [fraction per epoch trained], "epochs": the budget, "stop_at_threshold": bool};
    `threshold` drawn as a dashed line when given."""
    accuracy = _numbers(item["accuracy"])
    epochs = max(int(item["epochs"]), len(accuracy))
    fig, ax = _figure(5.2, 3.4)
    x = np.arange(1, len(accuracy) + 1)
    ax.plot(x, accuracy, marker="o", color=YOURS, linewidth=2, label="your model's test accuracy")
    for xi, a in zip(x, accuracy):
        if np.isfinite(a):
            ax.annotate(f"{a:.4f}", (xi, a), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
    low = [a for a in accuracy if np.isfinite(a)]
    if threshold is not None:
        ax.axhline(threshold, color=THRESHOLD, linestyle="--", label=f"threshold {threshold:g}")
        low.append(threshold)
    ax.set_ylim(max(0.0, min(low, default=0.9) - 0.03), 1.0)
    ax.set_xlim(0.5, epochs + 0.5)
    ax.set_xticks(range(1, epochs + 1))
    if len(accuracy) < epochs and item.get("stop_at_threshold"):
        ax.text(0.02, 0.97, "training stopped at the first epoch that passed", transform=ax.transAxes, fontsize=8,
                va="top")
    _finish(ax, f"epoch (of a budget of {epochs})", "test accuracy", "MNIST test accuracy after each epoch",
            "lower right")
    return fig


@renderer("init_histogram")
def init_histogram(item: dict, threshold=None) -> Figure:
    """{"method", "family": "uniform" | "normal", "scale": a or std, "lo", "hi", "counts": [int]
    per equal bin of [lo, hi], "below", "above", "n": ints, "shape", "gain", "fan_in", "fan_out",
    "found_max", "found_std"}: the counts as a density over the target's."""
    lo, hi, scale = _number(item["lo"]), _number(item["hi"]), _number(item["scale"])
    counts = _numbers(item["counts"])
    n = _number(item["n"])
    edges = np.linspace(lo, hi, len(counts) + 1)
    width = edges[1] - edges[0]
    fig, ax = _figure(margins=(0.75, 0.15, 0.55, 0.6))
    ax.bar(edges[:-1], counts / (n * width), width=width, align="edge", color=YOURS, alpha=0.55,
           label=f"your values ({int(n)})")
    x = np.linspace(lo, hi, 400)
    if item["family"] == "uniform":
        density, law = np.where(np.abs(x) <= scale, 1 / (2 * scale), 0.0), f"U(-a, a), a = {scale:.4g}"
    elif item["family"] == "normal":
        density = np.exp(-0.5 * (x / scale) ** 2) / (scale * math.sqrt(2 * math.pi))
        law = f"N(0, std²), std = {scale:.4g}"
    else:
        raise ValueError("unknown family")
    ax.plot(x, density, color=TARGET, linewidth=2, label=f"target {law}")
    outside = int(_number(item["below"]) + _number(item["above"]))
    if outside:
        ax.text(0.99, 0.97, f"{outside} values outside the plot", transform=ax.transAxes, ha="right", va="top",
                fontsize=8, color=THRESHOLD)
    method = _label(item["method"])
    fans = f"fan_in {int(item['fan_in'])}" + ("" if method.startswith("he") else f", fan_out {int(item['fan_out'])}")
    gain = _number(item["gain"])
    ax.set_title(f"{method} on a tensor of shape {tuple(int(d) for d in item['shape'])}\n{fans}"
                 + (f", gain {gain:.4g}" if gain != 1 else ""), fontsize=10)
    ax.set_xlabel(f"value (yours: max |w| = {_number(item['found_max']):.4g}, "
                  f"std = {_number(item['found_std']):.4g})")
    ax.set_ylabel("density")
    ax.legend(fontsize=8, loc="lower center")
    return fig


@renderer("dropout_zero_fraction")
def dropout_zero_fraction(item: dict, threshold=None) -> Figure:
    """{"p": [float], "fraction": [float | None] of zeros, "n": elements per call}."""
    p = _numbers(item["p"])
    fraction = _numbers(item["fraction"], len(p))
    fig, ax = _figure(5.2, 3.6)
    ax.plot([0, 1], [0, 1], color=TARGET, linestyle="--", label="expected: a fraction p zeroed")
    ax.plot(p, fraction, marker="o", color=YOURS, linewidth=0, markersize=7, label="your Dropout(p), training mode")
    _note_gaps(ax, fraction, "fractions")
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(-0.03, 1.03)
    _finish(ax, "p", f"fraction of zeros ({int(_number(item['n']))} elements)", "Zeroed fraction against p",
            "upper left")
    return fig


@renderer("dropout_modes")
def dropout_modes(item: dict, threshold=None) -> Figure:
    """{"p": float, "x": [float] inputs, "train", "eval": [float] outputs for them}."""
    p = _number(item["p"])
    x = _numbers(item["x"])
    fig, axes = _figure(7.2, 3.4, ncols=2, sharey=True)
    fig.subplots_adjust(wspace=0.08)
    line = np.array([x.min(initial=-2), x.max(initial=2)])
    for ax, mode in zip(axes, ("train", "eval")):
        y = _numbers(item[mode], len(x))
        if mode == "train":
            ax.plot(line, line / (1 - p), color=TARGET, linestyle="--", label=f"kept: x / (1 - p) = {1 / (1 - p):.2f} x")
            ax.axhline(0, color=TARGET, linestyle=":", label="dropped: 0")
        else:
            ax.plot(line, line, color=TARGET, linestyle="--", label="expected: x (unchanged)")
        ax.scatter(x, y, s=10, color=YOURS, alpha=0.7, label="your output")
        ax.set_title(f"Dropout({p:g}) in {'training' if mode == 'train' else 'eval'} mode", fontsize=10)
        ax.set_xlabel("input x")
        ax.legend(fontsize=7, loc="upper left")
        ax.grid(alpha=0.3)
        _note_gaps(ax, y, "outputs")
    axes[0].set_ylabel("output")
    return fig


@renderer("batchnorm_stats")
def batchnorm_stats(item: dict, threshold=None) -> Figure:
    """{"features": C, "train" and "eval": {"yours", "torch": {"mean", "var": [C floats]}}}."""
    features = int(item["features"])
    fig, axes = _figure(7.4, 5.4, nrows=2, ncols=2, margins=(0.6, 0.15, 0.5, 0.35))
    x = np.arange(features)
    for row, mode in enumerate(("train", "eval")):
        for col, stat in enumerate(("mean", "var")):
            ax = axes[row][col]
            yours = _numbers(item[mode]["yours"][stat], features)
            ref = _numbers(item[mode]["torch"][stat], features)
            ax.bar(x - 0.2, ref, width=0.4, color="white", edgecolor=TARGET, hatch="//", label="torch.nn.BatchNorm1d")
            ax.bar(x + 0.2, yours, width=0.4, color=YOURS, label="your BatchNorm1d")
            if stat == "var":
                ax.set_yscale("symlog", linthresh=1e-3)
            _note_gaps(ax, yours, "values")
            ax.set_xticks(x)
            ax.set_xlabel("feature")
            ax.set_title(f"{'training' if mode == 'train' else 'eval'} mode: per-feature "
                         f"{'mean' if stat == 'mean' else 'variance'}", fontsize=10)
            ax.grid(alpha=0.3, axis="y")
    axes[0][0].legend(fontsize=7)
    return fig


# --- the experiments' plots (autograder experiments) -----------------------------------------

PALETTE_10 = matplotlib.colormaps["tab10"]


def _color(entry: dict, default: int):
    index = entry.get("color", default)
    if isinstance(index, bool) or not isinstance(index, int):
        raise ValueError("a colour is a palette index")
    return PALETTE_10(index % 10)


def _title(text, width: int = 72) -> str:
    """A plot title of the kit's words, made inert and wrapped; at most two lines."""
    return "\n".join(textwrap.wrap(str(text)[:2 * width].replace("$", "").replace("\\", ""), width)[:2])


@renderer("series")
def series(item: dict, threshold=None) -> Figure:
    """{"title", "xlabel", "ylabel", "log_y": bool, "series": up to 10 of {"label", "x": [number],
    "mean": [number | None], "low", "high": [number | None] or None, "dashed": bool, optional
    "color": palette index}, "marks": [{"y": number, "label", optional "color"}]}: each series'
    mean as a line over its band (low to high), each mark a dotted horizontal line; the legend
    below the axes."""
    entries = item["series"][:10]
    marks = item.get("marks") or []
    legend_rows = math.ceil((len(entries) + len(marks)) / 2)
    bottom = 0.6 + 0.17 * legend_rows
    fig, ax = _figure(6.4, 3.0 + bottom, margins=(0.75, 0.15, bottom, 0.55))
    integer_x, xs = True, set()
    for i, entry in enumerate(entries):
        x = _numbers(entry["x"])
        mean = _numbers(entry["mean"], len(x))
        integer_x = integer_x and bool(np.all(x == np.round(x)))
        xs.update(x.tolist())
        color = _color(entry, i)
        if entry.get("low") is not None and entry.get("high") is not None:
            ax.fill_between(x, _numbers(entry["low"], len(x)), _numbers(entry["high"], len(x)), color=color,
                            alpha=0.15, linewidth=0)
        ax.plot(x, mean, color=color, linestyle="--" if entry.get("dashed") else "-", linewidth=1.8,
                marker="o" if len(x) <= 20 else None, markersize=3, label=_label(entry["label"]))
        _note_gaps(ax, mean, "values")
    for i, mark in enumerate(marks):
        ax.axhline(_number(mark["y"]), color=_color(mark, i) if "color" in mark else TARGET, linestyle=":",
                   linewidth=1.2, label=_label(mark["label"]))
    if item.get("log_y"):
        ax.set_yscale("log")
        low, high = ax.get_ylim()
        # 1, 2, 5 in each decade over a few decades; over many, one tick a decade at most 8 times
        subs = (1.0, 2.0, 5.0) if high / low <= 1e3 else (1.0,)
        ax.yaxis.set_major_locator(ticker.LogLocator(subs=subs, numticks=9))
        ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    if integer_x and 0 < len(xs) <= 16:  # epochs: a tick at each one measured
        ax.set_xticks(sorted(xs))
    elif integer_x:
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    ax.set_xlabel(_label(item["xlabel"]))
    ax.set_ylabel(_label(item["ylabel"]))
    ax.set_title(_title(item["title"]), fontsize=10)
    ax.grid(alpha=0.3)
    fig.legend(fontsize=7, loc="lower center", ncol=2, frameon=False)
    return fig


@renderer("activation_histograms")
def activation_histograms(item: dict, threshold=None) -> Figure:
    """{"edges": [increasing positive numbers], "seed": int, "series": up to 6 of {"label",
    "fractions": [per hidden layer, the fraction of its activations in each bin of edges],
    "zeros": [per hidden layer, the fraction at zero or below]}}: one panel per hidden layer,
    the distributions on a log scale, each series a step line."""
    edges = _numbers(item["edges"])
    if edges.size < 2 or np.any(edges <= 0) or np.any(np.diff(edges) <= 0):
        raise ValueError("bad edges")
    entries = item["series"][:6]
    layers = len(entries[0]["fractions"])
    if not 1 <= layers <= 6:
        raise ValueError("one to six layers")
    fig, axes = _figure(3.3 * layers + 0.4, 4.2, margins=(0.75, 0.15, 1.3, 0.6), ncols=layers, squeeze=False)
    for col in range(layers):
        ax = axes[0][col]
        for i, entry in enumerate(entries):
            fractions = _numbers(entry["fractions"][col], len(edges) - 1)
            zero = _number(entry["zeros"][col])
            ax.stairs(fractions, edges, color=_color(entry, i), linewidth=1.6,
                      label=f"{_label(entry['label'])} (at 0: {100 * zero:.0f}%)")
        ax.set_xscale("log")
        ax.set_title(f"hidden layer {col + 1}", fontsize=10)
        ax.set_xlabel("activation (after ReLU), log scale")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1, frameon=False)
    axes[0][0].set_ylabel("fraction of activations")
    fig.suptitle(f"Hidden activations at initialization, before training (seed {int(_number(item['seed']))})",
                 fontsize=10)
    return fig


# --- the class report's plots --------------------------------------------------------------


def score_histogram(scores: list[float], max_score: float) -> bytes:
    """How many students reached each score of a lab (one bar per point, 0 to max_score)."""
    with _lock:
        fig, ax = _figure(5.0, 2.8, margins=(0.6, 0.15, 0.55, 0.15))
        top = max(1, math.ceil(max_score))
        bins = np.arange(-0.5, top + 1.0, 1.0) if top <= 40 else np.linspace(0, max_score, 21)
        ax.hist([s for s in scores if math.isfinite(s)], bins=bins, color=YOURS, edgecolor="white")
        ax.set_xlim(bins[0], bins[-1])
        ax.set_xlabel(f"score (of {max_score:g})")
        ax.set_ylabel("students")
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3, axis="y")
        return _to_png(fig)


def class_accuracies(accuracies: dict[str, list[float]], thresholds: dict[str, float]) -> bytes:
    """The final MNIST test accuracy of every student, one column of dots per lab, beside
    that lab's threshold."""
    with _lock:
        labs = list(accuracies)
        fig, ax = _figure(6.0, 3.8, margins=(0.75, 0.15, 0.85, 0.35))
        rng = np.random.default_rng(0)  # spread the dots sideways, the same way on every run
        for i, lab in enumerate(labs):
            values = np.array([a for a in accuracies[lab] if math.isfinite(a)])
            ax.scatter(i + rng.uniform(-0.15, 0.15, len(values)), values, s=18, color=YOURS, alpha=0.7,
                       label="a student's final accuracy" if i == 0 else None)
            if lab in thresholds:
                ax.hlines(thresholds[lab], i - 0.35, i + 0.35, color=THRESHOLD, linestyles="--",
                          label="threshold" if i == 0 else None)
        ax.set_xticks(range(len(labs)), labs, fontsize=8)
        ax.set_xlim(-0.6, len(labs) - 0.4)
        ax.set_ylabel("MNIST test accuracy")
        ax.set_title("MNIST: the class's accuracies and the thresholds", fontsize=11)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
        ax.margins(y=0.15)
        ax.grid(alpha=0.3, axis="y")
        return _to_png(fig)
