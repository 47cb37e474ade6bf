"""MNIST preparation (torchvision's idx parsing, SHA-256 verified) and the in-memory batches."""
from __future__ import annotations

import pytest
import torch

from autograder.course import mnist


def test_cached_tensors_are_mnist(mnist_cache):
    t = mnist.load(mnist_cache)
    assert t["train_images"].shape == (60000, 28, 28) and t["train_images"].dtype == torch.uint8
    assert t["test_labels"].shape == (10000,) and t["test_labels"].dtype == torch.int64
    # Label counts published with the files (shared/data/mnist/README.md).
    assert torch.bincount(t["test_labels"]).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert abs(t["train_images"].float().div(255).mean().item() - 0.1307) < 1e-4


def test_batches_follow_the_loader_contract():
    images = torch.randint(0, 256, (250, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (250,))
    batches = mnist.Batches(images, labels, batch_size=100)
    got = list(batches)
    assert len(batches) == 3 and [len(y) for _, y in got] == [100, 100, 50]
    x, y = got[0]
    assert x.shape == (100, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert 0.0 <= x.min().item() and x.max().item() <= 1.0
    assert torch.equal(torch.cat([y for _, y in got]), labels), "unshuffled batches keep the order"


def test_shuffled_batches_cover_every_sample_once_per_pass():
    labels = torch.arange(250)
    batches = mnist.Batches(torch.zeros(250, 28, 28, dtype=torch.uint8), labels, 64, shuffle=True,
                            generator=torch.Generator().manual_seed(0))
    first = torch.cat([y for _, y in batches])
    second = torch.cat([y for _, y in batches])
    assert sorted(first.tolist()) == list(range(250)) == sorted(second.tolist())
    assert not torch.equal(first, second), "each pass is shuffled anew"


class _Epochs:
    """A stand-in for the worker's side of an MNIST check: each probe call is one more epoch,
    whose predictions are right for the given fraction of the test labels."""

    def __init__(self, labels: torch.Tensor, accuracies: list[float]):
        self.labels, self.accuracies, self.calls = labels, accuracies, 0

    def probe(self, name, **budget):
        assert name == "mnist_epoch" and "threshold" not in budget and "stop_at_threshold" not in budget
        right = int(self.accuracies[self.calls] * len(self.labels))
        self.calls += 1
        return {"loss": 0.5, "predictions": torch.cat([self.labels[:right], (self.labels[right:] + 1) % 10])}


def _params(stop: bool) -> dict:
    return {"epochs": 2, "batch_size": 100, "lr": 0.001, "threshold": 0.95, "stop_at_threshold": stop}


def test_mnist_check_stops_at_the_first_epoch_that_reaches_the_threshold():
    from autograder.checks.common import assert_mnist_accuracy

    labels = torch.arange(10000) % 10
    student = _Epochs(labels, [0.96, 0.50])
    assert_mnist_accuracy("the model", student, labels, _params(stop=True))
    assert student.calls == 1, "the second epoch cannot change the verdict: it must not be trained"
    # Without stop_at_threshold the last epoch is judged, and a model that got worse fails.
    student = _Epochs(labels, [0.96, 0.50])
    with pytest.raises(AssertionError, match="0.9600, 0.5000 after each epoch; expected at least 0.95"):
        assert_mnist_accuracy("the model", student, labels, _params(stop=False))
    assert student.calls == 2


def test_mnist_check_trains_the_whole_budget_before_failing():
    from autograder.checks.common import assert_mnist_accuracy

    labels = torch.arange(10000) % 10
    student = _Epochs(labels, [0.90, 0.94])
    with pytest.raises(AssertionError, match="0.9000, 0.9400 after each epoch"):
        assert_mnist_accuracy("the model", student, labels, _params(stop=True))
    assert student.calls == 2
    student = _Epochs(labels, [0.90, 0.951])
    assert_mnist_accuracy("the model", student, labels, _params(stop=True))  # reached at the last epoch


def test_a_failed_download_says_how_to_use_the_idx_files(tmp_path, monkeypatch):
    import torchvision.datasets

    class Offline:
        def __init__(self, *args, download=False, **kwargs):
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried http://...: Name or service not known")

    monkeypatch.setattr(torchvision.datasets, "MNIST", Offline)
    with pytest.raises(mnist.MnistError, match=r"could not be downloaded \(Error downloading train-images-idx3-ubyte.gz:\)"
                       r".*autograder data --from DIR.*MNIST_DIR"):
        mnist.prepare(tmp_path / "cache", download=True)
