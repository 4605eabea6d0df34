"""Reading the data-efficiency results: the table's figures are means and spreads of the runs,
in the table's order, and the figure draws one line per model."""
import pytest

from gmgan_lib.data_efficiency import MODELS, figure, markdown_table


def run(row, seed, fid, dataset="rotmnist", images=600, steps=100):
    metrics = {"fid": fid, "kl": 0.1, "mnist_score": 5.0, "precision": 0.5, "recall": 0.4}
    return {"row": row, "seed": seed, "dataset": dataset, "images": images, "steps": steps,
            "metrics": metrics,
            "curve": [{"steps": 50, "fid": fid + 10, "gap": 0.1, "r_t": 0.2},
                      {"steps": steps, "fid": fid, "gap": 0.5 + seed, "r_t": 0.9}]}


ROWS = {"a": run("gan", 0, 60.0), "b": run("gan", 1, 64.0), "c": run("gm", 0, 50.0),
        "d": run("gm", 0, 70.0, images=6000), "e": run("gm", 0, 80.0, dataset="mnist"),
        "f": run("gm-invariant-max", 0, 55.0)}


def test_the_table_gives_mean_and_spread_over_seeds_in_the_tables_order():
    lines = markdown_table(ROWS).splitlines()[2:]
    # rotated MNIST first, fewer images first; the upright digits last
    assert lines[0].startswith("| 600 rotated digits | GM-GAN | 1 | 100 | 50.0 | 50.0 |")
    assert lines[1].startswith("| 600 rotated digits | DCGAN | 2 | 100 | 62.0 ± 2.8 | 62.0 ± 2.8 |")
    assert "| 1.00 ± 0.71 | 0.90 ± 0.00 |" in lines[1]                       # gap and r_t at the budget
    assert "random turn in G" in lines[2] and lines[3].startswith("| 6,000 rotated digits | GM-GAN")
    assert lines[4].startswith("| 600 upright digits | GM-GAN | 1 | 100 | 80.0 | 80.0 |")


def test_the_second_half_mean_takes_the_snapshots_after_half_the_budget():
    from gmgan_lib.data_efficiency import late_fid

    curve = [{"steps": s, "fid": f} for s, f in ((2, 90.0), (4, 70.0), (6, 60.0), (8, 50.0))]
    assert late_fid({"steps": 8, "curve": curve}) == pytest.approx(55.0)       # steps 6 and 8
    assert late_fid({"steps": 6, "curve": curve}) == pytest.approx(65.0)       # steps 4 and 6, not 8


def test_the_figure_draws_a_line_per_model_and_the_curves_of_seed_0():
    fig = figure(ROWS)
    top_left, _, curves, gaps = fig.axes[:4]
    assert len(top_left.containers) == 2                            # GM-GAN and the DCGAN
    # one legend under the four panels, every row drawn once, in the table's order
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "GM-GAN", "DCGAN", "GM-GAN, invariant D head (max), random turn in G"]
    # gm, gan, the ablation; the budget's line (and the zero line of the gap)
    assert len(curves.lines) == 3 + 1 and len(gaps.lines) == 3 + 2
    assert "the budget" in curves.get_title()
    assert set(MODELS) >= {"gm", "gan"}


def test_the_overfitting_figure_draws_the_five_models_and_leaves_the_ablations_out():
    """Notebook 06 shows it before the ablations are explained: only the models' rows, unless
    asked for more."""
    from gmgan_lib.data_efficiency import overfitting_figure

    def drawn(fig):
        return [t.get_text() for t in fig.legends[0].get_texts()]
    assert drawn(overfitting_figure(ROWS)) == ["GM-GAN", "DCGAN"]
    assert drawn(overfitting_figure(ROWS, which=("gm", "gm-invariant-max")))[1].startswith(
        "GM-GAN, invariant D head")


def test_the_figures_fit_a_notebook_with_legible_text():
    """A notebook shows a figure at most about 950 pixels wide: at 100 dots per inch the
    figures are no wider, so their text is shown at its own size, 9 points or more."""
    from gmgan_lib.data_efficiency import overfitting_figure

    for fig in (figure(ROWS), overfitting_figure(ROWS)):
        assert fig.get_figwidth() * 100 <= 960
        fig.canvas.draw()
        texts = [t for ax in fig.axes for t in (*ax.get_xticklabels(), *ax.get_yticklabels(),
                                                 ax.title, ax.xaxis.label, ax.yaxis.label)]
        texts += list(fig.legends[0].get_texts())
        assert min(t.get_fontsize() for t in texts if t.get_text()) >= 9


def test_a_setting_s_points_stand_side_by_side_at_its_tick():
    from matplotlib.figure import Figure

    from gmgan_lib.data_efficiency import fraction_axes
    ax = Figure().subplots()
    fraction_axes(ax, ROWS, "rotmnist")
    xs = [c.lines[0].get_xdata()[0] for c in ax.containers]          # GM-GAN, DCGAN at 600
    assert len(set(xs)) == 2 and all(500 < x < 720 for x in xs)
    assert list(ax.get_xticks()) == [600, 6000]


