"""Image grids: a batch of images tiled into one picture, drawn or written to a file.

Part of :mod:`gmgan_lib.viz` (the conventions of every figure are in its docstring).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from gmgan_lib.files import atomic_write


# --------------------------------------------------------------------------------------------
# Image grids
# --------------------------------------------------------------------------------------------

def _as_tensor(x) -> torch.Tensor:
    return x.detach() if torch.is_tensor(x) else torch.as_tensor(np.asarray(x))


def _as_image_batch(images) -> torch.Tensor:
    """Accept ``[B, C, H, W]``, ``[B, H, W]``, ``[H, W]`` tensors/arrays or a list of images."""
    if isinstance(images, (list, tuple)):
        if len(images) == 0:
            raise ValueError("images must hold at least one image, got an empty sequence")
        tiles = [_as_tensor(im) for im in images]
        images = torch.stack([t.reshape(-1, *t.shape[-2:]) for t in tiles])
    x = _as_tensor(images).cpu()
    if x.dim() == 2:
        x = x[None, None]
    elif x.dim() == 3:
        x = x[:, None]
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError("images must be [B, C, H, W] with C in (1, 3), [B, H, W] or [H, W]; "
                         f"got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError("images must hold at least one image, got a batch of size 0")
    x = x.to(torch.float32)
    if not torch.isfinite(x).all():
        raise ValueError("images contain NaN or infinite values")
    return x


def _as_single_image(image) -> torch.Tensor:
    """One grey image as ``[1, 1, H, W]`` float64 (accepts ``[H, W]``, ``[1, H, W]``, ...)."""
    x = _as_tensor(image).cpu().to(torch.float64)
    while x.dim() > 2 and x.shape[0] == 1:
        x = x[0]
    if x.dim() != 2:
        raise ValueError(f"image must be one grey image [H, W] (or [1, H, W], [1, 1, H, W]), "
                         f"got shape {tuple(_as_tensor(image).shape)}")
    return x[None, None]


def _image_title(index: int, labels) -> str:
    """``image 3`` (the position in the batch), and its class where ``labels`` are given."""
    if labels is None:
        return f"image {index}"
    return f"image {index}, the digit {int(labels[index])}"


def image_grid(images, nrow: int = 8, padding: int = 2,
               value_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """Tile a batch of images into one array, values mapped from ``value_range`` to ``[0, 1]``.

    Returns ``[H_grid, W_grid]`` for grey images, ``[H_grid, W_grid, 3]`` for colour ones, with
    ``H_grid = rows * (H + padding) + padding`` and ``rows = ceil(B / nrow)`` (torchvision's
    ``make_grid`` does the tiling; the padding is black).
    """
    from torchvision.utils import make_grid

    if not isinstance(nrow, int) or nrow < 1:
        raise ValueError(f"nrow must be a positive int, got {nrow!r}")
    if not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be a non-negative int, got {padding!r}")
    lo, hi = value_range
    if not hi > lo:
        raise ValueError(f"value_range must be (low, high) with high > low, got {value_range!r}")
    x = _as_image_batch(images)
    grey = x.shape[1] == 1
    x = ((x - lo) / (hi - lo)).clamp(0.0, 1.0)
    if x.shape[0] == 1:  # make_grid returns a lone image unpadded; keep one contract
        grid = torch.nn.functional.pad(x[0], (padding,) * 4)
    else:
        grid = make_grid(x, nrow=min(nrow, x.shape[0]), padding=padding, pad_value=0.0)
    return grid[0].numpy() if grey else grid.permute(1, 2, 0).numpy()


def plot_grid(images, nrow: int = 8, title: str | None = None, scale: float = 0.35,
              row_labels: Sequence[str] | None = None) -> Figure:
    """A figure of :func:`image_grid` (samples, digits, generated batches).

    ``row_labels``, one per row of the grid, are written left of the rows (what changes from
    one row to the next, e.g. ``"noise σ = 0.1"``).
    """
    grid = image_grid(images, nrow=nrow)
    h, w = grid.shape[:2]
    batch = _as_image_batch(images)
    rows, tile = -(-len(batch) // nrow), batch.shape[-2]
    if row_labels is not None and len(row_labels) != rows:
        raise ValueError(f"row_labels must hold one label per row ({rows}), got "
                         f"{len(row_labels)}")
    fig = Figure(figsize=(max(2.0, scale * w / 10), max(2.0, scale * h / 10)))
    ax = fig.add_subplot()
    ax.imshow(grid, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    if row_labels is None:
        ax.set_axis_off()
    else:
        ax.set_xticks([])
        pad = 2   # image_grid's padding: row r's pixels start at pad + r * (tile + pad)
        ax.set_yticks(pad + np.arange(rows) * (tile + pad) + (tile - 1) / 2, list(row_labels),
                      fontsize=11)
        ax.tick_params(length=0)
        for side in ax.spines.values():
            side.set_visible(False)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def save_grid(images, path, nrow: int = 8, padding: int = 2,
              value_range: tuple[float, float] = (-1.0, 1.0)) -> Path:
    """Write :func:`image_grid` as an 8-bit image file, atomically.

    The file is written to a temporary name in the same folder, flushed, synced and renamed,
    so a reader (or a run killed mid-write) never sees a half-written picture.
    The format follows the suffix (``.png``, ``.jpg``, ...).
    """
    from PIL import Image

    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"path must end in an image suffix such as .png, got {str(path)!r}")
    if path.is_dir():
        raise ValueError(f"path must be a file name, got the folder {str(path)!r}")
    grid = image_grid(images, nrow=nrow, padding=padding, value_range=value_range)
    pixels = np.round(grid * 255.0).astype(np.uint8)
    return atomic_write(path, lambda fh: Image.fromarray(pixels).save(fh, format=fmt))
