"""Tests of gmgan_lib.viz: the figures' content, not only that a figure exists."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from gmgan_lib import viz


def _digits(b=5, h=28, w=28, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 1, h, w, generator=g) * 2 - 1


# ---------------------------------------------------------------------------- grids

@pytest.mark.parametrize("b,nrow,pad", [(5, 8, 2), (16, 4, 2), (7, 3, 0), (1, 8, 1)])
def test_image_grid_pixel_size_and_values(b, nrow, pad):
    x = _digits(b)
    grid = viz.image_grid(x, nrow=nrow, padding=pad)
    cols = min(nrow, b)
    rows = -(-b // cols)
    assert grid.shape == (rows * (28 + pad) + pad, cols * (28 + pad) + pad)
    # the first tile is the first image mapped from [-1, 1] to [0, 1]
    np.testing.assert_allclose(grid[pad:pad + 28, pad:pad + 28], ((x[0, 0] + 1) / 2).numpy(),
                               atol=1e-6)
    # the last image sits in row rows-1, column (b-1) % cols
    r, c = divmod(b - 1, cols)
    y0, x0 = pad + r * (28 + pad), pad + c * (28 + pad)
    np.testing.assert_allclose(grid[y0:y0 + 28, x0:x0 + 28], ((x[-1, 0] + 1) / 2).numpy(),
                               atol=1e-6)
    assert grid.min() >= 0.0 and grid.max() <= 1.0


def test_image_grid_accepts_list_and_2d_and_clamps():
    im = torch.full((28, 28), 3.0)  # out of range: clamped to white
    grid = viz.image_grid([im, -im], nrow=2, padding=0)
    assert grid.shape == (28, 56)
    assert grid[:, :28].min() == 1.0 and grid[:, 28:].max() == 0.0
    assert viz.image_grid(im, padding=0).shape == (28, 28)


@pytest.mark.parametrize("bad", [torch.zeros(2, 2, 28, 28), torch.zeros(0, 1, 28, 28),
                                 torch.full((1, 1, 4, 4), float("nan")), []])
def test_image_grid_rejects_bad_images(bad):
    with pytest.raises(ValueError, match="images"):
        viz.image_grid(bad)


def test_image_grid_rejects_bad_nrow():
    with pytest.raises(ValueError, match="nrow"):
        viz.image_grid(_digits(2), nrow=0)


def test_save_grid_writes_the_grid_atomically(tmp_path):
    from PIL import Image

    x = _digits(6)
    out = viz.save_grid(x, tmp_path / "sub" / "grid.png", nrow=3)
    assert out.exists() and [p.name for p in out.parent.iterdir()] == ["grid.png"]
    pixels = np.asarray(Image.open(out))
    expected = np.round(viz.image_grid(x, nrow=3) * 255).astype(np.uint8)
    np.testing.assert_array_equal(pixels, expected)  # png is lossless
    with pytest.raises(ValueError, match="path"):
        viz.save_grid(x, tmp_path / "grid.notanimage")
    # a failed write (bad image) leaves neither the target nor a temporary file behind
    with pytest.raises(ValueError):
        viz.save_grid(torch.zeros(2, 2, 8, 8), tmp_path / "bad.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub"]


def test_plot_grid_shows_the_grid():
    x = _digits(4)
    fig = viz.plot_grid(x, nrow=2, title="digits")
    assert isinstance(fig, Figure)
    shown = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(shown, viz.image_grid(x, nrow=2))
    assert fig.axes[0].get_title() == "digits"


# ---------------------------------------------------------------------------- curves

def _write_metrics(path, n=20, seed=0):
    rng = np.random.default_rng(seed)
    rows = [dict(step=i + 1, epoch=0, loss_d=1.3 + 0.1 * rng.standard_normal(),
                 loss_g=0.7 + 0.1 * rng.standard_normal(), seconds=0.1 * i) for i in range(n)]
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return rows


def test_training_curves_plot_the_csv_values(tmp_path):
    rows = _write_metrics(tmp_path / "metrics.csv")
    fig = viz.training_curves(tmp_path / "metrics.csv")
    line_d = fig.axes[0].lines[0]
    line_g = fig.axes[1].lines[0]
    np.testing.assert_allclose(line_d.get_xdata(), [r["step"] for r in rows])
    np.testing.assert_allclose(line_d.get_ydata(), [r["loss_d"] for r in rows])
    np.testing.assert_allclose(line_g.get_ydata(), [r["loss_g"] for r in rows])


def test_training_curves_smoothing_is_a_moving_average(tmp_path):
    rows = _write_metrics(tmp_path / "a.csv", n=30)
    _write_metrics(tmp_path / "b.csv", n=10, seed=1)
    fig = viz.training_curves({"a": tmp_path / "a.csv", "b": tmp_path / "b.csv"}, smooth=5)
    y = fig.axes[0].lines[0].get_ydata()
    raw = np.array([r["loss_d"] for r in rows])
    assert len(y) == 30
    np.testing.assert_allclose(y[4:], np.convolve(raw, np.ones(5) / 5, mode="valid"))
    np.testing.assert_allclose(y[:4], np.cumsum(raw[:4]) / np.arange(1, 5))
    assert len(fig.axes[0].lines) == 2  # two runs on shared axes


def test_training_curves_bad_input(tmp_path):
    with pytest.raises(ValueError, match="metrics_csv"):
        viz.training_curves(tmp_path / "missing.csv")
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="loss_d"):
        viz.training_curves(tmp_path / "bad.csv")


# ---------------------------------------------------------------------------- evaluation figures

def test_equivariance_bar_chart_heights_and_tolerance():
    errors = {"erosion 90": 0.0, "lift 90": 3e-7, "lift 45": 0.05}
    fig = viz.equivariance_bar_chart(errors, tolerance=1e-5)
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(heights, [1e-17, 3e-7, 0.05])  # exact zero sits at the floor
    assert ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == list(errors)
    assert ax.lines[0].get_ydata()[0] == 1e-5
    with pytest.raises(ValueError, match="errors"):
        viz.equivariance_bar_chart({"x": -1.0})


def test_metrics_table_names_fid_mnist_and_formats_rows():
    res = {"GM-GAN": {"fid": 1.23456, "kl": 0.05, "mnist_score": 9.1, "n": 1000},
           "GAN": {"fid": (15.5, 0.25), "kl": 0.1, "mnist_score": 8.0, "n": 1000}}
    table = viz.metrics_table(res).splitlines()
    assert table[0] == "| model | FID_MNIST | class KL | MNIST score | N |"
    assert table[2] == "| GM-GAN | 1.235 | 0.050 | 9.100 | 1000 |"
    assert table[3] == "| GAN | 15.500 ± 0.250 | 0.100 | 8.000 | 1000 |"
    with pytest.raises(ValueError, match="results"):
        viz.metrics_table({})


def test_metrics_bar_chart_and_sanity_curves_draw_the_values():
    res = {"a": {"fid": 2.0, "kl": 0.1, "mnist_score": 9.0}, "b": {"fid": (4.0, 0.5), "kl": 0.2,
                                                                  "mnist_score": 8.0}}
    fig = viz.metrics_bar_chart(res)
    assert [p.get_height() for p in fig.axes[0].patches] == [2.0, 4.0]
    assert fig.axes[0].get_title() == "FID_MNIST"
    fig = viz.sanity_curves({"noise": [0, 0.1, 0.2]}, {"noise": [1.0, 5.0, 9.0]})
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), [1.0, 5.0, 9.0])
    with pytest.raises(ValueError, match="same length"):
        viz.sanity_curves({"noise": [0, 1]}, {"noise": [1.0]})
