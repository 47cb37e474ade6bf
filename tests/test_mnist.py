"""MNIST preparation (torchvision's idx parsing, SHA-256 verified) and the in-memory batches."""
from __future__ import annotations

import torch

from autograder import mnist


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
