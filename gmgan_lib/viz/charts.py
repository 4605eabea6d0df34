"""Charts of runs and evaluations: training curves, one colour per model, equivariance
errors, metric tables and bar charts, sanity and CPU-minute curves.

Part of :mod:`gmgan_lib.viz` (the conventions of every figure are in its docstring).
"""
from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure


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
