"""Rotations of R2 and M2 feature maps, and measured equivariance errors.

Convention (see :mod:`gmgan_lib.nn.metric`): ``x`` = column (right), ``y`` = up (against the row
index), orientation ``theta_o = 2 pi o / Or`` turns counter-clockwise on screen.
``torch.rot90(img, k=1, dims=(-2, -1))`` turns the image a quarter counter-clockwise on screen, so
the matching action on an M2 map is ``rot90`` over ``(H, W)`` and ``roll(+k*Or/4)`` over the
orientation axis. Only these quarter turns map the pixel grid to itself; 45-degree rotations need
resampling, so their error is *measured and reported* (:func:`rotation_error_45`), never asserted.
"""
from __future__ import annotations

import copy
import math

import torch

from gmgan_lib.rotation import rotate

__all__ = ["rot90_r2", "rot90_m2", "rotate_r2", "rotate_m2", "check_equivariance",
           "rotation_error_45", "EquivariantModule"]


def rot90_r2(x: torch.Tensor, k: int = 1) -> torch.Tensor:
    """Rotate ``[..., H, W]`` by ``k`` quarter turns counter-clockwise on screen."""
    return torch.rot90(x, k, dims=(-2, -1))


def rot90_m2(y: torch.Tensor, k: int = 1) -> torch.Tensor:
    """Rotate an M2 map ``[..., Or, H, W]`` by ``k`` quarter turns (needs ``Or % 4 == 0``)."""
    Or = y.shape[-3]
    if Or % 4:
        raise ValueError(f"orientations must be divisible by 4 for exact quarter turns, got Or={Or}")
    return torch.roll(torch.rot90(y, k, dims=(-2, -1)), shifts=k * Or // 4, dims=-3)


def rotate_r2(x: torch.Tensor, angle: float) -> torch.Tensor:
    """Rotate ``[B, C, H, W]`` by ``angle`` radians counter-clockwise on screen about the centre.

    Bilinear resampling, zero outside (:func:`gmgan_lib.rotation.rotate`): exact only for
    multiples of 90 degrees.
    """
    degrees = torch.full((x.shape[0],), math.degrees(angle), dtype=x.dtype, device=x.device)
    return rotate(x, degrees, background=0.0)


def rotate_m2(y: torch.Tensor, steps: int) -> torch.Tensor:
    """Rotate an M2 map by ``steps`` orientation steps ``2 pi / Or`` (resampled spatially)."""
    B, C, Or, H, W = y.shape
    flat = rotate_r2(y.reshape(B, C * Or, H, W), 2 * math.pi * steps / Or).view(B, C, Or, H, W)
    return torch.roll(flat, shifts=steps, dims=2)


def _space(module, attr: str, given: str | None) -> str:
    space = given or getattr(module, attr, "m2")
    if space not in ("r2", "m2"):
        raise ValueError(f"{attr} must be 'r2' or 'm2', got {space!r}")
    return space


def check_equivariance(module: torch.nn.Module, x: torch.Tensor, k: int = 1,
                       input_space: str | None = None, output_space: str | None = None) -> float:
    """Max abs error of ``module(Rot x) - Rot module(x)`` for ``k`` quarter turns.

    ``input_space`` / ``output_space`` (``"r2"`` or ``"m2"``) say which rotation applies on each
    side; by default they are read from the module's attributes of the same name (default
    ``"m2"``), so pass them for a plain ``nn.Sequential``. The module is deep-copied so that
    running statistics (batch norm in training mode) of the caller's module are left untouched.
    """
    rot_in = rot90_r2 if _space(module, "input_space", input_space) == "r2" else rot90_m2
    rot_out = rot90_r2 if _space(module, "output_space", output_space) == "r2" else rot90_m2
    module = copy.deepcopy(module)
    with torch.no_grad():
        a = module(rot_in(x, k))
        b = rot_out(module(x), k)
    return (a - b).abs().max().item()


def _central_disk(H: int, W: int, margin: float, device) -> torch.Tensor:
    rows = torch.arange(H, device=device).view(H, 1) - (H - 1) / 2
    cols = torch.arange(W, device=device).view(1, W) - (W - 1) / 2
    return rows ** 2 + cols ** 2 <= (min(H, W) / 2 - margin) ** 2


def _rotate_45(t: torch.Tensor, space: str) -> torch.Tensor:
    if space == "r2":
        return rotate_r2(t, math.pi / 4)
    Or = t.shape[-3]
    if Or % 8:
        raise ValueError(f"a 45-degree rotation of an M2 map needs Or divisible by 8, got Or={Or}")
    return rotate_m2(t, Or // 8)


def rotation_error_45(module: torch.nn.Module, x: torch.Tensor, margin: float = 2.0,
                      input_space: str | None = None, output_space: str | None = None) -> float:
    """Relative L2 error of equivariance under a 45-degree rotation (M2 maps need ``Or % 8 == 0``).

    ``|module(Rot x) - Rot module(x)| / |Rot module(x)|`` over a central disk (``margin`` pixels
    inside the inscribed circle, away from the corners that the rotation cuts off). Use smooth
    inputs (blobs, bars): on pixel noise bilinear resampling alone makes large errors.
    A measurement to report, not a pass/fail test. Spaces as in :func:`check_equivariance`.
    """
    space_in = _space(module, "input_space", input_space)
    space_out = _space(module, "output_space", output_space)
    module = copy.deepcopy(module)
    with torch.no_grad():
        y = module(x)
        a, b = module(_rotate_45(x, space_in)), _rotate_45(y, space_out)
        mask = _central_disk(a.shape[-2], a.shape[-1], margin, a.device)
        diff = ((a - b) * mask).norm()
        return (diff / (b * mask).norm().clamp_min(1e-30)).item()


class EquivariantModule(torch.nn.Module):
    """Base of the modules that commute with quarter turns; adds :meth:`check_equivariance`."""

    input_space = "m2"
    output_space = "m2"

    def check_equivariance(self, x: torch.Tensor | None = None, k: int = 1, orientations: int = 8,
                           size: int = 9, batch: int = 2) -> float:
        """Measured max error under ``k`` quarter turns, on ``x`` or on a random input."""
        if x is None:
            p = next(self.parameters(), None)
            kw = {"dtype": p.dtype if p is not None else torch.float32,
                  "device": p.device if p is not None else "cpu"}
            channels = getattr(self, "in_channels", None) or getattr(self, "channels", None) or 1
            shape = (batch, channels, size, size) if self.input_space == "r2" else \
                    (batch, channels, orientations, size, size)
            x = torch.randn(shape, **kw)
        return check_equivariance(self, x, k)