def test_an_empty_result_set_gives_an_empty_table():
    assert len(markdown_table({}).splitlines()) == 2
    with pytest.raises(KeyError):
        markdown_table({"x": {"row": "gm"}})


def test_every_row_keeps_the_courses_colour_and_the_rows_stay_apart():
    from gmgan_lib.data_efficiency import ABLATIONS, MODELS, style
    from gmgan_lib.viz import MODEL_COLORS

    assert {style(r)["color"] for r in MODELS if r.startswith("gm")} == {MODEL_COLORS["GM-GAN"]}
    assert {style(r)["color"] for r in MODELS if r.startswith("gan")} == {MODEL_COLORS["DCGAN"]}
    drawn = [tuple(sorted(style(r).items())) for r in [*MODELS, *ABLATIONS]]
    assert len(set(drawn)) == len(drawn)                     # no two rows look alike
    assert len({style(r)["color"] for r in ABLATIONS}) == len(ABLATIONS)


def test_a_panel_without_runs_says_so():
    from matplotlib.figure import Figure

    from gmgan_lib.data_efficiency import fraction_axes
    ax = Figure().subplots()
    fraction_axes(ax, {}, "mnist")
    assert [t.get_text() for t in ax.texts] == ["no finished run yet"]


# ------------------------------------------------------------------ the verdict's reading


@pytest.mark.parametrize("geometric, baseline, reading", [
    ([50.0, 52.0, 54.0], [60.0, 61.0, 62.0], "ahead"),    # 52 ± 2 against 61 ± 1: 9 > 3
    ([60.0, 61.0, 62.0], [50.0, 52.0, 54.0], "behind"),
    ([50.0, 54.0, 58.0], [58.0, 59.0, 60.0], "level"),    # 54 ± 4 against 59 ± 1: 5 = 5
    ([50.0, 54.0, 58.0], [58.1, 59.1, 60.1], "ahead"),    # 5.1 > 5: just apart
    ([40.0], [90.0, 91.0], "one seed"),                   # no spread to read, however far
    ([40.0, 41.0], [90.0], "one seed"),
    ([50.0, float("nan")], [90.0, 91.0], "no reading"),      # never "behind" by accident
])
def test_a_row_is_ahead_or_behind_only_when_the_spreads_do_not_overlap(geometric, baseline,
                                                                        reading):
    from gmgan_lib.data_efficiency import compare

    assert compare(geometric, baseline) == reading


def test_every_geometric_row_is_read_against_every_baseline_of_its_setting():
    from gmgan_lib.data_efficiency import comparison_table, comparisons

    rows = {**ROWS, "g": run("gm", 1, 52.0), "h": run("gan-diffaug", 0, 70.0),
            "i": run("gm-diffaug", 0, 40.0, images=6000)}        # no baseline at 6,000: no pair
    pairs = [(c["images"], c["geometric"], c["baseline"]) for c in comparisons(rows)]
    assert pairs == [(600, "gm", "gan"), (600, "gm", "gan-diffaug")]
    lines = comparison_table(rows).splitlines()
    # gm 51.0 ± 1.4 against gan 62.0 ± 2.8: 11.0 > 4.2, at the budget and over the second half
    assert lines[2] == ("| 600 rotated digits | GM-GAN | DCGAN "
                        "| 51.0 ± 1.4 against 62.0 ± 2.8 (+11.0) | ahead "
                        "| 51.0 ± 1.4 against 62.0 ± 2.8 (+11.0) | ahead | **ahead** |")
    assert lines[3].endswith("(+19.0) | one seed | **one seed** |")


@pytest.mark.parametrize("at_budget, second_half, together", [
    ("ahead", "ahead", "ahead"), ("level", "level", "level"), ("behind", "behind", "behind"),
    ("level", "ahead", "unsettled"), ("ahead", "level", "unsettled"),
    ("one seed", "one seed", "one seed"), ("ahead", "no reading", "unsettled"),
])
def test_a_difference_counts_only_where_both_readings_find_it(at_budget, second_half, together):
    from gmgan_lib.data_efficiency import overall

    assert overall(at_budget, second_half) == together


def test_a_difference_that_rounds_to_zero_has_no_minus_sign():
    from gmgan_lib.data_efficiency import signed

    assert [signed(x) for x in (-0.04, 0.04, -0.06, 10.0, -3.25)] == [
        "+0.0", "+0.0", "-0.1", "+10.0", "-3.2"]


