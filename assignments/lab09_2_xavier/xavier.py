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
    # YOUR CODE HERE
    raise NotImplementedError('tensor.dim(), tensor.shape[0] and [1], and the product of tensor.shape[2:].')


def xavier_uniform_(tensor, gain=1.0):
    """Fill `tensor` in place from U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)); return it."""
    # YOUR CODE HERE
    raise NotImplementedError('compute the bound, then tensor.uniform_(-a, a) inside torch.no_grad().')


def xavier_normal_(tensor, gain=1.0):
    """Fill `tensor` in place from N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)); return it."""
    # YOUR CODE HERE
    raise NotImplementedError('compute the standard deviation, then tensor.normal_(0, std) inside torch.no_grad().')


def he_uniform_(tensor):
    """Fill `tensor` in place from U(-a, a), a = sqrt(6 / fan_in); return it."""
    # YOUR CODE HERE
    raise NotImplementedError('like xavier_uniform_, with the bound computed from fan_in alone.')


def he_normal_(tensor):
    """Fill `tensor` in place from N(0, std^2), std = sqrt(2 / fan_in); return it."""
    # YOUR CODE HERE
    raise NotImplementedError('like xavier_normal_, with the standard deviation computed from fan_in alone.')


def init_linear_layers_(model, method="xavier_uniform"):
    """Apply one of xavier_uniform, xavier_normal, he_uniform, he_normal to the weight of
    every nn.Linear inside `model` (biases untouched) and return the model.

    Unknown methods raise ValueError.
    """
    # YOUR CODE HERE
    raise NotImplementedError('map the method name to one of the functions above, then loop over model.modules().')
