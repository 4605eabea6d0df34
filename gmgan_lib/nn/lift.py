"""Lifting R2 -> M2: correlate the image with rotated copies of learned filters.

``lift_m2(x, weight, orientations)[b, c, o] = sum_i (K_{c,i} rotated by theta_o) * x[b, i]``:
one 2D filter per (output channel, input channel) is learned, and orientation ``o`` uses its copy
rotated by ``theta_o = 2 pi o / Or`` (counter-clockwise on screen, the convention of
:mod:`gmgan_lib.nn.metric`). The rotated copy is ``K_o(d) = K(R_{-theta_o} d)``, resampled with
bilinear interpolation (zero outside the filter). Because :func:`orientation_cos_sin` makes
quarter turns exact, the sample points of orientation ``o + Or/4`` are exactly the rotated sample
points of ``o``; at multiples of 90 degrees they fall on grid points, where bilinear interpolation
returns the filter value itself. So ``lift(rot90(x)) == roll(rot90(lift(x)), Or/4)`` up to the
summation order inside ``conv2d``.

Zero padding ``k//2`` keeps the input's ``H, W``. (lietorch uses B-splines of order 2 on a rotated
node grid; bilinear resampling is the order-1 version of the same idea.)
"""
from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from gmgan_lib.nn._checks import check_no_nan, check_positive_int, check_rank, check_same, odd_sizes
from gmgan_lib.nn.metric import _planar_offsets, orientation_cos_sin

__all__ = ["rotated_filters", "lift_m2"]


@functools.lru_cache(maxsize=32)
def _sample_points(orientations: int, size: int):
    """Row/column (float64) where filter orientation ``o`` samples the base filter: ``[Or, k, k]``."""
    cos, sin = orientation_cos_sin(orientations)
    x, y = _planar_offsets(size, size)
    c, s = cos.view(-1, 1, 1), sin.view(-1, 1, 1)
    xr, yr = c * x + s * y, -s * x + c * y            # R_{-theta_o} d
    return size // 2 - yr, size // 2 + xr            # rows grow downwards


def rotated_filters(weight: torch.Tensor, orientations: int) -> torch.Tensor:
    """``weight`` [Cout, Cin, k, k] -> ``[Cout, Or, Cin, k, k]``, copy ``o`` rotated by ``theta_o``."""
    cout, cin, k, _ = weight.shape
    rows, cols = _sample_points(orientations, k)
    # Pad with a ring of zeros wide enough for every rotated point (radius <= (k//2) * sqrt 2).
    pad = k // 2 + 2
    w = F.pad(weight, (pad, pad, pad, pad)).reshape(cout * cin, -1)
    side = k + 2 * pad
    r0, c0 = torch.floor(rows), torch.floor(cols)
    fr = (rows - r0).to(weight.dtype).to(weight.device)
    fc = (cols - c0).to(weight.dtype).to(weight.device)
    r0 = r0.long().to(weight.device) + pad
    c0 = c0.long().to(weight.device) + pad

    def at(r, c):  # [Cout*Cin, Or, k, k]
        return w[:, (r * side + c).reshape(-1)].reshape(cout * cin, orientations, k, k)

    out = ((1 - fr) * (1 - fc) * at(r0, c0) + (1 - fr) * fc * at(r0, c0 + 1)
           + fr * (1 - fc) * at(r0 + 1, c0) + fr * fc * at(r0 + 1, c0 + 1))
    return out.reshape(cout, cin, orientations, k, k).transpose(1, 2)


def lift_m2(x: torch.Tensor, weight: torch.Tensor, orientations: int) -> torch.Tensor:
    """Lift ``x`` [B, Cin, H, W] to ``[B, Cout, Or, H, W]`` with filters ``weight`` [Cout, Cin, k, k]."""
    check_rank("x", x, 4, "[B, Cin, H, W]")
    check_rank("weight", weight, 4, "[Cout, Cin, k, k]")
    check_same("x", x, "weight", weight)
    check_positive_int("orientations", orientations)
    k = weight.shape[-1]
    if weight.shape[-2] != k:
        raise ValueError(f"weight must hold square filters [Cout, Cin, k, k], got {tuple(weight.shape)}")
    odd_sizes("weight kernel size k", k, 1)
    if weight.shape[1] != x.shape[1]:
        raise ValueError(f"weight must have Cin={x.shape[1]} input channels like x, got {weight.shape[1]}")
    check_no_nan("x", x)
    cout = weight.shape[0]
    filters = rotated_filters(weight, orientations).reshape(cout * orientations, -1, k, k)
    out = F.conv2d(x, filters, padding=k // 2)
    return out.view(x.shape[0], cout, orientations, *out.shape[-2:])


def lift_init_(weight: torch.Tensor) -> torch.Tensor:
    """Xavier-normal with ReLU gain (lietorch's choice for its lifting layer)."""
    return torch.nn.init.xavier_normal_(weight, gain=math.sqrt(2.0))
