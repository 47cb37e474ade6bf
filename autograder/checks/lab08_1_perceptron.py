"""Lab 8-1 checks: logic-gate data, the perceptron, its training loop, AND/OR learned, XOR not."""
import torch
from torch import nn

from autograder.checks.common import (
    GradProbe, allclose, expect_value_error, max_abs_diff, python_float, reference_sgd_bce, tensor_like)

ROWS = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.float32)
TRUTH = {
    "and": [0, 0, 0, 1], "or": [0, 1, 1, 1], "nand": [1, 1, 1, 0],
    "nor": [1, 0, 0, 0], "xor": [0, 1, 1, 0], "xnor": [1, 0, 0, 1],
}


def _linear_of(model):
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 1, f"Perceptron: expected exactly one nn.Linear, found {len(linears)}"
    return linears[0]


def _grader_accuracy(model, X, Y):
    with torch.no_grad():
        out = tensor_like(model(X), "Perceptron output", shape=Y.shape)
    return ((out > 0.5).float() == Y).float().mean().item()


def test_logic_gate_data_shapes(student):
    for gate in TRUTH:
        X, Y = student.logic_gate_data(gate)
        X = tensor_like(X, f"logic_gate_data({gate!r}) X", shape=(4, 2), dtype=torch.float32)
        tensor_like(Y, f"logic_gate_data({gate!r}) Y", shape=(4, 1), dtype=torch.float32)
        assert torch.equal(X, ROWS), f"logic_gate_data({gate!r}): X should be {ROWS.tolist()}, found {X.tolist()}"


def test_logic_gate_data_values(student):
    for gate, truth in TRUTH.items():
        _, Y = student.logic_gate_data(gate)
        Y = tensor_like(Y, f"logic_gate_data({gate!r}) Y", shape=(4, 1))
        assert Y.flatten().tolist() == truth, (
            f"logic_gate_data({gate!r}): Y should be {truth} for the rows [[0,0],[0,1],[1,0],[1,1]], "
            f"found {Y.flatten().tolist()}")
    expect_value_error("logic_gate_data('maybe')", lambda: student.logic_gate_data("maybe"), "an unknown gate")


def test_perceptron_structure(student):
    for n_in in (2, 5):
        model = student.Perceptron(n_in) if n_in != 2 else student.Perceptron()
        assert isinstance(model, nn.Module), f"Perceptron() should be an nn.Module, found {type(model).__name__}"
        lin = _linear_of(model)
        assert (lin.in_features, lin.out_features) == (n_in, 1), (
            f"Perceptron({n_in}): expected nn.Linear({n_in}, 1), found nn.Linear({lin.in_features}, {lin.out_features})")
        n_params = sum(p.numel() for p in model.parameters())
        assert n_params == n_in + 1, f"Perceptron({n_in}): expected {n_in + 1} parameters, found {n_params}"
        x = torch.randn(7, n_in) * 3
        out = tensor_like(model(x), f"Perceptron({n_in}) output for input (7, {n_in})", shape=(7, 1),
                          dtype=torch.float32)
        with torch.no_grad():
            expected = torch.sigmoid(lin(x))
        assert allclose(out, expected), (
            "Perceptron: forward should be sigmoid(linear(x)); the output differs by up to "
            f"{max_abs_diff(out, expected):.3g}")


def test_train_perceptron_matches_sgd(student):
    X, Y = ROWS.clone(), torch.tensor([[0.0], [1.0], [1.0], [1.0]])
    model = student.Perceptron()
    ref, ref_losses = reference_sgd_bce(model, X, Y, steps=25, lr=0.7)
    losses = student.train_perceptron(model, X, Y, steps=25, lr=0.7)
    assert isinstance(losses, list), f"train_perceptron should return a list of losses, found {type(losses).__name__}"
    assert len(losses) == 25, f"train_perceptron(steps=25): expected 25 losses, found {len(losses)}"
    losses = [python_float(v, f"train_perceptron loss {i}") for i, v in enumerate(losses)]
    assert allclose(torch.tensor(losses), torch.tensor(ref_losses)), (
        "train_perceptron: the losses differ from full-batch BCELoss with SGD(lr) "
        f"(first step: expected {ref_losses[0]:.5f}, found {losses[0]:.5f}; "
        f"last: expected {ref_losses[-1]:.5f}, found {losses[-1]:.5f})")
    for (name, p), q in zip(model.named_parameters(), ref.parameters()):
        assert allclose(p, q), f"train_perceptron: after 25 steps parameter {name} differs from SGD's by {max_abs_diff(p, q):.3g}"


def test_and_or_learned(student):
    # Logistic regression on separable data: 1000 full-batch steps at lr 1 reach all four
    # rows from any initialisation nn.Linear can draw (|w|, |b| <= 1/sqrt(2)); no chance involved.
    for gate in ("and", "or"):
        X, Y = ROWS.clone(), torch.tensor(TRUTH[gate], dtype=torch.float32).reshape(4, 1)
        model = student.Perceptron()
        student.train_perceptron(model, X, Y, steps=1000, lr=1.0)
        acc = _grader_accuracy(model, X, Y)
        assert acc == 1.0, f"a perceptron trained on {gate.upper()} should classify all 4 rows, found accuracy {acc:.2f}"


def test_xor_not_learned(student):
    X, Y = ROWS.clone(), torch.tensor(TRUTH["xor"], dtype=torch.float32).reshape(4, 1)
    model = student.Perceptron()
    student.train_perceptron(model, X, Y, steps=1000, lr=1.0)
    acc = _grader_accuracy(model, X, Y)
    assert acc <= 0.75, (
        f"a single perceptron cannot separate XOR, yet it reached accuracy {acc:.2f}: "
        "is Perceptron more than one linear layer and a sigmoid?")


def test_predict_and_accuracy(student):
    # The grader's own model with a probe: predict must work on any model, without autograd.
    probe = GradProbe()
    model = nn.Sequential(nn.Linear(2, 1), nn.Sigmoid(), probe)
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[2.0, -1.0]]))
        model[0].bias.fill_(-0.3)
    X = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.2, 0.0], [0.1, 0.0]])
    expected = (torch.sigmoid(X @ torch.tensor([2.0, -1.0]) - 0.3) > 0.5).float().reshape(-1, 1)
    pred = tensor_like(student.predict(model, X), "predict output", shape=(6, 1))
    assert pred.dtype.is_floating_point, f"predict: expected a float tensor of 0. and 1., found dtype {pred.dtype}"
    assert probe.grad_enabled, "predict: the model was never called"
    assert not any(probe.grad_enabled), "predict: the model ran with autograd recording; use torch.no_grad()"
    assert torch.equal(pred, expected), f"predict: expected {expected.flatten().tolist()}, found {pred.flatten().tolist()}"
    Y = torch.tensor([[0.0], [1.0], [0.0], [0.0], [0.0], [1.0]])
    acc = python_float(student.accuracy(model, X, Y), "accuracy")
    truth = (expected == Y).float().mean().item()
    assert abs(acc - truth) < 1e-6, f"accuracy: expected {truth:.4f} ({int(truth * 6)} of 6 rows right), found {acc:.4f}"
