"""Lab 9-2 checks: fan in and fan out, Xavier and He initialisation written by hand,
init_linear_layers_, and torch.nn.init left alone.

Statistics. The checks draw large tensors ((256, 512): n = 131072 values; (64, 32, 3, 3):
n = 18432) and judge the values with bounds that fail a correct implementation with
probability at most FALSE_FAIL per check: a check that makes k stochastic assertions gives
each alpha = FALSE_FAIL / k (union bound). For n values w_i drawn i.i.d.:

* support, U(-a, a): max|w| <= a always; |w|/a ~ U(0, 1), so P(max|w| < a(1 - d)) =
  (1 - d)^n, which is alpha for d = 1 - alpha^(1/n) (n = 131072: d = 1.1e-4).
* mean, U(-a, a): Hoeffding on w_i in [-a, a] (width 2a):
  P(|mean| >= t) <= 2 exp(-2 n t^2 / (2a)^2), t = 2a sqrt(ln(2/alpha) / (2n)).
  N(0, s^2): the mean is exactly N(0, s^2/n): |mean| <= z(alpha) s / sqrt(n), z = normal_quantile.
* variance about the known mean 0 (the mean of w^2): U(-a, a): Hoeffding on w_i^2 in [0, a^2]
  around E w^2 = a^2/3: |m2 - a^2/3| <= a^2 sqrt(ln(2/alpha) / (2n)) (relative 2.2 % at
  n = 131072). N(0, s^2): X = n m2 / s^2 ~ chi^2_n, and by Laurent & Massart (2000, Lemma 1)
  P(X - n >= 2 sqrt(n x) + 2x) <= e^-x and P(n - X >= 2 sqrt(n x)) <= e^-x; x = ln(2/alpha)
  gives alpha for both sides together: m2 / s^2 in [1 - 2 sqrt(x/n), 1 + 2 sqrt(x/n) + 2x/n].
* spread of N(0, s^2): the fraction of |w| <= s has mean p = erf(1/sqrt 2) = 0.6827;
  Hoeffding on the 0/1 indicators: |fraction - p| <= sqrt(ln(2/alpha) / (2n)).
* shape: Dvoretzky-Kiefer-Wolfowitz with Massart's constant:
  P(sup|F_n - F| > eps) <= 2 exp(-2 n eps^2), eps = common.dkw_epsilon(n, alpha), against
  the expected CDF (U(-a, a) or N(0, s^2) with the expected a or s).

ROUND goes on top of each tolerance (relative for values, absolute for probabilities):
float32 values sit on a grid of relative spacing 2^-24 (6e-8), a bound rounded to float32
moves by as much, and the random generators draw their uniforms on a 2^-24 grid, which moves
any CDF by at most 2^-23; 1e-5 covers all of these a hundred times over and no bug.
"""
import math

import torch
from torch import nn

from autograder.checks.common import (
    FALSE_FAIL, assert_mnist_accuracy, dkw_epsilon, expect_value_error, hoeffding_t, judged, kind, ks_distance,
    normal_cdf, normal_quantile, tensor_like, uniform_cdf,
)
from autograder.probes.lab09_2_xavier import MODELS

# torch.nn.init as of torch 2.x: the public initialisers, their deprecated aliases and the
# private helpers. The trap skips names a given torch release lacks.
FORBIDDEN = [
    "torch.nn.init." + name for name in (
        "calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_",
        "eye_", "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
        "kaiming_normal_", "orthogonal_", "sparse_",
        "uniform", "normal", "constant", "eye", "dirac", "xavier_uniform", "xavier_normal",
        "kaiming_uniform", "kaiming_normal", "orthogonal", "sparse",
        "_calculate_fan_in_and_fan_out", "_calculate_correct_fan", "_no_grad_uniform_",
        "_no_grad_normal_", "_no_grad_trunc_normal_", "_no_grad_fill_", "_no_grad_zero_",
    )
]

