"""Orientation scores: an image lifted from R2 to M2 by oriented line filters (notebook 03).

Part of :mod:`gmgan_lib.viz` (the conventions of every figure are in its docstring).
"""
from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from gmgan_lib.nn import functional as F
from gmgan_lib.viz.grids import _as_image_batch, _as_single_image, _image_title


# --------------------------------------------------------------------------------------------
# Orientation scores: lifting an image from R2 to M2
# --------------------------------------------------------------------------------------------

def line_filter(size: int = 9, sigma_main: float = 2.0, sigma_lateral: float = 0.8
                ) -> torch.Tensor:
    """A zero-mean line detector ``[size, size]`` (float64) along the ``x`` axis (orientation 0).

    ``psi(x, y) = (1 - y^2 / s_l^2) exp(-x^2 / 2 s_m^2 - y^2 / 2 s_l^2)`` minus its mean, scaled
    to unit L1 norm: a bright stroke along ``x`` gives a large positive response, a constant
    region gives 0. Lifting with it (:func:`orientation_score`) is a fixed, interpretable lift;
    ``LiftM2`` does the same with learned filters.
    """
    if not isinstance(size, int) or size < 1 or size % 2 == 0:
        raise ValueError(f"size must be an odd positive int, got {size!r}")
    if not (sigma_main > 0 and sigma_lateral > 0):
        raise ValueError(f"sigma_main and sigma_lateral must be > 0, got {sigma_main}, "
                         f"{sigma_lateral}")
    r = torch.arange(size, dtype=torch.float64) - size // 2
    y, x = torch.meshgrid(-r, r, indexing="ij")  # row 0 is the top: y points up
    psi = (1 - y ** 2 / sigma_lateral ** 2) * torch.exp(
        -x ** 2 / (2 * sigma_main ** 2) - y ** 2 / (2 * sigma_lateral ** 2))
    psi = psi - psi.mean()
    return psi / psi.abs().sum()


def orientation_score(image, orientations: int = 8, size: int = 9, sigma_main: float = 2.0,
                      sigma_lateral: float = 0.8, background: float = -1.0) -> torch.Tensor:
    """Lift one image to M2 with :func:`line_filter`: ``U(x, theta_o)``, ``[Or, H, W]`` float64.

    ``U(., theta_o)`` is the correlation of ``f`` with the line filter rotated by ``theta_o``
    (counter-clockwise on screen), computed by the library's
    :func:`gmgan_lib.nn.functional.lift_m2`. The lift pads with zeros, so we lift
    ``f - background``: outside the image is then "more background", not a bright frame.
    A line detector is symmetric under a half turn, so ``U`` at ``theta`` and ``theta + pi``
    agree: the score tells the orientation of a stroke, not its direction.
    """
    f = _as_single_image(image) - background
    psi = line_filter(size, sigma_main, sigma_lateral)
    return F.lift_m2(f, psi[None, None], orientations)[0, 0]


#: Four slices a row keep the figure under 9.5 inches wide whatever the number of orientations,
#: so that a notebook shows it at (nearly) its own size and its 10-point titles stay readable.
ORIENTATIONS_PER_ROW = 4


def orientation_score_panel(image, orientations: int = 8, size: int = 9,
                            sigma_main: float = 2.0, sigma_lateral: float = 0.8,
                            title: str | None = None) -> Figure:
    """The image, every orientation slice of its score, and the winning orientation per pixel.

    Left column: the image ``f`` (titled ``f``, or ``f: <title>``) and the winning orientation (hue = orientation modulo 180
    degrees, brightness = the maximal response), with an angle legend. Right: one panel per
    orientation, ``ORIENTATIONS_PER_ROW`` per row (so 8 orientations make two rows, 16 four), on
    one symmetric colour scale with its colour bar.
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize, hsv_to_rgb

    f = _as_single_image(image)[0, 0].numpy()
    score = orientation_score(image, orientations, size, sigma_main, sigma_lateral).numpy()
    cols = min(orientations, ORIENTATIONS_PER_ROW)
    rows = -(-orientations // cols)
    fig = Figure(figsize=(1.5 * cols + 3.6, 1.7 * max(rows, 2) + 0.5), layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=[2.4, 1.5 * cols + 1.2])
    ax_f, ax_best = left.subplots(2, 1)
    ax_f.imshow(f, cmap="gray", vmin=-1, vmax=1)
    ax_f.set_title(f"f: {title}" if title else "f", fontsize=10)
    vmax = max(float(np.abs(score).max()), 1e-12)
    axes = right.subplots(rows, cols, squeeze=False)
    for o, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if o < orientations:
            shown = ax.imshow(score[o], cmap="RdBu_r", vmin=-vmax, vmax=vmax)
            ax.set_title(f"θ = {360 * o / orientations:.1f}°".replace(".0°", "°"), fontsize=10)
    bar = right.colorbar(shown, ax=axes, shrink=0.9)
    bar.set_label("response U(x, θ)", fontsize=10)
    bar.ax.tick_params(labelsize=9)
    best = score.argmax(axis=0)
    half = max(orientations // 2, 1)
    hsv = np.stack([(best % half) / half, np.ones_like(f),
                    np.clip(score.max(axis=0) / vmax, 0, 1)], axis=-1)
    ax_best.imshow(hsv_to_rgb(hsv))
    ax_best.set_title("winning θ", fontsize=10)
    for ax in (ax_f, ax_best):
        ax.set_axis_off()
    legend = left.colorbar(ScalarMappable(Normalize(0, 180), cmap="hsv"), ax=ax_best,
                           orientation="horizontal", shrink=0.9, pad=0.02)
    legend.set_ticks([0, 45, 90, 135, 180])
    legend.set_label("θ mod 180° (hue)", fontsize=9)
    legend.ax.tick_params(labelsize=9)
    return fig


def make_orientation_score_widget(images, labels=None):
    """An orientation-score viewer: pick an image, the number of orientations and the filter's
    length and width. ``images`` is ``[N, 1, H, W]``; ``labels`` (optional) as for
    :func:`make_morphology_widget`. Returns the ``interactive``."""
    import ipywidgets as W

    batch = _as_image_batch(images)
    if labels is not None and len(labels) != len(batch):
        raise ValueError(f"labels must name each of the {len(batch)} images, got {len(labels)}")

    def draw(index, orientations, sigma_main, sigma_lateral):
        return orientation_score_panel(batch[index, 0], orientations, 9, sigma_main,
                                       sigma_lateral, title=_image_title(index, labels))

    return W.interactive(
        draw, {"auto_display": True},
        index=W.IntSlider(value=0, min=0, max=len(batch) - 1, description="image"),
        orientations=W.Dropdown(options=[4, 8, 12, 16], value=8, description="Or"),
        sigma_main=W.FloatSlider(value=2.0, min=0.5, max=4.0, step=0.25, description="length"),
        sigma_lateral=W.FloatSlider(value=0.8, min=0.4, max=2.0, step=0.1, description="width"))
