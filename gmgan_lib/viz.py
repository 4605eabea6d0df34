"""Pictures for the notebooks: plain functions behind every figure and widget.

Every function here takes tensors or numbers and returns a :class:`matplotlib.figure.Figure`
(and, where a test or a student wants the numbers, the numpy arrays that were drawn). The
widgets of the notebooks are thin: a ``make_*_widget()`` function wires sliders and dropdowns
to one of these plain functions, so the work of every callback is unit-tested with several
parameter values (a headless notebook run never moves a slider).

Figures are built with ``matplotlib.figure.Figure`` rather than ``pyplot``: they are not kept
in pyplot's global registry (no leak when a test draws hundreds of them). A notebook with the
inline backend active (``%matplotlib inline``, the first line of every course notebook) shows
one when it is the last expression of a cell.

Layouts (docs/architecture.md): images ``[B, C, H, W]`` in ``[-1, 1]``; M2 maps
``[B, C, Or, H, W]``; R2 kernels ``[C, kH, kW]``; M2 kernel stacks ``[C, Or, kOr, kH, kW]``.
"""
from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from gmgan_lib.files import atomic_write
from gmgan_lib.nn import functional as F

__all__ = [
    "image_grid", "plot_grid", "save_grid",
    "structuring_element_arrays", "plot_structuring_element", "make_structuring_element_widget",
    "morphology_arrays", "erosion_dilation_panel", "make_morphology_widget",
    "line_filter", "orientation_score", "orientation_score_panel",
    "make_orientation_score_widget",
    "training_curves", "read_metrics_csv",
    "equivariance_bar_chart",
    "metrics_table", "metrics_bar_chart", "sanity_curves", "cpu_minute_curves",
    "MODEL_COLORS", "OTHER_COLORS", "model_color", "METRIC_BETTER",
]


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


# --------------------------------------------------------------------------------------------
# Structuring elements: the Hopf-Lax kernels on R2 and their slices on M2
# --------------------------------------------------------------------------------------------

#: Kernel values are drawn up to this level: images live in [-1, 1], so an offset whose kernel
#: value exceeds 2 (the whole dynamic range) can never win an erosion or a dilation.
KERNEL_CLIP = 2.0


