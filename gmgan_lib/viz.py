"""Pictures for the notebooks: plain functions behind every figure and widget.

Every function here takes tensors or numbers and returns a :class:`matplotlib.figure.Figure`
(and, where a test or a student wants the numbers, the numpy arrays that were drawn). The
widgets of the notebooks are thin: a ``make_*_widget()`` function wires sliders and dropdowns
to one of these plain functions, so the work of every callback is unit-tested with several
parameter values (a headless notebook run never moves a slider).

Figures are built with ``matplotlib.figure.Figure`` rather than ``pyplot``: they are not kept
in pyplot's global registry (no leak when a test draws hundreds of them) and a notebook shows
one when it is the last expression of a cell.

Layouts (docs/architecture.md): images ``[B, C, H, W]`` in ``[-1, 1]``; M2 maps
``[B, C, Or, H, W]``; R2 kernels ``[C, kH, kW]``; M2 kernel stacks ``[C, Or, kOr, kH, kW]``.
"""
from __future__ import annotations

import csv
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

__all__ = [
    "image_grid", "plot_grid", "save_grid",
    "training_curves", "read_metrics_csv",
    "equivariance_bar_chart",
    "metrics_table", "metrics_bar_chart", "sanity_curves",
]


# --------------------------------------------------------------------------------------------
# Image grids
# --------------------------------------------------------------------------------------------

def _as_image_batch(images) -> torch.Tensor:
    """Accept ``[B, C, H, W]``, ``[B, H, W]``, ``[H, W]`` tensors/arrays or a list of images."""
    if isinstance(images, (list, tuple)):
        if len(images) == 0:
            raise ValueError("images must hold at least one image, got an empty sequence")
        images = torch.stack([torch.as_tensor(np.asarray(im) if not torch.is_tensor(im) else im)
                              .reshape(-1, *torch.as_tensor(im).shape[-2:]) for im in images])
    x = torch.as_tensor(images).detach().cpu()
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


