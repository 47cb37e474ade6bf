"""Lab 8-2: a multi-layer perceptron solves XOR with backpropagation."""
import torch
from torch import nn


def build_xor_mlp(hidden=2, num_layers=2):
    """Return nn.Sequential of `num_layers` Linear layers (2 -> hidden -> ... -> hidden -> 1),
    each followed by a sigmoid.

    Raises ValueError when num_layers < 2 or hidden < 1.
    """
    ### BEGIN SOLUTION
    # HINT: check the arguments first; then append Linear and Sigmoid pairs to a list and unpack it into nn.Sequential.
    if num_layers < 2:
        raise ValueError(f"num_layers must be at least 2, got {num_layers}")
    if hidden < 1:
        raise ValueError(f"hidden must be at least 1, got {hidden}")
    sizes = [2] + [hidden] * (num_layers - 1) + [1]
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.Sigmoid()]
    return nn.Sequential(*layers)
    ### END SOLUTION


def train_xor(model, X, Y, steps=10001, lr=1.0):
    """Full-batch training with nn.BCELoss and torch.optim.SGD; return the loss of every step."""
    ### BEGIN SOLUTION
    # HINT: the same loop as train_perceptron in lab 8-1.
    criterion = nn.BCELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = criterion(model(X), Y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
    ### END SOLUTION


def predict(model, X):
    """Return the (N, 1) float tensor of 0./1. predictions (1 where the probability is above
    0.5), with no autograd history on the result."""
    ### BEGIN SOLUTION
    # HINT: use torch.no_grad() and compare the probabilities with 0.5.
    with torch.no_grad():
        return (model(X) > 0.5).float()
    ### END SOLUTION


def accuracy(model, X, Y):
    """Return the fraction of rows of X whose prediction equals Y, as a Python float."""
    ### BEGIN SOLUTION
    # HINT: compare predict(model, X) with Y and take the mean.
    return (predict(model, X) == Y).float().mean().item()
    ### END SOLUTION
