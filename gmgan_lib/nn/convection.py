r"""Convection: transport along a left-invariant vector field, on M2 and on R2.

The convection PDE :math:`\partial_t W + c\,W = 0` with a left-invariant vector field ``c`` has the
exact solution (docs/method.md 2.4), after unit time,

.. math::  W(g_p\,p_0) = U(g_p\, g_0^{-1}\, p_0), \qquad g_0 = \exp(c) = (x_0, y_0, \theta_0).

Written out with the group law: the output at ``(x, theta)`` is the input at
``(x - R_{theta - theta0} (x0, y0),  theta - theta0)``. In words, every orientation slice is
shifted by the vector ``(x0, y0)`` expressed in its *own* rotated frame (so the shift turns with the
orientation, which is what makes it equivariant) and the orientation axis is shifted cyclically
by ``theta0``. ``g0`` is in pixels (``x0`` right, ``y0`` up) and radians, one per channel.

Resampling is trilinear, periodic in theta, zero outside the image. Because the shift is the
same for every pixel of one (channel, orientation) slice, trilinear interpolation there is a
weighted sum of 8 *integer* shifts of the input with 8 weights per slice; and these weights
factor into a cyclic shift in theta (2 weights per channel) followed by a bilinear spatial shift
(4 weights per slice). We compute it that way (:class:`TrilinearShift`) rather than with
``F.grid_sample`` for two reasons: integer shifts, including ``g0 = 0``, are exact (grid_sample's
normalised float32 coordinates are off by ``~W * 1e-7`` pixels), and the backward needs only the
input and tiny per-slice tables, not a sampling grid per element. The shifts are whole-plane
copies and strided window copies, never per-element index tables (2-4x faster on the CPU than the
8 masked gathers of the first version, see docs/performance.md). The gradient with respect to ``g0`` flows through the
weights (ordinary autograd): piecewise constant, with kinks where a sample crosses a grid line.

The plane-copy formulation below is the readable *reference*. The fast backends run the same
factored formula as fused kernels: three Triton kernels on CUDA
(:mod:`gmgan_lib.kernels.triton_convection`; the plane copies size their padding from the
largest shift, which must be read back to the host, and a GPU training step should never wait
for the host) and three Numba kernels on the CPU (:mod:`gmgan_lib.kernels.cpu_convection`, 5-7x
faster than the plane copies there). The backend is chosen with the erosion's
(:func:`gmgan_lib.kernels.select_backend`), so ``use_backend`` / ``GMGAN_BACKEND`` switch both.
"""
from __future__ import annotations

import math

import torch
from torch.autograd.function import once_differentiable

from gmgan_lib import kernels
from gmgan_lib.nn._checks import check_finite, check_no_nan, check_rank, check_same
from gmgan_lib.nn.metric import orientation_cos_sin

__all__ = ["convection_m2", "convection_r2"]


def _theta_index(k: torch.Tensor, Or: int) -> torch.Tensor:
    """Flat plane index ``c*Or + (o + k[c]) mod Or`` [C*Or] of a per-channel cyclic shift ``k`` [C]."""
    o = torch.arange(Or, device=k.device)
    c = torch.arange(k.shape[0], device=k.device).view(-1, 1)
    return (c * Or + torch.remainder(o + k.view(-1, 1), Or)).view(-1)


