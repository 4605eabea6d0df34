r"""Convection: transport along a left-invariant vector field, on M2 and on R2.

The convection PDE :math:`\partial_t W + c\,W = 0` with a left-invariant vector field ``c`` has the
exact solution (method.md 2.4), after unit time,

.. math::  W(g_p\,p_0) = U(g_p\, g_0^{-1}\, p_0), \qquad g_0 = \exp(c) = (x_0, y_0, \theta_0).

Written out with the group law: the output at ``(x, theta)`` is the input at
``(x - R_{theta - theta0} (x0, y0),  theta - theta0)``. In words, every orientation slice is
shifted by the vector ``(x0, y0)`` expressed in its *own* rotated frame (so the shift turns with the
orientation, which is what makes it equivariant) and the orientation axis is shifted cyclically
by ``theta0``. ``g0`` is in pixels (``x0`` right, ``y0`` up) and radians, one per channel.

Resampling is trilinear (``F.grid_sample``), periodic in theta (the orientation axis is padded
with a copy of its first slice, after wrapping the sample position into ``[0, Or)``), zero outside
the image. Channels are moved into the batch so that each channel gets its own shift. The
gradient with respect to ``g0`` is that of the interpolation weights: piecewise constant, with
kinks on the grid.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from gmgan_lib.nn._checks import check_no_nan, check_rank, check_same
from gmgan_lib.nn.metric import orientation_cos_sin

__all__ = ["convection_m2", "convection_r2"]


def _normalise(pos: torch.Tensor, size: int) -> torch.Tensor:
    """Pixel coordinate -> grid_sample's [-1, 1] coordinate (``align_corners=False``)."""
    return (2 * pos + 1) / size - 1


def convection_m2(f: torch.Tensor, g0: torch.Tensor) -> torch.Tensor:
    """Transport ``f`` [B, C, Or, H, W] by the group elements ``g0`` [C, 3] = (x0, y0, theta0)."""
    check_rank("f", f, 5, "[B, C, Or, H, W]")
    check_rank("g0", g0, 2, "[C, 3] = (x0, y0, theta0)")
    check_same("f", f, "g0", g0)
    B, C, Or, H, W = f.shape
    if g0.shape != (C, 3):
        raise ValueError(f"g0 must have shape [C, 3] = [{C}, 3] (x0, y0, theta0 per channel), got {tuple(g0.shape)}")
    check_no_nan("f", f)
    x0, y0, th0 = g0[:, 0].view(C, 1), g0[:, 1].view(C, 1), g0[:, 2].view(C, 1)
    cos_o, sin_o = (t.to(f.dtype).to(f.device).view(1, Or) for t in orientation_cos_sin(Or))
    # cos/sin of (theta_o - theta0) by the subtraction formula: exact quarter turns carry over.
    c = cos_o * torch.cos(th0) + sin_o * torch.sin(th0)
    s = sin_o * torch.cos(th0) - cos_o * torch.sin(th0)
    ux, uy = c * x0 - s * y0, s * x0 + c * y0                            # [C, Or], x right, y up
    z = torch.remainder(torch.arange(Or, dtype=f.dtype, device=f.device) - th0 * (Or / (2 * math.pi)), Or)
    rows = torch.arange(H, dtype=f.dtype, device=f.device).view(1, 1, H, 1)
    cols = torch.arange(W, dtype=f.dtype, device=f.device).view(1, 1, 1, W)
    shape = (C, Or, H, W)
    grid = torch.stack([
        _normalise(cols - ux.view(C, Or, 1, 1), W).expand(shape),        # x: column, shifted back
        _normalise(rows + uy.view(C, Or, 1, 1), H).expand(shape),        # y: row (rows grow down)
        _normalise(z.view(C, Or, 1, 1), Or + 1).expand(shape),           # z: orientation
    ], dim=-1)
    grid = grid.unsqueeze(0).expand(B, *grid.shape).reshape(B * C, Or, H, W, 3)
    periodic = torch.cat([f, f[:, :, :1]], dim=2).reshape(B * C, 1, Or + 1, H, W)
    out = F.grid_sample(periodic, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.view(B, C, Or, H, W)


def convection_r2(f: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Translate each channel of ``f`` [B, C, H, W] by ``shift`` [C, 2] = (x0 right, y0 up) pixels.

    ``out(x) = f(x - shift)`` with bilinear interpolation, zero outside the image.
    """
    check_rank("f", f, 4, "[B, C, H, W]")
    check_rank("shift", shift, 2, "[C, 2] = (x0, y0)")
    check_same("f", f, "shift", shift)
    B, C, H, W = f.shape
    if shift.shape != (C, 2):
        raise ValueError(f"shift must have shape [C, 2] = [{C}, 2], got {tuple(shift.shape)}")
    check_no_nan("f", f)
    rows = torch.arange(H, dtype=f.dtype, device=f.device).view(1, H, 1)
    cols = torch.arange(W, dtype=f.dtype, device=f.device).view(1, 1, W)
    grid = torch.stack([
        _normalise(cols - shift[:, 0].view(C, 1, 1), W).expand(C, H, W),
        _normalise(rows + shift[:, 1].view(C, 1, 1), H).expand(C, H, W),
    ], dim=-1)
    grid = grid.unsqueeze(0).expand(B, C, H, W, 2).reshape(B * C, H, W, 2)
    out = F.grid_sample(f.reshape(B * C, 1, H, W), grid, mode="bilinear", padding_mode="zeros",
                        align_corners=False)
    return out.view(B, C, H, W)
