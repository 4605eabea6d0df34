r"""Erosion and dilation (min-plus / max-plus convolution) on M2 and R2, with O(output) gradients.

.. math::
    (k \,\square\, f)[o, y, x] = \min_{a,i,j}\; f[(o+a-q_a) \bmod O_r,\; y+i-p_h,\; x+j-p_w]
                                 + k[o, a, i, j], \qquad  \text{dilation} = -(k \,\square\, (-f)).

The computation happens in a backend of :mod:`gmgan_lib.kernels` (reference PyTorch, numba on
the CPU, Triton on CUDA), chosen by :func:`gmgan_lib.kernels.select_backend`. This file holds the
one autograd node around it. Why a custom node: autograd through a Python loop of
``torch.minimum`` would save one tensor per kernel offset (125 copies of the activation for a
5x5x5 kernel). We save only the compact arg-min index (1 byte per output element): the gradient
of a minimum is one-hot at the winner, and the index says which offset won.

Gradients with respect to metric parameters are not our business here: the kernel stack is built
from the metric with ordinary differentiable torch ops (:mod:`gmgan_lib.nn.metric`), so autograd
chains ``d out / d kstack`` (from this node) into ``d kstack / d metric``.
Double backward is not supported (the backward is itself a scatter through a fixed index).

R2 is the case ``Or = kOr = 1`` of M2: :func:`erosion_r2` reshapes and calls the same node.

:func:`dilation_erosion_m2` is the pair every block of the hybrid GM-GAN applies, a dilation
directly followed by an erosion. Where the backend has a fused kernel for it (the CPU, for
batches of 16 or more), it runs as one node that keeps the intermediate map inside the kernel
and saves two indices; elsewhere it is the composition. Both give the same values bit for bit.
"""
from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from gmgan_lib import kernels
from gmgan_lib.nn._checks import check_kernel_values, check_no_nan, check_rank, check_same, odd_sizes

__all__ = ["erosion_m2", "dilation_m2", "dilation_erosion_m2", "erosion_r2", "dilation_r2"]


class MinPlusConvolutionM2(torch.autograd.Function):
    """``out = erosion(f, kstack)``, or with ``negate`` the dilation ``-erosion(-f, kstack)``;
    saves the arg-min index (and, rarely, a dead mask)."""

    @staticmethod
    def forward(ctx, f: torch.Tensor, kstack: torch.Tensor, need_index: bool,
                negate: bool = False) -> torch.Tensor:
        backend = kernels.select_backend(f)
        out, index = backend.erosion_forward(f.contiguous(), kstack.contiguous(), need_index,
                                             negate=negate)
        ctx.backend, ctx.negate = backend, negate
        ctx.shapes = (tuple(f.shape), tuple(kstack.shape))
        # An output whose candidates are all +inf (-inf for a dilation) has no winner and must
        # send no gradient (docs/architecture.md). That needs infinities in f or in the kernel,
        # which is rare; on the CPU we look for it (no sync cost) and keep a bool mask only if
        # it happens. On CUDA the check would synchronise, so we always keep the mask there.
        dead = None
        if need_index:
            is_dead = torch.isneginf if negate else torch.isposinf
            if out.device.type != "cpu":
                dead = is_dead(out)
            elif (out.amin() == -float("inf")) if negate else (out.amax() == float("inf")):
                dead = is_dead(out)
        # No dead output (known only on the CPU) means every winner was a finite sample, hence
        # inside the image: the backward may skip its bounds test.
        ctx.winners_inside = dead is None
        ctx.save_for_backward(index, dead)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        index, dead = ctx.saved_tensors
        if dead is not None:
            grad_out = grad_out.masked_fill(dead, 0)
        f_shape, k_shape = ctx.shapes
        grad_f, grad_k = ctx.backend.erosion_backward(grad_out, index, f_shape, k_shape,
                                                      winners_inside=ctx.winners_inside)
        # d/df of -erosion(-f) is the erosion's scatter itself (the two signs cancel); d/dk
        # keeps one sign.
        if ctx.negate and ctx.needs_input_grad[1]:
            grad_k = -grad_k
        return (grad_f if ctx.needs_input_grad[0] else None,
                grad_k if ctx.needs_input_grad[1] else None, None, None)


