"""Watching a run train, in a notebook: one picture redrawn in place.

    live = LiveTraining()
    result = train(config, out, on_log=live)   # the loss curves and a sample grid update

The picture is one display output updated through its display id (IPython's
``display(..., display_id=True)`` and ``handle.update``), so a long run leaves one figure, not a
scroll of them. It is redrawn at most every ``every_seconds`` and at the last step; drawing
samples costs one generator forward pass on ``samples`` noise vectors (the run's fixed noise,
so that the grid shows the same latent points improving). Interrupting the kernel stops the
training the usual way (a checkpoint at the current step, see ``train``); the picture keeps its
last state.
"""
from __future__ import annotations

import time

import torch
from matplotlib.figure import Figure

from gmgan_lib.sampling import generate
from gmgan_lib.viz import image_grid


class LiveTraining:
    """A ``train(..., on_log=...)`` hook drawing the losses so far and samples of the generator.

    ``every_seconds``: least time between two redraws (the last step is always drawn).
    ``samples``: how many images of the fixed noise the grid shows (``nrow`` per row).
    ``show``: where a figure goes; the default displays it in the notebook and then updates
    that same output (tests pass a list's ``append``).
    ``color``: draw both losses in this colour (the discriminator's solid, the generator's
    dashed), e.g. ``gmgan_lib.viz.model_color("GM-GAN")``, so that a model keeps its colour
    from one picture to the next; by default the two losses take matplotlib's first colours.
    """

    def __init__(self, every_seconds: float = 5.0, samples: int = 32, nrow: int = 8,
                 show=None, color: str | None = None):
        if not every_seconds >= 0:
            raise ValueError(f"every_seconds must be >= 0, got {every_seconds!r}")
        if not (isinstance(samples, int) and samples >= 1):
            raise ValueError(f"samples must be a positive int, got {samples!r}")
        self.every_seconds, self.samples, self.nrow = float(every_seconds), samples, nrow
        self.color = color
        self.steps: list[int] = []
        self.loss_d: list[float] = []
        self.loss_g: list[float] = []
        self.redraws = 0
        self._show = show
        self._handle = None
        self._last = -float("inf")

    def __call__(self, p) -> None:
        self.steps.append(p.step)
        self.loss_d.append(p.loss_d)
        self.loss_g.append(p.loss_g)
        now = time.perf_counter()
        if now - self._last < self.every_seconds and p.step < p.total:
            return
        self._last = now
        self.display(self.figure(p))

    def figure(self, p) -> Figure:
        """The losses up to ``p.step`` (left) and samples of ``p.generator`` (right)."""
        fig = Figure(figsize=(11, 4.0))
        ax_loss, ax_grid = fig.subplots(1, 2, gridspec_kw={"width_ratios": [5, 4]})
        ax_loss.plot(self.steps, self.loss_d, label="discriminator", color=self.color)
        ax_loss.plot(self.steps, self.loss_g, label="generator", color=self.color,
                     ls="--" if self.color else "-")
        ax_loss.set_xlabel("step", fontsize=10)
        ax_loss.set_ylabel("loss", fontsize=10)
        ax_loss.set_xlim(0, max(p.total, 1))
        ax_loss.grid(alpha=0.3)
        ax_loss.legend(loc="upper right", fontsize=10)
        with torch.no_grad():
            images = generate(p.generator, p.noise[: self.samples])
        ax_grid.imshow(image_grid(images, nrow=self.nrow), cmap="gray", vmin=0, vmax=1)
        ax_grid.set_axis_off()
        ax_grid.set_title("samples (fixed noise)", fontsize=10)
        fig.suptitle(f"step {p.step}/{p.total}, epoch {p.epoch}, {p.seconds:.0f} s: "
                     f"loss_d {p.loss_d:.3f}, loss_g {p.loss_g:.3f}", fontsize=10)
        fig.tight_layout()
        return fig

    def display(self, fig: Figure) -> None:
        self.redraws += 1
        if self._show is not None:
            self._show(fig)
            return
        from IPython.display import display

        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)

