"""The train_epoch / evaluate contract that labs 9-3 and 9-4 share: four checks, written once.

A lab's check module takes them by importing them (pytest collects a `test_` function where
the lab's module binds it; course.toml gives each its points per lab):

    from autograder.checks.contract import (
        test_evaluate_counts_all_samples, test_evaluate_sets_eval_mode, test_train_epoch_matches_sgd,
        test_train_epoch_sets_train_mode)

Their probes come from probes.common.contract_probes().
"""
import torch
from torch import nn

from autograder.checks.common import allclose, batches, max_abs_diff, python_float


def contract_mlp(hidden: int = 12) -> nn.Sequential:
    """The grader's copy of probes.common.contract_mlp (without the probe layer)."""
    return nn.Sequential(nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def random_images(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8), torch.randint(0, 10, (n,))


def test_train_epoch_sets_train_mode(student):
    """train_epoch must train in training mode even when the model arrives in eval mode
    (as it does after evaluate(): the classic bug is model.train() once, before the epochs)."""
    images, labels = random_images(35)
    seen = student.probe("train_epoch_modes", images=images, labels=labels)
    calls = seen["calls"]
    assert calls, "train_epoch: the model's forward never ran during the epoch"
    modes = [c["training"] for c in calls]
    assert all(modes), (
        f"train_epoch: the model was handed in eval mode (as after evaluate()) and {modes.count(False)} of "
        f"{len(modes)} forward passes ran in eval mode; call model.train() at the start of train_epoch")
    assert all(c["grad"] for c in calls), "train_epoch: the forward pass ran with autograd switched off"


def test_train_epoch_matches_sgd(student):
    """One epoch over batches of 16, 16 and 3 with SGD must equal the textbook loop (zero_grad,
    forward on flattened images moved to the device, loss, backward, step), starting from
    gradients left over from an earlier call; the result is the mean of the batch losses."""
    ref = contract_mlp()
    start = {k: v.clone() for k, v in ref.state_dict().items()}
    grads = {name: torch.randn_like(p) for name, p in ref.named_parameters()}  # left over from an earlier backward
    images, labels = random_images(35)
    seen = student.probe("train_epoch_sgd", start=start, grads=grads, images=images, labels=labels, lr=0.05)
    found = python_float(seen["returned"], "train_epoch return value")
    # Written out rather than calling textbook_epoch: this check is public, and the student
    # bundle must not carry a ready-made loop (tests/test_release.py).
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.05)
    criterion = nn.CrossEntropyLoss()
    batch_losses, sizes = [], []
    for x, y in batches(images, labels, 16):
        ref_opt.zero_grad()
        loss = criterion(ref(x.reshape(x.shape[0], -1)), y)
        loss.backward()
        ref_opt.step()
        batch_losses.append(loss.item())
        sizes.append(y.shape[0])
    state = seen["state"]
    for name, q in ref.state_dict().items():
        p = state.get(name) if isinstance(state, dict) else None
        assert isinstance(p, torch.Tensor) and allclose(p, q), (
            f"train_epoch: after one epoch of SGD parameter {name} differs from the textbook loop (for every "
            "batch: zero_grad, forward on the flattened images, loss, backward, step; gradients left over "
            f"from an earlier call must not leak into the first step)"
            + (f" by up to {max_abs_diff(p, q):.3g}" if isinstance(p, torch.Tensor) and p.shape == q.shape else ""))
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


def test_evaluate_sets_eval_mode(student):
    """evaluate must run every forward pass in eval mode with autograd off, even when the
    model arrives in training mode (as it does after train_epoch)."""
    images, labels = random_images(35)
    seen = student.probe("evaluate_modes", images=images, labels=labels)
    acc = python_float(seen["returned"], "evaluate return value")
    assert 0.0 <= acc <= 1.0, f"evaluate: expected a fraction between 0 and 1, found {acc}"
    calls = seen["calls"]
    assert calls, "evaluate: the model's forward never ran"
    modes = [c["training"] for c in calls]
    assert not any(modes), (
        f"evaluate: the model was handed in training mode (as after train_epoch) and {sum(modes)} of "
        f"{len(modes)} forward passes ran in training mode; call model.eval() in evaluate")
    grads = [c["grad"] for c in calls]
    assert not any(grads), (
        f"evaluate: {sum(grads)} of {len(grads)} forward passes recorded autograd history; "
        "wrap the loop in torch.no_grad()")


def test_evaluate_counts_all_samples(student):
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
    weight = torch.zeros(10, 784)
    for c in range(10):
        weight[c, c * block:(c + 1) * block] = 1.0
    expected = correct.double().mean().item()  # 57/107 exactly; float32 would be off by 3e-8
    seen = student.probe("evaluate_on", weight=weight, bias=torch.zeros(10), images=images.reshape(n, 28, 28),
                         labels=labels, batch_size=50)
    found = python_float(seen["returned"], "evaluate return value")
    if abs(found - expected) > 1e-9:
        hint = " (that is the mean of the per-batch accuracies; the last batch is smaller)" if abs(
            found - 2 / 3) < 1e-6 else ""
        raise AssertionError(
            f"evaluate: 57 of 107 samples (batches of 50, 50 and 7) are classified correctly, so expected "
            f"{expected:.5f}, found {found:.5f}{hint}")
