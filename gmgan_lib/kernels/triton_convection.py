"""Triton kernels of convection: the trilinear shift of :mod:`gmgan_lib.nn.convection`, fused.

The operator (its derivation and the CPU formulation are in ``gmgan_lib/nn/convection.py``):
every ``(c, o)`` slice of ``f`` [B, C, Or, H, W] is shifted by its own vector, with trilinear
interpolation, periodic in orientation, zero outside the image. Because the shift is uniform over
a slice, the 8 trilinear weights of slice ``(c, o)`` factor as ``theta_w[c, j] * space_w[c, o, k]``
and the 8 corners sit at integer offsets::

    out[b,c,o,y,x] = sum_{j in 0,1} theta_w[c,j] * sum_{k = 2*dy + dx} space_w[c,o,k]
                     * f[b, c, (o + kt[c] + j) mod Or, y + rows[c,o] + dy, x + cols[c,o] + dx]

(``kt``, ``rows``, ``cols`` integer tables; samples outside the image are 0).

Why a kernel on the GPU: the CPU formulation copies planes and one padded run per plane, and
the padding it needs depends on the largest shift, which it reads back to the host (a device
synchronisation, ~3 per layer per training step). Here each program simply reads its 8 corners
with masked loads: one pass over ``f``, no padding, no host round trip, no temporaries.

Three kernels, one program per 2-D tile of one ``(b, c, o)`` plane, like the erosion kernels in
:mod:`gmgan_lib.kernels.triton`:

* forward: the formula above, accumulated in float32 (float64 for float64 input);
* input gradient, a *gather* (the adjoint of a zero-filled shift by ``s`` is the shift by
  ``-s``; of a cyclic shift, the inverse cyclic shift): input plane ``s`` collects, for
  ``j`` in {0, 1}, from output plane ``o = s - kt - j``, at ``(y - rows - dy, x - cols - dx)``.
  No atomics: deterministic;
* weight gradients: each program writes 6 partial sums for its tile (4 for ``space_w``, 2 for
  ``theta_w``: inner products of ``grad_out`` with the corners); ``torch.sum`` over batch and
  tiles (and orientations for ``theta_w``) finishes them, in a fixed order.

On the CPU these kernels run only under ``TRITON_INTERPRET=1`` (tests), like the erosion ones.
"""
from __future__ import annotations

import torch

from gmgan_lib.kernels import check_shift_arguments
from gmgan_lib.kernels import triton as _tk

triton, tl = _tk.triton, (_tk.tl if _tk.triton is not None else None)
_tile_positions = _tk._tile_positions   # the shared tile prologue (a jitted helper)

__all__ = ["trilinear_shift_forward", "trilinear_shift_backward"]


def _trilinear_shift_kernel(
    f_ptr, tw_ptr, sw_ptr, kt_ptr, rows_ptr, cols_ptr, out_ptr,
    C, OR, H, W,
    BLOCK_H: tl.constexpr, BLOCK_W: tl.constexpr, ACC: tl.constexpr,
):
    pid_plane = tl.program_id(0)           # (b*C + c)*OR + o: an OUTPUT plane
    o = pid_plane % OR
    bc = pid_plane // OR
    c = bc % C
    ys, xs, inside = _tile_positions(H, W, BLOCK_H, BLOCK_W)
    plane = H * W
    f_bc = f_ptr + bc.to(tl.int64) * OR * plane   # int64: large batches overflow int32
    kt = tl.load(kt_ptr + c).to(tl.int32)
    row = tl.load(rows_ptr + c * OR + o).to(tl.int32)
    col = tl.load(cols_ptr + c * OR + o).to(tl.int32)
    acc = tl.zeros([BLOCK_H, BLOCK_W], ACC)
    for j in tl.static_range(2):
        # (o + kt + j) mod OR, made non-negative (Triton's % truncates like C)
        s = ((o + kt + j) % OR + OR) % OR
        tw = tl.load(tw_ptr + 2 * c + j).to(ACC)
        for k in tl.static_range(4):
            yy = ys + row + k // 2
            xx = xs + col + k % 2
            ok = inside & (yy >= 0) & (yy < H) & (xx >= 0) & (xx < W)
            v = tl.load(f_bc + s * plane + yy * W + xx, mask=ok, other=0.0).to(ACC)
            sw = tl.load(sw_ptr + (c * OR + o) * 4 + k).to(ACC)
            acc += (tw * sw) * v
    offs = pid_plane.to(tl.int64) * plane + ys * W + xs
    tl.store(out_ptr + offs, acc.to(out_ptr.dtype.element_ty), mask=inside)


