"""CPU backend of the min-plus convolution on M2: Numba kernels, vectorised over space.

Same contract as :mod:`gmgan_lib.kernels.reference` (docs/architecture.md)::

    out[b,c,o,y,x] = min over (a,i,j) of  f[b,c,(o+a-qa) mod Or, y+i-ph, x+j-pw] + kstack[c,o,a,i,j]

with the arg-min index ``n = (a*kH + i)*kW + j`` (ties to the smallest ``n``), ``+inf`` padding
and a periodic orientation axis. Layout ``[B, C, Or, H, W]`` throughout.

Why Numba (and not a C++ extension or ``torch.compile``): Numba is already a dependency, needs no
compiler at install time, caches its machine code on disk (``cache=True``, ``NUMBA_CACHE_DIR``),
and LLVM vectorises the inner loop below with AVX2. ``torch.compile`` of the shift loop costs
~50 s per fresh process on this hardware, which a notebook cannot afford (docs/performance.md).

How the forward is laid out, and why it is fast:

* Work is split over ``(b, c)``: one input block ``f[b, c]`` ``[Or, H, W]`` is copied into a
  buffer ``P`` of ``+inf``-padded planes: ``ph`` rows above and below, and ``pw`` columns on
  the right only, row stride ``Wp = W + pw``, plus ``pw`` guard cells before each plane. The
  right padding of row ``y`` then also serves as the left padding of row ``y + 1`` (reading
  column ``x - pw`` wraps into it), so in flat coordinates the sample read by output ``(y, x)``
  at offset ``(i, j)`` sits at ``p + i*Wp + j`` with ``p = y*Wp + x``. For one offset the whole
  output plane is ONE contiguous loop over ``p`` with no border test at all: padding samples
  are ``+inf`` and never win a strict ``<``. The ``pw`` padding columns per row are computed and
  thrown away (~7% extra work at 28x28 with a 5x5 kernel).
* Small planes (GM-GAN's 7x7 and 14x14 maps) would make that loop a few dozen positions long,
  and the per-pass overhead would dominate. So one pass covers the planes of ``nb`` batch
  elements of one channel laid one after the other (``nb`` from :func:`_batch_group`, about
  2,048 positions per pass; orientation ``s`` of element ``bb`` is plane ``s*nb + bb``): each
  plane keeps its own ``+inf`` border, so a sample read for one element never comes from
  another, and the positions between planes are computed and thrown away. At 7x7 with a
  3x3x3 kernel this made the forward 1.6x faster, at 14x14 1.2x (benchmarks/bench_small_planes.py,
  docs/performance.md). The work is then
  split over groups ``(c, batch elements b0 .. b0+nb)`` rather than over ``(b, c)``.
* The running minimum and running arg-min live in two row buffers of length ``L`` (~8 kB,
  in L1). Each pass reads them once, folds in FOUR offsets and writes them back. LLVM compiles
  the pass to an AVX2 loop of 27 instructions per 32 add-min pairs (per offset: ``vaddps``
  with a memory operand, ``vcmpltps``, ``vminps`` for the value, ``vblendvps`` for the index).
  Eight offsets per pass compiled to 63 instructions per 64 pairs: no better.
* Two details keep LLVM on that fast path. The update is written as selects whose result is
  stored unconditionally (``m = v if lt else m``). And no pass ever folds a single offset: with
  one offset the stored value is a select of a load from the same address, which LLVM turns
  into a masked store (``vmaskmovps``), measured ~8x slower per pair on this AMD CPU; the offset
  list is padded to a multiple of four with ``+inf`` kernel entries instead (they never win).
* Kernel entries equal to ``+inf`` are skipped (they cannot win), so delta kernels are cheap.
* Every copy and fill is an explicit loop, never a slice assignment (``P[a:b] = row``): Numba
  compiles each slice assignment through its generic broadcasting code, and removing them
  halved the forward's first compile (about 5.3 s -> 2.7 s; docs/performance.md). LLVM
  vectorises the explicit loops just the same.

The backward scatters ``grad_out`` through the index into a padded accumulator per ``(b, c)``
(writes that would land outside the image hit the padding and are dropped; the kernel gradient
checks the same condition explicitly), so every thread owns disjoint ``grad_f`` blocks; the
kernel gradient is a sum over ``b``, accumulated per chunk of blocks in float64 and summed at
the end in a fixed order.

Parallelism: the kernels are plain ``@njit(nogil=True)`` functions over a range of ``(b, c)``
blocks; up to 32 such chunks are handed to ``torch.get_num_threads()`` Python threads. This
avoids Numba's ``parallel=True`` machinery: its compile is slower (the first call in a fresh
process matters for notebooks) and its OpenMP/TBB thread pool would compete with PyTorch's.
Results do not depend on the thread count at all, bit for bit.
"""
from __future__ import annotations

