"""Structuring elements (the Hopf-Lax kernels on R2 and their slices on M2) and what
erosion, dilation, opening and closing do to one digit: the figures and widgets of notebooks 01
and 02.

Part of :mod:`gmgan_lib.viz` (the conventions of every figure are in its docstring).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from gmgan_lib.nn import functional as F
from gmgan_lib.viz.grids import _as_image_batch, _as_single_image, _image_title


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