ROUND = 1e-5  # float32 rounding slack, see the module docstring
SENTINEL = 7.0  # what a tensor holds before the student's code fills it: far outside every bound
P_WITHIN_STD = math.erf(1.0 / math.sqrt(2.0))  # P(|N(0, s^2)| <= s) = 0.6827

INIT_FUNCTIONS = ("xavier_uniform_", "xavier_normal_", "he_uniform_", "he_normal_")
BASE_CASES = [((256, 512), (), {}), ((64, 32, 3, 3), (), {})]
GAIN_CASES = [((256, 512), (), {"gain": 1.7}), ((384, 192), (math.sqrt(2.0),), {})]  # sqrt 2: relu's gain

# method -> (distribution, scale(fan_in, fan_out), the formula in words)
METHODS = {
    "xavier_uniform": ("uniform", lambda fi, fo: math.sqrt(6.0 / (fi + fo)), "a = sqrt(6 / (fan_in + fan_out))"),
    "xavier_normal": ("normal", lambda fi, fo: math.sqrt(2.0 / (fi + fo)), "std = sqrt(2 / (fan_in + fan_out))"),
    "he_uniform": ("uniform", lambda fi, fo: math.sqrt(6.0 / fi), "a = sqrt(6 / fan_in)"),
    "he_normal": ("normal", lambda fi, fo: math.sqrt(2.0 / fi), "std = sqrt(2 / fan_in)"),
}


# --- the grader's own expectations ----------------------------------------------------------


def _fans(shape):
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _expected(name, shape, gain=1.0):
    """(kind, scale, description) of what `name` should draw for a tensor of `shape`."""
    kind, scale, formula = METHODS[name.rstrip("_")]
    fan_in, fan_out = _fans(shape)
    value = scale(fan_in, fan_out)
    if name.startswith("xavier"):
        value *= gain
        formula = formula.replace("= ", "= gain * ")
        detail = f"gain {gain:.4g}, fan_in {fan_in}, fan_out {fan_out}"
    else:
        detail = f"fan_in {fan_in}"
    return kind, value, f"{formula} = {value:.5g} ({detail})"


def _call_text(name, shape, args=(), kwargs=None):
    extra = [f"{a:.4g}" for a in args] + [f"{k}={v:.4g}" for k, v in (kwargs or {}).items()]
    return f"{name}({', '.join([f'tensor of shape {tuple(shape)}'] + extra)})"


# --- calling the student's initialisers (in the worker: probes/lab09_2_xavier.py) ----------


def _seen(found):
    """A probe's reply, refused when the function it was to call is torch.nn.init's own, re-exported
    (the probe reports it instead of calling it: the trap would see no frame of the student's file)."""
    if isinstance(found, dict) and isinstance(found.get("reexported"), dict):
        r = found["reexported"]
        raise AssertionError(
            f"{r.get('name')} is torch.nn.init.{r.get('origin')} itself, imported rather than written; this lab "
            "asks you to write it with basic tensor operations")
    return found


def _values(w, what):
    """The values of `w` as a flat float64 tensor, after checking that all were filled."""
    w = tensor_like(w, what).detach().double().cpu().flatten()
    unfilled = int((w == SENTINEL).sum().item())
    assert unfilled == 0, (
        f"{what}: {unfilled} of {w.numel()} values were never filled (the tensor still holds "
        f"what it held before the call, {SENTINEL})")
    bad = int((~torch.isfinite(w)).sum().item())
    assert bad == 0, f"{what}: expected finite values, found {bad} nan/inf"
    return w


def _fill(student, name, shape, args=(), kwargs=None):
    """Have the worker call student.<name> on a fresh tensor of `shape` holding SENTINEL;
    return (values, call text).

    The values are those of the returned tensor, or of the tensor handed in when the call
    returns None: returning the tensor, and filling it in place, is init_in_place's to judge.
    """
    call = _call_text(name, shape, args, kwargs)
    found = _seen(student.probe("fill", fn=name, shape=tuple(shape), fill=SENTINEL, args=tuple(args),
                                kwargs=dict(kwargs or {})))
    w = found["values"] if found["returned"] == "None" else tensor_like(found["values"], call, shape=shape)
    return _values(w, call), call


