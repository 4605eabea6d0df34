"""LiveTraining: the notebook's live view of a run (gmgan_lib/live.py) and train's on_log hook."""
from __future__ import annotations

import pytest
import torch
from matplotlib.figure import Figure

from gmgan_lib.live import LiveTraining
from gmgan_lib.training import Progress, TrainConfig, train

SMALL = dict(model="gan", batch_size=8, data_fraction=0.0006, log_every=1, checkpoint_every=3,
             max_steps=6)


def test_every_logged_step_reaches_the_hook_and_the_picture_shows_losses_and_samples():
    figures = []
    view = LiveTraining(every_seconds=0, samples=16, show=figures.append)
    train(TrainConfig(**SMALL), None, on_log=view, verbose=False)
    assert view.steps == [1, 2, 3, 4, 5, 6] and len(view.loss_d) == len(view.loss_g) == 6
    assert view.redraws == 6 and all(isinstance(f, Figure) for f in figures)
    loss_axes, grid_axes = figures[-1].axes
    assert [line.get_label() for line in loss_axes.lines] == ["discriminator", "generator"]
    assert list(loss_axes.lines[0].get_xdata()) == [1, 2, 3, 4, 5, 6]
    grid = grid_axes.images[0].get_array()
    assert grid.shape == (2 * 30 + 2, 8 * 30 + 2)          # 16 samples, 8 per row, padding 2
    assert "step 6/6" in figures[-1]._suptitle.get_text()


def test_redraws_are_spaced_but_the_last_step_is_always_drawn():
    figures = []
    view = LiveTraining(every_seconds=3600, show=figures.append)
    train(TrainConfig(**SMALL), None, on_log=view, verbose=False)
    assert view.redraws == 2 and len(view.steps) == 6     # the first step, then the last


def test_watching_changes_nothing_in_the_run():
    """Drawing samples mid-run uses eval mode and no random numbers: same weights as unwatched."""
    plain = train(TrainConfig(**SMALL), None, verbose=False)
    watched = train(TrainConfig(**SMALL), None, verbose=False,
                    on_log=LiveTraining(every_seconds=0, show=lambda fig: None))
    for a, b in zip(plain.generator.state_dict().values(), watched.generator.state_dict().values()):
        assert torch.equal(a, b)
    assert watched.generator.training                      # drawing restored the mode


def test_one_output_updated_in_place(monkeypatch):
    """In a notebook the first picture is displayed with a display id, the next ones update it."""
    calls = []

    class Handle:
        def update(self, fig):
            calls.append(("update", fig))

    def display(fig, display_id=False):
        calls.append(("display", display_id))
        return Handle()

    import IPython.display
    monkeypatch.setattr(IPython.display, "display", display)
    view = LiveTraining(every_seconds=0, samples=4)
    p = Progress(1, 3, 0, 1.2, 0.7, 0.5, torch.nn.Sequential(torch.nn.Conv2d(1, 1, 1), torch.nn.Tanh()),
                 torch.zeros(4, 1, 28, 28))
    view(p)
    view(Progress(2, 3, 0, 1.1, 0.8, 1.0, p.generator, p.noise))
    assert [c[0] for c in calls] == ["display", "update"] and calls[0][1] is True


def test_a_model_colour_draws_both_losses_in_it():
    """The notebook passes a model's colour: discriminator solid, generator dashed, both in it,
    so GM-GAN is drawn in the same colour here as in every other plot."""
    from matplotlib.colors import to_hex

    figures = []
    view = LiveTraining(every_seconds=0, samples=4, show=figures.append, color="tab:orange")
    view(Progress(1, 3, 0, 1.2, 0.7, 0.5, torch.nn.Sequential(torch.nn.Conv2d(1, 1, 1)),
                  torch.zeros(4, 1, 28, 28)))
    d, g = figures[-1].axes[0].lines
    assert to_hex(d.get_color()) == to_hex(g.get_color()) == to_hex("tab:orange")
    assert (d.get_linestyle(), g.get_linestyle()) == ("-", "--")


@pytest.mark.parametrize("kwargs,message", [
    ({"every_seconds": -1}, "every_seconds must be >= 0"),
    ({"every_seconds": float("nan")}, "every_seconds must be >= 0"),
    ({"samples": 0}, "samples must be a positive int"),
    ({"samples": 2.5}, "samples must be a positive int"),
])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LiveTraining(**kwargs)

