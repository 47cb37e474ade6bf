"""Lab 9-1: ReLU against sigmoid (vanishing gradients) and the torch.optim optimizers."""
import torch
from torch import nn

_ACTIVATIONS = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
}

_OPTIMIZERS = {
    "sgd": torch.optim.SGD,
    "adadelta": torch.optim.Adadelta,
    "adagrad": torch.optim.Adagrad,
    "adam": torch.optim.Adam,
    "adamax": torch.optim.Adamax,
    "asgd": torch.optim.ASGD,
    "rmsprop": torch.optim.RMSprop,
    "rprop": torch.optim.Rprop,
}


def build_mlp(hidden_sizes=(256, 256), activation="relu", in_features=784, num_classes=10):
    """Return nn.Sequential: Linear, activation, ..., Linear (no activation after the last).

    One hidden Linear layer per entry of `hidden_sizes`; `activation` is one of
    "relu", "sigmoid", "tanh", "leaky_relu" (negative slope 0.01); anything else
    raises ValueError.
    """
    # YOUR CODE HERE
    raise NotImplementedError('map the activation name to a module class (raise ValueError for unknown names), then append Linear and activation pairs.')


def make_optimizer(name, params, lr):
    """Return the torch.optim optimizer called `name` (any case) over `params` with learning rate `lr`.

    Names: sgd, adadelta, adagrad, adam, adamax, asgd, rmsprop, rprop; anything
    else raises ValueError.
    """
    # YOUR CODE HERE
    raise NotImplementedError('lower-case the name and look it up in a dict of torch.optim classes.')


def first_layer_grad_norm(model, X, Y):
    """One cross-entropy backward pass from zeroed gradients; return the L2 norm of the
    first nn.Linear layer's weight gradient as a Python float.

    X is (N, in_features) float32 and Y is (N,) int64 class indices.
    """
    # YOUR CODE HERE
    raise NotImplementedError('model.zero_grad(), nn.CrossEntropyLoss()(model(X), Y).backward(), then find the first nn.Linear in model.modules().')


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