HISTOGRAM_BINS = 60
HISTOGRAM_SPAN = {"uniform": 1.5, "normal": 4.0}  # the histogram's range: +-span * a (uniform) or * std (normal)


def _record_histogram(plots, name, shape, gain, w, kind, scale):
    """The histogram of the values drawn for one tensor (reports/plots.py init_histogram),
    with what the target density needs: the family, its scale and the fans it comes from."""
    lo, hi = -HISTOGRAM_SPAN[kind] * scale, HISTOGRAM_SPAN[kind] * scale
    fan_in, fan_out = _fans(shape)
    plots.record("init_histogram", method=name, family=kind, scale=scale, shape=list(shape), gain=gain,
                 fan_in=fan_in, fan_out=fan_out, lo=lo, hi=hi, counts=torch.histc(w, HISTOGRAM_BINS, lo, hi).long().tolist(),
                 below=int((w < lo).sum()), above=int((w > hi).sum()), n=w.numel(),
                 found_std=w.pow(2).mean().sqrt().item(), found_max=w.abs().max().item())


def _run(student, name, test, cases, plots=None):
    """Apply the statistical `test` to the values drawn for each case; alpha split evenly.
    With `plots`, the first case's values go to the plots as a histogram."""
    alpha = FALSE_FAIL / len(cases)
    for shape, args, kwargs in cases:
        w, call = _fill(student, name, shape, args, kwargs)
        gain = args[0] if args else kwargs.get("gain", 1.0)
        kind, scale, how = _expected(name, shape, gain)
        if plots is not None:
            _record_histogram(plots, name, shape, gain, w, kind, scale)
            plots = None
        test(w, kind, scale, how, call, alpha)


# --- the statistical tests (bounds derived in the module docstring) -------------------------


def _scale(w, kind, scale, how, call, alpha):
    n = w.numel()
    if kind == "uniform":
        top = w.abs().max().item()
        # (1 - d)^n = alpha; ROUND covers the generators' 2^-24 grid (module docstring).
        d = -math.expm1(math.log(alpha) / n) + ROUND
        assert top <= scale * (1 + ROUND), (
            f"{call}: expected every value in [-a, a] with {how}, found max |w| = {top:.5g} "
            f"({top / scale:.3g} a)")
        assert top >= scale * (1 - d), (
            f"{call}: expected values spread over [-a, a] with {how}, but the largest |w| is only "
            f"{top:.5g} ({top / scale:.4g} a); among {n} uniform values it is below "
            f"{1 - d:.5f} a with probability under {alpha:.1g}")
    else:
        within = (w.abs() <= scale).double().mean().item()
        tol = hoeffding_t(n, alpha) + ROUND
        found_std = w.pow(2).mean().sqrt().item()
        assert abs(within - P_WITHIN_STD) <= tol, (
            f"{call}: expected {100 * P_WITHIN_STD:.2f}% of the values within +-std with {how}, "
            f"found {100 * within:.2f}% (allowed +-{100 * tol:.2f} points); the values' std is "
            f"about {found_std:.5g} ({found_std / scale:.3g} times the expected std)")


def _mean(w, kind, scale, how, call, alpha):
    n = w.numel()
    mean = w.mean().item()
    if kind == "uniform":
        tol = hoeffding_t(n, alpha, width=2 * scale) + ROUND * scale
        law = f"U(-a, a), {how}"
    else:
        tol = (normal_quantile(alpha) / math.sqrt(n) + ROUND) * scale
        law = f"N(0, std^2), {how}"
    assert abs(mean) <= tol, (
        f"{call}: expected values centred on 0 ({law}), found mean {mean:.5g} "
        f"(allowed +-{tol:.3g} for {n} values)")


