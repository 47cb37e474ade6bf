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
        ### BEGIN SOLUTION
        # HINT: nn.Parameter for weight and bias; self.register_buffer for the running statistics.
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        # HINT: in training mode use x.mean(0) and x.var(0, unbiased=False), and update the running buffers under torch.no_grad() with the unbiased variance.
        if self.training:
            mean = x.mean(dim=0)
            var = x.var(dim=0, unbiased=False)
            n = x.shape[0]
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
                self.running_var.mul_(1 - self.momentum).add_(self.momentum * var * n / (n - 1))
                self.num_batches_tracked.add_(1)
        else:
            mean, var = self.running_mean, self.running_var
        x_hat = (x - mean) / torch.sqrt(var + self.eps)
        return x_hat * self.weight + self.bias
        ### END SOLUTION


def build_bn_mlp(hidden=32, use_batchnorm=True, in_features=784, num_classes=10):
    """Return nn.Sequential: Linear, BatchNorm1d, ReLU, Linear, BatchNorm1d, ReLU, Linear.

    Normalization comes before the activation; without the BatchNorm1d layers when
    use_batchnorm is False.
    """
    ### BEGIN SOLUTION
    # HINT: two hidden blocks of Linear, (BatchNorm1d), ReLU, then the output Linear.
    layers = []
    n_in = in_features
    for _ in range(2):
        layers.append(nn.Linear(n_in, hidden))
        if use_batchnorm:
            layers.append(BatchNorm1d(hidden))
        layers.append(nn.ReLU())
        n_in = hidden
    layers.append(nn.Linear(n_in, num_classes))
    return nn.Sequential(*layers)
    ### END SOLUTION


def train_epoch(model, loader, optimizer, criterion, device):
    """Train for one pass over `loader` and return the mean batch loss as a Python float.

    `loader` yields (images, labels): images (B, 1, 28, 28) float32, labels (B,) int64.
    Flatten the images to (B, 784) and move both to `device`.
    """
    ### BEGIN SOLUTION
    # HINT: model.train(); for each batch: flatten with reshape(B, -1), .to(device), zero_grad, loss, backward, step.
    model.train()
    total, batches = 0.0, 0
    for images, labels in loader:
        images = images.reshape(images.shape[0], -1).to(device)
        labels = labels.to(device)
        optimizer.zero_grad()
        loss = criterion(model(images), labels)
        loss.backward()
        optimizer.step()
        total += loss.item()
        batches += 1
    return total / batches
    ### END SOLUTION


def evaluate(model, loader, device):
    """Return the fraction of all samples in `loader` classified correctly (a Python float)."""
    ### BEGIN SOLUTION
    # HINT: model.eval() and torch.no_grad(); count correct predictions and samples over all batches, divide at the end.
    model.eval()
    correct, seen = 0, 0
    with torch.no_grad():
        for images, labels in loader:
            images = images.reshape(images.shape[0], -1).to(device)
            labels = labels.to(device)
            correct += (model(images).argmax(dim=1) == labels).sum().item()
            seen += labels.shape[0]
    return correct / seen
    ### END SOLUTION
