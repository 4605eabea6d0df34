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


def test_plot_grid_names_its_rows():
    """Row labels sit at the middle of their rows, on the left, readable (>= 10 points)."""
    fig = viz.plot_grid(_digits(6), nrow=3, row_labels=["noise σ = 0", "noise σ = 0.5"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["noise σ = 0", "noise σ = 0.5"]
    np.testing.assert_allclose(ax.get_yticks(), [15.5, 45.5])     # rows of 2 + 28 pixels
    assert min(t.get_fontsize() for t in ax.get_yticklabels()) >= 10
    with pytest.raises(ValueError, match="one label per row"):
        viz.plot_grid(_digits(6), nrow=3, row_labels=["only one"])


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


def test_training_curves_say_how_much_they_smooth(tmp_path):
    _write_metrics(tmp_path / "a.csv", n=30)
    fig = viz.training_curves({"a": tmp_path / "a.csv"}, smooth=5)
    assert fig.axes[0].get_title().endswith("(average over 5 steps)")   # logged every step
    assert "average" not in viz.training_curves(tmp_path / "a.csv").axes[0].get_title()


def test_training_curves_bad_input(tmp_path):
    with pytest.raises(ValueError, match="metrics_csv"):
        viz.training_curves(tmp_path / "missing.csv")
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="loss_d"):
        viz.training_curves(tmp_path / "bad.csv")


# ---------------------------------------------------------------------------- evaluation figures

def test_equivariance_charts_put_90_and_45_degrees_on_their_own_axes():
    fig = viz.equivariance_charts({"erosion": 0.0, "lift": 3e-7}, {"erosion": 0.09, "lift": 0.11},
                                  tolerance_90=1e-5, tolerance_45=0.25)
    ax90, ax45 = fig.axes
    np.testing.assert_allclose([p.get_height() for p in ax90.patches], [1e-17, 3e-7])
    np.testing.assert_allclose([p.get_height() for p in ax45.patches], [0.09, 0.11])
    assert (ax90.get_yscale(), ax45.get_yscale()) == ("log", "linear")
    assert ax90.lines[0].get_ydata()[0] == 1e-5 and ax45.lines[0].get_ydata()[0] == 0.25
    assert [t.get_text() for t in ax45.get_xticklabels()] == ["erosion", "lift"]
    with pytest.raises(ValueError, match="errors_45"):
        viz.equivariance_charts({"x": 0.0}, {"x": float("nan")})


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
    assert fig.axes[0].get_title().startswith("FID_MNIST")
    fig = viz.sanity_curves({"noise": [0, 0.1, 0.2]}, {"noise": [1.0, 5.0, 9.0]})
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), [1.0, 5.0, 9.0])
    with pytest.raises(ValueError, match="same length"):
        viz.sanity_curves({"noise": [0, 1]}, {"noise": [1.0]})


def test_metrics_bar_chart_says_which_way_is_better():
    res = {"GM-GAN": {k: 1.0 for k in viz.METRIC_BETTER}}
    fig = viz.metrics_bar_chart(res, metrics=("fid", "kl", "mnist_score", "precision", "recall"))
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["FID_MNIST\n(lower is better)", "class KL\n(lower is better)",
                      "MNIST score\n(higher is better)", "precision\n(higher is better)",
                      "recall\n(higher is better)"]
    assert min(ax.title.get_fontsize() for ax in fig.axes) >= 10
    assert min(t.get_fontsize() for ax in fig.axes for t in ax.get_xticklabels()) >= 10


def test_sanity_curves_name_the_strength_on_the_axis():
    fig = viz.sanity_curves({"noise": [0, 0.1], "blur": [0, 1]}, {"noise": [1, 2], "blur": [1, 3]},
                            xlabels={"noise": "noise level σ", "blur": "blur σ (pixels)"})
    assert [ax.get_xlabel() for ax in fig.axes] == ["noise level σ", "blur σ (pixels)"]
    assert fig.axes[0].get_ylabel() == "FID_MNIST (lower is better)"
    fig = viz.sanity_curves({"noise": [0, 0.1]}, {"noise": [1, 2]})
    assert fig.axes[0].get_xlabel() == "noise strength"                   # the default
    with pytest.raises(ValueError, match="xlabels"):
        viz.sanity_curves({"noise": [0, 0.1]}, {"noise": [1, 2]}, xlabels={"blur": "σ"})