def _variance(w, kind, scale, how, call, alpha):
    n = w.numel()
    m2 = w.pow(2).mean().item()
    if kind == "uniform":
        target = scale ** 2 / 3.0
        tol = hoeffding_t(n, alpha, width=scale ** 2) + ROUND * scale ** 2
        lo, hi = target - tol, target + tol
        law = f"U(-a, a) has variance a^2 / 3 = {target:.5g}, {how}"
    else:
        target = scale ** 2
        x = math.log(2.0 / alpha)
        lo = target * (1 - 2 * math.sqrt(x / n) - ROUND)
        hi = target * (1 + 2 * math.sqrt(x / n) + 2 * x / n + ROUND)
        law = f"N(0, std^2) has variance std^2 = {target:.5g}, {how}"
    assert lo <= m2 <= hi, (
        f"{call}: expected variance (mean of w^2) in [{lo:.5g}, {hi:.5g}] ({law}), "
        f"found {m2:.5g} ({m2 / target:.3g} times the expected variance)")


def _distribution(w, kind, scale, how, call, alpha):
    n = w.numel()
    eps = dkw_epsilon(n, alpha) + ROUND
    if kind == "uniform":
        distance, law = ks_distance(w, uniform_cdf(scale)), f"U(-a, a), {how}"
    else:
        distance, law = ks_distance(w, normal_cdf(scale)), f"N(0, std^2), {how}"
    if distance <= eps:
        return
    # for the message only: the other family, at the same (expected) variance
    if kind == "uniform":
        other, other_name = ks_distance(w, normal_cdf(scale / math.sqrt(3.0))), "normal"
    else:
        other, other_name = ks_distance(w, uniform_cdf(scale * math.sqrt(3.0))), "uniform"
    hint = (f"; they look more like a {other_name} distribution of the expected variance (distance {other:.3g})"
            if other < distance else "")
    assert distance <= eps, (
        f"{call}: expected the values to follow {law}; the largest gap between their empirical CDF "
        f"and that CDF is {distance:.3g}, at most {eps:.3g} is allowed for {n} values{hint}")


# --- calculate_fan_in_and_fan_out -----------------------------------------------------------


def _pair(student, shape, names=("calculate_fan_in_and_fan_out",)):
    """calculate_fan_in_and_fan_out on an empty tensor of `shape`, asserted to be a pair; its two entries."""
    found = _seen(student.probe("fans", shape=tuple(shape), names=tuple(names)))
    what = f"calculate_fan_in_and_fan_out(tensor of shape {shape})"
    assert "pair" in found, f"{what}: expected a pair (fan_in, fan_out), found {found.get('other')}"
    return found["pair"], what


def _check_fans(student, shapes):
    for shape in shapes:
        result, what = _pair(student, shape)
        for label, v in zip(("fan_in", "fan_out"), result):
            found = f"{v.get('type')} {v.get('repr')}" if isinstance(v, dict) else f"{kind(v)} {v!r}"
            assert type(v) is int, f"{what}: expected {label} as an int, found {found}"
        expected = _fans(shape)
        found = (result[0], result[1])
        assert found == expected, (
            f"{what}: expected (fan_in, fan_out) = {expected} (in * receptive field, "
            f"out * receptive field, receptive field {math.prod(shape[2:])}), found {found}")


def test_fans_2d(student):
    _check_fans(student, [(30, 70), (512, 256), (1, 5)])


def test_fans_4d(student):
    _check_fans(student, [(64, 32, 3, 3), (16, 8, 5), (6, 4, 2, 3, 5), (10, 20, 1, 1)])


def test_fans_too_few_dims(student):
    shapes = ((7,), ())
    results = _seen(student.probe("fans_too_few_dims", shapes=shapes))
    for i, shape in enumerate(shapes):
        expect_value_error(f"calculate_fan_in_and_fan_out(tensor of shape {shape})", results[i],
                           "fewer than 2 dimensions")


# --- Xavier uniform -------------------------------------------------------------------------


def test_xavier_uniform_scale(student, plots):
    _run(student, "xavier_uniform_", _scale, BASE_CASES, plots)


