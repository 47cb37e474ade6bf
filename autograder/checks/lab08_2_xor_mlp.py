"""Lab 8-2 checks: the XOR multi-layer perceptron, its training loop, predict/accuracy, XOR learned."""
import torch
from torch import nn

from autograder.checks.common import (
    allclose, curve, describe_layers, expect_value_error, is_a, kind, map_grid, max_abs_diff, python_float,
    record_decision_map, reference_sgd_bce, short_type, tensor_like)

ROWS = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.float32)
XOR = torch.tensor([[0.0], [1.0], [1.0], [0.0]])


def _linear_shapes(hidden, num_layers):
    """(in, out) of each Linear layer the contract asks for: 2 -> hidden -> ... -> hidden -> 1."""
    widths = (2, *(hidden,) * (num_layers - 1), 1)
    return list(zip(widths, widths[1:]))


def _expected_layers(hidden, num_layers):
    return [kind for a, b in _linear_shapes(hidden, num_layers) for kind in (f"Linear({a}->{b})", "sigmoid")]


def _expected_params(hidden, num_layers):
    return sum(a * b + b for a, b in _linear_shapes(hidden, num_layers))


def _call(hidden, num_layers, defaults=False):
    return "build_xor_mlp()" if defaults else f"build_xor_mlp(hidden={hidden}, num_layers={num_layers})"


def _network(widths) -> nn.Sequential:
    """The grader's own Linear/Sigmoid stack of the given widths (probes build the same)."""
    mods = []
    for n_in, n_out in zip(widths, widths[1:]):
        mods += [nn.Linear(n_in, n_out), nn.Sigmoid()]
    return nn.Sequential(*mods)


def _start(model: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _sigmoid_stack(lins: list, x: torch.Tensor, what: str) -> torch.Tensor:
    """The reported Linear layers in order, each followed by a sigmoid, computed by the grader."""
    h = x
    with torch.no_grad():
        for lin in lins:
            weight = tensor_like(lin["weight"], f"{what} Linear {lin['name']} weight", shape=(lin["out"], lin["in"]))
            bias = lin["bias"]
            if bias is not None:
                bias = tensor_like(bias, f"{what} Linear {lin['name']} bias", shape=(lin["out"],))
            h = torch.sigmoid(nn.functional.linear(h, weight, bias))
    return h


def test_xor_mlp_structure(student):
    for hidden, num_layers, defaults in ((2, 2, True), (5, 3, False), (3, 4, False), (1, 2, False)):
        call = _call(hidden, num_layers, defaults)
        args = {"hidden": hidden, "num_layers": num_layers, "defaults": defaults}
        built = student.probe("xor_mlp", **args)
        expected, found = _expected_layers(hidden, num_layers), describe_layers(built["layers"], call)
        hint = ""
        if found[:-1] == expected[:-1] or found == expected[:-1]:
            hint = " (the output Linear needs a sigmoid after it too)"
        assert found == expected, f"{call}: expected layers {expected}, found {found}{hint}"
        n_params = built["n_params"]
        n_expected = _expected_params(hidden, num_layers)
        assert n_params == n_expected, f"{call}: expected {n_expected} parameters, found {n_params}"
        x = torch.randn(7, 2) * 3
        ran = student.probe("xor_mlp_forward", **args, x=x)
        out = tensor_like(ran["output"], f"{call} output for input (7, 2)", shape=(7, 1), dtype=torch.float32)
        lins = ran["linears"]
        n_linears = len(_linear_shapes(hidden, num_layers))
        assert len(lins) == n_linears, f"{call}: expected {n_linears} nn.Linear layers, found {len(lins)}"
        h = _sigmoid_stack(lins, x, call)
        assert allclose(out, h), (
            f"{call}: the output should be the Linear layers in order, each followed by a sigmoid; "
            f"it differs from that by up to {max_abs_diff(out, h):.3g}")


def test_xor_mlp_rejects_bad_sizes(student):
    cases = [{"num_layers": 1}, {"num_layers": 0}, {"hidden": 0}, {"hidden": -2, "num_layers": 3}]
    results = student.probe("xor_mlp_bad_sizes", cases=cases)
    assert isinstance(results, list) and len(results) == len(cases), "build_xor_mlp: the grader could not read the results"
    for kwargs, result in zip(cases, results):
        call = "build_xor_mlp(" + ", ".join(f"{k}={v}" for k, v in kwargs.items()) + ")"
        expect_value_error(call, result, "num_layers must be >= 2 and hidden >= 1")


def _check_training(student, plots, widths, steps, lr, what):
    X, Y = ROWS.clone(), XOR.clone()
    ref = _network(widths)
    start = _start(ref)
    found = student.probe("train_xor", widths=list(widths), start=start, X=X, Y=Y, steps=steps, lr=lr)
    ref_losses = reference_sgd_bce(ref, X, Y, steps=steps, lr=1.0 if lr is None else lr)
    losses = found["losses"]
    assert isinstance(losses, list), f"{what}: should return a list of losses, found {kind(losses)}"
    assert len(losses) == steps, f"{what}: expected {steps} losses, found {len(losses)}"
    losses = [python_float(v, f"{what} loss {i}") for i, v in enumerate(losses)]
    plots.record("loss_curve", data="XOR, a " + "-".join(map(str, widths)) + " network", lr=1.0 if lr is None else lr,
                 curves=[{"label": "your train_xor", **curve(losses)},
                         {"label": "reference (BCELoss, SGD), same start", **curve(ref_losses)}])
    assert allclose(torch.tensor(losses), torch.tensor(ref_losses)), (
        f"{what}: the losses differ from full-batch BCELoss with SGD "
        f"(first step: expected {ref_losses[0]:.5f}, found {losses[0]:.5f}; "
        f"last: expected {ref_losses[-1]:.5f}, found {losses[-1]:.5f})")
    state = found["state"]
    for name, q in ref.named_parameters():
        p = state.get(name) if isinstance(state, dict) else None
        assert isinstance(p, torch.Tensor) and p.shape == q.shape, (
            f"{what}: after {steps} steps parameter {name} is missing or reshaped")
        assert allclose(p, q), f"{what}: after {steps} steps parameter {name} differs from SGD's by {max_abs_diff(p, q):.3g}"


def test_train_xor_matches_sgd(student, plots):
    # The grader's own networks, so that this check does not depend on build_xor_mlp.
    _check_training(student, plots, (2, 3, 3, 1), steps=25, lr=0.7,
                    what="train_xor(2-3-3-1 network, steps=25, lr=0.7)")
    _check_training(student, plots, (2, 2, 1), steps=20, lr=None,
                    what="train_xor(2-2-1 network, steps=20) with the default lr")


def test_predict_and_accuracy(student):
    widths = [2, 2, 1]
    model = _network(widths)
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[6.0, 6.0], [4.0, 4.0]]))
        model[0].bias.copy_(torch.tensor([-2.5, -6.0]))
        model[2].weight.copy_(torch.tensor([[8.0, -9.0]]))
        model[2].bias.fill_(-3.0)
    start = _start(model)
    # probabilities 0.082, 0.976, 0.976, 0.051, 0.397, 0.530, 0.403, 0.860: none within 0.03 of 0.5
    X = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.3, 0.0], [0.35, 0.0], [0.7, 0.9], [0.5, 0.0]])
    with torch.no_grad():
        probs = model(X)
    expected = (probs > 0.5).float()
    found = student.probe("predict", widths=widths, start=start, X=X.clone())
    pred = tensor_like(found["pred"], "predict output", shape=(8, 1))
    assert pred.dtype.is_floating_point, f"predict: expected a float tensor of 0. and 1., found dtype {pred.dtype}"
    assert found["grad_enabled"], "predict: the model was never called"
    # The contract is "no autograd history on the result" (the lab README), however it is reached.
    assert not found["requires_grad"], (
        "predict: the result records autograd history (requires_grad=True); compute it under torch.no_grad() "
        "or detach it")
    assert torch.equal(pred, expected), (
        f"predict: expected {expected.flatten().tolist()} (probability > 0.5), found {pred.flatten().tolist()}")
    Y = torch.tensor([[0.0], [1.0], [0.0], [0.0], [0.0], [1.0], [1.0], [1.0]])
    acc = python_float(student.probe("accuracy", widths=widths, start=start, X=X.clone(), Y=Y), "accuracy")
    truth = (expected == Y).float().mean().item()
    assert abs(acc - truth) < 1e-6, (
        f"accuracy: expected {truth:.4f} ({round(truth * 8)} of 8 rows right), found {acc:.4f}")


