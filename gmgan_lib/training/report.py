"""Where a logged step of a training run goes: a row of ``metrics.csv``, a tqdm bar or a
console line, and the ``on_log`` hook of a notebook (:class:`Progress`)."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from gmgan_lib.runtime import unwrap
from gmgan_lib.training.rundir import RunDirectory
from gmgan_lib.training.state import RunState


@dataclass(frozen=True)
class Progress:
    """What ``train(..., on_log=f)`` hands ``f`` at every logged step (main process only): the
    losses so far and, to draw samples from, the generator and the run's fixed noise (used
    read-only: the hook must not train them)."""
    step: int
    total: int
    epoch: int
    loss_d: float
    loss_g: float
    seconds: float
    generator: nn.Module
    noise: torch.Tensor



class Report:
    """Where a logged step goes: a row of metrics.csv, and a tqdm bar or (without one) a
    console line at most every 10 seconds (and at epoch ends, the last step, a dry run)."""

    def __init__(self, run_dir: RunDirectory, total: int, initial: int, bar: bool, log,
                 dry_run: bool, on_log: Callable[[Progress], None] | None = None,
                 run: RunState | None = None):
        self.run_dir, self.total, self.say, self.dry_run = run_dir, total, log, dry_run
        self.on_log, self.run = on_log, run
        self.bar = None
        self.initial, self.started = initial, time.perf_counter()
        if bar:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True)
        self.last_line = time.perf_counter()

    def step_done(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def log(self, step: int, epoch: int, loss_d: float, loss_g: float, seconds: float,
            milestone: bool) -> None:
        """``milestone`` (an epoch's end, the last step): a console line even within 10 s."""
        self.run_dir.log(step, epoch, loss_d, loss_g, seconds)
        if self.bar is not None:
            self.bar.set_postfix(epoch=epoch, loss_d=f"{loss_d:.3f}", loss_g=f"{loss_g:.3f}")
        elif time.perf_counter() - self.last_line >= 10 or milestone or self.dry_run:
            self.last_line = time.perf_counter()
            self.say(f"step {step}/{self.total} epoch {epoch} loss_d {loss_d:.4f} "
                     f"loss_g {loss_g:.4f} {seconds:.1f} s{self.eta(step)}", flush=True)
        if self.on_log is not None:
            self.on_log(Progress(step, self.total, epoch, loss_d, loss_g, seconds,
                                 unwrap(self.run.generator), self.run.noise))

    def eta(self, step: int) -> str:
        """The time left at this session's pace so far (what tqdm's bar shows), or nothing
        before the pace is known."""
        done, elapsed = step - self.initial, time.perf_counter() - self.started
        if done <= 0 or elapsed <= 0 or step >= self.total:
            return ""
        left = round((self.total - step) * elapsed / done)
        return f", about {left // 60}:{left % 60:02d} left"

    def __enter__(self) -> Report:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.close()
