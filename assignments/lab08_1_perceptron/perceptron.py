"""Lab 8-1: a single perceptron learns the logic gates (and cannot learn XOR)."""
import torch
from torch import nn

_GATES = {
    "and": [0, 0, 0, 1],
    "or": [0, 1, 1, 1],
    "nand": [1, 1, 1, 0],
    "nor": [1, 0, 0, 0],
    "xor": [0, 1, 1, 0],
    "xnor": [1, 0, 0, 1],
}


def logic_gate_data(gate):
    """Return (X, Y) for a two-input logic gate.

    X is float32 of shape (4, 2), the rows [[0, 0], [0, 1], [1, 0], [1, 1]];
    Y is float32 of shape (4, 1), the gate's output for each row.
    `gate` is one of "and", "or", "nand", "nor", "xor", "xnor"; anything else
    raises ValueError.
    """
    # YOUR CODE HERE
    raise NotImplementedError('build X with torch.tensor(..., dtype=torch.float32); look the gate up in a dict and raise ValueError for unknown names.')


class Perceptron(nn.Module):
    """One nn.Linear(in_features, 1) followed by a sigmoid: (N, in) -> (N, 1) probabilities."""

    def __init__(self, in_features=2):
        super().__init__()
        # YOUR CODE HERE
        raise NotImplementedError('one nn.Linear(in_features, 1) and a sigmoid (nn.Sigmoid or torch.sigmoid in forward).')

    def forward(self, x):
        # YOUR CODE HERE
        raise NotImplementedError('apply the linear layer, then the sigmoid.')


def train_perceptron(model, X, Y, steps=1000, lr=1.0):
    """Full-batch training with nn.BCELoss and torch.optim.SGD; return the loss of every step."""
    # YOUR CODE HERE
    raise NotImplementedError('zero_grad, forward, BCELoss, backward, step; append loss.item() each step.')


def predict(model, X):
    """Return the (N, 1) float tensor of 0./1. predictions (1 where the probability is above
    0.5), with no autograd history on the result."""
    # YOUR CODE HERE
    raise NotImplementedError('use torch.no_grad() and compare the probabilities with 0.5.')


def accuracy(model, X, Y):
    """Return the fraction of rows of X whose prediction equals Y, as a Python float."""
    # YOUR CODE HERE
    raise NotImplementedError('compare predict(model, X) with Y and take the mean.')
