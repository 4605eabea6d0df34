"""Augmentations of what the discriminator sees: the plain GAN's answer to little data.

A discriminator trained on a few hundred images memorises them, and then its gradient tells the
generator "draw exactly these", not "draw digits". Two answers are compared with GM-GAN's
geometric prior (docs/results.md, "Where geometry pays"):

- ``diffaugment``: DiffAugment (Zhao et al., NeurIPS 2020), with its translation and cutout:
  every image D sees, real or fake, in the D step and in the G step, is moved by up to 1/8 of
  its side and has a square of half its side blanked out. Both are differentiable, so G learns
  through them; since real and fake images are transformed alike, D compares two augmented
  distributions, and G is pushed to match the real one *before* augmentation (both operations
  are applied at random, so G cannot make its samples pre-translated or pre-cut to fool D).
- ``rotate``: every image D sees is turned by a uniformly random angle (bilinear, as the rotated
  MNIST data are made): "augment instead of building in" the rotation symmetry. Unlike
  translation and cutout this one is *not* harmless on data that is not rotation invariant: D
  then cannot tell an upright digit from a turned one, and G need not draw upright digits.

Pixels that come from outside the image, and the cut-out square, take the background value -1
(black). DiffAugment's own code fills with 0, which on its colour images in [-1, 1] is grey;
on MNIST grey would draw frames and squares that are in no real image (both real and fake get
them, so either choice is a valid augmentation; black keeps the augmented images digit-like).

Randomness comes from torch's global generator on the images' device, so a run stays
deterministic and resumes bit for bit (the checkpoint holds that generator's state).
Layout: images ``[B, C, H, W]``.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from gmgan_lib.rotation import rotate

BACKGROUND = -1.0
AUGMENTATIONS = ("none", "diffaugment", "rotate")


def translate(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Move each image by a whole number of pixels, up to ``round(ratio * side)`` along each axis
    (independently per image and axis), filling with the background."""
    b, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sy, sy + 1, (b, 1, 1), device=x.device)
    dx = torch.randint(-sx, sx + 1, (b, 1, 1), device=x.device)
    # Output pixel (i, j) reads the input at (i - dy, j - dx) of a padded copy.
    rows = torch.arange(h, device=x.device).view(1, h, 1) - dy + sy     # [B, H, 1]
    cols = torch.arange(w, device=x.device).view(1, 1, w) - dx + sx     # [B, 1, W]
    padded = torch.nn.functional.pad(x, (sx, sx, sy, sy), value=BACKGROUND)
    batch = torch.arange(b, device=x.device).view(b, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Blank out (to the background) a square of ``round(ratio * side)`` pixels per image, whose
    centre is uniform over the image and a little beyond, so it may be cut by the border."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = ((rows >= cy - ch // 2) & (rows < cy - ch // 2 + ch)
              & (cols >= cx - cw // 2) & (cols < cx - cw // 2 + cw))
    return torch.where(inside.unsqueeze(1), torch.full_like(x, BACKGROUND), x)


def diffaugment(x: torch.Tensor) -> torch.Tensor:
    """DiffAugment's translation, then cutout."""
    return cutout(translate(x))


def random_rotation(x: torch.Tensor) -> torch.Tensor:
    """Turn each image about its centre by a uniformly random angle in [0, 360) degrees."""
    degrees = torch.rand(x.shape[0], device=x.device, dtype=x.dtype) * 360.0
    return rotate(x, degrees, background=BACKGROUND)


def augmentation(name: str) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The augmentation called ``name`` (one of :data:`AUGMENTATIONS`; ``"none"``: None)."""
    if name not in AUGMENTATIONS:
        raise ValueError(f"augment must be one of {', '.join(AUGMENTATIONS)}; got {name!r}")
    return {"none": None, "diffaugment": diffaugment, "rotate": random_rotation}[name]