import numpy as np
import torch

from gmgan_lib.kernels import check_backward_arguments, check_forward_arguments, index_dtype
from gmgan_lib.kernels.cpu_runtime import (_LANES, _chunks, _run_chunks, is_available, njit,
                                           numba, supports)

__all__ = ["erosion_forward", "erosion_backward", "supports", "is_available"]


# --------------------------------------------------------------------------------------------
# Numba kernels
# --------------------------------------------------------------------------------------------
if numba is not None:
    _jit = njit(nogil=True, cache=True, boundscheck=False, fastmath=False)
    _jit_inline = njit(nogil=True, cache=True, boundscheck=False, fastmath=False, inline="always")

    @_jit_inline
    def _fold4(s0, s1, s2, s3, k0, k1, k2, k3, n0, n1, n2, n3, m, idx):
        """Fold four offsets (in increasing ``n``) into the running min/arg-min, in place."""
        for p in range(m.shape[0]):
            v_min = m[p]
            v_idx = idx[p]
            v = s0[p] + k0
            lt = v < v_min
            v_min = v if lt else v_min
            v_idx = n0 if lt else v_idx
            v = s1[p] + k1
            lt = v < v_min
            v_min = v if lt else v_min
            v_idx = n1 if lt else v_idx
            v = s2[p] + k2
            lt = v < v_min
            v_min = v if lt else v_min
            v_idx = n2 if lt else v_idx
            v = s3[p] + k3
            lt = v < v_min
            v_min = v if lt else v_min
            v_idx = n3 if lt else v_idx
            m[p] = v_min
            idx[p] = v_idx

    @_jit_inline
    def _fold4_value(s0, s1, s2, s3, k0, k1, k2, k3, m):
        """Four offsets, minimum only (inference: no index kept)."""
        for p in range(m.shape[0]):
            v_min = m[p]
            v = s0[p] + k0
            v_min = v if v < v_min else v_min
            v = s1[p] + k1
            v_min = v if v < v_min else v_min
            v = s2[p] + k2
            v_min = v if v < v_min else v_min
            v = s3[p] + k3
            v_min = v if v < v_min else v_min
            m[p] = v_min

    @_jit_inline
    def _fill_padded(f, b, c, P, ph, pw, Wp, s_stride, sign):
        """Copy ``sign * f[b, c]`` into the interior of the +inf-padded planes ``P`` (layout in
        the module docstring: ``pw`` guard cells, then rows of stride ``Wp = W + pw``);
        orientation ``s`` goes to the plane starting at ``s * s_stride``. ``sign = -1`` turns
        the erosion into the dilation ``-erosion(-f)`` at no extra pass over memory."""
        Or, H, W = f.shape[2], f.shape[3], f.shape[4]
        for s in range(Or):
            f_s = f[b, c, s]  # a 2-D view: row copies below vectorise, 5-D indexing would not
            for y in range(H):
                row = s * s_stride + pw + (y + ph) * Wp
                f_row = f_s[y]
                for x in range(W):   # explicit loops, not slice assignment: much less to compile
                    P[row + x] = sign * f_row[x]

    @_jit_inline
    def _offsets(kstack, c, o, Or, s_stride, Wp, start, kval, kid):
        """The offsets of output orientation ``o`` that can win (kernel entry < +inf), in
        increasing ``n`` (this order is the tie rule): where their samples start in ``P``,
        their kernel value and their ``n``. Returns how many there are, padded to a multiple
        of four."""
        kOr, kH, kW = kstack.shape[2], kstack.shape[3], kstack.shape[4]
        qa = kOr // 2
        count = 0
        n = 0
        for a in range(kOr):
            s = (o + a - qa) % Or
            for i in range(kH):
                for j in range(kW):
                    kv = kstack[c, o, a, i, j]
                    if kv != np.inf:
                        start[count] = s * s_stride + i * Wp + j
                        kval[count] = kv
                        kid[count] = n
                        count += 1
                    n += 1
        # Pad to a multiple of four with offsets that cannot win (kernel +inf, so the
        # candidate is +inf or NaN and never strictly below the running min): a pass over a
        # single offset would be a select of a load stored back to the same address, which
        # LLVM turns into a masked store (vmaskmovps), ~8x slower per pair on AMD.
        while count % 4 != 0:
            start[count] = 0
            kval[count] = np.inf
            kid[count] = 0
            count += 1
        return count

    @_jit_inline
    def _group_layout(f, kstack, nb):
        """Sizes of the padded layout for groups of ``nb`` batch elements (module docstring)."""
        H, W = f.shape[3], f.shape[4]
        kH, kW = kstack.shape[3], kstack.shape[4]
        ph, pw = kH // 2, kW // 2
        Wp = W + pw
        plane = pw + (H + 2 * ph) * Wp
        L = (H - 1) * Wp + W  # flat positions p = y*Wp + x from (0, 0) to (H-1, W-1)
        return ph, pw, Wp, plane, L

    @_jit_inline
    def _fill_group(f, P, g, nb, ph, pw, Wp, plane, L, sign):
        """Copy the blocks of group ``g`` (channel ``c``, batch elements ``b0 .. b0 + n_b``)
        into ``P``; returns ``(c, b0, n_b, Lg)``, ``Lg`` the length of one pass over them."""
        B = f.shape[0]
        n_groups = (B + nb - 1) // nb
        c = g // n_groups
        b0 = (g - c * n_groups) * nb
        n_b = min(nb, B - b0)
        for bb in range(n_b):
            _fill_padded(f, b0 + bb, c, P[bb * plane:], ph, pw, Wp, nb * plane, sign)
        return c, b0, n_b, (n_b - 1) * plane + L    # one loop over the planes of all n_b

    @_jit
    def _erosion_forward_blocks(f, kstack, out, index, nb, sign, g_start, g_stop):
        """Erosion and arg-min index of the groups ``g`` in ``[g_start, g_stop)``: group ``g``
        is channel ``c = g // nG`` and batch elements ``[b0, b0 + nb)``, ``b0 = (g % nG) * nb``
        (``nG`` groups per channel)."""
        B, C, Or, H, W = f.shape
        kOr, kH, kW = kstack.shape[2], kstack.shape[3], kstack.shape[4]
        ph, pw, Wp, plane, L = _group_layout(f, kstack, nb)
        s_stride = nb * plane             # orientation s of element bb: plane s * nb + bb
        n_offsets = kOr * kH * kW
        # The +inf border is written once; only the interiors change from group to group.
        P = np.full(Or * s_stride, np.inf, dtype=f.dtype)
        m = np.empty(s_stride, dtype=f.dtype)
        idx = np.empty(s_stride, dtype=np.int32)
        start = np.empty(n_offsets + 3, dtype=np.int64)  # + room to pad to a multiple of 4
        kval = np.empty(n_offsets + 3, dtype=f.dtype)
        kid = np.empty(n_offsets + 3, dtype=np.int32)
        for g in range(g_start, g_stop):
            c, b0, n_b, Lg = _fill_group(f, P, g, nb, ph, pw, Wp, plane, L, sign)
            for o in range(Or):
                count = _offsets(kstack, c, o, Or, s_stride, Wp, start, kval, kid)
                for p in range(Lg):
                    m[p] = np.inf
                    idx[p] = 0
                t = 0
                while t < count:
                    s0, s1, s2, s3 = start[t], start[t + 1], start[t + 2], start[t + 3]
                    _fold4(P[s0:s0 + Lg], P[s1:s1 + Lg], P[s2:s2 + Lg], P[s3:s3 + Lg],
                           kval[t], kval[t + 1], kval[t + 2], kval[t + 3],
                           kid[t], kid[t + 1], kid[t + 2], kid[t + 3], m[:Lg], idx[:Lg])
                    t += 4
                for bb in range(n_b):
                    out_o = out[b0 + bb, c, o]
                    index_o = index[b0 + bb, c, o]
                    q = bb * plane
                    for y in range(H):
                        out_row = out_o[y]
                        index_row = index_o[y]
                        for x in range(W):
                            out_row[x] = sign * m[q + y * Wp + x]
                            index_row[x] = idx[q + y * Wp + x]  # int32 -> uint8/int16: in range

    @_jit
    def _erosion_value_blocks(f, kstack, out, nb, sign, g_start, g_stop):
        """Erosion only (no index: inference), groups ``[g_start, g_stop)`` as above."""
        B, C, Or, H, W = f.shape
        kOr, kH, kW = kstack.shape[2], kstack.shape[3], kstack.shape[4]
        ph, pw, Wp, plane, L = _group_layout(f, kstack, nb)
        s_stride = nb * plane
        n_offsets = kOr * kH * kW
        P = np.full(Or * s_stride, np.inf, dtype=f.dtype)
        m = np.empty(s_stride, dtype=f.dtype)
        start = np.empty(n_offsets + 3, dtype=np.int64)  # + room to pad to a multiple of 4
        kval = np.empty(n_offsets + 3, dtype=f.dtype)
        kid = np.empty(n_offsets + 3, dtype=np.int32)
        for g in range(g_start, g_stop):
            c, b0, n_b, Lg = _fill_group(f, P, g, nb, ph, pw, Wp, plane, L, sign)
            for o in range(Or):
                count = _offsets(kstack, c, o, Or, s_stride, Wp, start, kval, kid)
                for p in range(Lg):
                    m[p] = np.inf
                t = 0
                while t < count:
                    s0, s1, s2, s3 = start[t], start[t + 1], start[t + 2], start[t + 3]
                    _fold4_value(P[s0:s0 + Lg], P[s1:s1 + Lg], P[s2:s2 + Lg], P[s3:s3 + Lg],
                                 kval[t], kval[t + 1], kval[t + 2], kval[t + 3], m[:Lg])
                    t += 4
                for bb in range(n_b):
                    out_o = out[b0 + bb, c, o]
                    q = bb * plane
                    for y in range(H):
                        out_row = out_o[y]
                        for x in range(W):
                            out_row[x] = sign * m[q + y * Wp + x]

    @_jit
    def _backward_offsets(Or, kOr, kH, kW, plane, Wp):
        """Per offset ``n``: its spatial shift ``(di[n], dj[n])`` and, per output orientation
        ``o``, where in the padded accumulator (planes of ``plane`` values, rows of ``Wp``) the
        sample read by output ``(0, 0)`` sits: ``target[o, n]``."""
        qa, ph, pw = kOr // 2, kH // 2, kW // 2
        n_offsets = kOr * kH * kW
        di = np.empty(n_offsets, dtype=np.int64)
        dj = np.empty(n_offsets, dtype=np.int64)
        target = np.empty((Or, n_offsets), dtype=np.int64)
        n = 0
        for a in range(kOr):
            for i in range(kH):
                for j in range(kW):
                    di[n] = i - ph
                    dj[n] = j - pw
                    for o in range(Or):
                        target[o, n] = ((o + a - qa) % Or) * plane + i * Wp + j
                    n += 1
        return di, dj, target

    @_jit
    def _erosion_backward_blocks(grad_out, index, grad_f, grad_k, kOr, kH, kW, checked,
                                 bc_start, bc_stop):
        """Scatter ``grad_out`` of blocks ``[bc_start, bc_stop)`` into ``grad_f`` (disjoint
        blocks) and add their kernel gradient into ``grad_k`` [_LANES, C, Or, n_offsets] (this
        thread's own float64 buffer; output column ``x`` adds into lane ``x % _LANES``, see
        :data:`_LANES`). ``checked``: test that each winner reads inside the
        image (needed only when some output was ``+inf``); a run-time flag, so one compiled
        function serves both cases (LLVM moves the loop-invariant test out of the loop)."""
        B, C, Or, H, W = grad_out.shape
        ph, pw = kH // 2, kW // 2
        Wp = W + 2 * pw
        plane = (H + 2 * ph) * Wp
        di, dj, target = _backward_offsets(Or, kOr, kH, kW, plane, Wp)
        G = np.zeros(Or * plane, dtype=grad_f.dtype)
        for bc in range(bc_start, bc_stop):
            b = bc // C
            c = bc - b * C
            for p in range(G.shape[0]):
                G[p] = 0
            for o in range(Or):
                g_o = grad_out[b, c, o]      # 2-D views: cheaper addressing than 5-D indexing
                index_o = index[b, c, o]
                target_o = target[o]
                grad_k_co = grad_k[:, c, o]      # [_LANES, n_offsets]
                for y in range(H):
                    g_row = g_o[y]
                    index_row = index_o[y]
                    for x in range(W):
                        g = g_row[x]
                        n = np.int64(index_row[x])
                        if checked:
                            # Outputs whose every candidate was +inf may point outside: no
                            # gradient. (Their G write would land in the padding, but the
                            # kernel gradient has no padding.)
                            yy = y + di[n]
                            xx = x + dj[n]
                            if not (0 <= yy < H and 0 <= xx < W):
                                continue
                        G[target_o[n] + y * Wp + x] += g
                        grad_k_co[x & (_LANES - 1), n] += g
            for s in range(Or):
                grad_f_s = grad_f[b, c, s]
                for y in range(H):
                    row = s * plane + (y + ph) * Wp + pw
                    grad_f_row = grad_f_s[y]
                    for x in range(W):
                        grad_f_row[x] = G[row + x]


