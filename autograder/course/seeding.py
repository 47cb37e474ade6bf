"""Seeds for every source of randomness, set before each check."""
from __future__ import annotations

import hashlib
import random

import numpy as np
import torch


def derive_seed(base: int, *names: str) -> int:
    """A stable 31-bit seed for (base, names): the same on every machine and run."""
    digest = hashlib.sha256(":".join([str(base), *names]).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds every CUDA device too
