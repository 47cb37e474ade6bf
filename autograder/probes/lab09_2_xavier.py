"""Lab 9-2 probes: call the student's initialisers on the grader's tensors and models and
report what came out (the filled values, identities, autograd flags, states). Every
statistic and every verdict is the judge's (autograder/checks/lab09_2_xavier.py)."""
import functools
import numbers
from pathlib import Path

import torch
from torch import nn

from autograder.boundary.traps import Trap
from autograder.probes.common import mnist_epoch, outcome, state, textbook_train_epoch

# torch.nn.init's own functions as this module first sees them: the zygote imports the probes
# before any worker installs its traps, so these are the originals.
_TORCH_INIT = {name: getattr(torch.nn.init, name) for name in dir(torch.nn.init)
               if callable(getattr(torch.nn.init, name)) and not name.startswith("__")
               and getattr(getattr(torch.nn.init, name), "__module__", None) == "torch.nn.init"}
# The code of the stub the worker's trap puts in place of a re-exported torch function.
_REEXPORT_STUB = Trap(Path("."))._reexport_stub("", "").__code__


# --- the grader's models for init_linear_layers_ (the judge builds the same ones) -----------


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(300, 150)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.fc(x))


class Nested(nn.Module):
    """Linear layers at several depths: in a Sequential, a custom block, a ModuleList and a ModuleDict."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(200, 300), nn.ReLU(), Block())
        self.heads = nn.ModuleList([nn.Linear(150, 100), nn.Sequential(nn.Linear(150, 60), nn.Tanh())])
        self.extra = nn.ModuleDict({"proj": nn.Linear(150, 120)})
        self.out = nn.Linear(100, 10)

    def forward(self, x):
        h = self.features(x)
        return self.out(self.heads[0](h)) + self.extra["proj"](h)[:, :10] + self.heads[1](h)[:, :10]


class Mixed(nn.Module):
    """Linear layers with and without bias beside modules whose parameters must stay as they are."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 24)
        self.conv = nn.Conv2d(3, 6, 3)
        self.body = nn.Sequential(nn.Linear(24, 32), nn.LayerNorm(32), nn.ReLU(),
                                  nn.Linear(32, 16, bias=False), nn.BatchNorm1d(16))
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        return self.head(self.body(self.embed(x)))


MODELS = {
    "stack": lambda: nn.Sequential(nn.Linear(400, 200), nn.ReLU(), nn.Linear(200, 300), nn.Tanh(),
                                   nn.Linear(300, 100, bias=False)),
    "pair": lambda: nn.Sequential(nn.Linear(400, 200), nn.ReLU(), nn.Linear(200, 300)),
    "nested": Nested,
    "mixed": Mixed,
}


# --- torch.nn.init re-exported under the student's names ------------------------------------


def _torch_origin(obj):
    """The torch.nn.init name `obj` is (or wraps, through partial or __wrapped__, or the trap's
    stub for a re-export), else None."""
    current = {name: getattr(torch.nn.init, name, None) for name in _TORCH_INIT}
    for _ in range(10):
        for name, original in _TORCH_INIT.items():
            if obj is original or obj is current[name]:
                return name
        if getattr(obj, "__code__", None) is _REEXPORT_STUB:
            cells = dict(zip(_REEXPORT_STUB.co_freevars, (c.cell_contents for c in obj.__closure__ or ())))
            return str(cells.get("qualname", "?")).rsplit(".", 1)[-1]
        if isinstance(obj, functools.partial):
            obj = obj.func
        elif getattr(obj, "__wrapped__", None) is not None:
            obj = obj.__wrapped__
        else:
            return None
    return None


def _reexported(student, names):
    """{"reexported": {name, origin}} for the first of `names` that is torch's own function, else None.
    The grader calls these names directly: the trap would see no frame of the student's file."""
    for name in names:
        origin = _torch_origin(getattr(student, name))
        if origin is not None:
            return {"reexported": {"name": name, "origin": origin}}
    return None


# --- calculate_fan_in_and_fan_out -----------------------------------------------------------


def _text(value, limit=200) -> str:
    try:
        return repr(value)[:limit]
    except Exception:  # noqa: BLE001 - a repr that raises is described by its type
        return f"<{type(value).__name__}>"


def probe_fans(student, ctx, shape, names=("calculate_fan_in_and_fan_out",)):
    """What calculate_fan_in_and_fan_out returned for an empty tensor of `shape`: a pair (each
    entry an int, or its type and repr when it is no integer), or the repr of anything else."""
    found = _reexported(student, names)
    if found:
        return found
    result = student.calculate_fan_in_and_fan_out(torch.empty(tuple(shape)))
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        return {"other": _text(result)}
    return {"pair": [int(v) if isinstance(v, numbers.Integral) and not isinstance(v, bool)
                     else {"type": type(v).__name__, "repr": _text(v, 100)} for v in result]}


