"""Triton backend of the min-plus convolution on M2 (CUDA; the CPU only through the interpreter).

Same contract as :mod:`gmgan_lib.kernels.reference` (docs/architecture.md)::

    out[b,c,o,y,x] = min over (a,i,j) of  f[b,c,(o+a-qa) mod Or, y+i-ph, x+j-pw] + kstack[c,o,a,i,j]

with the arg-min index ``n = (a*kH + i)*kW + j`` (ties to the smallest ``n``), ``+inf`` padding
and a periodic orientation axis. Layout ``[B, C, Or, H, W]`` throughout.

Three kernels, each one program per 2-D tile of ``(y, x)`` positions of one ``(b, c, o)`` plane:

* forward: the ``kOr*kH*kW`` offsets are unrolled at compile time (the kernel size is a
  ``constexpr``) in increasing ``n``, so the running min and arg-min stay in registers and the
  strict ``<`` gives the tie rule. Outside samples are masked loads with ``other=+inf``. The
  index is written as ``uint8``/``int16`` (1-2 bytes per output instead of lietorch's 12), and a
  ``NEED_INDEX=False`` specialisation skips it for inference. The min is exact in the input
  dtype; the candidate ``f + k`` is added in float32 and rounded once to the input dtype for
  float16/bfloat16, which is what PyTorch (hence the reference backend) does, so the
  backends agree bit for bit;
* backward, input gradient as a *gather*: each input sample visits the outputs that could have
  read it (offset ``n`` at output ``(y - i + ph, x - j + pw)``, orientation ``s - a + qa``) and
  adds their gradient where their index equals ``n``. No atomics, so the result is
  deterministic and does not depend on scheduling; the cost is two masked loads per offset, the
  same memory pattern as the forward. Only outputs inside the image are visited, so an index
  pointing outside the image (all candidates ``+inf``) sends nothing, as the contract says;
* backward, kernel gradient: each program reduces its tile once per offset (``tl.sum`` of the
  gradient where the index equals ``n`` and that offset reads inside the image) and writes
  ``kOr*kH*kW`` partial sums; a deterministic ``torch.sum`` over batch and tiles finishes it.
  (``tl.atomic_add`` into 125 hot addresses per channel would serialise and be nondeterministic.)

Gradients are accumulated in float32 (float64 for float64 inputs) and returned in the dtype of
``grad_out``.

On the CPU the same kernels run under Triton's interpreter (``InterpretedFunction``): that is how
CI tests their logic without a GPU. It is very slow, so :func:`supports` only claims CPU tensors
when ``TRITON_INTERPRET=1`` is set; the dispatcher never sends CPU work here by accident.
"""
from __future__ import annotations

import functools

import torch

from gmgan_lib.kernels import check_backward_arguments, check_forward_arguments, index_dtype

try:
    import triton
    import triton.language as tl
    from triton.runtime.interpreter import InterpretedFunction
except ImportError:  # pragma: no cover - triton is pinned, but keep the package importable
    triton = None

__all__ = ["erosion_forward", "erosion_backward", "supports", "why_not", "is_available"]

_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def _interpret_requested() -> bool:
    return triton is not None and _INTERPRETED


# The oldest NVIDIA GPUs these kernels are sent to. Triton's list of supported GPUs starts at
# compute capability 8.0 (Ampere) since its 3.3 release, and older ones fail when a kernel is
# first compiled, in ways that depend on the dtype (bfloat16 code needs sm_80 in hardware: a
# Turing T4, 7.5, the free GPU of many notebooks, stops with a ptxas error). Rather than crash in
# a user's first call, the dispatcher asks :func:`why_not` and runs the reference path instead.
MIN_CAPABILITY = (8, 0)


def is_available() -> bool:
    """Triton imports and there is a CUDA device (or the interpreter was asked for)."""
    return triton is not None and (torch.cuda.is_available() or _interpret_requested())


@functools.cache
def _capability(index: int) -> tuple[int, int]:
    """(major, minor) compute capability of CUDA device ``index`` (asked once per device)."""
    return tuple(torch.cuda.get_device_capability(index))