def test_xor_learned(student, params, plots):
    # The reference 2-2-1 network (lr 1.0, full batch) sometimes stays on the XOR plateau, so
    # the check retries with fresh initialisations and passes when any try reaches accuracy 1.0
    # (the grader's accuracy from the outputs of the network the student trained).
    # Measured on the reference (PyTorch default init, BCELoss + SGD lr 1.0): after 1000 steps
    # 6338 of 20000 seeds (0..19999) were short of accuracy 1.0, p = 0.3169 (0.134 after 5000
    # steps, 0.1305 after 10001). Those 20000 runs were simulated batched; a direct run of the
    # reference train_xor on seeds 0..299 failed on exactly the same 94 seeds.
    # Clopper-Pearson upper bound at confidence 1 - 1e-3: p_upper = 0.32715.
    # k = ceil(ln(FALSE_FAIL) / ln(p_upper)) = ceil(12.37) = 13 tries: p_upper^13 = 4.9e-7 <= 1e-6.
    # (The 300 direct runs alone give p_upper = 0.4013, k = 16.) 1000 steps per try minimises
    # the worst case k * steps (13000 steps; 2000 steps would need 9 tries, 18000 steps).
    # Typical cost: 1 / (1 - p) = 1.46 tries; a broken network spends all 13.
    # Each try is its own probe call, seeded afresh by the plugin: a fresh initialisation.
    # Changing hidden, num_layers, steps or lr in course.toml needs a new measurement and a new k.
    hidden, num_layers = params["hidden"], params["num_layers"]
    k, steps, lr = params["k"], params["steps"], params["lr"]
    call = _call(hidden, num_layers)
    best = 0.0
    for tried in range(1, k + 1):
        found = student.probe("xor_try", hidden=hidden, num_layers=num_layers, X=ROWS.clone(), Y=XOR.clone(),
                              steps=steps, lr=lr, grid=map_grid())
        assert is_a(found, "torch.nn.modules.container.Sequential"), (
            f"{call}: expected an nn.Sequential, found {short_type(found)}")
        out = tensor_like(found["output"], "XOR model output for the 4 rows", shape=(4, 1))
        acc = ((out > 0.5).float() == XOR).float().mean().item()
        if acc == 1.0 or tried == k:  # the plots show the try that succeeded, else the last
            plots.record("loss_curve", data=f"XOR, try {tried}", lr=lr,
                         curves=[{"label": "your build_xor_mlp + train_xor", **curve(found["losses"])}])
            record_decision_map(plots, f"Your build_xor_mlp network trained on XOR, try {tried}", found["grid"],
                                ROWS, XOR)
        if acc == 1.0:
            return
        best = max(best, acc)
    raise AssertionError(
        f"{call} trained with train_xor(steps={steps}, lr={lr}) never classified all 4 XOR rows in {k} "
        f"fresh tries (best accuracy {best:.2f}); a correct network gets there in about 2 tries of 3")