def test_each_model_keeps_its_colour_in_every_plot(tmp_path):
    """GM-GAN has one colour and the DCGAN another in the loss curves (in either order), the
    metric bars and the CPU-minute curves, whatever the label's spelling."""
    from matplotlib.colors import to_hex

    gm, dc, real = (to_hex(viz.MODEL_COLORS[k]) for k in ("GM-GAN", "DCGAN", "real data"))
    assert len({gm, dc, real}) == 3
    _write_metrics(tmp_path / "a.csv")
    _write_metrics(tmp_path / "b.csv", seed=1)
    for runs in ({"GM-GAN": tmp_path / "a.csv", "DCGAN": tmp_path / "b.csv"},
                 {"DCGAN": tmp_path / "b.csv", "GM-GAN": tmp_path / "a.csv"}):
        fig = viz.training_curves(runs)
        for ax in fig.axes:
            assert {line.get_label(): to_hex(line.get_color()) for line in ax.lines} == {
                "GM-GAN": gm, "DCGAN": dc}
    res = {"real vs real": {"fid": 1.0}, "gmgan (gmgan-mnist-cpu)": {"fid": 3.0},
           "DCGAN": {"fid": 2.0}, "gan": {"fid": 2.5}}
    bars = viz.metrics_bar_chart(res, metrics=("fid",)).axes[0].patches
    assert [to_hex(b.get_facecolor()) for b in bars] == [real, gm, dc, dc]
    points = [{"minutes": 1, "fid": 200.0}, {"minutes": 2, "fid": 150.0}]
    fig = viz.cpu_minute_curves({"mnist": {"DCGAN": points, "GM-GAN": points},
                                 "rotmnist": {"GM-GAN": points}})
    assert [to_hex(line.get_color()) for ax in fig.axes for line in ax.lines] == [dc, gm, gm]
    # a label of no known model gets a colour of neither, the same one every time
    other = viz.model_color("pdecnn-r2")
    assert to_hex(other) not in {gm, dc, real} and viz.model_color("pdecnn-r2") == other


# ---------------------------------------------------------------------------- structuring elements

@pytest.mark.parametrize("alpha,t", [(0.65, 1.0), (1.0, 0.5), (0.55, 2.0)])
def test_structuring_element_zero_at_centre_and_growing_with_distance(alpha, t):
    arr = viz.structuring_element_arrays(alpha=alpha, t=t, metric=(1.0, 1.0, 1.0),
                                         kernel_size=(5, 9, 9))
    r2, m2 = arr["r2"], arr["m2"]
    assert r2.shape == (9, 9) and m2.shape == (5, 9, 9)
    assert r2[4, 4] == 0.0 and m2[2, 4, 4] == 0.0
    # isotropic metric: strictly increasing along every ray from the centre
    for ray in (r2[4, 4:], r2[4::-1, 4], np.diag(r2)[4:]):
        assert np.all(np.diff(ray) > 0)
    # the Hopf-Lax formula k_t(x) = (t/beta)(|x|/t)^beta at |x| = 3
    beta = 2 * alpha / (2 * alpha - 1)
    np.testing.assert_allclose(r2[4, 7], t / beta * (3 / t) ** beta, rtol=1e-12)
    # the angular offset costs: every slice away from dtheta = 0 is larger at the centre
    assert np.all(m2[[0, 1, 3, 4], 4, 4] > 0)
    np.testing.assert_allclose(arr["angles"], np.arange(-2, 3) * 2 * np.pi / 8)


@pytest.mark.parametrize("distance", ["logarithmic", "half_angle", "sub_riemannian", "combined"])
def test_structuring_element_rotates_with_the_orientation(distance):
    kw = dict(alpha=0.75, metric=(1.0, 2.5, 1.0), distance=distance, kernel_size=(3, 7, 7))
    k0 = viz.structuring_element_arrays(orientation=0, **kw)["m2"]
    k2 = viz.structuring_element_arrays(orientation=2, **kw)["m2"]  # 90 degrees for Or = 8
    np.testing.assert_allclose(k2, np.rot90(k0, 1, axes=(1, 2)), atol=1e-12)
    # anisotropy: moving along the orientation (x, main weight 1) is cheaper than across (2.5)
    assert k0[1, 3, 5] < k0[1, 1, 3]


