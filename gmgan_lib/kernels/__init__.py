"""Compute backends of the morphological operators: one record per backend, chosen in one place.

A backend (:class:`Backend`) is a small record: its name, which tensors it runs
(``supports``), the min-plus convolution on M2 (``erosion_forward`` / ``erosion_backward``, the
contract of docs/architecture.md) and, optionally, the fused convection kernels
(``shift_forward`` / ``shift_backward``; ``None``: the convection's readable plane copies run)
and a fused dilation-then-erosion (``dilation_erosion_*``; ``None``: the two operators run one
after the other, with the same result).

- ``reference``: pure PyTorch, readable, the oracle every other backend is tested against;
- ``cpu``: Numba kernels for CPU tensors (:mod:`.cpu`, :mod:`.cpu_convection`);
- ``triton``: Triton kernels for CUDA tensors (and on the CPU under ``TRITON_INTERPRET=1``;
  :mod:`.triton`, :mod:`.triton_convection`).

Every operator asks :func:`select_backend` (by device and dtype: Triton, then the CPU kernels,
then the reference); :func:`use_backend` / ``GMGAN_BACKEND`` force one (tests, benchmarks). A
GPU tensor that the Triton kernels do not run (an older GPU, see
:data:`gmgan_lib.kernels.triton.MIN_CAPABILITY`) goes to the reference path with one
:class:`BackendFallbackWarning` saying why; a forced backend that cannot run a tensor is a
:class:`BackendError` in one line. The argument checks every backend applies are the
``check_*`` functions below.
"""
from __future__ import annotations

import contextlib
import functools
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Backend:
    """What a backend offers (contracts: docs/architecture.md)."""

    name: str
    is_available: Callable[[], bool]          # can it run on this machine at all
    supports: Callable[[torch.Tensor], bool] | None  # does it run this tensor; None: any tensor
    erosion_forward: Callable                 # (f, kstack, need_index, negate) -> (out, index)
    erosion_backward: Callable                # (grad_out, index, f_shape, k_shape, ...) -> grads
    shift_forward: Callable | None = None     # fused convection; None: the plane copies run
    shift_backward: Callable | None = None
    # erosion(dilation(f, k_dil), k_ero) in one call; None: the two operators are composed
    dilation_erosion_supports: Callable[[torch.Tensor], bool] | None = None
    dilation_erosion_forward: Callable | None = None   # (f, k_dil, k_ero, need_index) -> (out, i_dil, i_ero)
    dilation_erosion_backward: Callable | None = None  # (grad_out, i_dil, i_ero, shapes, need_k) -> grads
    # why ``supports(f)`` is False, in words; a backend that says it is named in the warning of a
    # GPU tensor sent to the reference (None: a generic sentence, and no warning)
    why_not: Callable[[torch.Tensor], str | None] | None = None

    def runs(self, f: torch.Tensor) -> bool:
        """Whether this backend computes with ``f`` (its device and dtype)."""
        return self.supports is None or self.supports(f)

    def reason(self, f: torch.Tensor) -> str:
        """Why this backend does not run ``f``, one sentence."""
        said = self.why_not(f) if self.why_not is not None else None
        dtype = str(f.dtype).removeprefix("torch.")
        return said or f"the {self.name} backend does not run {dtype} tensors on {f.device}"


class BackendError(ValueError):
    """A forced backend (``use_backend`` / ``GMGAN_BACKEND``) cannot run the tensor it was given."""


class BackendFallbackWarning(UserWarning):
    """The automatic choice sent a GPU tensor to the (slower) reference path, and says why."""


def _reference() -> Backend:
    from gmgan_lib.kernels import reference
    return Backend("reference", reference.is_available, None,   # every device and float dtype
                   reference.erosion_forward, reference.erosion_backward)


def _cpu() -> Backend:
    from gmgan_lib.kernels import cpu, cpu_convection, cpu_fused
    return Backend("cpu", cpu.is_available, cpu.supports, cpu.erosion_forward,
                   cpu.erosion_backward, cpu_convection.trilinear_shift_forward,
                   cpu_convection.trilinear_shift_backward, cpu_fused.supports_pair,
                   cpu_fused.dilation_erosion_forward, cpu_fused.dilation_erosion_backward)


def _triton() -> Backend:
    from gmgan_lib.kernels import triton, triton_convection
    return Backend("triton", triton.is_available, triton.supports, triton.erosion_forward,
                   triton.erosion_backward, triton_convection.trilinear_shift_forward,
                   triton_convection.trilinear_shift_backward, why_not=triton.why_not)


# The registry: name -> how to build the record (the modules import numba / triton when first
# needed, not when gmgan_lib is imported). Automatic choice in the order of AUTO_ORDER.
_REGISTRY: dict[str, Callable[[], Backend]] = {"reference": _reference, "cpu": _cpu,
                                               "triton": _triton}
BACKENDS = tuple(_REGISTRY)
AUTO_ORDER = ("triton", "cpu")   # the first that is available and supports the tensor
_forced: str | None = None


@functools.cache
def get_backend(name: str) -> Backend:
    """The record of backend ``name`` (ValueError for an unknown name)."""
    if name not in _REGISTRY:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    return _REGISTRY[name]()


def available(name: str) -> bool:
    """True when backend ``name`` can run here (its modules import and say it is usable)."""
    try:
        backend = get_backend(name)
    except ImportError:
        return False
    return bool(backend.is_available())


def select_backend(f: torch.Tensor) -> Backend:
    """The backend that runs the operators on ``f``: the forced one if any (a
    :class:`BackendError` if it cannot run ``f``), else the first of :data:`AUTO_ORDER` that is
    available and supports ``f``, else the reference (with one :class:`BackendFallbackWarning`
    per reason when ``f`` is on a GPU that the fast kernels do not run)."""
    forced = _forced or os.environ.get("GMGAN_BACKEND") or "auto"
    if forced != "auto":
        backend = get_backend(forced)
        if not backend.runs(f):
            how = ("use_backend" if _forced else "GMGAN_BACKEND") + f"={forced!r}"
            raise BackendError(f"backend {forced!r} ({how}) cannot run this tensor: "
                               f"{backend.reason(f)} (GMGAN_BACKEND=reference runs any tensor)")
        return backend
    skipped = []
    for candidate in AUTO_ORDER:
        if available(candidate):
            backend = get_backend(candidate)
            if backend.runs(f):
                return backend
            skipped.append(backend)
    if f.device.type != "cpu":       # a GPU tensor on the slow path: say which fast one refused
        for backend in (b for b in skipped if b.why_not is not None):
            _warn_once(f"{backend.reason(f)}: the morphological operators run on the "
                       f"reference path (pure PyTorch: correct, slower, more memory)")
    return get_backend("reference")


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    """One warning per distinct reason per process (an operator is called thousands of times)."""
    if message not in _warned:
        _warned.add(message)
        warnings.warn(message, BackendFallbackWarning, stacklevel=3)


@contextlib.contextmanager
def use_backend(name: str):
    """Force one backend inside a ``with`` block (``"auto"`` restores the automatic choice)."""
    global _forced
    if name != "auto":
        get_backend(name)  # validate the name early
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