def test_what_less_data_costs_is_read_from_the_largest_setting_of_each_model():
    from gmgan_lib.data_efficiency import loss_table

    rows = {"a": run("gan", 0, 50.0, images=60000), "b": run("gan", 0, 54.0, images=6000),
            "c": run("gan", 0, 60.0), "d": run("gan", 1, 64.0), "e": run("gm", 0, 70.0),
            "f": run("gm-invariant-max", 0, 1.0, images=60000),   # an ablation: not a model row
            "g": run("gm", 0, 1.0, dataset="mnist", images=60000)}  # another dataset
    assert loss_table(rows).splitlines() == [
        "| model | 60,000 images | 6,000 images | 600 images |", "|---|---|---|---|",
        "| GM-GAN |  |  | 70.0 (1) |",                          # its largest: nothing to lose
        "| DCGAN | 50.0 (1) | 54.0 (1), +4.0 | 62.0 ± 2.8 (2), +12.0 |"]


def test_the_summary_gives_each_setting_a_line_and_each_model_a_column():
    from gmgan_lib.data_efficiency import summary_table

    rows = {"a": run("gan", 0, 50.0, images=60000), "b": run("gan", 0, 60.0),
            "c": run("gan", 1, 64.0), "d": run("gm", 0, 70.0),
            "e": run("gm-invariant-max", 0, 1.0),                 # an ablation: not a column
            "f": run("gm", 0, 90.0, dataset="mnist")}             # upright digits: last line
    assert summary_table(rows).splitlines() == [
        "| FID_MNIST at the budget (seeds) | GM-GAN | GM-GAN + DiffAugment | DCGAN "
        "| DCGAN + DiffAugment | DCGAN + random rotations |", "|---|---|---|---|---|---|",
        "| 600 rotated digits | 70.0 (1) |  | 62.0 ± 2.8 (2) |  |  |",
        "| 60,000 rotated digits |  |  | 50.0 (1) |  |  |",
        "| 600 upright digits | 90.0 (1) |  |  |  |  |"]


def test_the_generated_tables_are_written_between_their_marks_and_nothing_else_moves():
    from gmgan_lib.data_efficiency import (END_MARK, GENERATED, begin_mark, fill_generated,
                                           loss_table)

    page = "# title\n\n"
    for name in GENERATED:
        page += f"before {name}\n{begin_mark(name)}\nstale | table\n{END_MARK}\nafter {name}\n"
    filled = fill_generated(page, ROWS)
    assert "stale" not in filled and filled.count(END_MARK) == len(GENERATED)
    assert all(f"before {n}\n{begin_mark(n)}\n|" in filled and f"after {n}" in filled
               for n in GENERATED)
    assert fill_generated(filled, ROWS) == filled                  # writing again changes nothing
    one = f"intro\n{begin_mark('losses')}\nstale\n{END_MARK}\nrest\n"   # a page of one table
    assert fill_generated(one, ROWS) == (f"intro\n{begin_mark('losses')}\n{loss_table(ROWS)}\n"
                                         f"{END_MARK}\nrest\n")
    with pytest.raises(ValueError, match="none of the marks"):
        fill_generated("# a page without marks\n", ROWS)                     # nothing to fill
    twice = page + f"{begin_mark('table')}\nold copy\n{END_MARK}\n"
    with pytest.raises(ValueError, match="table: generated, do not edit"):
        fill_generated(twice, ROWS)                                           # a mark twice
    unended = page.replace(f"stale | table\n{END_MARK}", "stale | table", 1)
    with pytest.raises(ValueError, match="table: generated, do not edit"):   # its end missing:
        fill_generated(unended, ROWS)                  # never runs on into the next table


@pytest.mark.parametrize("page, tables", [("docs/results.md", {"table", "comparisons", "losses"}),
                                          ("README.md", {"summary"})])
def test_the_pages_show_the_tables_the_committed_results_give(page, tables):
    """docs/results.md and the README never drift from docs/results/data_efficiency.json: each
    holds its generated tables, and they are exactly what `reproduce.py --part data-efficiency
    --update-doc` writes from it."""
    import json
    from pathlib import Path

    from gmgan_lib.data_efficiency import GENERATED, begin_mark, fill_generated

    repo = Path(__file__).resolve().parents[1]
    text = (repo / page).read_text()
    rows = json.loads((repo / "docs" / "results" / "data_efficiency.json").read_text())
    assert {name for name in GENERATED if begin_mark(name) in text} == tables
    assert fill_generated(text, rows) == text, (
        "run `python scripts/reproduce.py --part data-efficiency --update-doc docs/results.md "
        "README.md`")


def test_the_pages_count_the_runs_the_committed_results_hold():
    """Each page that says how many of the table's runs are done says what the results file
    holds (the count is written by hand as runs finish; this keeps it honest)."""
    import json
    import re
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    done = len(json.loads((repo / "docs" / "results" / "data_efficiency.json").read_text()))
    counts = {
        "README.md": [r"64 runs, (\d+) done"],
        "docs/results.md": [r"(\d+) of the 64 runs done\*\*", r"(\d+) of its 64 runs are done",
                            r"(\d+) of 64 runs so far"],
    }
    for page, patterns in counts.items():
        text = (repo / page).read_text()
        for pattern in patterns:
            found = re.findall(pattern, text)
            assert found == [str(done)], (page, pattern, found, done)
