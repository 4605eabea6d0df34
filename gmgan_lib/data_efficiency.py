"""Where geometry pays: the rows of the data-efficiency table, and how to read its results.

The experiment (docs/results.md, "Where geometry pays"; run by ``scripts/reproduce.py --part
data-efficiency``) trains five models on little data and records, along each run, FID_MNIST and
the discriminator's overfitting signal (:mod:`gmgan_lib.evaluation.overfitting`). Its results are
one JSON file, ``docs/results/data_efficiency.json``: a dict of runs by name, each with its
``row`` (a model of :data:`MODELS` or an ablation of :data:`ABLATIONS`), ``dataset``,
``images``, ``seed``, final ``metrics`` and its ``curve`` (one point per evaluated snapshot:
``steps``, ``fid``, ``gap``, ``r_t``, ...). This module turns that dict into the table and the
figures that docs/results.md and notebook 06 show.
"""
from __future__ import annotations

import math
import statistics
from typing import Any

#: The table's models: GM-GAN with its geometric prior (on rotated data the preset
#: ``hybrid-invariant``), alone and with DiffAugment; the DCGAN alone, with DiffAugment, and with
#: random rotations of every image D sees.
MODELS = ("gm", "gm-diffaug", "gan", "gan-diffaug", "gan-rotate")
LABELS = {"gm": "GM-GAN", "gm-diffaug": "GM-GAN + DiffAugment", "gan": "DCGAN",
          "gan-diffaug": "DCGAN + DiffAugment", "gan-rotate": "DCGAN + random rotations"}
#: The discriminator head on 600 rotated digits (seed 0), beside the preset's (a random quarter
#: turn in G, the mean over orientations in D): GM-GAN architecture overrides.
ABLATIONS = {
    "gm-linear-head": {},                                          # the default gmgan
    "gm-invariant-max-noturn": {"d_head": "invariant"},            # the invariant head as it was
    "gm-invariant-max": {"d_head": "invariant", "g_random_turn": True},
    "gm-invariant-logsumexp": {"d_head": "invariant", "d_pool": "logsumexp", "g_random_turn": True},
}
ABLATION_LABELS = {
    "gm-linear-head": "GM-GAN, linear D head (the default), plain G",
    "gm-invariant-max-noturn": "GM-GAN, invariant D head (max), plain G",
    "gm-invariant-max": "GM-GAN, invariant D head (max), random turn in G",
    "gm-invariant-logsumexp": "GM-GAN, invariant D head (logsumexp), random turn in G",
}


def label(row: str) -> str:
    return LABELS.get(row) or ABLATION_LABELS.get(row) or row


def style(row: str) -> dict[str, str]:
    """How a row is drawn in every figure: the model's colour of the course (GM-GAN blue, the
    DCGAN orange: :func:`gmgan_lib.viz.model_color`), a line and a marker per augmentation
    (none solid, DiffAugment dashed, rotations dash-dotted); the ablations each in a colour of
    their own, dotted."""
    from gmgan_lib.viz import OTHER_COLORS, model_color

    if row in ABLATIONS:
        return {"color": OTHER_COLORS[list(ABLATIONS).index(row) % len(OTHER_COLORS)],
                "ls": ":", "marker": "x"}
    augment = row.split("-", 1)[1] if "-" in row else "none"
    ls, marker = {"none": ("-", "o"), "diffaug": ("--", "s"), "rotate": ("-.", "^")}[augment]
    return {"color": model_color(LABELS.get(row, row)), "ls": ls, "marker": marker}


