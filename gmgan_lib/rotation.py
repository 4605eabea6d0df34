"""Turning images about their centre: the one rotation of the library.

Rotated MNIST is made with it (a fixed angle per digit, :mod:`gmgan_lib.data`), the rotation
augmentation draws random angles for it (:mod:`gmgan_lib.training.augment`), and the
equivariance checks turn images and orientation scores by 45 degrees with it
(:func:`gmgan_lib.nn.equivariance.rotate_r2`). Quarter turns need no resampling:
``torch.rot90`` is exact and is what :func:`rotate` gives at 90 degrees.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def rotate(images: torch.Tensor, degrees: torch.Tensor | np.ndarray, background: float = -1.0
           ) -> torch.Tensor:
    """Rotate each image ``[N, C, H, W]`` about its centre by ``degrees[i]``, counter-clockwise
    as displayed (row 0 at the top), with bilinear interpolation and ``background`` outside.

    Output pixel ``p`` samples the input at ``R(-theta) (p - c) + c`` (``x`` right, ``y`` up):
    a pure rotation of the plane about the centre ``c = ((W-1)/2, (H-1)/2)``, done for the whole
    batch at once with ``affine_grid``/``grid_sample``. It equals torchvision's
    ``transforms.v2.functional.rotate`` (bilinear) image by image, which is far slower on 60k
    images; tests/test_data.py checks the two agree, and that 90 degrees is ``torch.rot90``.
    """
    if images.ndim != 4:
        raise ValueError(f"images must be [N, C, H, W], got shape {tuple(images.shape)}")
    theta = torch.as_tensor(degrees, dtype=images.dtype, device=images.device)
    if theta.shape != images.shape[:1]:
        raise ValueError(f"degrees must have shape [{images.shape[0]}], got {tuple(theta.shape)}")
    theta = torch.deg2rad(theta)
    cos, sin = torch.cos(theta), torch.sin(theta)
    n, _, h, w = images.shape
    # affine_grid works in normalised coordinates (x right, y down, both in [-1, 1]). With y
    # pointing down, a counter-clockwise turn on screen is R(-theta) in (x, y); the output
    # pixel therefore reads the input at R(theta) applied to its own position. The aspect
    # factors keep the rotation rigid for non-square images.
    mat = torch.zeros(n, 2, 3, dtype=images.dtype, device=images.device)
    mat[:, 0, 0] = cos
    mat[:, 0, 1] = -sin * h / w
    mat[:, 1, 0] = sin * w / h
    mat[:, 1, 1] = cos
    grid = F.affine_grid(mat, list(images.shape), align_corners=False)
    # grid_sample pads with zeros; shift so that zero *is* the background value.
    out = F.grid_sample(images - background, grid, mode="bilinear", padding_mode="zeros",
                        align_corners=False)
    return out + background
