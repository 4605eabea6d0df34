"""Reference backend of the min-plus convolution on M2: readable pure PyTorch.

This file is the *oracle*: every fast backend (``cpu``, ``triton``) is tested against it, so it
is written to be obviously correct rather than fast. The operator (docs/architecture.md)::

    out[b,c,o,y,x] = min over (a,i,j) of  f[b,c,(o+a-qa) mod Or, y+i-ph, x+j-pw] + kstack[c,o,a,i,j]

with ``qa = kOr//2, ph = kH//2, pw = kW//2``. Samples outside the image never win (the image is
padded with ``+inf``) and the orientation axis is periodic. R2 is the case ``Or = kOr = 1``.

How it stays O(output) in memory: we never unfold the ``kOr*kH*kW`` shifted copies of ``f``.
Instead we scan the offsets in the order ``n = (a*kH + i)*kW + j`` and keep a running minimum plus
the compact arg-min index ``n`` (``uint8`` for up to 256 offsets). Ties go to the *smallest* ``n``
because we only replace on a strict ``<``; every backend must break ties the same way.

The backward pass needs nothing but that index: the (sub)gradient of a minimum is one-hot at the
winner, so ``grad_out`` is scattered to the one input sample and the one kernel entry that won.
"""
from __future__ import annotations

import torch

from gmgan_lib.kernels import index_dtype

__all__ = ["erosion_forward", "erosion_backward", "is_available"]


def is_available() -> bool:
    """Pure PyTorch runs everywhere."""
    return True


def _window(n: int, offset: int) -> tuple[slice, slice]:
    """Slices pairing outputs with inputs for one spatial offset along one axis.

    Output position ``y`` reads input ``y + offset``; only outputs with ``0 <= y + offset < n``
    read a real sample. Returns (output slice, input slice) of equal length (possibly empty).
    """
    lo, hi = max(0, -offset), min(n, n - offset)
    if hi <= lo:
        return slice(0, 0), slice(0, 0)
    return slice(lo, hi), slice(lo + offset, hi + offset)


def erosion_forward(f: torch.Tensor, kstack: torch.Tensor, need_index: bool, negate: bool = False):
    """Min-plus convolution of ``f`` [B,C,Or,H,W] with ``kstack`` [C,Or,kOr,kH,kW]
    (``negate=True``: of ``-f``, and the result negated, i.e. the max-plus dilation).

    Returns ``(out, index)``: ``out`` [B,C,Or,H,W] in the dtype of ``f``; ``index`` the arg-min
    offset ``n = (a*kH + i)*kW + j`` (``uint8``/``int16``, same shape) or ``None``.
    An output whose candidates are all ``+inf`` is ``+inf`` with index 0.
    """
    B, C, Or, H, W = f.shape
    _, _, kOr, kH, kW = kstack.shape
    qa, ph, pw = kOr // 2, kH // 2, kW // 2
    if negate:
        f = -f
    out = torch.full_like(f, float("inf"))
    index = torch.zeros(f.shape, dtype=index_dtype(kOr * kH * kW), device=f.device) if need_index else None
    n = 0
    for a in range(kOr):
        # f_a[o] = f[(o + a - qa) mod Or]: one transient copy per angular offset, freed at once.
        f_a = torch.roll(f, shifts=-(a - qa), dims=2)
        for i in range(kH):
            ys_out, ys_in = _window(H, i - ph)
            for j in range(kW):
                xs_out, xs_in = _window(W, j - pw)
                k = kstack[:, :, a, i, j].view(1, C, Or, 1, 1)
                cand = f_a[..., ys_in, xs_in] + k
                region = out[..., ys_out, xs_out]          # a view: updated in place below
                if index is not None:
                    better = cand < region                  # strict: ties keep the smaller n
                    index[..., ys_out, xs_out].masked_fill_(better, n)
                # torch.minimum (not a where on the mask) also lets a NaN show in the output.
                torch.minimum(region, cand, out=region)
                n += 1
    return (-out if negate else out), index


def erosion_backward(grad_out: torch.Tensor, index: torch.Tensor, f_shape, kstack_shape,
                     winners_inside: bool = False):
    """Scatter ``grad_out`` (any strides) through the arg-min ``index``.

    Returns ``(grad_f [B,C,Or,H,W], grad_kstack [C,Or,kOr,kH,kW])``. For every offset ``n`` the
    outputs that chose it send their gradient to the input sample they read (shifted back by the
    offset) and to the kernel entry ``kstack[c,o,a,i,j]``. An index that points outside the image
    (only possible when every candidate was ``+inf``) sends nothing. ``winners_inside`` (a
    promise that no index points outside, which lets the CPU kernel skip its bounds test) is
    accepted for the common signature; this readable version always tests.
    """
    B, C, Or, H, W = f_shape
    _, _, kOr, kH, kW = kstack_shape
    qa, ph, pw = kOr // 2, kH // 2, kW // 2
    grad_f = torch.zeros(f_shape, dtype=grad_out.dtype, device=grad_out.device)
    grad_k = torch.zeros(kstack_shape, dtype=grad_out.dtype, device=grad_out.device)
    n = 0
    for a in range(kOr):
        # Gradient arriving at output orientation o belongs to input orientation o + a - qa;
        # collect it in output orientation order, then roll once per angular offset.
        acc = torch.zeros_like(grad_f)
        for i in range(kH):
            ys_out, ys_in = _window(H, i - ph)
            for j in range(kW):
                xs_out, xs_in = _window(W, j - pw)
                won = index[..., ys_out, xs_out] == n
                g = torch.where(won, grad_out[..., ys_out, xs_out], 0)
                grad_k[:, :, a, i, j] = g.sum(dim=(0, 3, 4))
                acc[..., ys_in, xs_in] += g
                n += 1
        grad_f += torch.roll(acc, shifts=a - qa, dims=2)
    return grad_f, grad_k
