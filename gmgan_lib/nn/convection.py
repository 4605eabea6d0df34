r"""Convection: transport along a left-invariant vector field, on M2 and on R2.

The convection PDE :math:`\partial_t W + c\,W = 0` with a left-invariant vector field ``c`` has the
exact solution (method.md 2.4), after unit time,

.. math::  W(g_p\,p_0) = U(g_p\, g_0^{-1}\, p_0), \qquad g_0 = \exp(c) = (x_0, y_0, \theta_0).

Written out with the group law: the output at ``(x, theta)`` is the input at
``(x - R_{theta - theta0} (x0, y0),  theta - theta0)``. In words, every orientation slice is
shifted by the vector ``(x0, y0)`` expressed in its *own* rotated frame (so the shift turns with the
orientation, which is what makes it equivariant) and the orientation axis is shifted cyclically
by ``theta0``. ``g0`` is in pixels (``x0`` right, ``y0`` up) and radians, one per channel.

Resampling is trilinear, periodic in theta, zero outside the image. Because the shift is the
same for every pixel of one (channel, orientation) slice, trilinear interpolation there is a
weighted sum of 8 *integer* shifts of the input with 8 weights per slice. We compute it that way
(:class:`TrilinearShift`) rather than with ``F.grid_sample`` for two reasons: integer shifts,
including ``g0 = 0``, are exact (grid_sample's normalised float32 coordinates are off by
``~W * 1e-7`` pixels), and the backward needs only the input and the tiny weight and index
tables, not a sampling grid per element. The gradient with respect to ``g0`` flows through the
weights (ordinary autograd): piecewise constant, with kinks where a sample crosses a grid line.
"""
from __future__ import annotations

import math

import torch
from torch.autograd.function import once_differentiable

from gmgan_lib.nn._checks import check_no_nan, check_rank, check_same
from gmgan_lib.nn.metric import orientation_cos_sin

__all__ = ["convection_m2", "convection_r2"]



class TrilinearShift(torch.autograd.Function):
    """``out[b,c,o,y,x] = sum_k w[c,o,k] * f[b,c, src_o[k,c,o], y + dy[k,c,o], x + dx[k,c,o]]``.

    ``index`` [8, C, Or*H*W] (int64) holds the flat source position in ``[Or, H, W]`` of each of
    the 8 corners, ``valid`` [8, C, Or*H*W] is False where the source lies outside the image
    (contributes 0). Neither depends on the batch, so saving them costs ``O(output / B)``.
    """

    @staticmethod
    def forward(ctx, f, weights, index, valid):
        B, C = f.shape[:2]
        flat = f.reshape(B, C, -1)
        out = torch.zeros_like(flat)
        for k in range(8):
            sample = torch.gather(flat, 2, index[k].unsqueeze(0).expand(B, -1, -1))
            out += weights[:, :, k].repeat_interleave(flat.shape[2] // weights.shape[1], dim=1) * \
                torch.where(valid[k], sample, 0)
        ctx.save_for_backward(f, weights, index, valid)
        return out.view_as(f)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        f, weights, index, valid = ctx.saved_tensors
        B, C, Or = f.shape[:3]
        flat = f.reshape(B, C, -1)
        grad = grad_out.reshape(B, C, -1)
        per_slice = flat.shape[2] // Or
        grad_f = torch.zeros_like(flat) if ctx.needs_input_grad[0] else None
        grad_w = torch.zeros_like(weights) if ctx.needs_input_grad[1] else None
        for k in range(8):
            idx = index[k].unsqueeze(0).expand(B, -1, -1)
            g = torch.where(valid[k], grad, 0)
            if grad_f is not None:
                grad_f.scatter_add_(2, idx, weights[:, :, k].repeat_interleave(per_slice, dim=1) * g)
            if grad_w is not None:
                sample = torch.gather(flat, 2, idx)
                grad_w[:, :, k] = (g * sample).view(B, C, Or, per_slice).sum(dim=(0, 3))
        return (grad_f.view_as(f) if grad_f is not None else None), grad_w, None, None


def _shift_tables(C, Or, H, W, col_shift, row_shift, or_shift, device):
    """Weights [C, Or, 8] and source index/validity [8, C, Or*H*W] of a per-slice shift.

    The source of output ``(o, y, x)`` is ``(o + or_shift, y + row_shift, x + col_shift)``
    (real numbers, one per slice ``[C, Or]``); the orientation wraps around.
    """
    shifts = torch.stack([or_shift, row_shift, col_shift])            # [3, C, Or]
    base = torch.floor(shifts)
    frac = shifts - base                                               # differentiable, in [0, 1)
    base = base.detach().long()
    o = torch.arange(Or, device=device).view(1, Or, 1, 1)
    y = torch.arange(H, device=device).view(1, 1, H, 1)
    x = torch.arange(W, device=device).view(1, 1, 1, W)
    weights, index, valid = [], [], []
    for dz in (0, 1):
        for dy in (0, 1):
            for dx in (0, 1):
                w = 1.0
                for d, fr in zip((dz, dy, dx), frac):
                    w = w * (fr if d else 1 - fr)
                weights.append(w)
                so = torch.remainder(o + (base[0] + dz).view(C, Or, 1, 1), Or)
                sy = y + (base[1] + dy).view(C, Or, 1, 1)
                sx = x + (base[2] + dx).view(C, Or, 1, 1)
                inside = (sy >= 0) & (sy < H) & (sx >= 0) & (sx < W)
                flat = (so * H + sy.clamp(0, H - 1)) * W + sx.clamp(0, W - 1)
                index.append(flat.expand(C, Or, H, W).reshape(C, -1))
                valid.append(inside.expand(C, Or, H, W).reshape(C, -1))
    return torch.stack(weights, dim=-1), torch.stack(index), torch.stack(valid)


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
    # Source = output position minus the shift: columns -ux, rows +uy (rows grow downwards),
    # orientation -theta0 in units of the orientation step.
    weights, index, valid = _shift_tables(C, Or, H, W, -ux, uy, (-th0 * (Or / (2 * math.pi))).expand(C, Or),
                                          f.device)
    return TrilinearShift.apply(f.contiguous(), weights.to(f.dtype), index, valid)


def convection_r2(f: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Translate each channel of ``f`` [B, C, H, W] by ``shift`` [C, 2] = (x0 right, y0 up) pixels.

    ``out(x) = f(x - shift)`` with bilinear interpolation, zero outside the image (the case
    ``Or = 1`` of :func:`convection_m2`).
    """
    check_rank("f", f, 4, "[B, C, H, W]")
    check_rank("shift", shift, 2, "[C, 2] = (x0, y0)")
    check_same("f", f, "shift", shift)
    B, C, H, W = f.shape
    if shift.shape != (C, 2):
        raise ValueError(f"shift must have shape [C, 2] = [{C}, 2], got {tuple(shift.shape)}")
    check_no_nan("f", f)
    zero = torch.zeros(C, 1, dtype=f.dtype, device=f.device)
    weights, index, valid = _shift_tables(C, 1, H, W, -shift[:, :1], shift[:, 1:], zero, f.device)
    return TrilinearShift.apply(f.contiguous().unsqueeze(2), weights.to(f.dtype), index, valid).squeeze(2)
