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
    ### BEGIN SOLUTION
    # HINT: map the activation name to a module class (raise ValueError for unknown names), then append Linear and activation pairs.
    if activation not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; expected one of {sorted(_ACTIVATIONS)}")
    layers = []
    n_in = in_features
    for n_out in hidden_sizes:
        layers += [nn.Linear(n_in, n_out), _ACTIVATIONS[activation]()]
        n_in = n_out
    layers.append(nn.Linear(n_in, num_classes))
    return nn.Sequential(*layers)
    ### END SOLUTION


def make_optimizer(name, params, lr):
    """Return the torch.optim optimizer called `name` (any case) over `params` with learning rate `lr`.

    Names: sgd, adadelta, adagrad, adam, adamax, asgd, rmsprop, rprop; anything
    else raises ValueError.
    """
    ### BEGIN SOLUTION
    # HINT: lower-case the name and look it up in a dict of torch.optim classes.
    key = name.lower()
    if key not in _OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(_OPTIMIZERS)}")
    return _OPTIMIZERS[key](params, lr=lr)
    ### END SOLUTION


def first_layer_grad_norm(model, X, Y):
    """One cross-entropy backward pass from zeroed gradients; return the L2 norm of the
    first nn.Linear layer's weight gradient as a Python float.

    X is (N, in_features) float32 and Y is (N,) int64 class indices.
    """
    ### BEGIN SOLUTION
    # HINT: model.zero_grad(), nn.CrossEntropyLoss()(model(X), Y).backward(), then find the first nn.Linear in model.modules().
    model.zero_grad()
    nn.CrossEntropyLoss()(model(X), Y).backward()
    first = next(m for m in model.modules() if isinstance(m, nn.Linear))
    return first.weight.grad.norm().item()
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
