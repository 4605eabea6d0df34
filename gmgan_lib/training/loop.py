"""The GAN training procedure: :func:`train` puts the parts of :mod:`gmgan_lib.training` together.

Its command line (``python -m gmgan_lib train``) is :mod:`gmgan_lib.training.cli`.

The procedure is the textbook one (Goodfellow et al. 2014 with the non-saturating generator
loss, hyper-parameters of DCGAN) by default: per step, one discriminator update on a real batch
and a fake batch, then one generator update; binary cross-entropy on logits; Adam(2e-4, betas
(0.5, 0.999)) for both networks. The stabilisers of the equivariant-GAN papers are fields of
:class:`TrainConfig`, for every model alike (``loss``, ``r1``, ``d_steps``, ``lr_d``,
``beta1``/``beta2``, ``spectral_norm``). :func:`train` promises, and the tests check each alone:

1. **Deterministic and resumable.** The whole state of a run is a
   :class:`~gmgan_lib.training.state.RunState`; the data order is a function of (seed, step)
   (:mod:`~gmgan_lib.training.schedule`). N steps in one go equal N/2 steps + resume, bit for
   bit on the CPU.
2. **Atomic checkpoints** every ``checkpoint_every`` steps, at the end of every epoch (unless
   ``no_epoch_files``), at the end of the run and on SIGINT / SIGTERM; the run then stops
   cleanly and the CLI exits with code 130 (SIGINT) or 143 (SIGTERM)
   (:mod:`~gmgan_lib.training.stopping`).
3. **One run per directory**, whose files (config.json, metrics.csv without duplicate or missing
   steps across resumes, sample grids) are described in :mod:`~gmgan_lib.training.rundir`.
4. **A NaN or infinite loss** (or non-finite weights, which a PDE layer refuses before any loss
   is computed) stops the run naming the first bad step, exit code 1, and keeps the last good
   checkpoint; the check adds no host synchronisation per step.
5. **Distributed** under ``torchrun``: every rank its shard of the data and its own noise,
   rank 0 alone writes, stop decisions agreed by all ranks
   (:mod:`~gmgan_lib.training.distributed`).

Sampling from a trained generator lives in :mod:`gmgan_lib.sampling`.
"""
from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gmgan_lib.files import display_path
from gmgan_lib.nn._checks import NonFiniteInputError
from gmgan_lib.runtime import unwrap
from gmgan_lib.training.augment import augmentation
from gmgan_lib.training.config import TrainConfig
from gmgan_lib.training.distributed import Distributed
from gmgan_lib.training.report import Progress, Report
from gmgan_lib.training.rundir import RunDirectory
from gmgan_lib.training.schedule import Schedule
from gmgan_lib.training.state import RunState, rng_state
from gmgan_lib.training.step import gan_losses_step
from gmgan_lib.training.stopping import (NonFiniteLossError, StopRule, divergence,
                                         graceful_stop)

__all__ = ["train", "TrainResult", "Progress", "NonFiniteLossError"]


@dataclass
class TrainResult:
    out: Path | None
    step: int                # optimizer steps done in total (resumed ones included)
    epoch: int               # 1-based epoch the last step belonged to
    seconds: float           # training wall-clock, summed over resumes
    stopped_by: str          # "done" (epochs or max_steps reached), "time" or "interrupt"
    parameters: dict[str, int]
    generator: nn.Module = field(repr=False)
    discriminator: nn.Module = field(repr=False)
    signal: int | None = None   # the signal behind an "interrupt" (SIGINT or SIGTERM)

    @property
    def interrupted(self) -> bool:
        return self.stopped_by == "interrupt"