def _trilinear_shift_input_grad_kernel(
    g_ptr, tw_ptr, sw_ptr, kt_ptr, rows_ptr, cols_ptr, gf_ptr,
    C, OR, H, W,
    g_sb, g_sc, g_so, g_sy, g_sx,
    BLOCK_H: tl.constexpr, BLOCK_W: tl.constexpr, ACC: tl.constexpr,
):
    pid_plane = tl.program_id(0)           # (b*C + c)*OR + s: an INPUT plane
    s = pid_plane % OR
    bc = pid_plane // OR
    b = bc // C
    c = bc % C
    ys, xs, inside = _tile_positions(H, W, BLOCK_H, BLOCK_W)
    g_bc = g_ptr + b.to(tl.int64) * g_sb + c.to(tl.int64) * g_sc
    kt = tl.load(kt_ptr + c).to(tl.int32)
    acc = tl.zeros([BLOCK_H, BLOCK_W], ACC)
    for j in tl.static_range(2):
        o = ((s - kt - j) % OR + OR) % OR  # the output plane that read plane s with weight j
        tw = tl.load(tw_ptr + 2 * c + j).to(ACC)
        row = tl.load(rows_ptr + c * OR + o).to(tl.int32)
        col = tl.load(cols_ptr + c * OR + o).to(tl.int32)
        for k in tl.static_range(4):
            y = ys - row - k // 2
            x = xs - col - k % 2
            ok = inside & (y >= 0) & (y < H) & (x >= 0) & (x < W)
            g = tl.load(g_bc + o.to(tl.int64) * g_so + y * g_sy + x * g_sx, mask=ok, other=0.0).to(ACC)
            sw = tl.load(sw_ptr + (c * OR + o) * 4 + k).to(ACC)
            acc += (tw * sw) * g
    offs = pid_plane.to(tl.int64) * (H * W) + ys * W + xs
    tl.store(gf_ptr + offs, acc.to(gf_ptr.dtype.element_ty), mask=inside)


def _trilinear_shift_weight_grad_kernel(
    f_ptr, g_ptr, tw_ptr, sw_ptr, kt_ptr, rows_ptr, cols_ptr, part_ptr,
    C, OR, H, W,
    g_sb, g_sc, g_so, g_sy, g_sx,
    BLOCK_H: tl.constexpr, BLOCK_W: tl.constexpr, ACC: tl.constexpr,
):
    pid_plane = tl.program_id(0)           # (b*C + c)*OR + o: an OUTPUT plane
    pid_tile = tl.program_id(1)
    o = pid_plane % OR
    bc = pid_plane // OR
    b = bc // C
    c = bc % C
    ys, xs, inside = _tile_positions(H, W, BLOCK_H, BLOCK_W)
    plane = H * W
    f_bc = f_ptr + bc.to(tl.int64) * OR * plane
    g = tl.load(g_ptr + b.to(tl.int64) * g_sb + c.to(tl.int64) * g_sc + o.to(tl.int64) * g_so
                + ys * g_sy + xs * g_sx, mask=inside, other=0.0).to(ACC)
    kt = tl.load(kt_ptr + c).to(tl.int32)
    row = tl.load(rows_ptr + c * OR + o).to(tl.int32)
    col = tl.load(cols_ptr + c * OR + o).to(tl.int32)
    tw0 = tl.load(tw_ptr + 2 * c).to(ACC)
    tw1 = tl.load(tw_ptr + 2 * c + 1).to(ACC)
    s0 = ((o + kt) % OR + OR) % OR
    s1 = ((o + kt + 1) % OR + OR) % OR
    part = part_ptr + (pid_plane.to(tl.int64) * tl.num_programs(1) + pid_tile) * 6
    d_tw0 = tl.zeros([BLOCK_H, BLOCK_W], ACC)
    d_tw1 = tl.zeros([BLOCK_H, BLOCK_W], ACC)
    for k in tl.static_range(4):
        yy = ys + row + k // 2
        xx = xs + col + k % 2
        ok = inside & (yy >= 0) & (yy < H) & (xx >= 0) & (xx < W)
        v0 = tl.load(f_bc + s0 * plane + yy * W + xx, mask=ok, other=0.0).to(ACC)
        v1 = tl.load(f_bc + s1 * plane + yy * W + xx, mask=ok, other=0.0).to(ACC)
        sw = tl.load(sw_ptr + (c * OR + o) * 4 + k).to(ACC)
        # d out / d space_w[k] is corner k of the theta step; d out / d theta_w[j] sums the
        # spatial corners of plane s_j.
        tl.store(part + k, tl.sum(g * (tw0 * v0 + tw1 * v1)))
        d_tw0 += sw * v0
        d_tw1 += sw * v1
    tl.store(part + 4, tl.sum(g * d_tw0))
    tl.store(part + 5, tl.sum(g * d_tw1))


