"""Where the work runs and how it is seeded: one rule for every command.

- a device is named ``auto`` (CUDA when there is one, else the CPU: every command's default),
  ``cpu`` or ``cuda``; :func:`check_device` refuses anything else, and ``cuda`` on a machine
  without one, in one line naming the flag;
- a seed is an integer in ``[0, MAX_SEED]`` (:func:`check_seed`);
- :func:`unwrap` is the network inside a DistributedDataParallel wrapper.

It imports nothing of the library, so every room (sampling, training, evaluation) may use it.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

DEVICES = ("auto", "cpu", "cuda")
# torch takes 64-bit seeds, and every rank of a distributed run adds its index to the run's.
MAX_SEED = 2**62


def check_device(name: Any, flag: str = "device") -> str:
    """``name`` if it is one of :data:`DEVICES` that this machine has, else a ValueError
    naming ``flag``."""
    if name not in DEVICES:
        raise ValueError(f"{flag} must be one of {', '.join(DEVICES)}; got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{flag} 'cuda' was asked for but no CUDA device is available; "
                         f"use cpu or auto")
    return name


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` is CUDA when there is one, else the CPU; rank ``local_rank`` takes its GPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def check_seed(seed: Any, flag: str = "seed") -> int:
    """``seed`` if it is an integer in ``[0, MAX_SEED]``, else a ValueError naming ``flag``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"{flag} must be an integer in [0, {MAX_SEED}] (torch's 64-bit seeds, "
                         f"less room for per-rank offsets), got {seed!r}")
    return seed


def unwrap(module: nn.Module) -> nn.Module:
    """The network inside a DistributedDataParallel wrapper (or the network itself)."""
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module