def train(config: TrainConfig, out: str | os.PathLike | None, *, resume: bool = False,
          images: torch.Tensor | None = None, dry_run: bool = False,
          progress: bool | None = None, verbose: bool = True,
          on_log: Callable[[Progress], None] | None = None) -> TrainResult:
    """Train a GAN as described in the module docstring; returns how the run ended.

    ``out`` is the run directory (``None`` or ``dry_run=True``: write nothing). ``images``
    replaces the dataset (a ``[N, 1, 28, 28]`` tensor in ``[-1, 1]``, e.g. in a notebook).
    ``progress``: a tqdm bar (default: when stderr is a terminal or in a notebook).
    ``on_log``: called with a :class:`Progress` at every logged step (``config.log_every``),
    e.g. :class:`gmgan_lib.live.LiveTraining`, which redraws curves and samples in a notebook.
    Raises ValueError for bad arguments (before any work), CheckpointError for an unreadable
    checkpoint on resume, NonFiniteLossError when a loss becomes NaN or infinite.
    """
    config = config.resolved()   # the one validation of the configuration
    if isinstance(out, str) and not out.strip():
        raise ValueError("out must name a run directory, got an empty string "
                         "(it would have meant the current directory)")
    out = None if (out is None or dry_run) else Path(out)
    if out is not None and out.exists() and not out.is_dir():
        raise ValueError(f"out must be a directory (it is created if missing), but {out} is a file")
    if images is not None and (images.dim() != 4 or tuple(images.shape[1:]) != (1, 28, 28)):
        raise ValueError(f"images must be a [N, 1, 28, 28] tensor, got {list(images.shape)}")
    if images is not None and not bool(torch.isfinite(images).all()):
        # (checked here so that a NaN inside a training step can only mean divergence)
        raise ValueError("images must be finite (no NaN or infinity)")

    dist = Distributed(config.device)
    finished = False
    try:
        with RunDirectory.claim(out, resume, dist) as run_dir:
            log = print if verbose and dist.main else _quiet
            result = _train(config, run_dir, resume, images, dry_run, log,
                            _show_bar(progress) and verbose and dist.main and not dry_run, dist,
                            on_log if dist.main else None)
        finished = True
        return result
    finally:
        dist.close(wait=finished)   # after an error a peer may never reach the barrier


def _train(config: TrainConfig, run_dir: RunDirectory, resume: bool, images: torch.Tensor | None,
           dry_run: bool, log, bar: bool, dist: Distributed,
           on_log: Callable[[Progress], None] | None = None) -> TrainResult:
    """Set a run up (or resume it), run the loop, write the last checkpoint and grid."""
    saved = None
    if resume and run_dir.resumable():
        saved = run_dir.read_checkpoint(config)
    elif resume and not dry_run:
        log(f"--resume: no checkpoint in {display_path(run_dir.path)}; starting a new run")
    if images is None:
        from gmgan_lib.data import load_tensors

        images, _ = load_tensors(config.dataset, "train", fraction=config.data_fraction,
                                 seed=config.seed)
    images = images.to(device=dist.device, dtype=torch.float32)   # one tensor on the device
    schedule = Schedule(len(images), batch_size=config.batch_size, d_steps=config.d_steps,
                        epochs=config.epochs, max_steps=config.max_steps, seed=config.seed,
                        rank=dist.rank, world=dist.world, dry_run=dry_run,
                        data_fraction=config.data_fraction)

    run = RunState.new(config, dist.device)
    params = run.parameters()
    log(f"{config.model}: {params['generator']:,} generator + {params['discriminator']:,} "
        f"discriminator = {params['total']:,} parameters")
    torch.manual_seed(config.seed + dist.rank)  # each rank its own noise stream
    if saved is not None:
        run.load_state_dict(saved, dist.rank, where=str(run_dir.checkpoint))
        if len(saved["rng"]) != dist.world:
            log(f"note: checkpoint was written by {len(saved['rng'])} process(es), this run has "
                f"{dist.world}: noise streams continue from rank states modulo {len(saved['rng'])}")
        log(f"resumed from {display_path(run_dir.checkpoint)} at step {run.step} "
            f"({run.seconds:.1f} s trained so far)")
    run.generator, run.discriminator = dist.wrap(run.generator), dist.wrap(run.discriminator)
    run_dir.start({**config.to_dict(), "steps_per_epoch": schedule.steps_per_epoch,
                   "world_size": dist.world, "total_steps": schedule.total_steps,
                   "parameters": params}, run.step)

    report = Report(run_dir, schedule.total_steps, run.step, bar, log, dry_run, on_log, run)
    with graceful_stop() as signals, report:
        stop = StopRule(signals, config.max_seconds, dist, seconds_before=run.seconds)
        stopped_by, last_good = _loop(config, run, schedule, images, stop, run_dir, report, dist)
        for net in (run.generator, run.discriminator):
            dist.broadcast_buffers(unwrap(net))
        if stopped_by != "done" or last_good != run.step:
            _checkpoint(run, schedule, run_dir, dist, stop, last_good)
        run_dir.save_samples(run.generator, run.noise, "samples.png")
    run.seconds = stop.seconds()
    received = signals["signal"] if stopped_by == "interrupt" else None
    log(_how_it_ended(stopped_by, received, run, run_dir, config))
    return TrainResult(out=run_dir.path, step=run.step, epoch=schedule.epoch(run.step),
                       seconds=run.seconds, stopped_by=stopped_by, parameters=params,
                       signal=received, generator=unwrap(run.generator),
                       discriminator=unwrap(run.discriminator))