# --------------------------------------------------------------------------------------------
# Backend API
# --------------------------------------------------------------------------------------------
_GROUP_POSITIONS = 2048  # positions per pass of the forward: its row buffers stay in L1


def _batch_group(B: int, H: int, W: int, kH: int, kW: int) -> int:
    """How many batch elements the forward treats in one pass (module docstring): enough for
    passes of about ``_GROUP_POSITIONS`` positions, so small planes (7x7, 14x14) do not pay
    the per-pass overhead on a few dozen positions each."""
    plane = kW // 2 + (H + 2 * (kH // 2)) * (W + kW // 2)
    return max(1, min(B, _GROUP_POSITIONS // plane))


def _check_pair(f: torch.Tensor, kstack: torch.Tensor) -> None:
    check_forward_arguments(f, kstack)
    if not supports(f):
        raise ValueError(f"the cpu backend needs f on the CPU in float32 or float64, got "
                         f"{f.dtype} on {f.device}")


def erosion_forward(f: torch.Tensor, kstack: torch.Tensor, need_index: bool, negate: bool = False):
    """Min-plus convolution of ``f`` [B,C,Or,H,W] with ``kstack`` [C,Or,kOr,kH,kW] (see module
    docstring). Returns ``(out, index)``, ``index`` (``uint8``/``int16``) only if ``need_index``.
    ``negate=True`` gives the max-plus dilation ``-erosion(-f)``: the kernels negate while they
    copy in and out, so a dilation costs what an erosion costs."""
    _check_pair(f, kstack)
    if not is_available():  # pragma: no cover
        raise RuntimeError("the cpu backend needs numba")
    B, C, Or, H, W = f.shape
    kOr, kH, kW = kstack.shape[2:]
    f_np = f.detach().contiguous().numpy()
    k_np = kstack.detach().contiguous().numpy()
    out = torch.empty(f.shape, dtype=f.dtype)
    out_np = out.numpy()
    nb = _batch_group(B, H, W, kH, kW)
    sign = f_np.dtype.type(-1.0 if negate else 1.0)
    n_groups = C * ((B + nb - 1) // nb)
    chunks = _chunks(n_groups, nb * Or * H * W * kOr * kH * kW)
    if not need_index:  # separate kernel: compiled only when first used (inference)
        _run_chunks(_erosion_value_blocks, chunks, lambda t: (f_np, k_np, out_np, nb, sign))
        return out, None
    index = torch.empty(f.shape, dtype=index_dtype(kOr * kH * kW))
    index_np = index.numpy()
    _run_chunks(_erosion_forward_blocks, chunks,
                lambda t: (f_np, k_np, out_np, index_np, nb, sign))
    return out, index


def erosion_backward(grad_out: torch.Tensor, index: torch.Tensor, f_shape, kstack_shape,
                     winners_inside: bool = False):
    """Scatter ``grad_out`` [B,C,Or,H,W] (any strides) through ``index``. Returns
    ``(grad_f [B,C,Or,H,W], grad_kstack [C,Or,kOr,kH,kW])`` in the dtype of ``grad_out``.
    ``winners_inside=True`` promises that every index reads inside the image (no output was
    ``+inf``) and skips the bounds test: 30-35 % faster (docs/performance.md)."""
    f_shape, kstack_shape = check_backward_arguments(grad_out, index, f_shape, kstack_shape)
    B, C, Or, H, W = f_shape
    kOr, kH, kW = kstack_shape[2:]
    if not supports(grad_out):
        raise ValueError(f"the cpu backend needs grad_out on the CPU in float32 or float64, "
                         f"got {grad_out.dtype} on {grad_out.device}")
    n_offsets = kOr * kH * kW
    g_np = grad_out.detach().contiguous().numpy()  # expanded grads (y.sum()) are materialised
    i_np = index.contiguous().numpy()
    # The kernel trusts the index (no bounds checks in the hot loop): refuse a foreign one.
    # (numpy, single-threaded: torch's OpenMP reductions stall badly on a loaded machine.)
    if i_np.size and (int(i_np.max()) >= n_offsets or int(i_np.min()) < 0):
        raise ValueError(f"index values must lie in [0, {n_offsets}) for kstack_shape "
                         f"{kstack_shape}, got [{int(i_np.min())}, {int(i_np.max())}]")
    grad_f = torch.empty(f_shape, dtype=grad_out.dtype)
    gf_np = grad_f.numpy()
    chunks = _chunks(B * C, Or * H * W * kOr * kH * kW)
    partial = np.zeros((len(chunks), _LANES, C, Or, n_offsets), dtype=np.float64)  # per chunk
    _run_chunks(_erosion_backward_blocks, chunks,
                lambda t: (g_np, i_np, gf_np, partial[t], kOr, kH, kW, not winners_inside))
    grad_k = torch.from_numpy(partial.sum(axis=(0, 1))).to(grad_out.dtype).reshape(kstack_shape)
    return grad_f, grad_k
