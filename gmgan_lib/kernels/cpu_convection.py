"""CPU (Numba) kernels of convection: the trilinear shift of :mod:`gmgan_lib.nn.convection`.

Same operator and API as :mod:`gmgan_lib.kernels.triton_convection`: every ``(c, o)`` slice of
``f`` [B, C, Or, H, W] is shifted by its own vector, and the 8 trilinear weights of the slice
factor as ``theta_w[c, j] * space_w[c, o, k]``::

    out[b,c,o,y,x] = sum_{j in 0,1} theta_w[c,j] * sum_{k = 2*dy + dx} space_w[c,o,k]
                     * f[b, c, (o + kt[c] + j) mod Or, y + rows[c,o] + dy, x + cols[c,o] + dx]

(zero outside the image). Why kernels, when ``gmgan_lib.nn.convection`` has a plane-copy
formulation in PyTorch: that formulation is the readable reference, but it allocates a padded
copy, a run copy and four corner products per call, and was the largest single cost of a CDE
layer on the CPU (more than an erosion, docs/performance.md).

Layout, as in the erosion kernels: one block ``(b, c)`` (all orientations of one channel of one
sample, ~25 kB at 28x28 with Or=8) is copied into zero-padded planes with row stride
``Wp = W + 2*pw``, the padding just wide enough for the largest shift that still overlaps the
image. In flat coordinates ``p = y*Wp + x`` the sample that output ``(y, x)`` reads at shift
``(r, q)`` sits at ``p + (ph + r)*Wp + pw + q``: for one corner the whole output plane is ONE
contiguous run, with no border test (the ``2*pw`` columns per row in between are computed and
thrown away). A corner wholly outside the image reads a run of zeros instead.

* forward: per output plane, ONE vectorised pass ``acc = w0*s0 + ... + w7*s7`` over the 8
  corner runs (one store per output instead of eight read-modify-writes);
* input gradient: the adjoint, the same pass over the zero-padded incoming gradient at the
  negated shifts, per input plane (``o = s - kt - j``); threads own disjoint ``(b, c)`` blocks,
  so it is deterministic;
* weight gradients: per plane the 8 inner products ``D[j, k] = <grad_out[b,c,o], corner (j, k)>``
  in one pass (summed in any order within the plane so that they vectorise, but always the same
  order for a given shape), then ``grad_space_w = sum_b,j theta_w D`` and
  ``grad_theta_w = sum_b,o,k space_w D`` in float64 with numpy, in a fixed order: results do not
  depend on the thread count, bit for bit.

Threads: the erosion kernels' chunking (``gmgan_lib.kernels.cpu_runtime``), same rules.
"""
from __future__ import annotations

import numpy as np
import torch

from gmgan_lib.kernels import check_shift_arguments
from gmgan_lib.kernels import cpu_runtime as _cpu

__all__ = ["trilinear_shift_forward", "trilinear_shift_backward"]