def _bilinear_corners(t: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> list[torch.Tensor]:
    """The 4 corner shifts ``t[b, p, y + rows[p] + dy, x + cols[p] + dx]`` (zero outside), ``(dy, dx)``
    in ``(0, 0), (0, 1), (1, 0), (1, 1)``, each a ``[B, P, H, W]`` view of one copied buffer.

    ``t`` [B, P, H, W]; ``rows``/``cols`` [P] integer shifts, one per plane. How: the planes are
    zero-padded once, just enough for the largest shift, with row stride ``Wp``. In the flat
    coordinates of a padded plane the image shifted by ``(row, col)`` is the contiguous run of
    ``H * Wp`` elements starting at ``(row + top) * Wp + col + left`` (its first ``W`` columns per
    row), and the other three corners start 1, ``Wp`` and ``Wp + 1`` elements later. So ONE run of
    ``(H + 1) * Wp + 1`` elements per plane holds all four corners. ``as_strided`` views every run
    start of every plane at once, ``V[b, p, s, :] = padded[b, p].flat[s : s + L]``, without
    copying, and advanced indexing ``V[:, p, start[p]]`` with two ``[P]`` index vectors copies the
    run of each plane. Samples outside the image read the padding, so no validity mask is needed.
    Why not ``torch.gather``: its index would be a full ``[P, H*W]`` table per corner, ~3x slower
    on CPU than this plane-wise copy.
    """
    B, P, H, W = t.shape
    # A shift of H rows (W columns) or more reads only padding; clamping keeps the padding small
    # even for a learned g0 that wandered far off the image, and does not change the result.
    rows, cols = rows.clamp(-H - 1, H), cols.clamp(-W - 1, W)
    r_lo, r_hi, c_lo, c_hi = (int(v) for v in torch.stack(
        [rows.min(), rows.max(), cols.min(), cols.max()]).tolist())
    top, bottom, left, right = max(0, -r_lo), max(0, r_hi + 1), max(0, -c_lo), max(0, c_hi + 1)
    # One more zero row at the bottom: the run with the largest start ends up to ``Wp`` elements
    # past the other padding (its last corner row reads one row lower, one column further).
    padded = torch.nn.functional.pad(t, (left, right, top, bottom + 1))
    Hp, Wp = H + top + bottom + 1, W + left + right
    L = (H + 1) * Wp + 1
    runs = padded.as_strided((B, P, Hp * Wp - L + 1, L), (P * Hp * Wp, Hp * Wp, 1, 1))
    start = (rows + top) * Wp + (cols + left)                            # [P]
    run = runs[:, torch.arange(P, device=t.device), start]             # [B, P, L], a copy
    return [run[:, :, dy * Wp + dx:dy * Wp + dx + H * Wp].view(B, P, H, Wp)[..., :W]
            for dy in (0, 1) for dx in (0, 1)]


def _shift_planes(t: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Bilinear shift ``out[b,p] = sum_k weights[p,k] * corner_k`` of :func:`_bilinear_corners`."""
    c00, c01, c10, c11 = _bilinear_corners(t, rows, cols)
    w = weights.view(1, -1, 1, 1, 4)
    return (c00 * w[..., 0]).addcmul_(c01, w[..., 1]).addcmul_(c10, w[..., 2]).addcmul_(c11, w[..., 3])


def _theta_step(planes: torch.Tensor, idx0: torch.Tensor, idx1: torch.Tensor, theta_w: torch.Tensor, Or: int):
    """``out[b, p] = theta_w[c, 0] * planes[b, idx0[p]] + theta_w[c, 1] * planes[b, idx1[p]]``, ``p = c*Or + o``.

    ``planes`` [B, C*Or, H, W]; ``index_select`` copies whole planes (a memcpy each).
    """
    tw = theta_w.repeat_interleave(Or, dim=0)                          # [C*Or, 2]
    return planes.index_select(1, idx0).mul_(tw[:, 0].view(1, -1, 1, 1)) \
        .addcmul_(planes.index_select(1, idx1), tw[:, 1].view(1, -1, 1, 1))


def _fused_backend(f: torch.Tensor):
    """The backend that runs ``f`` (:func:`gmgan_lib.kernels.select_backend`, as for the
    erosion) if it has fused convection kernels, else ``None``: then the plane copies below run."""
    backend = kernels.select_backend(f)
    return backend if backend.shift_forward is not None else None


class TrilinearShift(torch.autograd.Function):
    """Trilinear resampling with one shift per (channel, orientation) slice, factored in two steps.

    Because the shift is uniform over a slice, the 8-corner trilinear weight of slice ``(c, o)``
    factors as ``theta_w[c, j] * space_w[c, o, k]`` (``j`` in {0, 1}, ``k`` in 4 spatial corners):

    1. theta step ``g[b,c,o] = sum_j theta_w[c,j] f[b,c, (o + kt[c] + j) mod Or]``: whole planes
       are copied with ``index_select`` (a memcpy per plane), no per-element index;
    2. spatial step ``out[b,c,o] = sum_{dy,dx} space_w[c,o,2dy+dx] g[b,c,o](y + ry + dy, x + rx + dx)``
       with ``(ry, rx) = (rows[c,o], cols[c,o])``, by :func:`_shift_planes` (one run per plane,
       copied out of a zero-padded ``g``, holds all 4 corners).

    That is 3 plane copies and 4 multiply-adds instead of 8 per-element gathers with masks. Both
    steps are linear in ``f`` and their adjoints are the same kind of operation (the adjoint of a
    zero-filled shift by ``s`` is the shift by ``-s``; of a cyclic shift, the inverse cyclic
    shift), so the backward is plane copies and run copies too, never scatters. Only ``f`` and the
    small per-slice tables are saved (``g`` is recomputed): ``O(input)`` memory.
    """

    @staticmethod
    def forward(ctx, f, theta_w, space_w, kt, rows, cols):
        ctx.save_for_backward(f, theta_w, space_w, kt, rows, cols)
        ctx.fused = _fused_backend(f)
        if ctx.fused is not None:
            return ctx.fused.shift_forward(f, theta_w, space_w, kt, rows, cols)
        B, C, Or, H, W = f.shape
        planes = f.view(B, C * Or, H, W)
        idx0, idx1 = _theta_index(kt, Or), _theta_index(kt + 1, Or)
        g = _theta_step(planes, idx0, idx1, theta_w, Or)
        out = _shift_planes(g, rows.view(C * Or), cols.view(C * Or), space_w.view(C * Or, 4))
        return out.view(B, C, Or, H, W)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        f, theta_w, space_w, kt, rows, cols = ctx.saved_tensors
        if ctx.fused is not None:
            grads = ctx.fused.shift_backward(grad_out, f, theta_w, space_w, kt, rows, cols,
                                             ctx.needs_input_grad[:3])
            return (*grads, None, None, None)
        B, C, Or, H, W = f.shape
        P = C * Or
        planes, grad = f.view(B, P, H, W), grad_out.contiguous().view(B, P, H, W)
        rows, cols, sw = rows.view(P), cols.view(P), space_w.view(P, 4)
        idx0, idx1 = _theta_index(kt, Or), _theta_index(kt + 1, Or)
        need_f, need_tw, need_sw = ctx.needs_input_grad[:3]
        grad_tw = grad_sw = grad_f = None
        if need_sw:
            # d out / d space_w[p, k] is the k-th corner shift of g: rebuild g, take its corners.
            g = _theta_step(planes, idx0, idx1, theta_w, Or)
            corners = _bilinear_corners(g, rows, cols)
            grad_sw = torch.stack([(grad * c).sum(dim=(0, 2, 3)) for c in corners], dim=1).view_as(space_w)
        if need_f or need_tw:
            # Adjoint of the spatial step: corner (dy, dx) shifted by (row + dy, col + dx) becomes a
            # shift by -(row + dy, col + dx) = (-row - 1 + (1 - dy), -col - 1 + (1 - dx)): the same
            # bilinear shift from base (-row - 1, -col - 1) with the corner weights in reverse order.
            h = _shift_planes(grad, -rows - 1, -cols - 1, sw.flip(1))
            # Adjoint of the theta step: h moved back by the inverse permutations (o -> o - kt - j),
            # which serve both grad_f (weighted sum) and grad_tw (inner products with f).
            back = [h.index_select(1, _theta_index(-kt - j, Or)) for j in (0, 1)]
            if need_tw:
                grad_tw = torch.stack([(b * planes).sum(dim=(0, 2, 3)).view(C, Or).sum(1) for b in back], dim=1)
            if need_f:
                tw = theta_w.repeat_interleave(Or, dim=0).view(1, P, 1, 1, 2)
                grad_f = back[0].mul_(tw[..., 0]).addcmul_(back[1], tw[..., 1]).view_as(f)
        return grad_f, grad_tw, grad_sw, None, None, None


def _trilinear_shift(f, col_shift, row_shift, or_shift):
    """Resample ``f`` [B, C, Or, H, W]: output ``(o, y, x)`` reads ``(o + or_shift, y + row_shift, x + col_shift)``.

    ``col_shift``, ``row_shift`` [C, Or] and ``or_shift`` [C] are real numbers (differentiable);
    the orientation wraps around, space is zero outside the image.
    """
    C, Or = col_shift.shape
    kt = torch.floor(or_shift).detach()
    a = or_shift - kt                                                   # differentiable, in [0, 1)
    theta_w = torch.stack([1 - a, a], dim=-1)                          # [C, 2]
    ry, rx = torch.floor(row_shift).detach(), torch.floor(col_shift).detach()
    fy, fx = row_shift - ry, col_shift - rx
    space_w = torch.stack([(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx], dim=-1)
    # Beyond the image every sample is zero anyway; clamp before the integer cast can overflow.
    H, W = f.shape[-2:]
    ry, rx = ry.clamp(-H - 1, H).long(), rx.clamp(-W - 1, W).long()
    return TrilinearShift.apply(f.contiguous(), theta_w.to(f.dtype), space_w.to(f.dtype), kt.long(), ry, rx)


def convection_m2(f: torch.Tensor, g0: torch.Tensor) -> torch.Tensor:
    """Transport ``f`` [B, C, Or, H, W] by the group elements ``g0`` [C, 3] = (x0, y0, theta0)."""
    check_rank("f", f, 5, "[B, C, Or, H, W]")
    check_rank("g0", g0, 2, "[C, 3] = (x0, y0, theta0)")
    check_same("f", f, "g0", g0)
    B, C, Or, H, W = f.shape
    if g0.shape != (C, 3):
        raise ValueError(f"g0 must have shape [C, 3] = [{C}, 3] (x0, y0, theta0 per channel), got {tuple(g0.shape)}")
    check_no_nan("f", f)
    check_finite("g0", g0, "the group elements (x0, y0, theta0)")
    x0, y0, th0 = g0[:, 0].view(C, 1), g0[:, 1].view(C, 1), g0[:, 2].view(C, 1)
    cos_o, sin_o = (t.to(f.dtype).to(f.device).view(1, Or) for t in orientation_cos_sin(Or))
    # cos/sin of (theta_o - theta0) by the subtraction formula: exact quarter turns carry over.
    c = cos_o * torch.cos(th0) + sin_o * torch.sin(th0)
    s = sin_o * torch.cos(th0) - cos_o * torch.sin(th0)
    ux, uy = c * x0 - s * y0, s * x0 + c * y0                            # [C, Or], x right, y up
    # Source = output position minus the shift: columns -ux, rows +uy (rows grow downwards),
    # orientation -theta0 in units of the orientation step.
    return _trilinear_shift(f, -ux, uy, -th0.view(C) * (Or / (2 * math.pi)))


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
    check_finite("shift", shift, "the shifts (x0, y0)")
    zero = torch.zeros(C, dtype=f.dtype, device=f.device)
    return _trilinear_shift(f.unsqueeze(2), -shift[:, :1], shift[:, 1:], zero).squeeze(2)