def test_structuring_element_r2_matches_m2_slice_at_orientation_zero():
    arr = viz.structuring_element_arrays(alpha=0.65, metric=(0.7, 1.9, 1.0))
    np.testing.assert_allclose(arr["m2"][2], arr["r2"], rtol=1e-12)


def test_plot_structuring_element_draws_the_arrays_and_rejects_bad_input():
    kw = dict(alpha=0.8, t=1.5, metric=(1.0, 2.0, 0.5), orientation=3, kernel_size=(3, 7, 7))
    fig = viz.plot_structuring_element(**kw)
    arr = viz.structuring_element_arrays(**kw)
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), arr["r2"])
    for a in range(3):
        np.testing.assert_allclose(fig.axes[a + 1].images[0].get_array(), arr["m2"][a])
    with pytest.raises(ValueError, match="orientation"):
        viz.structuring_element_arrays(orientation=8)
    with pytest.raises(ValueError, match="alpha"):
        viz.structuring_element_arrays(alpha=0.5)
    with pytest.raises(ValueError, match="metric"):
        viz.structuring_element_arrays(metric=(1.0, 1.0))


# ---------------------------------------------------------------------------- morphology panel

@pytest.mark.parametrize("kernel,size", [("square", 3), ("disk", 5), ("quadratic", 5),
                                         ("power", 7)])