if _cpu.numba is not None:
    _jit = _cpu.njit(nogil=True, cache=True, boundscheck=False, fastmath=False)
    _jit_inline = _cpu.njit(nogil=True, cache=True, boundscheck=False, fastmath=False,
                            inline="always")
    # The inner products may be summed in any order (vectorised): each plane's sum is still
    # computed by one thread in one fixed way, so results stay independent of the thread count.
    _jit_dots = _cpu.njit(nogil=True, cache=True, boundscheck=False,
                          fastmath={"reassoc", "contract"})

    @_jit_inline
    def _sum8(acc, s0, s1, s2, s3, s4, s5, s6, s7, w0, w1, w2, w3, w4, w5, w6, w7):
        """``acc = w0*s0 + ... + w7*s7`` in ONE pass over contiguous runs (LLVM vectorises it;
        one store per output instead of eight read-modify-writes), summed left to right."""
        for p in range(acc.shape[0]):
            acc[p] = (w0 * s0[p] + w1 * s1[p] + w2 * s2[p] + w3 * s3[p]
                      + w4 * s4[p] + w5 * s5[p] + w6 * s6[p] + w7 * s7[p])

    @_jit_inline
    def _dots8(g, s0, s1, s2, s3, s4, s5, s6, s7, out):
        """The 8 inner products ``<g, s_t>`` in one pass over ``g``."""
        d0 = d1 = d2 = d3 = d4 = d5 = d6 = d7 = g[0] * 0
        for p in range(g.shape[0]):
            v = g[p]
            d0 += v * s0[p]
            d1 += v * s1[p]
            d2 += v * s2[p]
            d3 += v * s3[p]
            d4 += v * s4[p]
            d5 += v * s5[p]
            d6 += v * s6[p]
            d7 += v * s7[p]
        out[0], out[1], out[2], out[3] = d0, d1, d2, d3
        out[4], out[5], out[6], out[7] = d4, d5, d6, d7

    @_jit_inline
    def _corner(buf, zeros, plane_start, r, q, ph, pw, Wp, H, W):
        """The run of ``buf`` that shift ``(r, q)`` reads for every output of a plane, or a run
        of zeros when the shifted plane lies wholly outside the image."""
        if abs(r) < H and abs(q) < W:
            start = plane_start + (ph + r) * Wp + pw + q
            return buf[start:start + zeros.shape[0]]
        return zeros

    @_jit_inline
    def _four_corners(buf, zeros, plane_start, r, q, sign, ph, pw, Wp, H, W):
        """The runs of the 4 bilinear corners ``k = 2*dy + dx`` of base shift ``(r, q)``: shifts
        ``(r + dy, q + dx)`` for ``sign = 1``, the adjoint's ``-(r + dy), -(q + dx)`` for -1."""
        return (_corner(buf, zeros, plane_start, sign * r, sign * q, ph, pw, Wp, H, W),
                _corner(buf, zeros, plane_start, sign * r, sign * (q + 1), ph, pw, Wp, H, W),
                _corner(buf, zeros, plane_start, sign * (r + 1), sign * q, ph, pw, Wp, H, W),
                _corner(buf, zeros, plane_start, sign * (r + 1), sign * (q + 1), ph, pw, Wp, H, W))

    @_jit_inline
    def _fill(src, b, c, buf, ph, pw, Wp, plane):
        """Copy block ``src[b, c]`` [Or, H, W] into the interiors of the zero-padded planes
        ``buf`` (row stride ``Wp``, ``ph`` rows and ``pw`` columns of zeros on each side)."""
        Or, H, W = src.shape[2], src.shape[3], src.shape[4]
        for s in range(Or):
            src_s = src[b, c, s]
            for y in range(H):
                row = s * plane + (y + ph) * Wp + pw
                src_row = src_s[y]
                for x in range(W):    # explicit loops compile much faster than slice assignment
                    buf[row + x] = src_row[x]

    @_jit_inline
    def _store(acc, dst, H, W, Wp):
        for y in range(H):
            dst_row = dst[y]
            for x in range(W):
                dst_row[x] = acc[y * Wp + x]

    @_jit
    def _forward_blocks(f, tw, sw, kt, rows, cols, ph, pw, out, bc_start, bc_stop):
        B, C, Or, H, W = f.shape
        Wp, plane = W + 2 * pw, (H + 2 * ph) * (W + 2 * pw)
        L = (H - 1) * Wp + W      # flat output positions p = y*Wp + x
        P = np.zeros(Or * plane, dtype=f.dtype)
        Z = np.zeros(L, dtype=f.dtype)           # read by corners wholly outside the image
        acc = np.empty(L, dtype=f.dtype)
        for bc in range(bc_start, bc_stop):
            b = bc // C
            c = bc - b * C
            _fill(f, b, c, P, ph, pw, Wp, plane)
            for o in range(Or):
                s0 = (o + kt[c]) % Or * plane        # Python semantics: never negative
                s1 = (o + kt[c] + 1) % Or * plane
                r, q = rows[c, o], cols[c, o]
                t0, t1 = tw[c, 0], tw[c, 1]
                w = sw[c, o]
                a0, a1, a2, a3 = _four_corners(P, Z, s0, r, q, 1, ph, pw, Wp, H, W)
                b0, b1, b2, b3 = _four_corners(P, Z, s1, r, q, 1, ph, pw, Wp, H, W)
                _sum8(acc, a0, a1, a2, a3, b0, b1, b2, b3,
                      t0 * w[0], t0 * w[1], t0 * w[2], t0 * w[3],
                      t1 * w[0], t1 * w[1], t1 * w[2], t1 * w[3])
                _store(acc, out[b, c, o], H, W, Wp)

    @_jit
    def _input_grad_blocks(g, tw, sw, kt, rows, cols, ph, pw, gf, bc_start, bc_stop):
        B, C, Or, H, W = g.shape
        Wp, plane = W + 2 * pw, (H + 2 * ph) * (W + 2 * pw)
        L = (H - 1) * Wp + W
        G = np.zeros(Or * plane, dtype=g.dtype)
        Z = np.zeros(L, dtype=g.dtype)
        acc = np.empty(L, dtype=g.dtype)
        for bc in range(bc_start, bc_stop):
            b = bc // C
            c = bc - b * C
            _fill(g, b, c, G, ph, pw, Wp, plane)
            for s in range(Or):
                # The output planes that read plane s with orientation weight j = 0 and 1.
                o0, o1 = (s - kt[c]) % Or, (s - kt[c] - 1) % Or
                r0, q0, r1, q1 = rows[c, o0], cols[c, o0], rows[c, o1], cols[c, o1]
                t0, t1 = tw[c, 0], tw[c, 1]
                w0, w1 = sw[c, o0], sw[c, o1]
                # adjoint of "read (y + r, x + q)": gather from (y - r, x - q)
                a0, a1, a2, a3 = _four_corners(G, Z, o0 * plane, r0, q0, -1, ph, pw, Wp, H, W)
                b0, b1, b2, b3 = _four_corners(G, Z, o1 * plane, r1, q1, -1, ph, pw, Wp, H, W)
                _sum8(acc, a0, a1, a2, a3, b0, b1, b2, b3,
                      t0 * w0[0], t0 * w0[1], t0 * w0[2], t0 * w0[3],
                      t1 * w1[0], t1 * w1[1], t1 * w1[2], t1 * w1[3])
                _store(acc, gf[b, c, s], H, W, Wp)

    @_jit_dots
    def _corner_dots_blocks(f, g, kt, rows, cols, ph, pw, dots, bc_start, bc_stop):
        """``dots[b, c, o, j, k] = <g[b,c,o], corner (j, k) of f>``."""
        B, C, Or, H, W = f.shape
        Wp, plane = W + 2 * pw, (H + 2 * ph) * (W + 2 * pw)
        L = (H - 1) * Wp + W
        P = np.zeros(Or * plane, dtype=f.dtype)
        g_flat = np.zeros(L, dtype=g.dtype)   # g[b,c,o] at row stride Wp; gaps stay zero
        Z = np.zeros(L, dtype=f.dtype)
        d = np.empty(8, dtype=f.dtype)
        for bc in range(bc_start, bc_stop):
            b = bc // C
            c = bc - b * C
            _fill(f, b, c, P, ph, pw, Wp, plane)
            for o in range(Or):
                g_o = g[b, c, o]
                for y in range(H):
                    g_row = g_o[y]
                    for x in range(W):
                        g_flat[y * Wp + x] = g_row[x]
                s0 = (o + kt[c]) % Or * plane
                s1 = (o + kt[c] + 1) % Or * plane
                r, q = rows[c, o], cols[c, o]
                a0, a1, a2, a3 = _four_corners(P, Z, s0, r, q, 1, ph, pw, Wp, H, W)
                b0, b1, b2, b3 = _four_corners(P, Z, s1, r, q, 1, ph, pw, Wp, H, W)
                _dots8(g_flat, a0, a1, a2, a3, b0, b1, b2, b3, d)
                for t in range(8):
                    dots[b, c, o, t // 4, t % 4] = d[t]


# --------------------------------------------------------------------------------------------
# API (called by gmgan_lib.nn.convection.TrilinearShift)
# --------------------------------------------------------------------------------------------
def _check(f: torch.Tensor, theta_w, space_w, kt, rows, cols) -> None:
    check_shift_arguments(f, theta_w, space_w, kt, rows, cols)
    if not (_cpu.is_available() and _cpu.supports(f)):   # the erosion kernels' devices, dtypes
        raise ValueError(f"the cpu convection kernels need f on the CPU in float32 or float64 "
                         f"(and numba), got {f.dtype} on {f.device}")


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().contiguous().numpy()


def _pads(rows: torch.Tensor, cols: torch.Tensor, H: int, W: int) -> tuple[int, int]:
    """Zero padding that covers every corner that can overlap the image: a corner shifted by
    ``|r| >= H`` rows (``|q| >= W`` columns) reads only zeros and is skipped by the kernels."""
    ph = min(H - 1, int(rows.abs().max()) + 1) if rows.numel() else 0
    pw = min(W - 1, int(cols.abs().max()) + 1) if cols.numel() else 0
    return ph, pw


def _run(fn, shape, *arrays) -> None:
    B, C, Or, H, W = shape
    chunks = _cpu._chunks(B * C, Or * H * W * 8)   # 8 multiply-adds per output
    _cpu._run_chunks(fn, chunks, lambda t: arrays)


def trilinear_shift_forward(f, theta_w, space_w, kt, rows, cols) -> torch.Tensor:
    """The formula of the module docstring; returns a new [B, C, Or, H, W] tensor."""
    _check(f, theta_w, space_w, kt, rows, cols)
    out = torch.empty(f.shape, dtype=f.dtype)
    pads = _pads(rows, cols, *f.shape[3:])
    _run(_forward_blocks, f.shape, _np(f), _np(theta_w), _np(space_w), _np(kt), _np(rows),
         _np(cols), *pads, out.numpy())
    return out


def trilinear_shift_backward(grad_out, f, theta_w, space_w, kt, rows, cols, needs=(True, True, True)):
    """Gradients ``(grad_f, grad_theta_w, grad_space_w)``; an entry is ``None`` where ``needs``
    (for ``f``, ``theta_w``, ``space_w``) is false."""
    _check(f, theta_w, space_w, kt, rows, cols)
    if tuple(grad_out.shape) != tuple(f.shape) or grad_out.dtype != f.dtype:
        raise ValueError(f"grad_out must have the shape and dtype of f ({tuple(f.shape)}, "
                         f"{f.dtype}), got {tuple(grad_out.shape)}, {grad_out.dtype}")
    tables = (_np(kt), _np(rows), _np(cols), *_pads(rows, cols, *f.shape[3:]))
    g = _np(grad_out)   # (an expanded gradient is materialised here)
    tw, sw = _np(theta_w), _np(space_w)
    grad_f = grad_tw = grad_sw = None
    if needs[0]:
        grad_f = torch.empty(f.shape, dtype=f.dtype)
        _run(_input_grad_blocks, f.shape, g, tw, sw, *tables, grad_f.numpy())
    if needs[1] or needs[2]:
        B, C, Or = f.shape[:3]
        dots = np.empty((B, C, Or, 2, 4), dtype=np.float64)
        _run(_corner_dots_blocks, f.shape, _np(f), g, *tables, dots)
        dots = dots.sum(axis=0)                                             # [C, Or, 2, 4]
        if needs[1]:   # d out / d theta_w[c, j] = sum_k space_w[c, o, k] * corner (j, k)
            grad_tw = torch.from_numpy(np.einsum("cok,cojk->cj", sw.astype(np.float64), dots))
            grad_tw = grad_tw.to(theta_w.dtype)
        if needs[2]:   # d out / d space_w[c, o, k] = sum_j theta_w[c, j] * corner (j, k)
            grad_sw = torch.from_numpy(np.einsum("cj,cojk->cok", tw.astype(np.float64), dots))
            grad_sw = grad_sw.to(space_w.dtype)
    return grad_f, grad_tw, grad_sw