def _loop(config: TrainConfig, run: RunState, schedule: Schedule, images: torch.Tensor,
          stop: StopRule, run_dir: RunDirectory, report: Report,
          dist: Distributed) -> tuple[str, int]:
    """The training loop. Returns why it stopped ("done", "time" or "interrupt") and the step
    of the newest checkpoint known to hold finite weights."""
    last_good = run.step
    while run.step < schedule.total_steps:
        # (1) One GAN step on the next real batches: d_steps D updates, then one G update.
        reals = schedule.real_batches(images, run.step)
        try:
            loss_d, loss_g = gan_losses_step(run.generator, run.discriminator, run.opt_g,
                                             run.opt_d, reals, config.latent_dim, config.loss,
                                             config.r1, augmentation(config.augment))
        except ValueError as error:
            # A PDE layer refuses NaN input or a NaN metric: that is the training diverging
            # (the data and the configuration were checked before the loop), not a bad argument.
            if not (isinstance(error, NonFiniteInputError) or run.non_finite()):
                raise
            first = stop.first_bad_step()
            raise _diverged(first if first >= 0 else run.step + 1, last_good, run_dir) from None
        run.step += 1
        report.step_done()
        # (2) Remember a bad loss on the device; a single process may stop at any step.
        stop_now = stop.after_step(run.step, loss_d, loss_g)

        # (3) Only at logging and checkpoint steps: agree, log, draw, checkpoint.
        step, last = run.step, run.step == schedule.total_steps
        # (A dataset of a few hundred images has epochs of a few steps: there, epoch-end files
        # are skipped on request; they change nothing in the run.)
        epoch_end = schedule.ends_epoch(step) and not config.no_epoch_files
        logged = step % config.log_every == 0 or last or stop_now
        checkpoint_due = epoch_end or step % config.checkpoint_every == 0 or last
        if not (logged or checkpoint_due):
            continue
        bad_step, reason = stop.agree()
        if bad_step >= 0:
            raise _diverged(bad_step, last_good, run_dir)
        if logged:
            report.log(step, schedule.epoch(step), float(loss_d), float(loss_g), stop.seconds(),
                       milestone=epoch_end or last)
        if epoch_end:
            run_dir.save_samples(run.generator, run.noise,
                                 f"samples_epoch_{step // schedule.steps_per_epoch:03d}.png")
        if reason is not None:
            return reason, last_good
        if checkpoint_due:
            last_good = _checkpoint(run, schedule, run_dir, dist, stop, last_good)
    return "done", last_good


def _checkpoint(run: RunState, schedule: Schedule, run_dir: RunDirectory, dist: Distributed,
                stop: StopRule, last_good: int) -> int:
    """Write the run's checkpoint (every rank takes part: the RNG states are gathered); the
    step it holds. The last update may have made the weights non-finite while its loss
    (computed before it) was finite: such weights are never labelled good."""
    if run.non_finite():
        raise _diverged(run.step + 1, last_good, run_dir)
    rngs = dist.gather(rng_state(run.device))
    if run_dir.writes:
        run.seconds = stop.seconds()
        run_dir.save_checkpoint(run.state_dict(rngs, schedule.epoch(run.step), dist.world))
    return run.step


def _how_it_ended(stopped_by: str, received: int | None, run: RunState, run_dir: RunDirectory,
                  config: TrainConfig) -> str:
    """The run's last console line."""
    if stopped_by == "interrupt":
        name = f" by {signal.Signals(received).name}" if received is not None else ""
        return (f"interrupted{name}: checkpoint written at step {run.step}"
                + (f" to {display_path(run_dir.checkpoint)}" if run_dir.writes else ""))
    if stopped_by == "time":
        return (f"time budget of {config.max_seconds:.0f} s reached at step {run.step}; "
                f"checkpoint written")
    return (f"done: {run.step} steps in {run.seconds:.1f} s"
            + (f"; run directory {display_path(run_dir.path)}" if run_dir.writes else ""))


def _diverged(bad_step: int, last_good: int, run_dir: RunDirectory) -> NonFiniteLossError:
    return divergence(bad_step, last_good, run_dir.checkpoint if run_dir.writes else None)


def _quiet(*args: Any, **kwargs: Any) -> None:
    pass


def _show_bar(progress: bool | None) -> bool:
    """A tqdm bar by default when stderr is a terminal or in a notebook."""
    if progress is not None:
        return progress
    return sys.stderr.isatty() or "ipykernel" in sys.modules