def _min_plus(f: torch.Tensor, kstack: torch.Tensor, negate: bool = False) -> torch.Tensor:
    # The index costs a pass of writes; skip it when no gradient will be asked for
    # (inference, torch.no_grad(), frozen inputs).
    need_index = torch.is_grad_enabled() and (f.requires_grad or kstack.requires_grad)
    return MinPlusConvolutionM2.apply(f, kstack, need_index, negate)


def _check_m2(f: torch.Tensor, kernel_stack: torch.Tensor, values: bool = True,
              name: str = "kernel_stack") -> None:
    check_rank("f", f, 5, "[B, C, Or, H, W]")
    check_rank(name, kernel_stack, 5, "[C, Or, kOr, kH, kW]")
    check_same("f", f, name, kernel_stack)
    odd_sizes(f"{name} sizes (kOr, kH, kW)", tuple(kernel_stack.shape[2:]), 3)
    C, Or = f.shape[1], f.shape[2]
    if kernel_stack.shape[0] != C:
        raise ValueError(f"{name} must have C={C} channels like f (layout [C, Or, kOr, kH, kW]), "
                         f"got {kernel_stack.shape[0]}")
    if kernel_stack.shape[1] != Or:
        raise ValueError(f"{name} must have one kernel per orientation of f (Or={Or}, layout "
                         f"[C, Or, kOr, kH, kW]), got {kernel_stack.shape[1]}")
    if values:
        check_no_nan("f", f)
        check_kernel_values(name, kernel_stack)


def erosion_m2(f: torch.Tensor, kernel_stack: torch.Tensor) -> torch.Tensor:
    """Min-plus convolution on M2: ``f`` [B, C, Or, H, W], ``kernel_stack`` [C, Or, kOr, kH, kW].

    Samples outside the image never win; the orientation axis is periodic.
    """
    _check_m2(f, kernel_stack)
    return _min_plus(f, kernel_stack)


def dilation_m2(f: torch.Tensor, kernel_stack: torch.Tensor) -> torch.Tensor:
    """Max-plus convolution on M2: ``-erosion_m2(-f, kernel_stack)`` (one pass: the backend
    negates as it copies)."""
    _check_m2(f, kernel_stack)
    return _min_plus(f, kernel_stack, negate=True)


class DilationErosionM2(torch.autograd.Function):
    """``out = erosion(dilation(f, k_dil), k_ero)`` in one backend call, for finite inputs
    (then no output is dead and every winner reads inside the image); saves the two indices."""

    @staticmethod
    def forward(ctx, f, k_dil, k_ero, need_index: bool, backend):
        out, index_dil, index_ero = backend.dilation_erosion_forward(
            f.contiguous(), k_dil.contiguous(), k_ero.contiguous(), need_index)
        ctx.backend = backend
        ctx.shapes = (tuple(k_dil.shape), tuple(k_ero.shape))
        ctx.save_for_backward(index_dil, index_ero)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        index_dil, index_ero = ctx.saved_tensors
        need_k = ctx.needs_input_grad[1] or ctx.needs_input_grad[2]
        grad_f, grad_k_dil, grad_k_ero = ctx.backend.dilation_erosion_backward(
            grad_out, index_dil, index_ero, *ctx.shapes, need_grad_k=need_k,
            check_index=False)   # (the indices are the forward's own)
        return (grad_f if ctx.needs_input_grad[0] else None,
                grad_k_dil if ctx.needs_input_grad[1] else None,
                grad_k_ero if ctx.needs_input_grad[2] else None, None, None)


def _all_finite(t: torch.Tensor) -> bool:
    t = t.detach()   # one reduction as the pre-test, as in check_no_nan
    return bool(torch.isfinite(t.sum())) or bool(torch.isfinite(t).all())


