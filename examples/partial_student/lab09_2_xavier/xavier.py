# A partly correct student: fans and the normal initializers are right; the uniform
# ones use the standard deviation as their bound (the lecture notes' classic slip).
import math

import torch
import torch.nn as nn


def calculate_fan_in_and_fan_out(tensor):
    if tensor.ndim < 2:
        raise ValueError("need at least 2 dimensions")
    field = 1
    for size in tensor.shape[2:]:
        field *= size
    return tensor.size(1) * field, tensor.size(0) * field


def xavier_uniform_(tensor, gain=1.0):
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    a = gain * math.sqrt(2.0 / (fan_in + fan_out))
    with torch.no_grad():
        tensor.uniform_(-a, a)
    return tensor


def xavier_normal_(tensor, gain=1.0):
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    with torch.no_grad():
        tensor.normal_(0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))
    return tensor


def he_uniform_(tensor):
    fan_in, _ = calculate_fan_in_and_fan_out(tensor)
    a = math.sqrt(2.0 / fan_in)
    with torch.no_grad():
        tensor.uniform_(-a, a)
    return tensor


def he_normal_(tensor):
    fan_in, _ = calculate_fan_in_and_fan_out(tensor)
    with torch.no_grad():
        tensor.normal_(0.0, math.sqrt(2.0 / fan_in))
    return tensor


def init_linear_layers_(model, method="xavier_uniform"):
    fns = {"xavier_uniform": xavier_uniform_, "xavier_normal": xavier_normal_,
           "he_uniform": he_uniform_, "he_normal": he_normal_}
    if method not in fns:
        raise ValueError(method)
    for layer in model.modules():
        if isinstance(layer, nn.Linear):
            fns[method](layer.weight)
    return model
