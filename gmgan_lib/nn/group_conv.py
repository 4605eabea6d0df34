"""Linear group convolutions on M2 with four orientations (the p4 group CNNs of Cohen & Welling).

These are the *linear* layers of the hybrid GM-GAN (docs/architecture.md, "Two readings of
GM-GAN"): they carry the channels at GEMM cost, and the morphological PDE layers
(:class:`~gmgan_lib.nn.DilationM2`, :class:`~gmgan_lib.nn.ErosionM2`) act as the nonlinearity.

With ``Or = 4`` every orientation is a quarter turn, and a quarter turn maps the pixel grid onto
itself, so the rotated copies of a filter are exact (``torch.rot90``, no resampling) for any
filter size, odd or even. That is why these layers fix ``Or = 4``: ``LiftM2`` and the PDE layers
handle any multiple of 4 by resampling, at the price of exactness between quarter turns.

Layouts (the project's, docs/architecture.md): R2 maps ``[B, C, H, W]``, M2 maps
``[B, C, Or, H, W]`` with orientation ``o`` at angle ``o * 90`` degrees counter-clockwise.

- **Lifting** R2 -> M2, ``weight [Cout, Cin, k, k]``::

      out[b, c, o] = sum_i  x[b, i] (*) rot90(weight[c, i], o)

- **Group convolution** M2 -> M2, ``weight [Cout, Cin, Or, k, k]``::

      out[b, c, o] = sum_{i, a}  f[b, i, a] (*) rot90(weight[c, i, (a - o) mod Or], o)

  (``(*)`` is the cross-correlation of ``conv2d``). Rotating the input (``rot90`` in the plane,
  roll ``+1`` in orientation: :func:`~gmgan_lib.nn.rot90_m2`) rotates the output the same way.

Both become one ordinary ``conv2d`` with ``Cout * Or`` output and ``Cin * Or`` (or ``Cin``) input
channels whose filters are the rotated and rolled copies: the cost of a plain convolution with
that many channels, on the same GEMM code. **Strided and transposed** versions stay exactly
equivariant when the grid is centred the same way before and after, e.g. kernel 4, stride 2,
padding 1 between 28, 14 and 7 pixels (DCGAN's layers); tests/nn/test_group_conv.py checks it.
A transposed group convolution is the adjoint of a group convolution, hence equivariant too; its
weight uses PyTorch's ``ConvTranspose2d`` convention ``[Cin, Cout, Or, k, k]``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gmgan_lib.nn._checks import check_positive_int, check_rank, check_same
from gmgan_lib.nn.equivariance import EquivariantModule

__all__ = ["P4", "lift_filters_p4", "group_filters_p4", "group_conv_m2", "GroupConvM2"]

P4 = 4  # orientations of the group convolutions


def lift_filters_p4(weight: torch.Tensor) -> torch.Tensor:
    """``[Cout, Cin, k, k]`` -> ``[Cout * 4, Cin, k, k]``: copy ``o`` turned by ``o`` quarter turns."""
    check_rank("weight", weight, 4, "[Cout, Cin, k, k]")
    cout, cin, k, _ = weight.shape
    filters = torch.stack([torch.rot90(weight, o, dims=(-2, -1)) for o in range(P4)], dim=1)
    return filters.reshape(cout * P4, cin, k, k)


def group_filters_p4(weight: torch.Tensor) -> torch.Tensor:
    """``[Cout, Cin, 4, k, k]`` -> ``[Cout * 4, Cin * 4, k, k]``: for output orientation ``o``,
    the orientation axis rolled by ``o`` and the plane turned by ``o`` quarter turns."""
    check_rank("weight", weight, 5, "[Cout, Cin, Or=4, k, k]")
    cout, cin, orientations, k, _ = weight.shape
    if orientations != P4:
        raise ValueError(f"weight must have Or={P4} orientations (layout [Cout, Cin, Or, k, k]), "
                         f"got {orientations}")
    filters = torch.stack([torch.rot90(torch.roll(weight, o, dims=2), o, dims=(-2, -1))
                           for o in range(P4)], dim=1)
    return filters.reshape(cout * P4, cin * P4, k, k)


def group_conv_m2(x: torch.Tensor, weight: torch.Tensor, stride: int = 1, padding: int = 0,
                  transposed: bool = False) -> torch.Tensor:
    """p4 lifting (``x`` [B, Cin, H, W], ``weight`` [Cout, Cin, k, k]) or group convolution
    (``x`` [B, Cin, 4, H, W], ``weight`` [Cout, Cin, 4, k, k]; transposed: ``[Cin, Cout, 4, k, k]``).

    Returns ``[B, Cout, 4, H', W']`` with ``H'`` as ``conv2d`` / ``conv_transpose2d`` give it.
    """
    check_same("x", x, "weight", weight)
    if weight.dim() == 4:           # lifting R2 -> M2
        check_rank("x", x, 4, "[B, Cin, H, W] (a lifting weight [Cout, Cin, k, k] was given)")
        if transposed:
            raise ValueError("transposed=True needs a group weight [Cin, Cout, 4, k, k]; "
                             "a transposed lifting is not defined here")
        if weight.shape[1] != x.shape[1]:
            raise ValueError(f"weight must have Cin={x.shape[1]} input channels like x, "
                             f"got {weight.shape[1]}")
        out = F.conv2d(x, lift_filters_p4(weight), stride=stride, padding=padding)
    else:
        check_rank("x", x, 5, "[B, Cin, 4, H, W]")
        if x.shape[2] != P4:
            raise ValueError(f"x must have Or={P4} orientations (layout [B, C, Or, H, W]), "
                             f"got {x.shape[2]}")
        cin = weight.shape[0] if transposed else weight.shape[1]
        if cin != x.shape[1]:
            layout = "[Cin, Cout, 4, k, k]" if transposed else "[Cout, Cin, 4, k, k]"
            raise ValueError(f"weight {layout} must have Cin={x.shape[1]} like x, got {cin}")
        flat = x.reshape(x.shape[0], x.shape[1] * P4, *x.shape[-2:])
        filters = group_filters_p4(weight)
        out = (F.conv_transpose2d(flat, filters, stride=stride, padding=padding) if transposed
               else F.conv2d(flat, filters, stride=stride, padding=padding))
    return out.view(x.shape[0], -1, P4, *out.shape[-2:])


class GroupConvM2(EquivariantModule):
    """p4 group convolution M2 -> M2, or a lifting R2 -> M2 (``lift=True``); no bias.

    ``transposed=True`` gives the transposed (up-sampling) version, as ``ConvTranspose2d``.
    A bias would be one value per channel, shared by the orientations; it is left out because
    every use here is followed by batch norm or a morphological layer.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, transposed: bool = False, lift: bool = False):
        super().__init__()
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.out_channels = check_positive_int("out_channels", out_channels)
        self.kernel_size = check_positive_int("kernel_size", kernel_size)
        self.stride = check_positive_int("stride", stride)
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise ValueError(f"padding must be a non-negative int, got {padding!r}")
        if lift and transposed:
            raise ValueError("lift=True and transposed=True cannot be combined")
        self.padding, self.transposed, self.lift = padding, bool(transposed), bool(lift)
        self.input_space = "r2" if lift else "m2"
        k = kernel_size
        shape = ((out_channels, in_channels, k, k) if lift else
                 (in_channels, out_channels, P4, k, k) if transposed else
                 (out_channels, in_channels, P4, k, k))
        # DCGAN's initialisation N(0, 0.02), the same as the baseline's convolutions.
        self.weight = nn.Parameter(torch.randn(shape) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return group_conv_m2(x, self.weight, self.stride, self.padding, self.transposed)

    def check_equivariance(self, x: torch.Tensor | None = None, k: int = 1, orientations: int = P4,
                           size: int = 8, batch: int = 2) -> float:
        return super().check_equivariance(x, k, orientations, size, batch)

    def extra_repr(self) -> str:
        kind = "lift, " if self.lift else "transposed, " if self.transposed else ""
        return (f"{kind}{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")