def test_xavier_uniform_mean(student):
    _run(student, "xavier_uniform_", _mean, BASE_CASES)


def test_xavier_uniform_variance(student):
    _run(student, "xavier_uniform_", _variance, BASE_CASES)


def test_xavier_uniform_distribution(student):
    _run(student, "xavier_uniform_", _distribution, BASE_CASES)


def test_xavier_uniform_gain(student):
    _run(student, "xavier_uniform_", _scale, GAIN_CASES)


# --- Xavier normal --------------------------------------------------------------------------


def test_xavier_normal_scale(student, plots):
    _run(student, "xavier_normal_", _scale, BASE_CASES, plots)


def test_xavier_normal_mean(student):
    _run(student, "xavier_normal_", _mean, BASE_CASES)


def test_xavier_normal_variance(student):
    _run(student, "xavier_normal_", _variance, BASE_CASES)


def test_xavier_normal_distribution(student):
    _run(student, "xavier_normal_", _distribution, BASE_CASES)


def test_xavier_normal_gain(student):
    _run(student, "xavier_normal_", _scale, GAIN_CASES)


# --- He uniform -----------------------------------------------------------------------------


def test_he_uniform_scale(student, plots):
    _run(student, "he_uniform_", _scale, BASE_CASES, plots)


def test_he_uniform_mean(student):
    _run(student, "he_uniform_", _mean, BASE_CASES)


def test_he_uniform_variance(student):
    _run(student, "he_uniform_", _variance, BASE_CASES)


def test_he_uniform_distribution(student):
    _run(student, "he_uniform_", _distribution, BASE_CASES)


# --- He normal ------------------------------------------------------------------------------


def test_he_normal_scale(student, plots):
    _run(student, "he_normal_", _scale, BASE_CASES, plots)


def test_he_normal_mean(student):
    _run(student, "he_normal_", _mean, BASE_CASES)


def test_he_normal_variance(student):
    _run(student, "he_normal_", _variance, BASE_CASES)


def test_he_normal_distribution(student):
    _run(student, "he_normal_", _distribution, BASE_CASES)


# --- in place, without autograd history -----------------------------------------------------


# The three checks below cover all four initializers. Each initializer also has checks of
# its own (scale, mean, variance, distribution), so one the student renamed is charged
# there and skipped here (common.judged): renaming he_uniform_ costs he_uniform_'s checks,
# not in-place filling, autograd history or torch.nn.init shown by the other three.


def test_init_in_place(student):
    shapes = dict(zip(INIT_FUNCTIONS, [(64, 96), (32, 16, 3, 3), (96, 64), (48, 8, 5)]))
    for name in judged(student, INIT_FUNCTIONS):
        shape = shapes[name]
        call = _call_text(name, shape)
        found = _seen(student.probe("in_place", fn=name, shape=shape, fill=SENTINEL))
        assert found["none"] is False, f"{call}: expected the tensor it filled as the return value, found None"
        assert found["same"] is True, (
            f"{call}: expected the very tensor it was given back (filled in place), found a "
            f"different {found['out_type']}"
            + (f" of shape {tuple(found['out_shape'])}" if found["out_shape"] is not None else ""))
        assert found["same_storage"] is True, (
            f"{call}: the tensor's storage was replaced (tensor.data = ... or similar); fill the "
            "existing storage in place (uniform_, normal_, copy_)")
        t = tensor_like(found["tensor"], call)
        assert tuple(t.shape) == shape and t.dtype == torch.float32, (
            f"{call}: the tensor changed to shape {tuple(t.shape)}, dtype {t.dtype}")
        _values(t, call)