def why_not(f: torch.Tensor) -> str | None:
    """``None`` when these kernels run ``f``; otherwise why not, in words that name the device
    and the dtype (the dispatcher's warning, or the error of a forced backend)."""
    if f.dtype not in _DTYPES:
        names = ", ".join(str(d).removeprefix("torch.") for d in _DTYPES)
        return f"the Triton kernels run {names}, not {str(f.dtype).removeprefix('torch.')}"
    if f.device.type == "cpu":
        return None if _interpret_requested() else \
            "the Triton kernels run CPU tensors only under TRITON_INTERPRET=1"
    if f.device.type != "cuda":
        return f"the Triton kernels run CUDA tensors, not {f.device.type} ones"
    if torch.version.hip is None:   # NVIDIA (on ROCm, Triton's own AMD support applies)
        index = f.device.index if f.device.index is not None else torch.cuda.current_device()
        major, minor = _capability(index)
        if (major, minor) < MIN_CAPABILITY:
            return (f"the Triton kernels need an NVIDIA GPU of compute capability "
                    f"{MIN_CAPABILITY[0]}.{MIN_CAPABILITY[1]} or newer; "
                    f"{torch.cuda.get_device_name(index)} has {major}.{minor}")
    return None


def supports(f: torch.Tensor) -> bool:
    """CUDA tensors of float32/float16/bfloat16/float64 on a GPU of compute capability 8.0 or
    newer; CPU tensors only under ``TRITON_INTERPRET=1`` (tests). :func:`why_not` says why not."""
    return why_not(f) is None


