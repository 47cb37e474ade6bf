"""Lab 9-2: weight initialization by hand: Xavier (Glorot) and He (Kaiming).

Write these without torch.nn.init: the point of the lab is to write them.
"""
import math

import torch
from torch import nn


def calculate_fan_in_and_fan_out(tensor):
    """Return (fan_in, fan_out) as torch defines them.

    For a weight of shape (out, in, *kernel), the receptive field is the product of
    the kernel dimensions; fan_in = in * receptive field and fan_out = out *
    receptive field. Tensors with fewer than 2 dimensions raise ValueError.
    """
    ### BEGIN SOLUTION
    # HINT: tensor.dim(), tensor.shape[0] and [1], and the product of tensor.shape[2:].
    if tensor.dim() < 2:
        raise ValueError(
            f"fan in and fan out need a tensor of at least 2 dimensions, got shape {tuple(tensor.shape)}"
        )
    receptive_field = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field
    ### END SOLUTION


def xavier_uniform_(tensor, gain=1.0):
    """Fill `tensor` in place from U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)); return it."""
    ### BEGIN SOLUTION
    # HINT: compute the bound, then tensor.uniform_(-a, a) inside torch.no_grad().
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        return tensor.uniform_(-bound, bound)
    ### END SOLUTION


def xavier_normal_(tensor, gain=1.0):
    """Fill `tensor` in place from N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)); return it."""
    ### BEGIN SOLUTION
    # HINT: compute the standard deviation, then tensor.normal_(0, std) inside torch.no_grad().
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    with torch.no_grad():
        return tensor.normal_(0.0, std)
    ### END SOLUTION


def he_uniform_(tensor):
    """Fill `tensor` in place from U(-a, a), a = sqrt(6 / fan_in); return it."""
    ### BEGIN SOLUTION
    # HINT: like xavier_uniform_, with the bound computed from fan_in alone.
    fan_in, _ = calculate_fan_in_and_fan_out(tensor)
    bound = math.sqrt(6.0 / fan_in)
    with torch.no_grad():
        return tensor.uniform_(-bound, bound)
    ### END SOLUTION


def he_normal_(tensor):
    """Fill `tensor` in place from N(0, std^2), std = sqrt(2 / fan_in); return it."""
    ### BEGIN SOLUTION
    # HINT: like xavier_normal_, with the standard deviation computed from fan_in alone.
    fan_in, _ = calculate_fan_in_and_fan_out(tensor)
    std = math.sqrt(2.0 / fan_in)
    with torch.no_grad():
        return tensor.normal_(0.0, std)
    ### END SOLUTION


def init_linear_layers_(model, method="xavier_uniform"):
    """Apply one of xavier_uniform, xavier_normal, he_uniform, he_normal to the weight of
    every nn.Linear inside `model` (biases untouched) and return the model.

    Unknown methods raise ValueError.
    """
    ### BEGIN SOLUTION
    # HINT: map the method name to one of the functions above, then loop over model.modules().
    methods = {
        "xavier_uniform": xavier_uniform_,
        "xavier_normal": xavier_normal_,
        "he_uniform": he_uniform_,
        "he_normal": he_normal_,
    }
    if method not in methods:
        raise ValueError(f"unknown method {method!r}; expected one of {sorted(methods)}")
    for module in model.modules():
        if isinstance(module, nn.Linear):
            methods[method](module.weight)
    return model
    ### END SOLUTION
