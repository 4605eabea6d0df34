"""CPU kernel of a dilation followed by an erosion on M2, in one pass per channel, batch innermost.

``out = erosion(dilation(f, k_dil), k_ero)``, bit for bit what the two operators of
:mod:`gmgan_lib.kernels.cpu` give one after the other (same additions, same comparisons, same
tie rule: the smallest offset index ``n`` wins), for finite ``f`` and finite kernels. This pair is
the nonlinearity of every block of the hybrid GM-GAN (docs/architecture.md), so it is the hot
path of a training step on the CPU.

Why another layout. The maps of GM-GAN are small (7x7 and 14x14 planes), so the plane-wise
kernel of :mod:`.cpu` spends more time copying short rows into and out of its ``+inf``-padded
buffers than folding offsets (docs/performance.md). Here one channel ``c`` at a time is turned
into ``T[s, y, x, b]``: the batch is the innermost axis, so for every output point ``(o, y, x)``
and every offset the work is one contiguous loop over the ``B`` batch elements (64 in
training: eight AVX2 vectors, no remainder). Borders need no padding at all: an offset whose
sample falls outside the image is simply not in the list of that output point. And the
intermediate map (the dilation) never leaves the kernel: the erosion reads it where the
dilation wrote it, in the same layout, and only its arg-min index is kept for the backward.

Per channel (``c`` is the unit of work, handed to threads in contiguous chunks):

1. ``T = -f[:, c]`` transposed to ``[Or, H, W, B]`` (the dilation is ``-erosion(-f)``);
2. ``M1 = erosion(T, k_dil)``, so the dilation is ``-M1``; its index -> ``index_dil``;
3. ``M2 = erosion(-M1, k_ero)``: each candidate is ``k - M1[...]``, which is exactly the
   ``(-M1) + k`` of the unfused erosion in IEEE arithmetic; index -> ``index_ero``;
4. ``out[:, c] = M2`` transposed back.

The indices are stored in the batch-innermost layout ``[C, Or, H, W, B]``: they are this
backend's private record for its own backward, never a user-facing tensor. The backward runs the
same steps in reverse: ``grad_out`` transposed in, scattered through ``index_ero`` (into the
gradient of the dilation's output, which stays in the kernel too), then through ``index_dil``
into ``grad_f``, transposed out. The two kernel gradients are summed per channel in float64
(eight accumulators by batch element, as in :mod:`.cpu`, so that repeated winners do not wait on
each other) and the results do not depend on the number of threads.

The caller (:func:`gmgan_lib.nn.morphology.dilation_erosion_m2`) uses this kernel only for
finite inputs (then no output is "dead" and every winner reads inside the image) and for
batches large enough to fill vectors (:data:`MIN_BATCH`); otherwise it composes the two
operators.
"""
from __future__ import annotations

import numpy as np
import torch

from gmgan_lib.kernels import check_forward_arguments, index_dtype
from gmgan_lib.kernels.cpu_runtime import _LANES, _run_chunks, is_available, njit, numba, supports

if is_available():
    from gmgan_lib.kernels.cpu import _fold4 as _fold4_plus


__all__ = ["dilation_erosion_forward", "dilation_erosion_backward", "supports_pair",
           "is_available", "MIN_BATCH"]

#: Below this batch size the batch-innermost loops are too short to pay off: the caller composes
#: the two operators of :mod:`.cpu` instead.
MIN_BATCH = 16


def supports_pair(f: torch.Tensor) -> bool:
    """CPU float32/float64 maps ``[B, C, Or, H, W]`` with at least :data:`MIN_BATCH` elements."""
    return supports(f) and f.dim() == 5 and f.shape[0] >= MIN_BATCH