def test_init_no_autograd_history(student):
    for name in judged(student, INIT_FUNCTIONS):
        for leaf in ("nn.Parameter", "leaf tensor with requires_grad=True"):
            call = f"{name}({leaf} of shape (64, 96))"
            found = _seen(student.probe("no_history", fn=name, kind=leaf, shape=(64, 96), fill=SENTINEL))
            assert found["grad_enabled"] is True, (
                f"{call}: autograd is still switched off after the call; use `with torch.no_grad():`, "
                "which switches it back on, not torch.set_grad_enabled(False)")
            assert found["grad_fn"] is None and found["is_leaf"] is True, (
                f"{call}: the filling was recorded by autograd (grad_fn {found['grad_fn']}); "
                "fill the tensor inside torch.no_grad()")
            assert found["requires_grad"] is True, (
                f"{call}: the tensor no longer requires grad afterwards; it must stay trainable")
            if found["returned"] != "other":
                _values(found["values"], call)
            else:  # a different tensor back is init_in_place's to judge; it must not record history either
                out = tensor_like(found["values"], call, shape=(64, 96))
                assert found["out_grad_fn"] is None, (
                    f"{call}: the returned tensor records autograd history (grad_fn "
                    f"{found['out_grad_fn']}); fill the tensor inside torch.no_grad()")
                _values(out, call)


# --- init_linear_layers_ --------------------------------------------------------------------


def _linears(model):
    """(state_dict key of the weight, display name, layer) of every nn.Linear in the grader's model."""
    return [(f"{name}.weight" if name else "weight", name or "the model", m)
            for name, m in model.named_modules() if isinstance(m, nn.Linear)]


def _prime(model):
    """Linear weights to SENTINEL (never a drawn value); every other parameter and buffer to a
    distinct pattern. Returns copies of everything that must not change."""
    keep = {}
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, nn.Linear):
                m.weight.fill_(SENTINEL)
        linear_weights = {id(m.weight) for _, _, m in _linears(model)}
        for name, p in list(model.named_parameters()) + list(model.named_buffers()):
            if id(p) in linear_weights:
                continue
            if p.dtype.is_floating_point:
                p.copy_(torch.linspace(-3.0, 3.0, p.numel()).reshape(p.shape) + 0.125)
            keep[name] = p.detach().clone()
    return keep


def _grader_model(name):
    """The grader's copy of probes' MODELS[name], primed: (model, what must not change, its state)."""
    model = MODELS[name]()
    keep = _prime(model)
    return model, keep, {k: v.detach().clone() for k, v in model.state_dict().items()}


def _init_layers(student, name, start, method=None, keyword=False):
    """init_linear_layers_ on the worker's MODELS[name] holding `start`: (returned, state after)."""
    found = _seen(student.probe("init_linear_layers", model=name, start=start, method=method, keyword=keyword))
    state = found["state"]
    assert isinstance(state, dict), f"the model's state could not be read ({kind(state)})"
    return found, state


def _layer_text(name, m):
    return f"layer {name} (Linear({m.in_features}->{m.out_features}))"


def _weight(state, key, what, m):
    return tensor_like(state.get(key), f"{what} weight", shape=(m.out_features, m.in_features))


def _check_layers(state, model, method, call, alpha_total):
    """Every Linear weight of the grader's `model` filled in the student's `state`, following
    `method` (DKW on each layer)."""
    layers = _linears(model)
    kind, scale_fn, formula = METHODS[method]
    alpha = alpha_total / len(layers)
    for key, name, m in layers:
        what = f"{call}: {_layer_text(name, m)}"
        w = _weight(state, key, what, m).detach().double().flatten()
        unfilled = int((w == SENTINEL).sum().item())
        assert unfilled == 0, (
            f"{what} was not initialised ({unfilled} of {w.numel()} weights still hold their old value); "
            "every nn.Linear inside the model, however deeply nested, must be")
        assert bool(torch.isfinite(w).all()), f"{what}: expected finite weights, found nan/inf"
        scale = scale_fn(m.in_features, m.out_features)
        how = f"{formula} = {scale:.5g} (fan_in {m.in_features}, fan_out {m.out_features})"
        _distribution(w, kind, scale, how, f"{what}, method {method!r}", alpha)


