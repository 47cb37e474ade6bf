"""Lab 9-3: dropout by hand, and the train/eval modes that switch it.

Write Dropout without nn.Dropout or any functional dropout.
"""
import torch
from torch import nn


class Dropout(nn.Module):
    """Inverted dropout.

    In training mode each element is zeroed with probability p and the survivors are
    scaled by 1 / (1 - p) (p = 1 gives all zeros); in eval mode the input is returned
    unchanged. ValueError unless 0 <= p <= 1.
    """

    def __init__(self, p=0.5):
        super().__init__()
        # YOUR CODE HERE
        raise NotImplementedError('check the range of p, then store it as self.p.')

    def forward(self, x):
        # YOUR CODE HERE
        raise NotImplementedError('self.training tells the mode; draw a keep-mask with torch.rand_like(x) > p and scale the kept values.')


def build_dropout_mlp(p=0.3, hidden=512, num_hidden_layers=4, in_features=784, num_classes=10):
    """Return nn.Sequential: (Linear, ReLU, Dropout(p)) per hidden layer, then Linear to the classes.

    Use this module's Dropout.
    """
    # YOUR CODE HERE
    raise NotImplementedError('append Linear, nn.ReLU() and Dropout(p) num_hidden_layers times, then the output Linear.')


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