def structuring_element_arrays(alpha: float = 0.65, t: float = 1.0,
                               metric: Sequence[float] = (0.5, 1.0, 0.5),
                               distance: str = "logarithmic", orientation: int = 0,
                               kernel_size: Sequence[int] = (5, 9, 9), orientations: int = 8
                               ) -> dict[str, np.ndarray]:
    """The numbers behind :func:`plot_structuring_element`.

    Returns ``"r2"``: the R2 kernel ``[kH, kW]`` of the metric ``(w_x, w_y) = (main, lateral)``
    (the frame of orientation 0); ``"m2"``: the M2 kernels ``[kOr, kH, kW]`` of output
    ``orientation`` (one spatial slice per angular offset); ``"angles"``: those angular offsets in
    radians. Both come from :mod:`gmgan_lib.nn.functional`, in float64.
    """
    if len(metric) != 3:
        raise ValueError(f"metric must be (main, lateral, angular) weights, got {metric!r}")
    if not isinstance(orientation, int) or not 0 <= orientation < orientations:
        raise ValueError(f"orientation must be an int in [0, {orientations}), got {orientation!r}")
    kOr, kH, kW = kernel_size
    w = torch.tensor([list(metric)], dtype=torch.float64)
    r2 = F.morphological_kernel_r2(w[:, :2], (kH, kW), alpha, t=t)[0]
    m2 = F.morphological_kernel_m2(w, tuple(kernel_size), orientations, alpha, t=t,
                                   distance=distance)[0, orientation]
    angles = (np.arange(kOr) - kOr // 2) * 2 * math.pi / orientations
    return {"r2": r2.numpy(), "m2": m2.numpy(), "angles": angles}


def plot_structuring_element(alpha: float = 0.65, t: float = 1.0,
                             metric: Sequence[float] = (0.5, 1.0, 0.5),
                             distance: str = "logarithmic", orientation: int = 0,
                             kernel_size: Sequence[int] = (5, 9, 9), orientations: int = 8,
                             clip: float = KERNEL_CLIP) -> Figure:
    """The kernel ``k_t = (t/beta) (rho/t)^beta`` on R2 and its M2 slices for one orientation.

    Left: the R2 kernel. Right: the M2 kernel of output ``orientation`` at each angular offset
    (the spatial footprint turns with the orientation and grows with the angular offset, at a
    rate set by the angular weight). Colours stop at ``clip`` (see :data:`KERNEL_CLIP`).
    """
    arr = structuring_element_arrays(alpha, t, metric, distance, orientation, kernel_size,
                                     orientations)
    kOr = arr["m2"].shape[0]
    # About 1.45 inches a panel: 5 angular offsets make a figure under 10 inches wide, which a
    # notebook shows at (nearly) its own size, so the 10-point titles stay 10 points.
    fig = Figure(figsize=(1.45 * (kOr + 1) + 1.1, 2.9), layout="constrained")
    axes = fig.subplots(1, kOr + 1)
    style = dict(cmap="viridis", vmin=0.0, vmax=clip, interpolation="nearest")
    im = axes[0].imshow(arr["r2"], **style)
    axes[0].set_title("on R2", fontsize=10)
    theta = 360.0 * orientation / orientations
    for a, ax in enumerate(axes[1:]):
        ax.imshow(arr["m2"][a], **style)
        ax.set_title(f"Δθ = {np.degrees(arr['angles'][a]):+.0f}°", fontsize=10)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    bar = fig.colorbar(im, ax=list(axes), shrink=0.85)
    bar.set_label("k (clipped at 2)", fontsize=9)
    bar.ax.tick_params(labelsize=9)
    fig.suptitle(f"left: k on R2;  right: k on M2 at orientation θ = {theta:g}°, one slice per "
                 f"angular offset Δθ\nα = {alpha:g} (β = {F.beta_of_alpha(alpha):.3g}), t = {t:g}, "
                 f"weights (main, lateral, angular) = {tuple(metric)}, {distance} distance",
                 fontsize=10)
    return fig


def make_structuring_element_widget(orientations: int = 8, kernel_size=(5, 9, 9)):
    """Sliders for alpha, t, the three metric weights, the distance and the orientation,
    redrawing :func:`plot_structuring_element`. Returns the ``ipywidgets.interactive``."""
    import ipywidgets as W

    def draw(alpha, t, main, lateral, angular, distance, orientation):
        return plot_structuring_element(alpha, t, (main, lateral, angular), distance,
                                        orientation, kernel_size, orientations)

    weight = dict(min=0.0, max=2.0, step=0.05)
    return W.interactive(
        draw, {"auto_display": True},
        alpha=W.FloatSlider(value=0.65, min=0.55, max=1.0, step=0.05, description="alpha"),
        t=W.FloatSlider(value=1.0, min=0.25, max=3.0, step=0.25, description="t"),
        main=W.FloatSlider(value=0.4, description="main", **weight),
        lateral=W.FloatSlider(value=1.0, description="lateral", **weight),
        angular=W.FloatSlider(value=0.6, description="angular", **weight),
        distance=W.Dropdown(options=list(F.DISTANCES), value="logarithmic",
                            description="distance"),
        # the slider reads in degrees; its value is still the orientation's index
        orientation=W.SelectionSlider(options=orientation_options(orientations), value=1,
                                      description="orientation"))


def orientation_options(orientations: int) -> list[tuple[str, int]]:
    """``(label in degrees, index)`` for each orientation: ``[("0°", 0), ("45°", 1), ...]``.

    A slider over these options shows the angle ``360 o / orientations`` and passes the exact
    index ``o`` to its callback."""
    return [(f"{360 * o / orientations:g}°", o) for o in range(orientations)]


# --------------------------------------------------------------------------------------------
# Erosion, dilation, opening, closing of one digit
# --------------------------------------------------------------------------------------------

KERNEL_KINDS = ("square", "disk", "quadratic", "power")
# The parameters each structuring element reads (the flat ones read none): the morphology
# explorer greys out the others.
KERNEL_PARAMETERS = {"square": (), "disk": (), "quadratic": ("t",), "power": ("alpha", "t")}


def _as_single_image(image) -> torch.Tensor:
    """One grey image as ``[1, 1, H, W]`` float64 (accepts ``[H, W]``, ``[1, H, W]``, ...)."""
    x = _as_tensor(image).cpu().to(torch.float64)
    while x.dim() > 2 and x.shape[0] == 1:
        x = x[0]
    if x.dim() != 2:
        raise ValueError(f"image must be one grey image [H, W] (or [1, H, W], [1, 1, H, W]), "
                         f"got shape {tuple(_as_tensor(image).shape)}")
    return x[None, None]


def _teaching_kernel(kind: str, size: int, alpha: float, t: float) -> torch.Tensor:
    """A ``[1, size, size]`` float64 structuring element from :mod:`gmgan_lib.nn.structuring`."""
    if kind not in KERNEL_KINDS:
        raise ValueError(f"kernel must be one of {KERNEL_KINDS}, got {kind!r}")
    if kind == "square":
        return F.flat_square(size, dtype=torch.float64)
    if kind == "disk":  # the disk inscribed in the size x size square
        if not isinstance(size, int) or size < 1 or size % 2 == 0:
            raise ValueError(f"size must be an odd positive int, got {size!r}")
        return F.flat_disk(size // 2, dtype=torch.float64)
    if kind == "quadratic":
        return F.quadratic(size, t=t, dtype=torch.float64)
    return F.power(size, alpha, t=t, dtype=torch.float64)


def morphology_arrays(image, kernel: str = "quadratic", size: int = 5, alpha: float = 0.65,
                      t: float = 1.0) -> dict[str, np.ndarray]:
    """``f`` and its erosion, dilation, opening (dilation of the erosion) and closing (erosion of
    the dilation) by one structuring element, all ``[H, W]``; plus the ``"kernel"`` ``[k, k]``.

    ``kernel`` is ``"square"`` or ``"disk"`` (flat: 0 inside, +inf outside), ``"quadratic"``
    (``|x|^2 / 2t``) or ``"power"`` (the Hopf-Lax kernel of ``alpha``).
    """
    f = _as_single_image(image)
    k = _teaching_kernel(kernel, size, alpha, t)
    ero, dil = F.erosion_r2(f, k), F.dilation_r2(f, k)
    out = {"f": f, "erosion": ero, "dilation": dil,
           "opening": F.dilation_r2(ero, k), "closing": F.erosion_r2(dil, k)}
    out = {name: v[0, 0].numpy() for name, v in out.items()}
    out["kernel"] = k[0].numpy()
    return out


def erosion_dilation_panel(image, kernel: str = "quadratic", size: int = 5,
                           alpha: float = 0.65, t: float = 1.0, op: str | None = None,
                           title: str | None = None) -> Figure:
    """``f``, erosion, dilation, opening and closing side by side (see :func:`morphology_arrays`).

    With ``op`` (one of ``"erosion"``, ``"dilation"``, ``"opening"``, ``"closing"``) a sixth
    panel shows what that operation changed, ``op(f) - f``, in a signed colour map. The last
    panel draws the structuring element itself (its values; white where it is +inf, outside a
    flat element's support). Each kind of panel has its colour bar: grey levels, change, ``k``;
    a flat element, 0 wherever it is finite, has a note instead of a bar (a bar for one value
    would show a range the element does not have). ``title`` (which image this is) goes before
    the structuring element in the figure's title.
    """
    names = ("erosion", "dilation", "opening", "closing")
    if op is not None and op not in names:
        raise ValueError(f"op must be None or one of {names}, got {op!r}")
    arr = morphology_arrays(image, kernel, size, alpha, t)
    panels = ["f", *names] + ([op] if op else [])
    # About 1.3 inches a panel and three slim colour bars: under 11 inches with the sixth panel,
    # so that a notebook shows the 10-point titles at (nearly) their own size.
    fig = Figure(figsize=(1.3 * (len(panels) + 1) + 1.8, 2.5), layout="constrained")
    axes = fig.subplots(1, len(panels) + 1)
    grey = diff_image = None
    for i, (ax, name) in enumerate(zip(axes, panels)):
        if i == 5:
            diff = arr[name] - arr["f"]
            diff_image = ax.imshow(diff, cmap="RdBu_r", vmin=-2, vmax=2, interpolation="nearest")
            ax.set_title(f"{name}(f) − f", fontsize=10)
        else:
            grey = ax.imshow(arr[name], cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
            ax.set_title(name, fontsize=10)
        ax.set_axis_off()
    kernel_ax = axes[-1]
    finite = arr["kernel"][np.isfinite(arr["kernel"])]
    flat = bool(np.all(finite == 0))
    element = kernel_ax.imshow(np.ma.masked_invalid(arr["kernel"]), cmap="viridis",
                               vmin=0.0, vmax=max(float(finite.max()), 1.0),
                               interpolation="nearest")
    kernel_ax.set_title("structuring\nelement k", fontsize=10)
    kernel_ax.set_axis_off()
    if flat:
        kernel_ax.text(0.5, -0.06, "k = 0 on every\ncoloured pixel,\n+∞ outside them",
                       transform=kernel_ax.transAxes, ha="center", va="top", fontsize=9)
    bars = [(grey, axes[:5], "grey level")] + ([] if flat else
                                               [(element, [kernel_ax], "k (white: +∞)")])
    if diff_image is not None:
        bars.insert(1, (diff_image, [axes[5]], "change"))
    for mappable, where, label in bars:
        bar = fig.colorbar(mappable, ax=list(where), shrink=0.8, aspect=12, pad=0.03)
        bar.set_label(label, fontsize=9)
        bar.ax.tick_params(labelsize=9)
    what = {"square": f"flat square structuring element, size {size} (a {size}x{size} window)",
            "disk": f"flat disk structuring element, size {size} (the pixels at distance "
                    f"≤ {size // 2} from the centre)"}.get(
        kernel, f"{kernel} structuring element, size {size}"
        + (f", α = {alpha:g}" if kernel == "power" else "") + f", t = {t:g}")
    fig.suptitle(f"{title}: {what}" if title else what, fontsize=10)
    return fig


def _image_title(index: int, labels) -> str:
    """``image 3`` (the position in the batch), and its class where ``labels`` are given."""
    if labels is None:
        return f"image {index}"
    return f"image {index}, the digit {int(labels[index])}"


def make_morphology_widget(images, labels=None):
    """A digit explorer: pick an image, a structuring element and an operation.
    ``images`` is ``[N, 1, H, W]`` (e.g. MNIST test digits); ``labels`` (``N`` classes, optional)
    name the digit of each image in the figure's title. The ``image`` slider is the position in
    ``images``. Returns the ``interactive``."""
    import ipywidgets as W

    batch = _as_image_batch(images)
    if labels is not None and len(labels) != len(batch):
        raise ValueError(f"labels must name each of the {len(batch)} images, got {len(labels)}")

    def draw(index, kernel, size, alpha, t, op):
        return erosion_dilation_panel(batch[index, 0], kernel, size, alpha, t, op,
                                      title=_image_title(index, labels))

    kernel = W.Dropdown(options=list(KERNEL_KINDS), value="disk", description="kernel")
    alpha = W.FloatSlider(value=0.65, min=0.55, max=1.0, step=0.05, description="alpha")
    t = W.FloatSlider(value=1.0, min=0.25, max=4.0, step=0.25, description="t")

    def grey_out_unused(change=None):   # alpha and t mean nothing for a flat element
        alpha.disabled = "alpha" not in KERNEL_PARAMETERS[kernel.value]
        t.disabled = "t" not in KERNEL_PARAMETERS[kernel.value]

    kernel.observe(grey_out_unused, names="value")
    grey_out_unused()
    return W.interactive(
        draw, {"auto_display": True},
        index=W.IntSlider(value=0, min=0, max=len(batch) - 1, description="image"),
        kernel=kernel,
        size=W.IntSlider(value=3, min=1, max=9, step=2, description="size"),
        alpha=alpha, t=t,
        op=W.Dropdown(options=["erosion", "dilation", "opening", "closing"], value="opening",
                      description="op"))


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


#: One colour per model in every figure that compares models (loss curves, metric bars,
#: CPU-minute curves): GM-GAN is always blue, the DCGAN always orange, real data always grey,
#: so that a reader of notebook 5 knows the bars without reading the legend. The keys are the
#: display names; :func:`model_color` also reads the registry names and longer labels.
MODEL_COLORS = {"GM-GAN": "tab:blue", "DCGAN": "tab:orange", "real data": "tab:gray"}
_MODEL_ALIASES = {"gmgan": "GM-GAN", "gm-gan": "GM-GAN", "gan": "DCGAN", "dcgan": "DCGAN",
                  "real": "real data"}
OTHER_COLORS = ("tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")


def model_color(label) -> str:
    """The colour of the model a label names, the same in every figure.

    The label's first word decides: ``"GM-GAN"``, ``"gmgan"``, ``"GM-GAN + DiffAugment"`` or
    ``"gmgan (gmgan-mnist-cpu)"`` are GM-GAN's blue; ``"DCGAN"``, ``"gan"`` the DCGAN's orange;
    ``"real vs real"`` grey. Any other label gets one of the remaining colours, chosen from its
    text (so the same label has the same colour in every figure).
    """
    import zlib

    words = str(label).strip().lower().replace("(", " ").split()
    name = _MODEL_ALIASES.get(words[0] if words else "")
    if name is not None:
        return MODEL_COLORS[name]
    return OTHER_COLORS[zlib.crc32(str(label).encode()) % len(OTHER_COLORS)]


def training_curves(metrics_csv, smooth: int = 1) -> Figure:
    """Discriminator and generator losses against the optimizer step.

    ``metrics_csv`` is one path or a mapping ``{label: path}`` (several runs on shared axes,
    each in its model's colour, :func:`model_color`). ``smooth`` is the width of a moving
    average (1 = raw values).
    """
    if not isinstance(smooth, int) or smooth < 1:
        raise ValueError(f"smooth must be a positive int, got {smooth!r}")
    runs = dict(metrics_csv) if isinstance(metrics_csv, Mapping) else {None: metrics_csv}
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    ax_d, ax_g = fig.subplots(1, 2, sharex=True)
    spacings = set()
    for label, path in runs.items():
        cols = read_metrics_csv(path)
        color = None if label is None else model_color(label)
        ax_d.plot(cols["step"], _moving_average(cols["loss_d"], smooth), label=label, color=color)
        ax_g.plot(cols["step"], _moving_average(cols["loss_g"], smooth), label=label, color=color)
        spacings.add(float(np.median(np.diff(cols["step"]))) if len(cols["step"]) > 1 else 1.0)
    # the window in steps when every run logs at the same spacing, else in logged values
    average = "" if smooth == 1 else (
        f" (average over {smooth * spacings.pop():g} steps)" if len(spacings) == 1
        else f" (average over {smooth} logged values)")
    ax_d.set_title("discriminator loss $\\mathcal{L}_D$" + average, fontsize=11)
    ax_g.set_title("generator loss $\\mathcal{L}_G$" + average, fontsize=11)
    for ax in (ax_d, ax_g):
        ax.set_xlabel("step", fontsize=10)
        ax.grid(alpha=0.3)
        if len(runs) > 1:
            ax.legend(fontsize=10)
    return fig


# --------------------------------------------------------------------------------------------
# Equivariance and evaluation figures
# --------------------------------------------------------------------------------------------

def equivariance_bar_chart(errors: Mapping[str, float], tolerance: float | None = None,
                           title: str = "equivariance error", ylabel: str = "max abs error"
                           ) -> Figure:
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
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def equivariance_charts(errors_90: Mapping[str, float], errors_45: Mapping[str, float],
                        tolerance_90: float = 1e-5, tolerance_45: float = 0.25) -> Figure:
    """Quarter turns and 45-degree turns on separate axes, each with its own tolerance.

    ``errors_90``: max abs errors under a quarter turn (exact up to round-off: a log scale,
    tolerance ``tolerance_90``); ``errors_45``: relative L2 errors under a 45-degree turn (which
    resampling cannot make exact: a linear scale; ``tolerance_45``, the bound
    ``tests/nn/test_layers.py`` holds every layer to).
    """
    for name, errors in (("errors_90", errors_90), ("errors_45", errors_45)):
        if not isinstance(errors, Mapping) or not errors:
            raise ValueError(f"{name} must be a non-empty mapping {{name: error}}")
        values = np.array([float(v) for v in errors.values()])
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ValueError(f"{name} must be finite and >= 0, got {dict(errors)}")
    floor = 1e-17
    # about 0.6 inches a bar: the six layers of notebook 03 make a figure under 10 inches, shown
    # by a notebook at (nearly) its own size
    fig = Figure(figsize=(max(7.0, 0.6 * (len(errors_90) + len(errors_45)) + 2.6), 3.6))
    ax90, ax45 = fig.subplots(1, 2)
    v90 = np.array([float(v) for v in errors_90.values()])
    ax90.bar(range(len(v90)), np.maximum(v90, floor), color="tab:blue")
    ax90.set_yscale("log")
    ax90.set_ylim(floor / 2, max(1.0, v90.max() * 3))
    ax90.set_xticks(range(len(v90)), list(errors_90), rotation=30, ha="right")
    ax90.axhline(tolerance_90, ls="--", color="tab:red", label=f"tolerance {tolerance_90:g}")
    ax90.set_ylabel("max abs error")
    ax90.set_title("90 degrees (exact up to round-off)")
    ax90.legend()
    v45 = np.array([float(v) for v in errors_45.values()])
    ax45.bar(range(len(v45)), v45, color="tab:orange")
    ax45.set_ylim(0, max(tolerance_45, v45.max()) * 1.25)
    ax45.set_xticks(range(len(v45)), list(errors_45), rotation=30, ha="right")
    ax45.axhline(tolerance_45, ls="--", color="tab:red", label=f"tolerance {tolerance_45:g}")
    ax45.set_ylabel("relative L2 error")
    ax45.set_title("45 degrees (resampled)")
    ax45.legend()
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


#: Which way each metric improves (said in the panels of :func:`metrics_bar_chart`).
METRIC_BETTER = {"fid": "lower", "kl": "lower", "mnist_score": "higher", "precision": "higher",
                 "recall": "higher"}


def _better(metric: str, sep: str = " ") -> str:
    """``" (lower is better)"`` for a metric known by its key or title, else ``""``."""
    keys = {title: key for key, title in _METRIC_COLUMNS}
    better = METRIC_BETTER.get(keys.get(metric, metric))
    return f"{sep}({better} is better)" if better else ""


def _fmt(value) -> str:
    if isinstance(value, (tuple, list)) and len(value) == 2:  # (mean, spread over seeds)
        return f"{float(value[0]):.3f} ± {float(value[1]):.3f}"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{float(value):.3f}"


def metrics_table(results: Mapping[str, Mapping[str, float]]) -> str:
    """A markdown table with one row per model: FID_MNIST, class KL, MNIST score, P, R, N.

    ``results`` maps a model name to the dict returned by ``gmgan_lib.evaluation.evaluate_images``
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
    """Side-by-side bars of a few metrics for several models (one panel per metric).

    Each bar has its model's colour (:func:`model_color`); each panel's title says whether
    higher or lower is better (:data:`METRIC_BETTER`).
    """
    if not isinstance(results, Mapping) or not results:
        raise ValueError("results must be a non-empty mapping {model name: metrics dict}")
    titles = dict(_METRIC_COLUMNS)
    fig = Figure(figsize=(3.4 * len(metrics), 3.9), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    names = list(results)
    for ax, key in zip(axes, metrics):
        vals = [results[m].get(key, np.nan) for m in names]
        means = [float(v[0]) if isinstance(v, (tuple, list)) else float(v) for v in vals]
        errs = [float(v[1]) if isinstance(v, (tuple, list)) else 0.0 for v in vals]
        ax.bar(range(len(names)), means, yerr=errs, color=[model_color(m) for m in names])
        ax.set_xticks(range(len(names)), names, rotation=25, ha="right", fontsize=10)
        ax.set_title(titles.get(key, key) + _better(key, "\n"), fontsize=11)
        ax.grid(axis="y", alpha=0.3)
    return fig


def sanity_curves(levels: Mapping[str, Sequence[float]],
                  values: Mapping[str, Sequence[float]], ylabel: str = "FID_MNIST",
                  xlabels: Mapping[str, str] | None = None) -> Figure:
    """A metric against the strength of a corruption, one panel per corruption.

    ``levels`` and ``values`` map a corruption name (``"noise"``, ``"blur"``) to the strengths
    and to the metric measured at each strength (same lengths). ``xlabels`` names each
    strength on its axis (``{"noise": "noise level σ", ...}``; default ``"<name> strength"``).
    """
    if set(levels) != set(values) or not levels:
        raise ValueError("levels and values must be non-empty mappings with the same keys")
    xlabels = dict(xlabels or {})
    if not set(xlabels) <= set(levels):
        raise ValueError(f"xlabels must name corruptions of levels {sorted(levels)}, got "
                         f"{sorted(xlabels)}")
    fig = Figure(figsize=(4.4 * len(levels), 3.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(levels)))
    for ax, name in zip(axes, levels):
        x, y = np.asarray(levels[name], float), np.asarray(values[name], float)
        if x.shape != y.shape:
            raise ValueError(f"levels[{name!r}] and values[{name!r}] must have the same length")
        ax.plot(x, y, "o-", color="tab:gray")
        ax.set_xlabel(xlabels.get(name, f"{name} strength"), fontsize=10)
        ax.set_ylabel(ylabel + _better(ylabel), fontsize=10)
        ax.set_title(f"{ylabel} against {name}", fontsize=11)
        ax.grid(alpha=0.3)
    return fig


def cpu_minute_curves(curves: Mapping[str, Mapping[str, Sequence[Mapping[str, float]]]],
                      ylabel: str = "FID_MNIST") -> Figure:
    """FID_MNIST against CPU minutes, one panel per dataset, one line per model.

    ``curves`` maps a dataset name to ``{model label: [{"minutes": m, "fid": v}, ...]}`` (the
    ``curve`` entries that ``scripts/reproduce.py`` collects).
    """
    if not curves or not all(curves.values()):
        raise ValueError("curves must map each dataset to a non-empty {model: points} mapping")
    fig = Figure(figsize=(4.2 * len(curves), 3.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(curves), sharey=True))
    for ax, (dataset, models) in zip(axes, curves.items()):
        for label, points in models.items():
            if not points:
                raise ValueError(f"curves[{dataset!r}][{label!r}] has no points")
            ax.plot([p["minutes"] for p in points], [p["fid"] for p in points], "o-",
                    label=label, color=model_color(label))
        ax.set_xlabel("CPU minutes (one thread)", fontsize=10)
        ax.set_title(dataset, fontsize=11)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=10)
    axes[0].set_ylabel(ylabel + _better(ylabel), fontsize=10)
    return fig
