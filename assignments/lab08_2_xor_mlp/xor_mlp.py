"""Lab 8-2: a multi-layer perceptron solves XOR with backpropagation."""
import torch
from torch import nn


def build_xor_mlp(hidden=2, num_layers=2):
    """Return nn.Sequential of `num_layers` Linear layers (2 -> hidden -> ... -> hidden -> 1),
    each followed by a sigmoid.

    Raises ValueError when num_layers < 2 or hidden < 1.
    """
    # YOUR CODE HERE
    raise NotImplementedError('check the arguments first; then append Linear and Sigmoid pairs to a list and unpack it into nn.Sequential.')


def train_xor(model, X, Y, steps=10001, lr=1.0):
    """Full-batch training with nn.BCELoss and torch.optim.SGD; return the loss of every step."""
    # YOUR CODE HERE
    raise NotImplementedError('the same loop as train_perceptron in lab 8-1.')


def predict(model, X):
    """Return the (N, 1) float tensor of 0./1. predictions (1 where the probability is above
    0.5), with no autograd history on the result."""
    # YOUR CODE HERE
    raise NotImplementedError('use torch.no_grad() and compare the probabilities with 0.5.')


def accuracy(model, X, Y):
    """Return the fraction of rows of X whose prediction equals Y, as a Python float."""
    # YOUR CODE HERE
    raise NotImplementedError('compare predict(model, X) with Y and take the mean.')
