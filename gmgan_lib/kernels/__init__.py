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


def check_forward_arguments(f: torch.Tensor, kstack: torch.Tensor) -> None:
    """Validate the pair every backend's ``erosion_forward`` receives: ``f`` [B,C,Or,H,W] and
    ``kstack`` [C,Or,kOr,kH,kW] of one dtype and device. (Which dtypes a backend runs is its own
    check.)"""
    def shape(t):
        return tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
    if not isinstance(f, torch.Tensor) or f.dim() != 5:
        raise ValueError(f"f must be a 5-D tensor [B, C, Or, H, W], got {shape(f)}")
    if not isinstance(kstack, torch.Tensor) or kstack.dim() != 5:
        raise ValueError(f"kstack must be a 5-D tensor [C, Or, kOr, kH, kW], got {shape(kstack)}")
    if kstack.dtype != f.dtype or kstack.device != f.device:
        raise ValueError(f"kstack must match f in dtype and device ({f.dtype}, {f.device}), "
                         f"got {kstack.dtype} on {kstack.device}")
    B, C, Or, H, W = f.shape
    if kstack.shape[0] != C or kstack.shape[1] != Or:
        raise ValueError(f"kstack must be [C={C}, Or={Or}, kOr, kH, kW] for f of shape "
                         f"{tuple(f.shape)}, got {tuple(kstack.shape)}")
    if min(kstack.shape[2:]) < 1 or min(f.shape) < 1:
        raise ValueError(f"empty f {tuple(f.shape)} or kstack {tuple(kstack.shape)}")


def check_backward_arguments(grad_out: torch.Tensor, index: torch.Tensor, f_shape, kstack_shape):
    """Validate the arguments every backend's ``erosion_backward`` receives; returns the two
    shapes as tuples. A fast backend trusts the index in its hot loop, so a mismatched shape or
    index type must be refused here, with the expected form named."""
    f_shape, kstack_shape = tuple(f_shape), tuple(kstack_shape)
    if len(f_shape) != 5 or len(kstack_shape) != 5:
        raise ValueError(f"f_shape must be [B,C,Or,H,W] and kstack_shape [C,Or,kOr,kH,kW], got "
                         f"{f_shape} and {kstack_shape}")
    if tuple(grad_out.shape) != f_shape or tuple(index.shape) != f_shape:
        raise ValueError(f"grad_out and index must have shape f_shape={f_shape}, got "
                         f"{tuple(grad_out.shape)} and {tuple(index.shape)}")
    if kstack_shape[:2] != f_shape[1:3]:
        raise ValueError(f"kstack_shape must start with (C, Or)={f_shape[1:3]}, got {kstack_shape}")
    n_offsets = kstack_shape[2] * kstack_shape[3] * kstack_shape[4]
    if index.dtype != index_dtype(n_offsets):
        raise ValueError(f"index must be {index_dtype(n_offsets)} for {n_offsets} offsets, "
                         f"got {index.dtype}")
    return f_shape, kstack_shape


def check_shift_arguments(f: torch.Tensor, theta_w, space_w, kt, rows, cols) -> None:
    """Validate the arguments of the fused convection kernels (``cpu_convection``,
    ``triton_convection``): ``f`` [B,C,Or,H,W], weights ``theta_w`` [C,2] and ``space_w``
    [C,Or,4] in the dtype of ``f``, int64 shift tables ``kt`` [C], ``rows``/``cols`` [C,Or], all on
    the device of ``f``. (Which devices and dtypes a backend runs is its own check.)"""
    if not isinstance(f, torch.Tensor) or f.dim() != 5:
        shape = tuple(f.shape) if isinstance(f, torch.Tensor) else type(f).__name__
        raise ValueError(f"f must be a 5-D tensor [B, C, Or, H, W], got {shape}")
    B, C, Or, H, W = f.shape
    expected = {"theta_w": (theta_w, (C, 2)), "space_w": (space_w, (C, Or, 4)),
                "kt": (kt, (C,)), "rows": (rows, (C, Or)), "cols": (cols, (C, Or))}
    for name, (t, shape) in expected.items():
        if not isinstance(t, torch.Tensor) or tuple(t.shape) != shape or t.device != f.device:
            got = (tuple(t.shape), t.device) if isinstance(t, torch.Tensor) else (type(t).__name__, "-")
            raise ValueError(f"{name} must have shape {list(shape)} on {f.device}, "
                             f"got {got[0]} on {got[1]}")
    for name, t in (("theta_w", theta_w), ("space_w", space_w)):
        if t.dtype != f.dtype:
            raise ValueError(f"{name} must have the dtype of f ({f.dtype}), got {t.dtype}")
    for name, t in (("kt", kt), ("rows", rows), ("cols", cols)):
        if t.dtype != torch.int64:
            raise ValueError(f"{name} must be an int64 table, got {t.dtype}")