def plot_grid(images, nrow: int = 8, title: str | None = None, scale: float = 0.35) -> Figure:
    """A figure of :func:`image_grid` (samples, digits, generated batches)."""
    grid = image_grid(images, nrow=nrow)
    h, w = grid.shape[:2]
    fig = Figure(figsize=(max(2.0, scale * w / 10), max(2.0, scale * h / 10)))
    ax = fig.add_subplot()
    ax.imshow(grid, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            Image.fromarray(pixels).save(fh, format=fmt)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


# --------------------------------------------------------------------------------------------
# Training curves (the metrics.csv of a run directory: step, epoch, loss_d, loss_g, seconds)
# --------------------------------------------------------------------------------------------

def read_metrics_csv(path) -> dict[str, np.ndarray]:
    """Read a run's ``metrics.csv`` into columns (float arrays), checking the header."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"metrics_csv must be an existing metrics.csv file, got {str(path)!r}")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    needed = ("step", "loss_d", "loss_g")
    if not rows or any(k not in rows[0] for k in needed):
        raise ValueError(f"{path} must be a CSV with at least the columns {needed} and one row")
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0] if k is not None}


def _moving_average(y: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(y) < window:
        return y
    # 'valid' average, padded at the front with the running mean so the x axis is unchanged
    c = np.cumsum(np.insert(y, 0, 0.0))
    head = c[1:window] / np.arange(1, window)
    return np.concatenate([head, (c[window:] - c[:-window]) / window])


def training_curves(metrics_csv, smooth: int = 1) -> Figure:
    """Discriminator and generator losses against the optimizer step.

    ``metrics_csv`` is one path or a mapping ``{label: path}`` (several runs on shared axes).
    ``smooth`` is the width of a moving average (1 = raw values).
    """
    if not isinstance(smooth, int) or smooth < 1:
        raise ValueError(f"smooth must be a positive int, got {smooth!r}")
    runs = dict(metrics_csv) if isinstance(metrics_csv, Mapping) else {None: metrics_csv}
    fig = Figure(figsize=(9, 3.2))
    ax_d, ax_g = fig.subplots(1, 2, sharex=True)
    for label, path in runs.items():
        cols = read_metrics_csv(path)
        ax_d.plot(cols["step"], _moving_average(cols["loss_d"], smooth), label=label)
        ax_g.plot(cols["step"], _moving_average(cols["loss_g"], smooth), label=label)
    ax_d.set_title("discriminator loss")
    ax_g.set_title("generator loss")
    for ax in (ax_d, ax_g):
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if len(runs) > 1:
            ax.legend()
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Equivariance and evaluation figures
# --------------------------------------------------------------------------------------------

def equivariance_bar_chart(errors: Mapping[str, float], tolerance: float | None = None,
                           title: str = "equivariance error") -> Figure:
    """Bar chart of equivariance errors on a log scale (exact ones sit at the floor 1e-17).

    ``errors`` maps a name (``"erosion, 90 deg"``) to a non-negative error; ``tolerance``, if
    given, is drawn as a dashed line.
    """
    if not isinstance(errors, Mapping) or not errors:
        raise ValueError("errors must be a non-empty mapping {name: error}")
    values = np.array([float(v) for v in errors.values()])
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"errors must be finite and >= 0, got {dict(errors)}")
    floor = 1e-17
    fig = Figure(figsize=(max(4.0, 1.1 * len(values) + 1.5), 3.4))
    ax = fig.add_subplot()
    ax.bar(range(len(values)), np.maximum(values, floor), color="tab:blue")
    ax.set_yscale("log")
    ax.set_ylim(floor / 2, max(1.0, values.max() * 3))
    ax.set_xticks(range(len(values)), list(errors.keys()), rotation=30, ha="right")
    if tolerance is not None:
        ax.axhline(tolerance, ls="--", color="tab:red", label=f"tolerance {tolerance:g}")
        ax.legend()
    ax.set_ylabel("max abs error")
    ax.set_title(title)
    fig.tight_layout()
    return fig


_METRIC_COLUMNS = (  # key in evaluate_images' dict -> column title (FID on MNIST features is
    ("fid", "FID_MNIST"),  # named FID_MNIST everywhere so nobody mistakes it for Inception FID)
    ("kl", "class KL"),
    ("mnist_score", "MNIST score"),
    ("precision", "precision"),
    ("recall", "recall"),
    ("n", "N"),
)


def _fmt(value) -> str:
    if isinstance(value, (tuple, list)) and len(value) == 2:  # (mean, spread over seeds)
        return f"{float(value[0]):.3f} ± {float(value[1]):.3f}"
    if isinstance(value, (int, np.integer)) or (isinstance(value, float) and value.is_integer()
                                                 and abs(value) >= 100):
        return f"{int(value)}"
    return f"{float(value):.3f}"


def metrics_table(results: Mapping[str, Mapping[str, float]]) -> str:
    """A markdown table with one row per model: FID_MNIST, class KL, MNIST score, P, R, N.

    ``results`` maps a model name to the dict returned by ``gmgan_lib.metrics.evaluate_images``
    (a value may also be a ``(mean, spread)`` pair). Missing metrics print as ``-``.
    """
    if not isinstance(results, Mapping) or not results:
        raise ValueError("results must be a non-empty mapping {model name: metrics dict}")
    cols = [(k, t) for k, t in _METRIC_COLUMNS if any(k in r for r in results.values())]
    lines = ["| model | " + " | ".join(t for _, t in cols) + " |",
             "|---|" + "---:|" * len(cols)]
    for name, r in results.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(r[k]) if k in r else "-" for k, _ in cols)
                     + " |")
    return "\n".join(lines)


def metrics_bar_chart(results: Mapping[str, Mapping[str, float]],
                      metrics: Sequence[str] = ("fid", "kl", "mnist_score")) -> Figure:
    """Side-by-side bars of a few metrics for several models (one panel per metric)."""
    if not isinstance(results, Mapping) or not results:
        raise ValueError("results must be a non-empty mapping {model name: metrics dict}")
    titles = dict(_METRIC_COLUMNS)
    fig = Figure(figsize=(3.2 * len(metrics), 3.0))
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    names = list(results)
    for ax, key in zip(axes, metrics):
        vals = [results[m].get(key, np.nan) for m in names]
        means = [float(v[0]) if isinstance(v, (tuple, list)) else float(v) for v in vals]
        errs = [float(v[1]) if isinstance(v, (tuple, list)) else 0.0 for v in vals]
        ax.bar(range(len(names)), means, yerr=errs, color=[f"C{i}" for i in range(len(names))])
        ax.set_xticks(range(len(names)), names)
        ax.set_title(titles.get(key, key))
    fig.tight_layout()
    return fig


def sanity_curves(levels: Mapping[str, Sequence[float]],
                  values: Mapping[str, Sequence[float]], ylabel: str = "FID_MNIST") -> Figure:
    """A metric against the strength of a corruption, one panel per corruption.

    ``levels`` and ``values`` map a corruption name (``"noise"``, ``"blur"``) to the strengths
    and to the metric measured at each strength (same lengths).
    """
    if set(levels) != set(values) or not levels:
        raise ValueError("levels and values must be non-empty mappings with the same keys")
    fig = Figure(figsize=(4.0 * len(levels), 3.0))
    axes = np.atleast_1d(fig.subplots(1, len(levels)))
    for ax, name in zip(axes, levels):
        x, y = np.asarray(levels[name], float), np.asarray(values[name], float)
        if x.shape != y.shape:
            raise ValueError(f"levels[{name!r}] and values[{name!r}] must have the same length")
        ax.plot(x, y, "o-")
        ax.set_xlabel(f"{name} strength")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{ylabel} vs {name}")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