def probe_fans_too_few_dims(student, ctx, shapes):
    found = _reexported(student, ("calculate_fan_in_and_fan_out",))
    if found:
        return found
    return [outcome(lambda: student.calculate_fan_in_and_fan_out(torch.zeros(tuple(shape)))) for shape in shapes]


# --- the initialisers -----------------------------------------------------------------------


def probe_fill(student, ctx, fn, shape, fill, args=(), kwargs=None):
    """student.<fn>(tensor of `shape` holding `fill`, *args, **kwargs): the tensor handed in
    when the call returns None (returned "None") or itself ("the tensor"), else what it returned."""
    found = _reexported(student, (fn,))
    if found:
        return found
    t = torch.full(tuple(shape), fill)
    out = getattr(student, fn)(t, *args, **(kwargs or {}))
    if out is None:
        return {"returned": "None", "values": t}
    return {"returned": "the tensor" if out is t else "other", "values": out}


def probe_in_place(student, ctx, fn, shape, fill):
    """student.<fn> on a tensor of `shape` holding `fill`: what came back, whether the tensor's
    storage is the one it had, and the tensor afterwards."""
    found = _reexported(student, (fn,))
    if found:
        return found
    t = torch.full(tuple(shape), fill)
    ptr = t.data_ptr()
    out = getattr(student, fn)(t)
    return {
        "none": out is None,
        "same": out is t,
        "out_type": type(out).__name__,
        "out_shape": list(out.shape) if isinstance(out, torch.Tensor) else None,
        "same_storage": t.data_ptr() == ptr,
        "tensor": t,
    }


def probe_no_history(student, ctx, fn, kind, shape, fill):
    """student.<fn> on an nn.Parameter (kind "nn.Parameter") or a leaf requiring grad: autograd's
    state afterwards, the tensor's flags, and the values (of the tensor, or of a different one returned)."""
    found = _reexported(student, (fn,))
    if found:
        return found
    torch.set_grad_enabled(True)
    if kind == "nn.Parameter":
        t = nn.Parameter(torch.full(tuple(shape), fill))
    else:
        t = torch.full(tuple(shape), fill, requires_grad=True)
    out = getattr(student, fn)(t)
    seen = {
        "grad_enabled": torch.is_grad_enabled(),
        "grad_fn": None if t.grad_fn is None else type(t.grad_fn).__name__,
        "is_leaf": t.is_leaf,
        "requires_grad": t.requires_grad,
    }
    torch.set_grad_enabled(True)
    if out is None or out is t:
        seen.update(returned="the tensor" if out is t else "None", values=t)
    else:
        seen.update(returned="other", values=out, out_grad_fn=(
            type(out.grad_fn).__name__ if isinstance(out, torch.Tensor) and out.grad_fn is not None else None))
    return seen


# --- init_linear_layers_ --------------------------------------------------------------------


def probe_init_linear_layers(student, ctx, model, start, method=None, keyword=False):
    """init_linear_layers_ on the grader's model MODELS[model] holding the grader's `start` state
    (method None: the default; keyword: passed as method=): whether the model came back, and
    its state afterwards."""
    found = _reexported(student, ("init_linear_layers_",))
    if found:
        return found
    net = MODELS[model]()
    net.load_state_dict(start)
    if method is None:
        out = student.init_linear_layers_(net)
    elif keyword:
        out = student.init_linear_layers_(net, method=method)
    else:
        out = student.init_linear_layers_(net, method)
    return {"returned_model": out is net, "returned": "None" if out is None else type(out).__name__,
            "state": state(net)}


def probe_init_linear_layers_unknown(student, ctx, methods):
    found = _reexported(student, ("init_linear_layers_",))
    if found:
        return found
    return [outcome(lambda: student.init_linear_layers_(nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2)),
                                                        method)) for method in methods]


def probe_init_linear_layers_methods(student, ctx, methods):
    """init_linear_layers_ run for each method, for what it calls (the trap reports it)."""
    for method in methods:
        student.init_linear_layers_(nn.Sequential(nn.Linear(40, 30), nn.ReLU(), nn.Linear(30, 20)), method)
    return {}


# --- MNIST ----------------------------------------------------------------------------------


def mnist_training(student, params):
    """(model, train_epoch) for the MNIST check and `autograder calibrate`: the grader's MLP
    (784-256-256-10, ReLU) with its Linear weights set by the student's init_linear_layers_
    (params["method"]), trained by the textbook loop (this lab's students write no train_epoch)."""
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    returned = student.init_linear_layers_(model, params["method"])
    if returned is not model:
        raise TypeError(f"init_linear_layers_(model, {params['method']!r}): expected the model it was given back, "
                        f"found {'None' if returned is None else type(returned).__name__}")
    return model, textbook_train_epoch


def probe_mnist_epoch(student, ctx, method, **budget):
    return mnist_epoch(ctx, lambda: mnist_training(student, {"method": method}), budget)

