"""Plain data across the trust boundary: framed messages that cannot run code when read.

A message is JSON for the structure plus a safetensors blob for the tensors; neither
format can execute anything on load, unlike pickle (torch.save) would. What the worker
sends is treated as data to judge, never as objects to use: a tensor subclass, a model or
any other object arrives as an `Opaque` that names its type and nothing else.
"""
from __future__ import annotations

import json
import math
import socket
import struct
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

MAX_MESSAGE = 256 << 20  # a reply larger than this is refused: nothing a check needs is that big
_HEADER = struct.Struct("!QI")  # total length, JSON length


class WireError(RuntimeError):
    """A message was malformed, too large, or the other side hung up."""


@dataclass(frozen=True)
class Opaque:
    """Something that is not plain data (a model, a numpy array, a generator...): only its type travels."""

    type: str

    def __repr__(self) -> str:
        return f"<{self.type}>"


# torch and safetensors are imported on first use: a process that only exchanges plain data
# (the class grader with its servers) starts its servers without loading torch (about 1 s).


def _tensor_type():
    """torch.Tensor, or None where torch is not loaded (then nothing can be a tensor)."""
    torch = sys.modules.get("torch")
    return getattr(torch, "Tensor", None)


def _plain_tensor(t: torch.Tensor) -> torch.Tensor:
    import torch

    # Copy the values out through the base class: a subclass's overrides take no part.
    with torch._C.DisableTorchFunction():
        base = torch.Tensor.as_subclass(t, torch.Tensor)
        return base.detach().to("cpu").contiguous().clone()


def encode(obj) -> bytes:
    tensors: dict[str, torch.Tensor] = {}
    tensor_type = _tensor_type()

    def walk(v, depth=0):
        if depth > 32:
            return {"$opaque": "structure nested too deeply"}
        if v is None or type(v) in (bool, str):
            return v
        if type(v) is int:
            return v if abs(v) < 2**53 else {"$bigint": str(v)}
        if type(v) is float:
            return v if math.isfinite(v) else {"$float": repr(v)}
        if tensor_type is not None and isinstance(v, tensor_type):
            key = str(len(tensors))
            tensors[key] = _plain_tensor(v)
            return {"$tensor": key, "$subclass": type(v).__name__ if type(v) is not tensor_type else None}
        if isinstance(v, tuple) and type(v) is tuple:
            return {"$tuple": [walk(x, depth + 1) for x in v]}
        if type(v) is list:
            return [walk(x, depth + 1) for x in v]
        if type(v) is dict and all(type(k) is str for k in v):
            return {"$dict": {k: walk(x, depth + 1) for k, x in v.items()}}
        return {"$opaque": type(v).__qualname__}

    body = json.dumps(walk(obj)).encode()
    blob = b""
    if tensors:
        from safetensors.torch import save

        blob = save(tensors)
    return _HEADER.pack(len(body) + len(blob), len(body)) + body + blob


def decode(payload: bytes, json_len: int):
    try:
        structure = json.loads(payload[:json_len])
        tensors = {}
        if len(payload) > json_len:
            from safetensors.torch import load

            tensors = load(payload[json_len:])
    except Exception as e:  # noqa: BLE001 - any malformed message is the same failure
        raise WireError(f"malformed message ({type(e).__name__}: {e})") from None

    def walk(v):
        if isinstance(v, list):
            return [walk(x) for x in v]
        if not isinstance(v, dict):
            return v
        if "$tensor" in v:
            return tensors[v["$tensor"]]
        if "$tuple" in v:
            return tuple(walk(x) for x in v["$tuple"])
        if "$dict" in v:
            return {k: walk(x) for k, x in v["$dict"].items()}
        if "$float" in v:
            return float(v["$float"])
        if "$bigint" in v:
            return int(v["$bigint"])
        return Opaque(str(v.get("$opaque", "unknown")))

    try:
        return walk(structure)
    except (KeyError, TypeError, ValueError) as e:
        raise WireError(f"malformed message ({type(e).__name__}: {e})") from None


def send(sock: socket.socket, obj) -> None:
    sock.sendall(encode(obj))


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 20))
        if not chunk:
            raise WireError("the other side closed the connection")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv(sock: socket.socket, limit: int = MAX_MESSAGE):
    """One message; socket timeouts propagate as TimeoutError."""
    total, json_len = _HEADER.unpack(_recv_exact(sock, _HEADER.size))
    if total > limit or json_len > total:
        raise WireError(f"a message of {total} bytes exceeds the limit of {limit}")
    return decode(_recv_exact(sock, total), json_len)
