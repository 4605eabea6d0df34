"""Compute backends of the min-plus (morphological) convolution on M2.

One operator, several implementations with the same two functions
(``erosion_forward`` / ``erosion_backward``, contract in docs/architecture.md):

- ``reference``: pure PyTorch, readable, the oracle every other backend is tested against;
- ``cpu``: a compiled CPU path;
- ``triton``: Triton kernels for CUDA tensors (and on the CPU under ``TRITON_INTERPRET=1``).

Callers never pick one directly: :func:`select_backend` chooses by device and dtype, and
:func:`use_backend` / ``GMGAN_BACKEND`` override the choice (tests, benchmarks).
"""
from __future__ import annotations

import contextlib
import importlib
import os
from types import ModuleType

import torch

BACKENDS = ("reference", "cpu", "triton")
_forced: str | None = None


def _load(name: str) -> ModuleType:
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    return importlib.import_module(f"gmgan_lib.kernels.{name}")


def available(name: str) -> bool:
    """True when backend ``name`` can run here (its module imports and says it is usable)."""
    try:
        mod = _load(name)
    except ImportError:
        return False
    return bool(getattr(mod, "is_available", lambda: True)())


def select_backend(f: torch.Tensor) -> ModuleType:
    """The backend that will run the min-plus convolution of ``f``."""
    name = _forced or os.environ.get("GMGAN_BACKEND") or "auto"
    if name != "auto":
        return _load(name)
    for candidate in ("triton", "cpu"):
        if available(candidate) and _load(candidate).supports(f):
            return _load(candidate)
    return _load("reference")


@contextlib.contextmanager
def use_backend(name: str):
    """Force one backend inside a ``with`` block (``"auto"`` restores the automatic choice)."""
    global _forced
    if name != "auto":
        _load(name)  # validate the name early
    previous, _forced = _forced, (None if name == "auto" else name)
    try:
        yield
    finally:
        _forced = previous


def index_dtype(n_offsets: int) -> torch.dtype:
    """The compact arg-min index type: one byte for up to 256 kernel offsets."""
    if n_offsets <= 256:
        return torch.uint8
    if n_offsets <= 32767:
        return torch.int16
    raise ValueError(f"kernel has {n_offsets} offsets; at most 32767 are supported")