def dilation_erosion_m2(f: torch.Tensor, k_dil: torch.Tensor, k_ero: torch.Tensor) -> torch.Tensor:
    """``erosion_m2(dilation_m2(f, k_dil), k_ero)``: ``f`` [B, C, Or, H, W], kernel stacks
    [C, Or, kOr, kH, kW] (the two may differ in size). One fused backend call where the backend
    has one (module docstring), else the two operators; the same values either way."""
    # The NaN test of f is the finiteness test below: a NaN sends f to the composition, whose
    # checks name it. The kernels are checked here, under their own names (a kernel is small:
    # that the composition looks at them again costs next to nothing).
    _check_m2(f, k_dil, values=False, name="k_dil")
    _check_m2(f, k_ero, values=False, name="k_ero")
    check_kernel_values("k_dil", k_dil)
    check_kernel_values("k_ero", k_ero)
    return _dilation_erosion_m2(f, k_dil, k_ero)


def _dilation_erosion_m2(f: torch.Tensor, k_dil: torch.Tensor, k_ero: torch.Tensor) -> torch.Tensor:
    """:func:`dilation_erosion_m2` once its shapes are known to be right (checked by it, or by
    a layer that built the kernels for ``f``). Values are still looked at: anything not finite
    (a NaN, an infinity) goes to the checked composition, whose checks name a NaN and whose
    gradient rule handles outputs without a winner."""
    backend = kernels.select_backend(f)
    fused = backend.dilation_erosion_forward is not None and backend.dilation_erosion_supports(f)
    if not fused and f.device.type != "cpu":
        # On a GPU no value is looked at (a synchronisation per call): a NaN shows in the output.
        return _min_plus(_min_plus(f, k_dil, negate=True), k_ero)
    if not (_all_finite(f) and _all_finite(k_dil) and _all_finite(k_ero)):
        return erosion_m2(dilation_m2(f, k_dil), k_ero)
    if not fused:
        # Finite inputs: the intermediate map has no NaN (a sum of two finite numbers is finite
        # or an overflow to an infinity), so the two nodes need no second look at it.
        return _min_plus(_min_plus(f, k_dil, negate=True), k_ero)
    need_index = torch.is_grad_enabled() and (f.requires_grad or k_dil.requires_grad
                                              or k_ero.requires_grad)
    out = DilationErosionM2.apply(f, k_dil, k_ero, need_index, backend)
    if need_index and not _all_finite(out):
        # Finite inputs whose sums overflowed (|f| near the dtype's largest value): an output
        # may then be dead, which only the composition's gradient rule handles.
        return erosion_m2(dilation_m2(f, k_dil), k_ero)
    return out


def _check_r2(f: torch.Tensor, kernel: torch.Tensor) -> None:
    check_rank("f", f, 4, "[B, C, H, W]")
    check_rank("kernel", kernel, 3, "[C, kH, kW]")
    check_same("f", f, "kernel", kernel)
    odd_sizes("kernel sizes (kH, kW)", tuple(kernel.shape[1:]), 2)
    if kernel.shape[0] != f.shape[1]:
        raise ValueError(f"kernel must have C={f.shape[1]} channels like f (layout [C, kH, kW]), "
                         f"got {kernel.shape[0]}")
    check_no_nan("f", f)
    check_kernel_values("kernel", kernel)


def erosion_r2(f: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Min-plus convolution on R2: ``f`` [B, C, H, W], ``kernel`` [C, kH, kW] (odd sizes).

    ``out[b,c,y,x] = min_{i,j} f[b,c,y+i-ph,x+j-pw] + kernel[c,i,j]`` (correlation form).
    """
    _check_r2(f, kernel)
    return _min_plus(f.unsqueeze(2), kernel[:, None, None]).squeeze(2)


def dilation_r2(f: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Max-plus convolution on R2: ``-erosion_r2(-f, kernel)``."""
    _check_r2(f, kernel)
    return _min_plus(f.unsqueeze(2), kernel[:, None, None], negate=True).squeeze(2)
