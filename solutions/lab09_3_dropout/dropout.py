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
        ### BEGIN SOLUTION
        # HINT: check the range of p, then store it as self.p.
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability p must be between 0 and 1, got {p}")
        self.p = p
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        # HINT: self.training tells the mode; draw a keep-mask with torch.rand_like(x) > p and scale the kept values.
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return x * 0.0
        mask = (torch.rand_like(x) >= self.p).to(x.dtype)
        return x * mask / (1.0 - self.p)
        ### END SOLUTION


def build_dropout_mlp(p=0.3, hidden=512, num_hidden_layers=4, in_features=784, num_classes=10):
    """Return nn.Sequential: (Linear, ReLU, Dropout(p)) per hidden layer, then Linear to the classes.

    Use this module's Dropout.
    """
    ### BEGIN SOLUTION
    # HINT: append Linear, nn.ReLU() and Dropout(p) num_hidden_layers times, then the output Linear.
    layers = []
    n_in = in_features
    for _ in range(num_hidden_layers):
        layers += [nn.Linear(n_in, hidden), nn.ReLU(), Dropout(p)]
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
