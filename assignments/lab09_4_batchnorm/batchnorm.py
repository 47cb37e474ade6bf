"""Lab 9-4: batch normalization by hand.

Write BatchNorm1d without nn.BatchNorm* or any functional batch_norm.
"""
import torch
from torch import nn


class BatchNorm1d(nn.Module):
    """Batch normalization over (N, C) input, matching torch.nn.BatchNorm1d.

    Parameters `weight` (ones) and `bias` (zeros); buffers `running_mean` (zeros),
    `running_var` (ones) and `num_batches_tracked` (0, int64). Training mode
    normalizes with the batch mean and biased batch variance and updates the running
    estimates with `momentum`, using the unbiased variance; eval mode normalizes with
    the running estimates and updates nothing.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        # YOUR CODE HERE
        raise NotImplementedError('nn.Parameter for weight and bias; self.register_buffer for the running statistics.')

    def forward(self, x):
        # YOUR CODE HERE
        raise NotImplementedError('in training mode use x.mean(0) and x.var(0, unbiased=False), and update the running buffers under torch.no_grad() with the unbiased variance.')


def build_bn_mlp(hidden=32, use_batchnorm=True, in_features=784, num_classes=10):
    """Return nn.Sequential: Linear, BatchNorm1d, ReLU, Linear, BatchNorm1d, ReLU, Linear.

    Normalization comes before the activation; without the BatchNorm1d layers when
    use_batchnorm is False.
    """
    # YOUR CODE HERE
    raise NotImplementedError('two hidden blocks of Linear, (BatchNorm1d), ReLU, then the output Linear.')


def train_epoch(model, loader, optimizer, criterion, device):
    """Train for one pass over `loader` and return the mean batch loss as a Python float.

    `loader` yields (images, labels): images (B, 1, 28, 28) float32, labels (B,) int64.
    Flatten the images to (B, 784) and move both to `device`.
    """
    # YOUR CODE HERE
    raise NotImplementedError('model.train(); for each batch: flatten with reshape(B, -1), .to(device), zero_grad, loss, backward, step.')


def evaluate(model, loader, device):
    """Return the fraction of all samples in `loader` classified correctly (a Python float)."""
    # YOUR CODE HERE
    raise NotImplementedError('model.eval() and torch.no_grad(); count correct predictions and samples over all batches, divide at the end.')