def test_init_linear_layers_every_linear(student):
    model, _, start = _grader_model("stack")
    found, state = _init_layers(student, "stack", start)
    assert found["returned_model"] is True, (
        "init_linear_layers_(model): expected the model it was given as the return value, found "
        + ("None" if found["returned"] == "None" else f"a different {found['returned']}"))
    # the default method is xavier_uniform; DKW on each of the 3 layers, alpha = FALSE_FAIL / 3
    _check_layers(state, model, "xavier_uniform", "init_linear_layers_(model) (default method)", FALSE_FAIL)


def test_init_linear_layers_nested(student):
    model, _, start = _grader_model("nested")
    _, state = _init_layers(student, "nested", start)
    # the default method, so that a wrong method loses init_linear_layers_method's points only;
    # DKW on each of the 6 layers, alpha = FALSE_FAIL / 6
    _check_layers(state, model, "xavier_uniform", "init_linear_layers_(nested model)", FALSE_FAIL)


def test_init_linear_layers_weights_only(student):
    methods = ("xavier_normal", "he_uniform")
    for method in methods:
        model, keep, start = _grader_model("mixed")
        call = f"init_linear_layers_(model, {method!r})"
        _, state = _init_layers(student, "mixed", start, method=method, keyword=True)
        for name, before in keep.items():
            now = state.get(name)
            assert now is not None, f"{call}: the model lost its parameter or buffer {name}"
            assert isinstance(now, torch.Tensor) and now.shape == before.shape and torch.equal(now, before), (
                f"{call}: {name} changed; only the weights of nn.Linear layers may be initialised "
                "(biases and other modules' parameters stay as they are)")
        # the Linear weights were filled (how is init_linear_layers_method's to judge)
        for key, layer_name, m in _linears(model):
            what = f"{call}: {_layer_text(layer_name, m)}"
            _values(_weight(state, key, what, m), what)


def test_init_linear_layers_method(student):
    methods = list(METHODS)
    for i, method in enumerate(methods):
        model, _, start = _grader_model("pair")
        keyword = i % 2 == 0
        _, state = _init_layers(student, "pair", start, method=method, keyword=keyword)
        call = f"init_linear_layers_(model, method={method!r})" if keyword else f"init_linear_layers_(model, {method!r})"
        # DKW on 2 layers for each of 4 methods: alpha = FALSE_FAIL / 8 each
        _check_layers(state, model, method, call, FALSE_FAIL / len(methods))


def test_init_linear_layers_unknown_method(student):
    methods = ("orthogonal", "zeros", "")
    results = _seen(student.probe("init_linear_layers_unknown", methods=methods))
    for i, method in enumerate(methods):
        expect_value_error(f"init_linear_layers_(model, {method!r})", results[i], "an unknown method")


# --- torch.nn.init left alone ---------------------------------------------------------------


def test_no_torch_nn_init(student):
    # Each probe reply names any forbidden function the student's code called, even one whose
    # error it caught: the grader then fails the check with that name (remote.ForbiddenCall).
    # Every function judged here has checks of its own: a renamed one is skipped (common.judged).
    names = judged(student, ("calculate_fan_in_and_fan_out",) + INIT_FUNCTIONS + ("init_linear_layers_",))
    if "calculate_fan_in_and_fan_out" in names:
        _pair(student, (8, 4, 3, 3), names)  # none of them torch.nn.init's own function, re-exported
    for name in (n for n in INIT_FUNCTIONS if n in names):
        for shape in ((40, 60), (8, 4, 3, 3)):
            # each initializer must fill the tensor (else there is nothing to observe); what it
            # draws is its own checks' to judge, not the rule's
            _fill(student, name, shape)
    if "init_linear_layers_" in names:  # exercised for what it calls; what it does is judged elsewhere
        _seen(student.probe("init_linear_layers_methods", methods=tuple(METHODS)))


# --- MNIST ---------------------------------------------------------------------------------


def test_mnist_accuracy(student, test_labels, params, plots):
    assert_mnist_accuracy(f"an MLP (784-256-256-10, ReLU) initialised by your init_linear_layers_(model, "
                          f"{params['method']!r})", student, test_labels, params, plots)
