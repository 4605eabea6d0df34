"""Functional twins of the layers in :mod:`gmgan_lib.nn` (the lietorch / escnn pattern).

Every operator takes explicit tensors (no parameters inside), in the layouts of
docs/architecture.md: R2 maps ``[B, C, H, W]``, M2 maps ``[B, C, Or, H, W]``, R2 kernels
``[C, kH, kW]``, M2 kernel stacks ``[C, Or, kOr, kH, kW]``, M2 metrics ``[C, 3]`` =
(main, lateral, angular), R2 metrics ``[C, 2]`` = (w_x, w_y), convection ``g0`` ``[C, 3]`` =
(x0, y0, theta0).
"""
from __future__ import annotations

from gmgan_lib.nn.convection import convection_m2, convection_r2
from gmgan_lib.nn.group_conv import group_conv_m2
from gmgan_lib.nn.layers import linear_m2, max_project_m2
from gmgan_lib.nn.lift import lift_m2, rotated_filters
from gmgan_lib.nn.metric import (DISTANCES, SUB_RIEMANNIAN_NU, beta_of_alpha, distance_m2, distance_r2,
                                 morphological_kernel_m2, morphological_kernel_r2)
from gmgan_lib.nn.morphology import dilation_erosion_m2, dilation_m2, dilation_r2, erosion_m2, erosion_r2
from gmgan_lib.nn.structuring import delta, flat_disk, flat_square, power, quadratic

linear_r2 = linear_m2  # the same channel mixing; kept under both names for readability

__all__ = [
    "erosion_r2", "dilation_r2", "erosion_m2", "dilation_m2", "dilation_erosion_m2",
    "morphological_kernel_r2", "morphological_kernel_m2", "distance_m2", "distance_r2",
    "beta_of_alpha", "DISTANCES", "SUB_RIEMANNIAN_NU",
    "delta", "flat_square", "flat_disk", "quadratic", "power",
    "lift_m2", "rotated_filters", "group_conv_m2", "convection_m2", "convection_r2",
    "linear_m2", "linear_r2", "max_project_m2",
]