if numba is not None:
    _jit = njit(nogil=True, cache=True, boundscheck=False, fastmath=False)
    _jit_inline = njit(nogil=True, cache=True, boundscheck=False, fastmath=False, inline="always")

    @_jit_inline
    def _fold4(s0, s1, s2, s3, k0, k1, k2, k3, n0, n1, n2, n3, m, idx, negate):
        """Fold four offsets (in increasing ``n``) into the running min/arg-min, in place. The
        candidate is ``s + k`` (:func:`gmgan_lib.kernels.cpu._fold4`), or ``k - s`` with
        ``negate`` (the erosion of ``-s``). The flag is a run-time value; LLVM moves the test
        out of the loop."""
        if not negate:
            _fold4_plus(s0, s1, s2, s3, k0, k1, k2, k3, n0, n1, n2, n3, m, idx)
            return
        for p in range(m.shape[0]):
            v_min = m[p]
            v_idx = idx[p]
            v = k0 - s0[p]
            lt = v < v_min
            v_min = v if lt else v_min
            v_idx = n0 if lt else v_idx
            v = k1 - s1[p]
            lt = v < v_min
            v_min = v if lt else v_min
            v_idx = n1 if lt else v_idx
            v = k2 - s2[p]
            lt = v < v_min
            v_min = v if lt else v_min
            v_idx = n2 if lt else v_idx
            v = k3 - s3[p]
            lt = v < v_min
            v_min = v if lt else v_min
            v_idx = n3 if lt else v_idx
            m[p] = v_min
            idx[p] = v_idx

    @_jit_inline
    def _offset_table(Or, Hp, Wp, B, kOr, kH, kW):
        """For every output orientation ``o``: where offset ``t`` reads, relative to the output
        point, in the padded ``[Or, Hp, Wp, B]`` layout (``start[o, t]``, for output row 0 and
        column 0), and its ``n``, in increasing ``n`` (the tie rule); padded to a multiple of
        four with the entry ``n = n_offsets`` (an appended kernel value ``+inf``, which cannot
        win on a finite sample; see :mod:`.cpu` for why no pass folds fewer than four)."""
        qa = kOr // 2
        n_offsets = kOr * kH * kW
        n_pad = (n_offsets + 3) // 4 * 4
        start = np.zeros((Or, n_pad), dtype=np.int64)
        kid = np.full((Or, n_pad), n_offsets, dtype=np.int64)
        for o in range(Or):
            n = 0
            for a in range(kOr):
                s = (o + a - qa) % Or
                for i in range(kH):
                    for j in range(kW):
                        start[o, n] = ((s * Hp + i) * Wp + j) * B
                        kid[o, n] = n
                        n += 1
        return start, kid

    @_jit_inline
    def _erode_channel(src, kflat, negate, dst, dst_ph, dst_pw, index_c, need_index, idx32,
                       start, kid, H, W):
        """One channel: for every output row ``(o, y)``, ``dst[o, y + dst_ph, dst_pw + x, :]`` =
        the minimum over the offsets of ``src[...] + k`` (or ``k - src[...]`` with ``negate``);
        ``src`` is padded (``[Or, Hp, Wp, B]``, its border cannot win), ``dst`` is padded by
        ``(dst_ph, dst_pw)`` (or not: 0, 0). A whole row of ``W * B`` values is one pass per four
        offsets. ``kflat`` [Or, n_offsets + 1] is this channel's kernel stack with ``+inf``
        appended; the arg-min into ``index_c`` [Or, H, W * B]."""
        Or, Wp, B = src.shape[0], src.shape[2], src.shape[3]
        L = W * B
        src_flat = src.reshape(-1)
        n_pad = start.shape[1]
        for o in range(Or):
            k_o = kflat[o]
            start_o = start[o]
            kid_o = kid[o]
            for y in range(H):
                m = dst[o, y + dst_ph].reshape(-1)[dst_pw * B:dst_pw * B + L]
                for p in range(L):
                    m[p] = np.inf
                    idx32[p] = 0
                row = y * Wp * B
                for t in range(0, n_pad, 4):
                    s0, s1 = row + start_o[t], row + start_o[t + 1]
                    s2, s3 = row + start_o[t + 2], row + start_o[t + 3]
                    n0, n1, n2, n3 = kid_o[t], kid_o[t + 1], kid_o[t + 2], kid_o[t + 3]
                    _fold4(src_flat[s0:s0 + L], src_flat[s1:s1 + L], src_flat[s2:s2 + L],
                           src_flat[s3:s3 + L], k_o[n0], k_o[n1], k_o[n2], k_o[n3],
                           np.int32(n0), np.int32(n1), np.int32(n2), np.int32(n3), m, idx32,
                           negate)
                if need_index:
                    index_row = index_c[o, y]
                    for p in range(L):
                        index_row[p] = idx32[p]   # int32 -> uint8 / int16: in range

    @_jit_inline
    def _to_batch_inner(f, c, T, ph, pw, sign):
        """``T[s, y + ph, x + pw, b] = sign * f[b, c, s, y, x]``, one row ``(s, y)`` at a time
        (the block being written, ``W * B`` values, stays in L1), eight batch elements at a time
        (1.8x faster than one at a time at [64, 16, 4, 14, 14]: docs/performance.md)."""
        B, Or, H, W = f.shape[0], f.shape[2], f.shape[3], f.shape[4]
        B8 = B - B % 8
        for s in range(Or):
            for y in range(H):
                T_row = T[s, y + ph]
                for b0 in range(0, B8, 8):
                    for x in range(W):
                        t = T_row[x + pw]
                        for bb in range(8):
                            t[b0 + bb] = sign * f[b0 + bb, c, s, y, x]
                for b in range(B8, B):
                    f_row = f[b, c, s, y]
                    for x in range(W):
                        T_row[x + pw, b] = sign * f_row[x]

    @_jit_inline
    def _from_batch_inner(T, ph, pw, out, c):
        """``out[b, c, s, y, x] = T[s, y + ph, x + pw, b]``, one row ``(s, y)`` at a time."""
        B, Or, H, W = out.shape[0], out.shape[2], out.shape[3], out.shape[4]
        for s in range(Or):
            for y in range(H):
                T_row = T[s, y + ph]
                for b in range(B):
                    out_row = out[b, c, s, y]
                    for x in range(W):
                        out_row[x] = T_row[x + pw, b]

    @_jit_inline
    def _kernel_rows(kstack, c, kflat):
        """Channel ``c`` of ``kstack`` as ``[Or, n_offsets]`` rows, with ``+inf`` appended."""
        Or, n_offsets = kflat.shape[0], kflat.shape[1] - 1
        k_c = kstack[c].reshape((Or, n_offsets))
        for o in range(Or):
            for n in range(n_offsets):
                kflat[o, n] = k_c[o, n]
            kflat[o, n_offsets] = np.inf

    @_jit
    def _forward_channels(f, k_dil, k_ero, out, index_dil, index_ero, need_index,
                          c_start, c_stop):
        """Steps 1-4 of the module docstring for the channels ``[c_start, c_stop)``."""
        B, C, Or, H, W = f.shape
        dOr, dH, dW = k_dil.shape[2], k_dil.shape[3], k_dil.shape[4]
        eOr, eH, eW = k_ero.shape[2], k_ero.shape[3], k_ero.shape[4]
        dph, dpw, eph, epw = dH // 2, dW // 2, eH // 2, eW // 2
        # T = -f padded for the dilation's kernel (+inf border: never wins); M1 padded for the
        # erosion's kernel (-inf border: the candidate k - M1 is +inf there, never wins).
        T = np.full((Or, H + 2 * dph, W + 2 * dpw, B), np.inf, dtype=f.dtype)
        M1 = np.full((Or, H + 2 * eph, W + 2 * epw, B), -np.inf, dtype=f.dtype)
        M2 = np.empty((Or, H, W, B), dtype=f.dtype)
        start_d, kid_d = _offset_table(Or, H + 2 * dph, W + 2 * dpw, B, dOr, dH, dW)
        start_e, kid_e = _offset_table(Or, H + 2 * eph, W + 2 * epw, B, eOr, eH, eW)
        kflat_d = np.empty((Or, dOr * dH * dW + 1), f.dtype)
        kflat_e = np.empty((Or, eOr * eH * eW + 1), f.dtype)
        idx32 = np.empty(W * B, dtype=np.int32)
        for c in range(c_start, c_stop):
            _to_batch_inner(f, c, T, dph, dpw, f.dtype.type(-1.0))        # 1. T = -f[:, c]
            _kernel_rows(k_dil, c, kflat_d)
            _kernel_rows(k_ero, c, kflat_e)
            _erode_channel(T, kflat_d, False, M1, eph, epw,                  # 2. M1
                           index_dil[c].reshape((Or, H, W * B)), need_index, idx32,
                           start_d, kid_d, H, W)
            _erode_channel(M1, kflat_e, True, M2, 0, 0,                       # 3. M2
                           index_ero[c].reshape((Or, H, W * B)), need_index, idx32,
                           start_e, kid_e, H, W)
            _from_batch_inner(M2, 0, 0, out, c)                               # 4. out[:, c]

    @_jit_inline
    def _target_table(Or, H, W, kOr, kH, kW, scale, trash):
        """``target[q, n]``: where offset ``n`` of output point ``q = (o*H + y)*W + x`` reads,
        as ``((s*H + yy)*W + xx) * scale``; offsets reading outside the image point at ``trash``
        (no winner of a finite input is among them, but a stray index must not write outside
        the buffer)."""
        qa, ph, pw = kOr // 2, kH // 2, kW // 2
        target = np.empty((Or * H * W, kOr * kH * kW), dtype=np.int64)
        for o in range(Or):
            for y in range(H):
                for x in range(W):
                    q = (o * H + y) * W + x
                    n = 0
                    for a in range(kOr):
                        s = (o + a - qa) % Or
                        for i in range(kH):
                            yy = y + i - ph
                            for j in range(kW):
                                xx = x + j - pw
                                inside = 0 <= yy < H and 0 <= xx < W
                                target[q, n] = ((s * H + yy) * W + xx) * scale if inside else trash
                                n += 1
        return target

    @_jit_inline
    def _zero(a):
        """Every value of the C-contiguous array ``a`` set to 0 (an explicit loop: module
        docstring of :mod:`.cpu`)."""
        flat = a.reshape(a.size)
        for p in range(a.size):
            flat[p] = 0

    @_jit_inline
    def _sum_lanes(lanes, out, sign):
        """``out[o, n] = sign * sum of lanes[:, o, n]``, the lanes added in a fixed order."""
        for o in range(lanes.shape[1]):
            for n in range(lanes.shape[2]):
                total = 0.0
                for lane in range(_LANES):
                    total += lanes[lane, o, n]
                out[o, n] = sign * total

    @_jit
    def _backward_channels(grad_out, index_dil, index_ero, k_dil_shape, k_ero_shape, grad_f,
                           grad_k_dil, grad_k_ero, need_k, c_start, c_stop):
        """The backward of steps 1-4 for the channels ``[c_start, c_stop)``; ``grad_k_*``
        [C, Or, n_offsets] float64, written for these channels only. Both scatters are scalar
        (every batch element has its own winner), so neither needs the batch innermost: the
        erosion's reads ``grad_out`` where it lies, the dilation's writes into per-element rows
        copied to ``grad_f`` whole. Only the gradient of the dilation's output, between the
        two, is kept batch innermost, in the layout of the dilation's index."""
        B, C, Or, H, W = grad_out.shape
        dOr, dH, dW = k_dil_shape[2], k_dil_shape[3], k_dil_shape[4]
        eOr, eH, eW = k_ero_shape[2], k_ero_shape[3], k_ero_shape[4]
        n_dil, n_ero = dOr * dH * dW, eOr * eH * eW
        n_points = Or * H * W
        HW = H * W
        target_e = _target_table(Or, H, W, eOr, eH, eW, B, n_points * B)   # into GD, batch inner
        target_d = _target_table(Or, H, W, dOr, dH, dW, 1, n_points)       # into a row of GF
        g3 = grad_out.reshape((B, C, n_points))
        gf3 = grad_f.reshape((B, C, n_points))
        GD = np.empty(n_points * B + B, dtype=grad_out.dtype)  # [Or, H, W, B] + a trash row
        GF = np.empty((B, n_points + 1), dtype=grad_out.dtype)  # one row per element + trash
        lanes_dil = np.empty((_LANES, Or, n_dil), dtype=np.float64)
        lanes_ero = np.empty((_LANES, Or, n_ero), dtype=np.float64)
        for c in range(c_start, c_stop):
            i_ero = index_ero[c].reshape((n_points, B))
            i_dil = index_dil[c].reshape((n_points, B))
            _zero(GD)
            _zero(GF)
            if need_k:
                _zero(lanes_dil)
                _zero(lanes_ero)
            # d out / d(dilation output): +1 at the erosion's winner; d dilation / d f: +1 at its
            # winner too (the two signs of -erosion(-f) cancel); d dilation / d k_dil: -1.
            for q in range(n_points):
                lanes_o = lanes_ero[:, q // HW]
                target_q = target_e[q]
                index_q = i_ero[q]
                for b in range(B):
                    g = g3[b, c, q]
                    n = np.int64(index_q[b])
                    GD[target_q[n] + b] += g
                    if need_k:
                        lanes_o[b & (_LANES - 1), n] += g
            for q in range(n_points):
                lanes_o = lanes_dil[:, q // HW]
                target_q = target_d[q]
                index_q = i_dil[q]
                for b in range(B):
                    g = GD[q * B + b]
                    n = np.int64(index_q[b])
                    GF[b, target_q[n]] += g
                    if need_k:
                        lanes_o[b & (_LANES - 1), n] += g
            for b in range(B):
                gf_row = gf3[b, c]
                GF_b = GF[b]
                for p in range(n_points):
                    gf_row[p] = GF_b[p]
            if need_k:
                _sum_lanes(lanes_dil, grad_k_dil[c], -1.0)   # d dilation / d k_dil: -1
                _sum_lanes(lanes_ero, grad_k_ero[c], 1.0)


_POINTS_PER_CHUNK = 200_000   # output values per chunk at least (~0.5 ms of the forward)
_MAX_CHUNKS = 32


def _channel_chunks(f_shape) -> list[tuple[int, int]]:
    """Contiguous channel ranges for the threads. Every channel is computed whole by one thread
    (its kernel gradient included), so the results do not depend on the split."""
    B, C, Or, H, W = f_shape
    n = max(1, min(C, _MAX_CHUNKS, (B * C * Or * H * W) // _POINTS_PER_CHUNK))
    return [((C * t) // n, (C * (t + 1)) // n) for t in range(n)]


def dilation_erosion_forward(f: torch.Tensor, k_dil: torch.Tensor, k_ero: torch.Tensor,
                             need_index: bool):
    """``erosion(dilation(f, k_dil), k_ero)`` for ``f`` [B,C,Or,H,W] and kernel stacks
    [C,Or,kOr,kH,kW] (the two may differ in size). Returns ``(out, index_dil, index_ero)``,
    the indices in this kernel's own ``[C, Or, H, W, B]`` layout, or ``None`` without
    ``need_index``. ``f`` and the kernels must be finite (the caller checks; module docstring)."""
    check_forward_arguments(f, k_dil)
    check_forward_arguments(f, k_ero)
    if not supports(f):
        raise ValueError(f"the cpu backend needs f on the CPU in float32 or float64, got "
                         f"{f.dtype} on {f.device}")
    if not is_available():  # pragma: no cover
        raise RuntimeError("the cpu backend needs numba")
    B, C, Or, H, W = f.shape
    f_np = f.detach().contiguous().numpy()
    kd_np = k_dil.detach().contiguous().numpy()
    ke_np = k_ero.detach().contiguous().numpy()
    out = torch.empty(f.shape, dtype=f.dtype)
    out_np = out.numpy()
    layout = (C, Or, H, W, B)   # (without need_index never written, so never touched)
    index_dil = torch.empty(layout, dtype=index_dtype(int(np.prod(k_dil.shape[2:]))))
    index_ero = torch.empty(layout, dtype=index_dtype(int(np.prod(k_ero.shape[2:]))))
    chunks = _channel_chunks(f.shape)
    args = (f_np, kd_np, ke_np, out_np, index_dil.numpy(), index_ero.numpy(), need_index)
    _run_chunks(_forward_channels, chunks, lambda t: args)
    if not need_index:
        return out, None, None
    return out, index_dil, index_ero


def dilation_erosion_backward(grad_out: torch.Tensor, index_dil: torch.Tensor,
                              index_ero: torch.Tensor, k_dil_shape, k_ero_shape,
                              need_grad_k: bool = True, check_index: bool = True):
    """The gradients of :func:`dilation_erosion_forward`: ``(grad_f, grad_k_dil, grad_k_ero)``
    in the dtype of ``grad_out`` (the kernel gradients ``None`` without ``need_grad_k``).
    ``check_index=False`` skips the range test of the index values (four passes over them): only
    for indices this module's forward wrote, as the autograd node's are."""
    B, C, Or, H, W = grad_out.shape
    k_dil_shape, k_ero_shape = tuple(k_dil_shape), tuple(k_ero_shape)
    for name, index, k_shape in (("index_dil", index_dil, k_dil_shape),
                                 ("index_ero", index_ero, k_ero_shape)):
        n = int(np.prod(k_shape[2:]))
        if (len(k_shape) != 5 or tuple(k_shape[:2]) != (C, Or)
                or tuple(index.shape) != (C, Or, H, W, B) or index.dtype != index_dtype(n)):
            raise ValueError(f"{name} must be {index_dtype(n)} of shape [C, Or, H, W, B] = "
                             f"{[C, Or, H, W, B]} for kernel stacks [C, Or, kOr, kH, kW] "
                             f"= {list(k_shape)}, got {index.dtype} {tuple(index.shape)}")
        i_np = index.numpy()
        # The scatter trusts the index in its hot loop: refuse values outside the kernel.
        if check_index and i_np.size and (int(i_np.max()) >= n or int(i_np.min()) < 0):
            raise ValueError(f"{name} values must lie in [0, {n}), got "
                             f"[{int(i_np.min())}, {int(i_np.max())}]")
    if not supports(grad_out):
        raise ValueError(f"the cpu backend needs grad_out on the CPU in float32 or float64, "
                         f"got {grad_out.dtype} on {grad_out.device}")
    g_np = grad_out.detach().contiguous().numpy()
    grad_f = torch.empty(grad_out.shape, dtype=grad_out.dtype)
    n_dil, n_ero = int(np.prod(k_dil_shape[2:])), int(np.prod(k_ero_shape[2:]))
    gk_dil = np.zeros((C, Or, n_dil), dtype=np.float64)
    gk_ero = np.zeros((C, Or, n_ero), dtype=np.float64)
    chunks = _channel_chunks(grad_out.shape)
    args = (g_np, index_dil.numpy(), index_ero.numpy(), np.array(k_dil_shape),
            np.array(k_ero_shape), grad_f.numpy(), gk_dil, gk_ero, need_grad_k)
    _run_chunks(_backward_channels, chunks, lambda t: args)
    if not need_grad_k:
        return grad_f, None, None
    return (grad_f, torch.from_numpy(gk_dil).to(grad_out.dtype).reshape(k_dil_shape),
            torch.from_numpy(gk_ero).to(grad_out.dtype).reshape(k_ero_shape))