def spread(values: list[float], digits: int) -> str:
    """``mean ± sample standard deviation`` (the mean alone for one value)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f}"


#: The tables' order of the data sets: rotated MNIST, the question's data, before the upright
#: digits; within a data set, fewer images first.
DATASETS = ("rotmnist", "mnist")


def groups(rows: dict[str, dict]) -> dict[tuple, list[dict]]:
    """Runs grouped by (dataset, images, row), in the table's order (:data:`DATASETS`, then
    images, then :data:`MODELS` and :data:`ABLATIONS`)."""
    order = {r: i for i, r in enumerate([*MODELS, *ABLATIONS])}
    out: dict[tuple, list[dict]] = {}
    for row in rows.values():
        key = (row["dataset"], row["images"], order.get(row["row"], 99), row["row"])
        out.setdefault(key, []).append(row)

    def place(key: tuple) -> tuple:
        dataset = DATASETS.index(key[0]) if key[0] in DATASETS else len(DATASETS)
        return (dataset, *key)
    return {k: out[k] for k in sorted(out, key=place)}


def late_fid(run: dict) -> float:
    """The mean FID_MNIST of the run's snapshots in the second half of its budget (steps in
    (budget / 2, budget]): one run's FID_MNIST moves by a few units from snapshot to snapshot
    once it has levelled off, as much as models differ, and this mean halves that noise."""
    late = [c["fid"] for c in run["curve"] if run["steps"] / 2 < c["steps"] <= run["steps"]]
    return statistics.fmean(late) if late else float("nan")


def setting_label(dataset: str, images: int) -> str:
    """A data setting as the tables name it: "600 rotated digits", "600 upright digits"."""
    return f"{images:,} {'rotated' if dataset == 'rotmnist' else 'upright'} digits"


def fids_by_setting(rows: dict[str, dict], dataset: str) -> dict[str, dict[int, list[float]]]:
    """FID_MNIST at the budget of each model row of :data:`MODELS` on ``dataset``, by number of
    training images: ``{row: {images: [one value per seed]}}``."""
    out: dict[str, dict[int, list[float]]] = {}
    for r in rows.values():
        if r["dataset"] == dataset and r["row"] in MODELS:
            out.setdefault(r["row"], {}).setdefault(r["images"], []).append(r["metrics"]["fid"])
    return out


def markdown_table(rows: dict[str, dict]) -> str:
    """One line per data setting and model: mean ± std over the seeds that finished."""
    lines = ["| data | model | seeds | steps | FID_MNIST | FID_MNIST, second half | class KL "
             "| MNIST score | precision | recall | D gap (train - held out) | r_t |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (dataset, images, _, row), runs in groups(rows).items():
        m = [r["metrics"] for r in runs]
        at = [next((c for c in r["curve"] if c["steps"] == r["steps"]), {}) for r in runs]
        lines.append(
            f"| {setting_label(dataset, images)} | {label(row)} "
            f"| {len(runs)} | {runs[0]['steps']:,} "
            f"| {spread([x['fid'] for x in m], 1)} | {spread([late_fid(r) for r in runs], 1)} "
            f"| {spread([x['kl'] for x in m], 3)} "
            f"| {spread([x['mnist_score'] for x in m], 2)} "
            f"| {spread([x['precision'] for x in m], 2)} | {spread([x['recall'] for x in m], 2)} "
            f"| {spread([a.get('gap', float('nan')) for a in at], 2)} "
            f"| {spread([a.get('r_t', float('nan')) for a in at], 2)} |")
    return "\n".join(lines)


#: The verdict compares each GM-GAN row with each baseline of the same data setting. The
#: ablations are left out on purpose: they are seed 0 only, questions about GM-GAN's own head,
#: not about whether geometry pays against the alternatives.
GEOMETRIC = ("gm", "gm-diffaug")
BASELINES = ("gan", "gan-diffaug", "gan-rotate")


def compare(geometric: list[float], baseline: list[float]) -> str:
    """How a GM-GAN row's FID_MNIST over seeds stands against a baseline's (lower is better).

    A row is **ahead** or **behind** when the two intervals mean ± sample standard deviation do
    not overlap (the difference of the means exceeds the sum of the two spreads), **level** when
    they do; intervals that just touch overlap, so a difference equal to the sum is level. With
    three seeds this is a plain reading of the spread, not a significance test. A row with fewer
    than two seeds has no spread to compare with: **one seed**, whatever the difference. A value
    that is not a number (a run without a snapshot in its second half) gives **no reading**.
    """
    if any(math.isnan(v) for v in (*geometric, *baseline)):
        return "no reading"
    if len(geometric) < 2 or len(baseline) < 2:
        return "one seed"
    difference = statistics.fmean(baseline) - statistics.fmean(geometric)
    margin = statistics.stdev(geometric) + statistics.stdev(baseline)
    if abs(difference) <= margin:
        return "level"
    return "ahead" if difference > 0 else "behind"


def overall(at_budget: str, second_half: str) -> str:
    """What a pair's two readings (at the budget, over the second half) say together: a
    difference counts only where both readings find it. The same word when they agree;
    **unsettled** when one says ahead or behind and the other does not."""
    return at_budget if at_budget == second_half else "unsettled"


def comparisons(rows: dict[str, dict]) -> list[dict]:
    """Every (GM-GAN row, baseline) pair of one data setting that both have finished runs, in the
    table's order: the setting, the two rows, their FID_MNIST at the budget and over the second
    half (``fid``, ``late``: lists over seeds), the differences of the means (baseline minus
    GM-GAN: positive when GM-GAN is ahead), :func:`compare`'s reading of each, and the two
    readings together (:func:`overall`)."""
    by_row: dict[tuple, dict[str, list[dict]]] = {}
    for (dataset, images, _, row), runs in groups(rows).items():
        by_row.setdefault((dataset, images), {})[row] = runs
    out = []
    for (dataset, images), found in by_row.items():
        for g in GEOMETRIC:
            for b in BASELINES:
                if g not in found or b not in found:
                    continue
                fid = {k: [r["metrics"]["fid"] for r in found[k]] for k in (g, b)}
                late = {k: [late_fid(r) for r in found[k]] for k in (g, b)}
                reading, late_reading = compare(fid[g], fid[b]), compare(late[g], late[b])
                out.append({"dataset": dataset, "images": images, "geometric": g, "baseline": b,
                            "fid": fid, "late": late,
                            "difference": statistics.fmean(fid[b]) - statistics.fmean(fid[g]),
                            "late_difference": (statistics.fmean(late[b])
                                                - statistics.fmean(late[g])),
                            "reading": reading, "late_reading": late_reading,
                            "overall": overall(reading, late_reading)})
    return out


def signed(x: float) -> str:
    """A difference with its sign, one decimal; a difference that rounds to zero is +0.0."""
    return "+0.0" if round(x, 1) == 0 else f"{x:+.1f}"


def comparison_table(rows: dict[str, dict]) -> str:
    """The verdict's table: each GM-GAN row against each baseline, FID_MNIST at the budget and
    over the second half (GM-GAN's against the baseline's, and in brackets the difference of the
    unrounded means, positive when GM-GAN is ahead), :func:`compare`'s reading of each, and the
    two readings together (:func:`overall`)."""
    lines = ["| data | GM-GAN row | against | FID_MNIST at the budget | reading "
             "| FID_MNIST, second half | reading | both readings |",
             "|---|---|---|---|---|---|---|---|"]
    for c in comparisons(rows):
        g, b = c["geometric"], c["baseline"]
        at_budget = (f"{spread(c['fid'][g], 1)} against {spread(c['fid'][b], 1)} "
                     f"({signed(c['difference'])})")
        late = (f"{spread(c['late'][g], 1)} against {spread(c['late'][b], 1)} "
                f"({signed(c['late_difference'])})")
        lines.append(f"| {setting_label(c['dataset'], c['images'])} | {label(g)} | {label(b)} "
                     f"| {at_budget} | {c['reading']} | {late} | {c['late_reading']} "
                     f"| **{c['overall']}** |")
    return "\n".join(lines)


def loss_table(rows: dict[str, dict], dataset: str = "rotmnist") -> str:
    """What each model loses as its data shrinks: the mean FID_MNIST at the budget at each
    number of training images of ``dataset`` (most first), and beside each smaller setting its
    difference from the largest that model has (positive: worse with less data)."""
    fids = fids_by_setting(rows, dataset)
    settings = sorted({images for per in fids.values() for images in per}, reverse=True)
    lines = ["| model | " + " | ".join(f"{n:,} images" for n in settings) + " |",
             "|---|" + "---|" * len(settings)]
    for row in MODELS:
        if row not in fids:
            continue
        per = fids[row]
        most = max(per)
        cells = []
        for n in settings:
            if n not in per:
                cells.append("")
                continue
            cell = f"{spread(per[n], 1)} ({len(per[n])})"
            if n != most:
                cell += f", {statistics.fmean(per[n]) - statistics.fmean(per[most]):+.1f}"
            cells.append(cell)
        lines.append(f"| {label(row)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary_table(rows: dict[str, dict]) -> str:
    """The table at a glance (the README's): FID_MNIST at the budget of each model (a column
    each) in each data setting (a line each, in the table's order), mean ± std over the seeds
    finished so far and, in brackets, how many there are."""
    lines = ["| FID_MNIST at the budget (seeds) | " + " | ".join(LABELS[m] for m in MODELS) + " |",
             "|---|" + "---|" * len(MODELS)]
    for dataset in DATASETS:
        fids = fids_by_setting(rows, dataset)
        for images in sorted({n for per in fids.values() for n in per}):
            cells = [f"{spread(fids[m][images], 1)} ({len(fids[m][images])})"
                     if images in fids.get(m, {}) else "" for m in MODELS]
            lines.append(f"| {setting_label(dataset, images)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


#: The tables made from the results file, by name: docs/results.md holds the first three, the
#: README the summary. Each stands in its page between the mark
#: ``<!-- data-efficiency NAME: generated, do not edit -->`` and the mark
#: ``<!-- data-efficiency end -->`` (HTML comments: a reader of the page does not see them);
#: :func:`fill_generated` writes them again.
GENERATED = {"table": markdown_table, "comparisons": comparison_table, "losses": loss_table,
             "summary": summary_table}
END_MARK = "<!-- data-efficiency end -->"


def begin_mark(name: str) -> str:
    return f"<!-- data-efficiency {name}: generated, do not edit -->"


def fill_generated(text: str, rows: dict[str, dict]) -> str:
    """``text`` (a page such as docs/results.md) with each generated table of :data:`GENERATED`
    that it holds written again from ``rows``, between its marks; everything else unchanged.
    Each begin mark in the page must stand there once, followed by an end mark before any other
    begin mark, and the page must hold at least one; a page that breaks this is refused
    (ValueError naming the mark), rather than written half. (Which page holds which tables is
    the tests' to check: tests/test_data_efficiency.py.)"""
    held = [name for name in GENERATED if begin_mark(name) in text]
    if not held:
        raise ValueError("the page holds none of the marks "
                         + ", ".join(repr(begin_mark(n)) for n in GENERATED))
    for name in held:
        mark = begin_mark(name)
        begin = text.find(mark)
        end = text.find(END_MARK, begin)
        others = [text.find(begin_mark(n), begin + 1) for n in GENERATED]
        if text.count(mark) != 1 or end < 0 or any(begin < o < end for o in others):
            raise ValueError(f"the page must hold the mark {mark!r} once, followed by "
                             f"{END_MARK!r} before the next table's mark")
        text = text[:begin] + mark + "\n" + GENERATED[name](rows) + "\n" + text[end:]
    return text


#: How far apart (in decades of the log axis) the models' points of one data setting are drawn.
DODGE = 0.025


def fraction_axes(ax: Any, rows: dict[str, dict], dataset: str, legend: bool = True) -> None:
    """FID_MNIST at the budget against the number of training images of ``dataset``: a line
    per model, error bars over seeds. The models' points of one setting are drawn side by side,
    a little apart around its x (ticks name the settings), so that their error bars do not hide
    one another. ``legend=False`` leaves the legend to the figure (:func:`figure`)."""
    xs_drawn: set[int] = set()
    fids = fids_by_setting(rows, dataset)
    for i, row in enumerate(MODELS):
        points = fids.get(row, {})
        if points:
            xs = sorted(points)
            xs_drawn.update(xs)
            apart = 10 ** (DODGE * (i - (len(MODELS) - 1) / 2))
            ax.errorbar([x * apart for x in xs], [statistics.fmean(points[x]) for x in xs],
                        yerr=[statistics.stdev(points[x]) if len(points[x]) > 1 else 0
                              for x in xs], capsize=3, label=LABELS[row], **style(row))
    ax.set_xscale("log")
    if xs_drawn:                      # ticks at the data settings drawn, read as numbers
        ax.set_xticks(sorted(xs_drawn), [f"{x:,}" for x in sorted(xs_drawn)])
        ax.set_xlim(min(xs_drawn) / 2, max(xs_drawn) * 2)
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    ax.minorticks_off()
    ax.set_xlabel("training images")
    ax.set_ylabel("FID_MNIST at the budget\n(lower is better)")
    ax.set_title("rotated MNIST" if dataset == "rotmnist" else "MNIST (upright)", fontsize=10)
    ax.grid(alpha=0.3)
    if ax.has_data():
        if legend:
            ax.legend(fontsize=9)
    else:                             # say so, rather than show empty axes
        ax.text(0.5, 0.5, "no finished run yet", transform=ax.transAxes, ha="center",
                va="center", color="grey")


def curve_axes(ax: Any, rows: dict[str, dict], key: str,
               setting: tuple[str, int] = ("rotmnist", 600),
               which: tuple[str, ...] = (*MODELS, *ABLATIONS)) -> None:
    """``key`` ("fid", "gap" or "r_t") along training, for the seed-0 runs of ``setting``
    (dataset, training images) of the rows ``which``, each in its style (:func:`style`); a grey
    vertical line at the runs' budget, where the table reads them (a run trained further goes on
    beyond it)."""
    dataset, images = setting
    budgets = set()
    for row in which:
        run = next((r for r in rows.values() if r["row"] == row and r["seed"] == 0
                    and r["dataset"] == dataset and r["images"] == images), None)
        if run and run["curve"]:
            ax.plot([c["steps"] for c in run["curve"]], [c[key] for c in run["curve"]],
                    label=label(row), **style(row))
            budgets.add(run["steps"])
    where = f"{setting_label(dataset, images)}, seed 0"
    if len(budgets) == 1:    # where the table's figures are read; a run may go on beyond it
        ax.axvline(budgets.pop(), color="grey", lw=1.5, alpha=0.5)
        where += "; grey line: the budget"
    ax.set_xlabel("training steps")
    ax.set_ylabel({"fid": "FID_MNIST (lower is better)",
                   "gap": "mean D(train) - mean D(held out)",
                   "r_t": "r_t = E[sign D(train)]"}[key])
    ax.set_title({"fid": "FID_MNIST along training", "gap": "D's overfitting gap",
                  "r_t": "D's certainty on its training images"}[key] + f"\n{where}", fontsize=10)
    ax.grid(alpha=0.3)
    if key != "fid":
        ax.axhline(0, color="grey", lw=0.8)


def shared_legend(fig: Any, axes: Any) -> None:
    """One legend for the whole figure, under its panels: every row drawn in any of ``axes``,
    once, in the table's order (9-point text, so that it stays legible in a notebook)."""
    found: dict[str, Any] = {}
    for ax in axes:
        for handle, text in zip(*ax.get_legend_handles_labels()):
            found.setdefault(text, handle)
    order = [label(r) for r in [*MODELS, *ABLATIONS]]
    texts = sorted(found, key=lambda t: order.index(t) if t in order else len(order))
    if texts:
        fig.legend([found[t] for t in texts], texts, loc="outside lower center",
                   ncols=2, fontsize=9, frameon=False)


# A notebook shows a figure at most about 950 pixels wide; at 100 dots per inch a figure 9.4
# inches wide is shown at its own size, and its 9- and 10-point text stays 9 and 10 points.
WIDTH = 9.4


def figure(rows: dict[str, dict]) -> Any:
    """docs/img/data_efficiency.png: FID_MNIST against the training images (rotated MNIST,
    MNIST), and FID_MNIST and D's overfitting gap along the seed-0 runs on 600 rotated digits;
    one legend for the four panels, under them."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH, 8.4), layout="constrained")
    axes = fig.subplots(2, 2)
    fraction_axes(axes[0][0], rows, "rotmnist", legend=False)
    fraction_axes(axes[0][1], rows, "mnist", legend=False)
    curve_axes(axes[1][0], rows, "fid")
    curve_axes(axes[1][1], rows, "gap")
    shared_legend(fig, axes.flat)
    return fig


def overfitting_figure(rows: dict[str, dict], setting: tuple[str, int] = ("rotmnist", 600),
                       which: tuple[str, ...] = MODELS) -> Any:
    """D's overfitting gap and r_t along training, for the seed-0 runs of ``setting`` of the
    rows ``which`` (the five models; the ablations are :func:`figure`'s)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH, 5.0), layout="constrained")
    axes = fig.subplots(1, 2)
    curve_axes(axes[0], rows, "gap", setting, which)
    curve_axes(axes[1], rows, "r_t", setting, which)
    shared_legend(fig, axes)
    return fig


def samples_figure(generators: dict[str, Any], n: int = 64, seed: int = 0) -> Any:
    """``n`` samples (noise ``seed``) of each generator (a checkpoint path or a module), side by
    side (up to four in a row, then rows of three), titled by the dict's keys."""
    from matplotlib.figure import Figure

    from gmgan_lib.sampling import sample
    from gmgan_lib.viz import image_grid

    count = max(len(generators), 1)
    cols = count if count <= 4 else 3
    rows = math.ceil(count / cols)
    side = min(2.9, WIDTH / cols)
    fig = Figure(figsize=(side * cols, (side + 0.4) * rows), layout="constrained")
    axes = list(fig.subplots(rows, cols, squeeze=False).flat)
    for ax in axes:
        ax.axis("off")
    for ax, (title, generator) in zip(axes, generators.items()):
        ax.imshow(image_grid(sample(generator, n=n, seed=seed)), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=10)
    return fig
