"""Input validation shared by the operators: clear ``ValueError``s that name the parameter.

The rule of the project: bad input never gives a silent wrong answer. Checks that would force a
device synchronisation (looking at tensor *values*: NaN, negative metric entries) run only when
the tensor is on the CPU; on CUDA the hot path skips them, and a NaN there propagates to the
output instead of being hidden (the Triton erosion takes a NaN candidate into its running minimum,
as the reference's ``torch.minimum`` does; tests/kernels/test_triton.py checks the NaN positions).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch


class NonFiniteInputError(ValueError):
    """A tensor value an operator cannot take: NaN in a map, or in a metric. Raised as a
    ``ValueError`` like every bad argument; its own class lets a training loop tell the network
    diverging (its activations overflowed) from a caller's bad input."""


def check_rank(name: str, t: torch.Tensor, rank: int, layout: str) -> None:
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of layout {layout}, got {type(t).__name__}")
    if t.dim() != rank:
        raise ValueError(f"{name} must have layout {layout} ({rank} dims), got shape {tuple(t.shape)}")
    if not t.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {t.dtype}")


def check_no_nan(name: str, t: torch.Tensor) -> None:
    """NaN check, only on the CPU (on CUDA it would cost a device sync on every call).

    A single reduction is the cheap pre-test: a sum is finite only if no element is NaN (or
    infinite), so the exact element-wise test runs only when the sum says it might be needed.
    """
    t = t.detach()   # a check, not part of the graph: nothing may be saved for backward
    if t.device.type == "cpu" and not torch.isfinite(t.sum()) and torch.isnan(t).any():
        raise NonFiniteInputError(f"{name} contains NaN; morphological operators need NaN-free "
                                  f"input")


def check_kernel_values(name: str, k: torch.Tensor) -> None:
    """A kernel (structuring function) takes finite values or ``+inf``: ``+inf`` marks an
    offset outside the structuring element (``flat_disk``, ``delta``), which never wins. NaN
    and ``-inf`` have no meaning there, and the fast backends would hide them (a NaN candidate
    never wins their strict ``<``; the reference lets it through): NonFiniteInputError naming
    the parameter. Only on the CPU, like :func:`check_no_nan`.

    One reduction is the cheap pre-test: a sum above ``-inf`` has no NaN (it would make the sum
    NaN) and no ``-inf`` (``-inf``, or NaN beside a ``+inf``); a kernel has far fewer values
    than the map it is applied to, so the check costs little next to the operator."""
    k = k.detach()
    if k.device.type != "cpu" or bool(k.sum() > float("-inf")):
        return
    if torch.isnan(k).any():
        raise NonFiniteInputError(f"{name} contains NaN; kernel values must be finite or +inf "
                                  f"(+inf: outside the structuring element)")
    if torch.isneginf(k).any():
        raise NonFiniteInputError(f"{name} contains -inf; kernel values must be finite or +inf "
                                  f"(+inf: outside the structuring element)")


def check_finite(name: str, t: torch.Tensor, what: str) -> None:
    """NaN and infinities refused in a small parameter tensor (a convection's shifts), on the
    CPU like :func:`check_no_nan`: NonFiniteInputError naming the parameter."""
    t = t.detach()
    if t.device.type == "cpu" and not bool(torch.isfinite(t).all()):
        raise NonFiniteInputError(f"{name} contains NaN or an infinity; {what} must be finite")


def check_same(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    if a.dtype != b.dtype:
        raise ValueError(f"{name_b} must have the dtype of {name_a} ({a.dtype}), got {b.dtype}")
    if a.device != b.device:
        raise ValueError(f"{name_b} must be on the device of {name_a} ({a.device}), got {b.device}")


def odd_sizes(name: str, size, n: int) -> tuple[int, ...]:
    """Normalise an int or a length-``n`` sequence of odd positive ints."""
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size,) * n
    if not (isinstance(size, Sequence) and len(size) == n
            and all(isinstance(s, int) and not isinstance(s, bool) for s in size)):
        raise ValueError(f"{name} must be an odd int or a tuple of {n} odd ints, got {size!r}")
    if any(s < 1 or s % 2 == 0 for s in size):
        raise ValueError(f"{name} must contain odd positive sizes (the kernel needs a centre), got {tuple(size)}")
    return tuple(size)


def check_alpha(alpha) -> float:
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not (0.55 <= float(alpha) <= 1.0):
        raise ValueError(f"alpha must be a number in [0.55, 1] (beta = 2a/(2a-1) explodes near 1/2), got {alpha!r}")
    return float(alpha)


def check_positive_int(name: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def check_metric(metric: torch.Tensor, n_weights: int, what: str) -> None:
    """A metric is a ``[C, n_weights]`` float tensor of non-negative weights."""
    if not isinstance(metric, torch.Tensor) or metric.dim() != 2 or metric.shape[1] != n_weights:
        shape = tuple(metric.shape) if isinstance(metric, torch.Tensor) else type(metric).__name__
        raise ValueError(f"metric must have shape [C, {n_weights}] ({what}), got {shape}")
    if not metric.is_floating_point():
        raise ValueError(f"metric must be a floating-point tensor, got dtype {metric.dtype}")
    if metric.device.type == "cpu" and (torch.isnan(metric).any() or (metric < 0).any()):
        error = NonFiniteInputError if torch.isnan(metric).any() else ValueError
        raise error("metric must have non-negative, non-NaN entries (weights of a metric tensor)")