# --------------------------------------------------------------------------------------------
# Kernels (plain functions; compiled with triton.jit for CUDA, interpreted on the CPU)
# --------------------------------------------------------------------------------------------
def _tile_positions(H, W, BLOCK_H: tl.constexpr, BLOCK_W: tl.constexpr):
    """Rows ``ys`` [BLOCK_H, 1] and columns ``xs`` [1, BLOCK_W] of this program's tile of its
    plane (tiles numbered along program axis 1, row-major), and the mask of those inside the
    image. Every kernel of this package starts from it."""
    pid_tile = tl.program_id(1)
    tiles_w = tl.cdiv(W, BLOCK_W)
    ys = (pid_tile // tiles_w) * BLOCK_H + tl.arange(0, BLOCK_H)[:, None]
    xs = (pid_tile % tiles_w) * BLOCK_W + tl.arange(0, BLOCK_W)[None, :]
    return ys, xs, (ys < H) & (xs < W)


def _erosion_forward_kernel(
    f_ptr, k_ptr, out_ptr, idx_ptr,
    C, OR, H, W,
    KOR: tl.constexpr, KH: tl.constexpr, KW: tl.constexpr,
    BLOCK_H: tl.constexpr, BLOCK_W: tl.constexpr,
    NEED_INDEX: tl.constexpr, UPCAST: tl.constexpr,
):
    pid_plane = tl.program_id(0)           # (b*C + c)*OR + o
    o = pid_plane % OR
    bc = pid_plane // OR
    c = bc % C
    ys, xs, inside = _tile_positions(H, W, BLOCK_H, BLOCK_W)
    plane = H * W
    f_bc = f_ptr + bc.to(tl.int64) * OR * plane     # int64: large batches overflow int32
    k_co = k_ptr + (c * OR + o) * (KOR * KH * KW)

    # (+inf built in float32 and cast: the interpreter has no bfloat16 constants)
    m = tl.full([BLOCK_H, BLOCK_W], float("inf"), tl.float32).to(f_ptr.dtype.element_ty)
    arg = tl.zeros([BLOCK_H, BLOCK_W], tl.int32)
    for a in tl.static_range(KOR):
        # (o + a - qa) mod OR with a non-negative numerator (Triton's % truncates like C).
        s = (o + a - KOR // 2 + (KOR // 2) * OR) % OR
        f_s = f_bc + s * plane
        for i in tl.static_range(KH):
            yy = ys + (i - KH // 2)
            row_ok = (yy >= 0) & (yy < H)
            for j in tl.static_range(KW):
                xx = xs + (j - KW // 2)
                ok = row_ok & (xx >= 0) & (xx < W)
                v = tl.load(f_s + yy * W + xx, mask=ok, other=float("inf"))
                kv = tl.load(k_co + (a * KH + i) * KW + j)
                if UPCAST:
                    cand = (v.to(tl.float32) + kv.to(tl.float32)).to(v.dtype)
                else:
                    cand = v + kv
                # Strict: ties keep the smaller n. A NaN candidate is taken too (and, once m is
                # NaN, nothing is below it): a NaN in the image or the kernel shows in the output,
                # as it does in the reference's torch.minimum, instead of losing every comparison
                # and vanishing. No value check runs on the GPU (a sync per call); this keeps a
                # NaN visible without one.
                better = (cand < m) | (cand != cand)
                m = tl.where(better, cand, m)
                if NEED_INDEX:
                    arg = tl.where(better, (a * KH + i) * KW + j, arg)
    offs = pid_plane.to(tl.int64) * plane + ys * W + xs
    tl.store(out_ptr + offs, m, mask=inside)
    if NEED_INDEX:
        tl.store(idx_ptr + offs, arg.to(idx_ptr.dtype.element_ty), mask=inside)


def _erosion_backward_input_kernel(
    g_ptr, idx_ptr, gf_ptr,
    C, OR, H, W,
    g_sb, g_sc, g_so, g_sy, g_sx,
    KOR: tl.constexpr, KH: tl.constexpr, KW: tl.constexpr,
    BLOCK_H: tl.constexpr, BLOCK_W: tl.constexpr, ACC: tl.constexpr,
):
    pid_plane = tl.program_id(0)           # (b*C + c)*OR + s: an INPUT plane
    s = pid_plane % OR
    bc = pid_plane // OR
    b = bc // C
    c = bc % C
    ys, xs, inside = _tile_positions(H, W, BLOCK_H, BLOCK_W)
    plane = H * W
    idx_bc = idx_ptr + bc.to(tl.int64) * OR * plane
    g_bc = g_ptr + b.to(tl.int64) * g_sb + c.to(tl.int64) * g_sc

    acc = tl.zeros([BLOCK_H, BLOCK_W], ACC)
    for a in tl.static_range(KOR):
        # The output orientation that reads input orientation s at angular offset a.
        o = (s - a + KOR // 2 + KOR * OR) % OR
        idx_o = idx_bc + o * plane
        g_o = g_bc + o.to(tl.int64) * g_so
        for i in tl.static_range(KH):
            y = ys - (i - KH // 2)
            row_ok = inside & (y >= 0) & (y < H)
            for j in tl.static_range(KW):
                x = xs - (j - KW // 2)
                ok = row_ok & (x >= 0) & (x < W)
                won = tl.load(idx_o + y * W + x, mask=ok, other=-1).to(tl.int32)
                hit = ok & (won == (a * KH + i) * KW + j)
                g = tl.load(g_o + y * g_sy + x * g_sx, mask=hit, other=0.0)
                acc += g.to(ACC)
    offs = pid_plane.to(tl.int64) * plane + ys * W + xs
    tl.store(gf_ptr + offs, acc.to(gf_ptr.dtype.element_ty), mask=inside)


def _erosion_backward_kernel_kernel(
    g_ptr, idx_ptr, part_ptr,
    C, OR, H, W,
    g_sb, g_sc, g_so, g_sy, g_sx,
    KOR: tl.constexpr, KH: tl.constexpr, KW: tl.constexpr,
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
    won = tl.load(idx_ptr + pid_plane.to(tl.int64) * plane + ys * W + xs, mask=inside,
                  other=-1).to(tl.int32)
    g_o = g_ptr + b.to(tl.int64) * g_sb + c.to(tl.int64) * g_sc + o.to(tl.int64) * g_so
    g = tl.load(g_o + ys * g_sy + xs * g_sx, mask=inside, other=0.0).to(ACC)
    part = part_ptr + (pid_plane.to(tl.int64) * tl.num_programs(1) + pid_tile) * (KOR * KH * KW)
    for a in tl.static_range(KOR):
        for i in tl.static_range(KH):
            yy = ys + (i - KH // 2)
            row_ok = (yy >= 0) & (yy < H)
            for j in tl.static_range(KW):
                xx = xs + (j - KW // 2)
                n = (a * KH + i) * KW + j
                # Only a winner that read inside the image carries gradient (contract).
                hit = row_ok & (xx >= 0) & (xx < W) & (won == n)
                tl.store(part + n, tl.sum(tl.where(hit, g, 0.0)))


# Triton decides at decoration time whether a kernel is compiled or interpreted, and its own
# library functions (tl.sum, tl.cdiv) were decorated when triton was imported: the interpreter
# therefore only works when TRITON_INTERPRET=1 was set before triton's first import (tests run
# it in a fresh subprocess). _INTERPRETED records which world this process lives in.
_INTERPRETED = False
if triton is not None:
    _tile_positions = triton.jit(_tile_positions)
    _erosion_forward_kernel = triton.jit(_erosion_forward_kernel)
    _erosion_backward_input_kernel = triton.jit(_erosion_backward_input_kernel)
    _erosion_backward_kernel_kernel = triton.jit(_erosion_backward_kernel_kernel)
    _INTERPRETED = isinstance(tl.cdiv, InterpretedFunction)


# --------------------------------------------------------------------------------------------
# Backend API
# --------------------------------------------------------------------------------------------
def _tile(H: int, W: int) -> tuple[int, int]:
    """A power-of-two tile of about 512 positions covering rows of the image."""
    block_w = min(triton.next_power_of_2(W), 64)
    block_h = max(1, min(triton.next_power_of_2(H), 512 // block_w))
    return block_h, block_w


def _acc_dtype(dtype: torch.dtype):
    return tl.float64 if dtype == torch.float64 else tl.float32


def _check_pair(f: torch.Tensor, kstack: torch.Tensor) -> None:
    check_forward_arguments(f, kstack)
    if f.dtype not in _DTYPES:
        raise ValueError(f"the triton backend needs f in one of {_DTYPES}, got {f.dtype}")


def _check_device(t: torch.Tensor) -> None:
    if _INTERPRETED:
        if t.device.type != "cpu":
            raise ValueError(f"under TRITON_INTERPRET=1 the triton backend runs CPU tensors, got {t.device}")
    elif not t.is_cuda:
        raise ValueError(f"the triton backend needs CUDA tensors, got {t.device} (CPU tensors run "
                         "only interpreted: set TRITON_INTERPRET=1 before triton is first imported)")


def erosion_forward(f: torch.Tensor, kstack: torch.Tensor, need_index: bool, negate: bool = False):
    """Min-plus convolution of ``f`` [B,C,Or,H,W] with ``kstack`` [C,Or,kOr,kH,kW]. Returns
    ``(out, index)``, the ``uint8``/``int16`` arg-min ``index`` only if ``need_index``.
    ``negate=True``: the max-plus dilation ``-erosion(-f)`` (two negations here; the CPU
    backend fuses them into its copies)."""
    if triton is None:  # pragma: no cover
        raise RuntimeError("the triton backend needs triton")
    _check_pair(f, kstack)
    _check_device(f)
    B, C, Or, H, W = f.shape
    kOr, kH, kW = kstack.shape[2:]
    f = (-f if negate else f).detach().contiguous()
    kstack = kstack.detach().contiguous()
    out = torch.empty_like(f)
    idx_t = index_dtype(kOr * kH * kW)
    # Without an index nothing is written; a 1-element stand-in keeps the signature fixed.
    index = torch.empty(f.shape if need_index else (1,), dtype=idx_t, device=f.device)
    bh, bw = _tile(H, W)
    grid = (B * C * Or, triton.cdiv(H, bh) * triton.cdiv(W, bw))
    _erosion_forward_kernel[grid](
        f, kstack, out, index, C, Or, H, W,
        KOR=kOr, KH=kH, KW=kW, BLOCK_H=bh, BLOCK_W=bw,
        NEED_INDEX=bool(need_index), UPCAST=f.dtype in (torch.float16, torch.bfloat16))
    return (out.neg_() if negate else out), (index if need_index else None)


def erosion_backward(grad_out: torch.Tensor, index: torch.Tensor, f_shape, kstack_shape,
                     winners_inside: bool = False):
    """Gradients of the erosion from ``grad_out`` [B,C,Or,H,W] (any strides, expanded ones
    included) and the forward's ``index``. Returns ``(grad_f, grad_kstack)`` in the dtype of
    ``grad_out``. ``winners_inside`` is accepted for the common signature: the gather visits only
    outputs inside the image anyway, at no extra cost."""
    if triton is None:  # pragma: no cover
        raise RuntimeError("the triton backend needs triton")
    f_shape, kstack_shape = check_backward_arguments(grad_out, index, f_shape, kstack_shape)
    B, C, Or, H, W = f_shape
    kOr, kH, kW = kstack_shape[2:]
    if grad_out.dtype not in _DTYPES:
        raise ValueError(f"grad_out must be one of {_DTYPES}, got {grad_out.dtype}")
    if index.device != grad_out.device:
        raise ValueError(f"index ({index.device}) and grad_out ({grad_out.device}) must share a device")
    _check_device(grad_out)
    index = index.contiguous()
    acc = _acc_dtype(grad_out.dtype)
    bh, bw = _tile(H, W)
    tiles = triton.cdiv(H, bh) * triton.cdiv(W, bw)
    grid = (B * C * Or, tiles)
    strides = grad_out.stride()  # honoured as given: no copy of an expanded gradient
    common = dict(KOR=kOr, KH=kH, KW=kW, BLOCK_H=bh, BLOCK_W=bw, ACC=acc)

    grad_f = torch.empty(f_shape, dtype=grad_out.dtype, device=grad_out.device)
    _erosion_backward_input_kernel[grid](
        grad_out, index, grad_f, C, Or, H, W, *strides, **common)

    part_dtype = torch.float64 if grad_out.dtype == torch.float64 else torch.float32
    part = torch.empty((B, C, Or, tiles, kOr * kH * kW), dtype=part_dtype, device=grad_out.device)
    _erosion_backward_kernel_kernel[grid](
        grad_out, index, part, C, Or, H, W, *strides, **common)
    grad_k = part.sum(dim=(0, 3)).reshape(kstack_shape).to(grad_out.dtype)
    return grad_f, grad_k