if triton is not None:
    _trilinear_shift_kernel = triton.jit(_trilinear_shift_kernel)
    _trilinear_shift_input_grad_kernel = triton.jit(_trilinear_shift_input_grad_kernel)
    _trilinear_shift_weight_grad_kernel = triton.jit(_trilinear_shift_weight_grad_kernel)


# --------------------------------------------------------------------------------------------
# API (called by gmgan_lib.nn.convection.TrilinearShift)
# --------------------------------------------------------------------------------------------
def _check(f: torch.Tensor, theta_w, space_w, kt, rows, cols) -> None:
    if triton is None:  # pragma: no cover
        raise RuntimeError("the triton convection kernels need triton")
    check_shift_arguments(f, theta_w, space_w, kt, rows, cols)
    if f.dtype not in _tk._DTYPES:
        raise ValueError(f"the triton convection kernels need f in one of {_tk._DTYPES}, "
                         f"got {f.dtype}")
    _tk._check_device(f)


def trilinear_shift_forward(f, theta_w, space_w, kt, rows, cols) -> torch.Tensor:
    """The formula of the module docstring; returns a new [B, C, Or, H, W] tensor."""
    _check(f, theta_w, space_w, kt, rows, cols)
    B, C, Or, H, W = f.shape
    f = f.contiguous()
    out = torch.empty_like(f)
    bh, bw = _tk._tile(H, W)
    grid = (B * C * Or, triton.cdiv(H, bh) * triton.cdiv(W, bw))
    _trilinear_shift_kernel[grid](
        f, theta_w.contiguous(), space_w.contiguous(), kt.contiguous(), rows.contiguous(),
        cols.contiguous(), out, C, Or, H, W,
        BLOCK_H=bh, BLOCK_W=bw, ACC=_tk._acc_dtype(f.dtype))
    return out


def trilinear_shift_backward(grad_out, f, theta_w, space_w, kt, rows, cols, needs=(True, True, True)):
    """Gradients ``(grad_f, grad_theta_w, grad_space_w)`` of the trilinear shift; an entry is
    ``None`` where ``needs`` (for ``f``, ``theta_w``, ``space_w``) is false. ``grad_out`` may
    have any strides (an expanded gradient is read in place)."""
    _check(f, theta_w, space_w, kt, rows, cols)
    if tuple(grad_out.shape) != tuple(f.shape) or grad_out.device != f.device:
        raise ValueError(f"grad_out must have the shape of f {tuple(f.shape)} on {f.device}, "
                         f"got {tuple(grad_out.shape)} on {grad_out.device}")
    B, C, Or, H, W = f.shape
    f = f.contiguous()
    tables = (theta_w.contiguous(), space_w.contiguous(), kt.contiguous(), rows.contiguous(),
              cols.contiguous())
    bh, bw = _tk._tile(H, W)
    tiles = triton.cdiv(H, bh) * triton.cdiv(W, bw)
    grid = (B * C * Or, tiles)
    acc = _tk._acc_dtype(f.dtype)
    grad_f = grad_tw = grad_sw = None
    if needs[0]:
        grad_f = torch.empty_like(f, dtype=grad_out.dtype)
        _trilinear_shift_input_grad_kernel[grid](
            grad_out, *tables, grad_f, C, Or, H, W, *grad_out.stride(),
            BLOCK_H=bh, BLOCK_W=bw, ACC=acc)
    if needs[1] or needs[2]:
        part_dtype = torch.float64 if f.dtype == torch.float64 else torch.float32
        part = torch.empty((B, C, Or, tiles, 6), dtype=part_dtype, device=f.device)
        _trilinear_shift_weight_grad_kernel[grid](
            f, grad_out, *tables, part, C, Or, H, W, *grad_out.stride(),
            BLOCK_H=bh, BLOCK_W=bw, ACC=acc)
        part = part.sum(dim=(0, 3))                                   # [C, Or, 6]
        if needs[1]:
            grad_tw = part[:, :, 4:].sum(dim=1).to(theta_w.dtype)
        if needs[2]:
            grad_sw = part[:, :, :4].to(space_w.dtype)
    return grad_f, grad_tw, grad_sw