def test_morphology_arrays_order_and_idempotence(kernel, size):
    f = _digits(1, seed=3)[0, 0]
    arr = viz.morphology_arrays(f, kernel=kernel, size=size, alpha=0.7, t=1.0)
    tol = 1e-12
    # k(0) = 0 and k >= 0: erosion <= opening <= f <= closing <= dilation
    assert np.all(arr["erosion"] <= arr["opening"] + tol)
    assert np.all(arr["opening"] <= arr["f"] + tol)
    assert np.all(arr["f"] <= arr["closing"] + tol)
    assert np.all(arr["closing"] <= arr["dilation"] + tol)
    assert arr["kernel"].shape == (size, size) and arr["kernel"][size // 2, size // 2] == 0
    # an opening is idempotent
    again = viz.morphology_arrays(arr["opening"], kernel=kernel, size=size, alpha=0.7)
    np.testing.assert_allclose(again["opening"], arr["opening"], atol=1e-12)


def test_morphology_flat_square_is_a_min_filter():
    f = _digits(1, seed=4)
    arr = viz.morphology_arrays(f, kernel="square", size=3)
    minfilter = -torch.nn.functional.max_pool2d(-f.double(), 3, stride=1, padding=1)
    np.testing.assert_array_equal(arr["erosion"], minfilter[0, 0].numpy())


def test_erosion_dilation_panel_content_and_bad_input():
    f = _digits(1, seed=5)[0, 0]
    fig = viz.erosion_dilation_panel(f, kernel="disk", size=3, op="closing")
    arr = viz.morphology_arrays(f, kernel="disk", size=3)
    pictures = [ax for ax in fig.axes if ax.images]         # the panels, not the colour bars
    shown = [ax.images[0].get_array() for ax in pictures]
    assert len(shown) == 7
    np.testing.assert_allclose(shown[1], arr["erosion"])
    # the last panel is the structuring element: the 3x3 disk is 0 on its cross, +inf (masked)
    # in the corners
    element = shown[6]
    assert element.shape == (3, 3) and element.mask.tolist() == [[True, False, True],
                                                                 [False, False, False],
                                                                 [True, False, True]]
    assert pictures[6].get_title() == "structuring\nelement k"
    # every panel's colours are explained: grey levels, the change op(f) - f; the flat element,
    # 0 wherever it is finite, by a note (a colour bar would show a range of values it lacks)
    bars = [ax.get_ylabel() for ax in fig.axes if not ax.images]
    assert bars == ["grey level", "change"]
    assert "k = 0 on every\ncoloured pixel" in pictures[6].texts[0].get_text()
    # the title says what the picture shows: the 3x3 disk is the pixels within 1 of the centre
    assert fig.get_suptitle() == ("flat disk structuring element, size 3 (the pixels at "
                                        "distance ≤ 1 from the centre)")
    # an element that takes several values has its colour bar
    soft = viz.erosion_dilation_panel(f, kernel="quadratic", size=5, title="image 2")
    assert [ax.get_ylabel() for ax in soft.axes if not ax.images] == ["grey level",
                                                                     "k (white: +∞)"]
    assert soft.get_suptitle() == "image 2: quadratic structuring element, size 5, t = 1"
    titles = [t for t in fig.texts + [ax.title for ax in fig.axes]]
    assert min(t.get_fontsize() for t in titles if t.get_text()) >= 10
    assert np.all(shown[1] <= f.numpy() + 1e-12)  # the erosion image is <= the original
    np.testing.assert_allclose(shown[5], arr["closing"] - arr["f"])
    assert np.all(shown[5] >= 0)
    with pytest.raises(ValueError, match="kernel"):
        viz.morphology_arrays(f, kernel="triangle")
    with pytest.raises(ValueError, match="op"):
        viz.erosion_dilation_panel(f, op="thinning")
    with pytest.raises(ValueError, match="image"):
        viz.morphology_arrays(_digits(2))


# ---------------------------------------------------------------------------- orientation scores

def _bar(angle_deg, size=29, half_length=9):
    """A bright bar through the centre at angle_deg, counter-clockwise on screen, on -1."""
    r = np.arange(size) - size // 2
    y, x = np.meshgrid(-r, r, indexing="ij")
    a = np.radians(angle_deg)
    along, across = x * np.cos(a) + y * np.sin(a), -x * np.sin(a) + y * np.cos(a)
    return torch.tensor(np.where((np.abs(across) <= 0.5) & (np.abs(along) <= half_length),
                                 1.0, -1.0))


def test_line_filter_is_zero_mean_and_oriented():
    psi = viz.line_filter(9)
    assert abs(float(psi.sum())) < 1e-12 and abs(float(psi.abs().sum()) - 1) < 1e-12
    assert psi[4, 4] == psi.max()  # the centre of the line
    assert torch.equal(psi, psi.flip(0)) and torch.equal(psi, psi.flip(1))


@pytest.mark.parametrize("orientations", [4, 8, 16])
def test_orientation_score_finds_the_orientation_of_a_bar(orientations):
    for k in range(orientations // 2):
        score = viz.orientation_score(_bar(360 * k / orientations), orientations)
        assert score.shape == (orientations, 29, 29)
        best = int(score[:, 14, 14].argmax())
        assert best % (orientations // 2) == k  # theta and theta + pi respond alike


def test_orientation_score_is_equivariant_under_quarter_turns():
    f = _digits(1, seed=6)[0, 0]
    score = viz.orientation_score(f, 8)
    turned = viz.orientation_score(torch.rot90(f, 1, (0, 1)), 8)
    expected = torch.roll(torch.rot90(score, 1, (1, 2)), 2, dims=0)
    torch.testing.assert_close(turned, expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("orientations,rows", [(4, 1), (8, 2), (12, 3), (16, 4)])
def test_orientation_score_panel_draws_the_score(orientations, rows):
    """Every slice on one colour scale (with its bar), 4 per row, an angle legend, and text
    that a notebook shows at a readable size (a figure under 10 inches, titles of 10 points)."""
    f = _bar(45)
    fig = viz.orientation_score_panel(f, orientations=orientations)
    score = viz.orientation_score(f, orientations).numpy()
    slices = [ax for ax in fig.axes if ax.get_title().startswith("θ =")]
    assert len(slices) == orientations
    for o, ax in enumerate(slices):
        np.testing.assert_allclose(ax.images[0].get_array(), score[o])
        assert ax.images[0].get_clim() == slices[0].images[0].get_clim()   # one scale
    assert slices[1].get_title() == f"θ = {360 / orientations:g}°".replace(".0°", "°")
    rows_used = {round(ax.get_position().y0, 3) for ax in slices}
    assert len(rows_used) == rows
    labels = [ax.get_xlabel() + ax.get_ylabel() for ax in fig.axes]
    assert "response U(x, θ)" in labels                      # the slices' colour bar
    assert "θ mod 180° (hue)" in labels                      # the angle legend
    assert fig.get_figwidth() <= 10
    assert min(ax.title.get_fontsize() for ax in slices) >= 10
    with pytest.raises(ValueError, match="size"):
        viz.line_filter(4)


# ---------------------------------------------------------------------------- widgets

def test_widgets_construct_and_draw_with_their_defaults():
    import ipywidgets as W

    digits = _digits(4)
    for widget in (viz.make_structuring_element_widget(),
                   viz.make_morphology_widget(digits),
                   viz.make_orientation_score_widget(digits)):
        assert isinstance(widget, W.interactive)
        # the callback ran once with the defaults, and returned a figure (an exception inside
        # an interact callback is only logged, so this is what proves it worked)
        assert isinstance(widget.result, Figure)
        assert len(widget.children) >= 3


def test_structuring_element_widget_orientation_reads_in_degrees():
    """The orientation slider shows the angle its panels name, and passes the exact index."""
    widget = viz.make_structuring_element_widget(orientations=8, kernel_size=(3, 7, 7))
    controls = {c.description: c for c in widget.children if hasattr(c, "description")}
    slider = controls["orientation"]
    assert slider.options == (("0°", 0), ("45°", 1), ("90°", 2), ("135°", 3), ("180°", 4),
                              ("225°", 5), ("270°", 6), ("315°", 7))
    assert slider.label == "45°" and "θ = 45°" in widget.result.texts[0].get_text()
    slider.value = 6
    assert slider.label == "270°" and "θ = 270°" in widget.result.texts[0].get_text()
    expected = viz.structuring_element_arrays(alpha=0.65, metric=(0.4, 1.0, 0.6), orientation=6,
                                              kernel_size=(3, 7, 7))["m2"]
    np.testing.assert_allclose(widget.result.axes[1].images[0].get_array(), expected[0])
    assert [label for label, _ in viz.orientation_options(16)][:3] == ["0°", "22.5°", "45°"]
    assert [o for _, o in viz.orientation_options(12)] == list(range(12))


def test_morphology_widget_greys_out_what_the_kernel_ignores():
    widget = viz.make_morphology_widget(_digits(2))
    controls = {c.description: c for c in widget.children if hasattr(c, "description")}
    seen = {}
    for kind in ("quadratic", "power", "square", "disk"):
        controls["kernel"].value = kind
        seen[kind] = (controls["alpha"].disabled, controls["t"].disabled)
    assert seen == {"quadratic": (True, False), "power": (False, False),
                    "square": (True, True), "disk": (True, True)}
    # and the picture follows the slider that is live: t changes the quadratic's erosion
    controls["kernel"].value = "quadratic"
    before = widget.result.axes[1].images[0].get_array().copy()
    controls["t"].value = 4.0
    assert not np.allclose(widget.result.axes[1].images[0].get_array(), before)


def test_morphology_widget_redraws_when_a_control_moves():
    digits = _digits(3)
    widget = viz.make_morphology_widget(digits, labels=[7, 2, 1])
    controls = {c.description: c for c in widget.children if hasattr(c, "description")}
    # the slider picks a position in the batch (an image), and the title names its digit
    controls["image"].value = 2
    controls["kernel"].value = "square"
    shown = widget.result.axes[1].images[0].get_array()
    expected = viz.morphology_arrays(digits[2, 0], kernel="square", size=3)["erosion"]
    np.testing.assert_allclose(shown, expected)
    assert widget.result.get_suptitle().startswith("image 2, the digit 1:")


def test_orientation_score_widget_names_the_image_and_its_digit():
    widget = viz.make_orientation_score_widget(_digits(2), labels=[4, 9])
    controls = {c.description: c for c in widget.children if hasattr(c, "description")}
    controls["image"].value = 1
    assert "f: image 1, the digit 9" in [ax.get_title() for ax in widget.result.axes]
    with pytest.raises(ValueError, match="labels"):
        viz.make_morphology_widget(_digits(2), labels=[4])
