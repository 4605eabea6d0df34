"""The GAN training procedure, sampling, and their command lines.

    python -m gmgan_lib train --model gmgan --dataset mnist --epochs 200 --batch-size 64 \\
        --latent-dim 100 --out runs/NAME [--max-steps N] [--data-fraction F] [--seed S] \\
        [--device auto|cpu|cuda] [--checkpoint-every N] [--resume]
    python -m gmgan_lib sample --checkpoint runs/NAME/checkpoint.pt --n 64 --out grid.png

The procedure is the textbook one (Goodfellow et al. 2014 with the non-saturating generator
loss, hyper-parameters of DCGAN) by default: per step, one discriminator update on a real batch
and a fake batch, then one generator update; binary cross-entropy on logits; Adam(2e-4, betas
(0.5, 0.999)) for both networks. The stabilisers of the equivariant-GAN papers are fields of
:class:`TrainConfig`, for every model alike: ``loss`` (``bce``, ``hinge``, ``relativistic``
average), ``r1`` (gradient penalty on real images), ``d_steps`` (D updates per G update, each on
its own real batch), ``lr_d`` (D's learning rate), ``beta1``/``beta2``, ``spectral_norm`` (on
every weight of D). What makes this file longer than a tutorial is that a run must survive faults:

- **Deterministic and resumable.** The whole state of a run is (models, optimizers, step, RNG
  states, fixed noise). The data order is a function of (seed, epoch) only: epoch ``e`` visits a
  permutation drawn from a generator seeded with ``(seed, e)``, and global step ``s`` takes batch
  ``s % steps_per_epoch`` of epoch ``s // steps_per_epoch``. So a resumed run needs no iterator
  state, and N steps in one go equal N/2 steps + resume bit for bit on the CPU (tested).
- **Atomic checkpoints** (:mod:`gmgan_lib.checkpoint`), written every ``checkpoint_every`` steps,
  at the end of every epoch, at the end of the run and on SIGINT (Ctrl-C, or "interrupt kernel"
  in Jupyter) or SIGTERM (a scheduler's warning): the run then stops cleanly and the CLI exits
  with code 130 (SIGINT) or 143 (SIGTERM).
- **One run per directory.** ``OUT/.lock`` is ``flock``-ed for the life of the run; a second
  training into the same directory is refused at once. The lock dies with its process, so a
  killed run never blocks its resume.
- ``metrics.csv`` holds one row per logged step (``step,epoch,loss_d,loss_g,seconds``; ``step``
  counts optimizer steps done, ``epoch`` is 1-based, ``seconds`` is training wall-clock summed
  over resumes). On resume, rows beyond the checkpoint's step (logged after the last checkpoint,
  and about to be re-done) are dropped, so the file never has duplicate or missing steps.
- A NaN or infinite loss (or non-finite weights, which a PDE layer refuses before any loss is
  computed) stops the run naming the first bad step, exit code 1; no checkpoint is written after
  it, so the last good one is kept. The check adds no host synchronisation per step: a device
  tensor remembers the first bad step and is read only at logging/checkpoint time.
- **Distributed.** Under ``torchrun`` (``WORLD_SIZE > 1``) both networks are wrapped in
  DistributedDataParallel (nccl on GPUs, gloo on CPUs); ``--batch-size`` is per process; each rank
  takes a disjoint shard (``perm[rank::world_size]``) of every epoch's permutation and its own
  noise stream (seed + rank); rank 0 alone writes files. Stop decisions (time budget, SIGINT, a
  bad loss) are agreed by all ranks at logging steps, so no rank waits for a peer that left.

Data stay on the training device as one tensor (MNIST is 188 MB as float32); batches are
index_select-s of it, so no DataLoader worker and no host-to-device copy is in the loop.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gmgan_lib import cli_error
from gmgan_lib.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from gmgan_lib.files import atomic_write, atomic_write_text, display_path, ensure_writable_folder
from gmgan_lib.models import (MODEL_NAMES, apply_spectral_norm, build, check_double_backward,
                              count_parameters, resolve_config)
from gmgan_lib.models.config import PREDATED_VALUES
from gmgan_lib.data import DATASETS
from gmgan_lib.nn._checks import NonFiniteInputError

DEVICES = ("auto", "cpu", "cuda")
CSV_HEADER = "step,epoch,loss_d,loss_g,seconds"
N_FIXED_NOISE = 64
EXIT_INTERRUPTED = 130  # the shell's convention for "stopped by SIGINT" (128 + 2)
EXIT_TERMINATED = 143   # ... and for SIGTERM (128 + 15)

# Fields that define *what* is trained: a resumed run must repeat them exactly. The others
# (epochs, max_steps, device, checkpoint/log cadence, time budget) may change between sessions.
IDENTITY_FIELDS = ("model", "dataset", "batch_size", "latent_dim", "data_fraction", "seed",
                   "lr", "lr_d", "beta1", "beta2", "loss", "r1", "d_steps", "spectral_norm",
                   "model_config")
LOSSES = ("bce", "hinge", "relativistic")
# Upper bounds that keep a bad value from overflowing or exhausting memory (one-line errors
# instead of tracebacks): counts of steps, epochs, batch elements; the latent size (a Linear
# from it must fit in memory); seeds (torch takes 64-bit seeds; ranks add their index).
MAX_COUNT = 10**9
MAX_LATENT_DIM = 65_536
MAX_SEED = 2**62
MAX_SAMPLES = 100_000   # `sample --n`: one grid image


def _option(default: Any, help: str, **cli: Any) -> Any:
    """A :class:`TrainConfig` field whose command-line flag is derived from it: ``--NAME`` with
    this default and help string (``cli``: ``type`` for optional fields, ``choices``; ``cli=False``
    for a field the command line sets otherwise)."""
    return field(default=default, metadata={"help": help, **cli})


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved as ``config.json`` and in checkpoints).

    Each field's help string is the documentation of its ``python -m gmgan_lib train`` flag,
    which :func:`add_train_arguments` derives from the field."""

    model: str = _option("gmgan", "the GAN", choices=MODEL_NAMES)
    dataset: str = _option("mnist", "training data", choices=DATASETS)
    epochs: int = _option(200, "passes over the training data")
    batch_size: int = _option(64, "images per step, per process")
    latent_dim: int = _option(100, "dimension of the generator's noise")
    max_steps: int | None = _option(None, "total optimizer steps of the run, resumed ones "
                                          "included", type=int)
    data_fraction: float = _option(1.0, "train on a fixed class-stratified subset, in (0, 1]")
    seed: int = _option(0, "training seed")
    device: str = _option("auto", "where to train", choices=DEVICES)
    checkpoint_every: int = _option(1000, "steps between checkpoints; one is also written at "
                                          "every epoch end, at the end and on Ctrl-C")
    log_every: int = _option(10, "steps between metrics.csv rows")
    lr: float = _option(2e-4, "Adam learning rate of G, and of D unless --lr-d")
    lr_d: float | None = _option(None, "Adam learning rate of D (default: --lr)", type=float)
    beta1: float = _option(0.5, "Adam beta1 of both networks")
    beta2: float = _option(0.999, "Adam beta2 of both networks")
    loss: str = _option("bce", "GAN loss: non-saturating BCE, hinge, relativistic average",
                        choices=LOSSES)
    r1: float = _option(0.0, "weight gamma of the R1 penalty (gamma/2) E|grad D(x)|^2 on real "
                             "images (0: off)")
    d_steps: int = _option(1, "D updates per G update, each on its own real batch")
    spectral_norm: bool = _option(False, "spectral norm on every weight of D")
    max_seconds: float | None = _option(None, "wall-clock budget of this session", cli=False)
    model_config: dict[str, Any] = field(default_factory=dict, metadata={"cli": False})

    def validate(self) -> None:
        """Reject bad values with a ValueError naming the parameter and the valid values."""
        def positive_int(name: str, value: Any, allow_none: bool = False,
                         most: int = MAX_COUNT) -> None:
            if allow_none and value is None:
                return
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
            if value > most:
                raise ValueError(f"{name} must be at most {most:,}, got {value!r}")

        if self.model not in MODEL_NAMES:
            raise ValueError(f"model must be one of {', '.join(MODEL_NAMES)}; got {self.model!r}")
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {', '.join(DATASETS)}; got {self.dataset!r}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}; got {self.device!r}")
        positive_int("epochs", self.epochs)
        positive_int("batch_size", self.batch_size)
        positive_int("latent_dim", self.latent_dim, most=MAX_LATENT_DIM)
        positive_int("max_steps", self.max_steps, allow_none=True)
        positive_int("checkpoint_every", self.checkpoint_every)
        positive_int("log_every", self.log_every)
        if (isinstance(self.seed, bool) or not isinstance(self.seed, int)
                or not 0 <= self.seed <= MAX_SEED):
            raise ValueError(f"seed must be a non-negative integer, at most {MAX_SEED} (torch's "
                             f"64-bit seeds, less room for per-rank offsets), got {self.seed!r}")
        if (isinstance(self.data_fraction, bool) or not isinstance(self.data_fraction, (int, float))
                or not 0.0 < self.data_fraction <= 1.0):
            raise ValueError(f"data_fraction must be a number in (0, 1], got {self.data_fraction!r}")
        def number_in(name: str, value: Any, low: float, high: float, low_open: bool) -> None:
            ok = (not isinstance(value, bool) and isinstance(value, (int, float))
                  and (value > low if low_open else value >= low) and value < high)
            if not ok:
                raise ValueError(f"{name} must be in {'(' if low_open else '['}{low}, {high}), "
                                 f"got {value!r}")

        # Above float32's largest number Adam cannot even apply the step.
        largest = float(torch.finfo(torch.float32).max)
        number_in("lr", self.lr, 0.0, largest, True)
        if self.lr_d is not None:
            number_in("lr_d", self.lr_d, 0.0, largest, True)
        number_in("beta1", self.beta1, 0.0, 1.0, False)    # 0 is the equivariant-GAN papers' choice
        number_in("beta2", self.beta2, 0.0, 1.0, True)
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}; got {self.loss!r}")
        if (isinstance(self.r1, bool) or not isinstance(self.r1, (int, float))
                or not (0.0 <= self.r1 < math.inf)):
            raise ValueError(f"r1 must be a finite number >= 0 (0: no penalty), got {self.r1!r}")
        positive_int("d_steps", self.d_steps)
        if not isinstance(self.spectral_norm, bool):
            raise ValueError(f"spectral_norm must be True or False, got {self.spectral_norm!r}")
        if self.max_seconds is not None and not (isinstance(self.max_seconds, (int, float))
                                                 and self.max_seconds > 0):
            raise ValueError(f"max_seconds must be a positive number or None, got {self.max_seconds!r}")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("device 'cuda' was asked for but no CUDA device is available; "
                             "use --device cpu or auto")
        # Resolving also validates every architecture field (and fills in the defaults).
        self.model_config = resolve_config(self.model, **self.model_config)
        if self.r1 > 0:   # R1 differentiates D twice: refuse layers without a second derivative
            check_double_backward(build(self.model, self.latent_dim,
                                        **self.model_config).discriminator, "r1")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class TrainResult:
    out: Path | None
    step: int                # optimizer steps done in total (resumed ones included)
    epoch: int               # 1-based epoch the last step belonged to
    seconds: float           # training wall-clock, summed over resumes
    stopped_by: str          # "done" (epochs or max_steps reached), "time" or "interrupt"
    parameters: dict[str, int]
    generator: nn.Module = dataclasses.field(repr=False)
    discriminator: nn.Module = dataclasses.field(repr=False)
    signal: int | None = None   # the signal behind an "interrupt" (SIGINT or SIGTERM)

    @property
    def interrupted(self) -> bool:
        return self.stopped_by == "interrupt"


def _has_non_finite(*modules: nn.Module) -> bool:
    return any(not bool(torch.isfinite(p).all()) for m in modules for p in m.parameters())


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; the message names the step and the kept checkpoint."""


# ------------------------------------------------------------------------------------------
# Small pieces of the procedure
# ------------------------------------------------------------------------------------------

def discriminator_loss(loss: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """D's loss from its logits on a real and a fake batch (``loss`` in :data:`LOSSES`)."""
    if loss == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    if loss == "relativistic":   # real should look more real than the average fake, and back
        real, fake = real - fake.mean(), fake - real.mean()
    return F.softplus(-real).mean() + F.softplus(fake).mean()   # BCE(real, 1) + BCE(fake, 0)


def generator_loss(loss: str, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
    """G's loss from D's logits on its fakes (and, for the relativistic loss, on real images)."""
    if loss == "hinge":
        return -fake.mean()
    if loss == "relativistic":
        return F.softplus(-(fake - real.mean())).mean() + F.softplus(real - fake.mean()).mean()
    return F.softplus(-fake).mean()   # non-saturating: -log D(G(z)), strong gradients early on


def r1_penalty(discriminator: nn.Module, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """D's logits on ``real`` and ``E |grad_x D(x)|^2`` (Mescheder et al. 2018), differentiable."""
    real = real.detach().requires_grad_(True)
    logits = discriminator(real)
    (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
    return logits, grad.square().sum(dim=(1, 2, 3)).mean()


def gan_losses_step(generator: nn.Module, discriminator: nn.Module,
                    opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                    reals: torch.Tensor | tuple[torch.Tensor, ...], latent_dim: int,
                    loss: str = "bce", r1: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """One GAN step: a D update per real batch of ``reals``, then one G update.

    Returns D's last loss and G's loss as device tensors. Real and fake batches go through D
    separately, so batch-norm statistics never mix them. The fakes of the last D update are the
    ones G is updated with (one G forward saved).
    """
    reals = (reals,) if isinstance(reals, torch.Tensor) else tuple(reals)
    batch = reals[0].shape[0]
    for j, real in enumerate(reals):
        # (1) Update D: push real logits up and fake logits down (+ the R1 penalty on reals).
        z = torch.randn(batch, latent_dim, device=real.device)
        if j < len(reals) - 1:
            with torch.no_grad():
                fake = generator(z)
        else:
            fake = generator(z)
        opt_d.zero_grad(set_to_none=True)
        if r1 > 0:
            logits_real, penalty = r1_penalty(discriminator, real)
        else:
            logits_real, penalty = discriminator(real), None
        loss_d = discriminator_loss(loss, logits_real, discriminator(fake.detach()))
        if penalty is not None:
            loss_d = loss_d + 0.5 * r1 * penalty
        loss_d.backward()
        opt_d.step()

    # (2) Update G: make D call the fakes real. D's weights are frozen for this backward: their
    # gradients would be thrown away, and not computing them saves a third of D's backward.
    # (Under DistributedDataParallel they are left alone: DDP expects every gradient.)
    opt_g.zero_grad(set_to_none=True)
    frozen = [] if isinstance(discriminator, nn.parallel.DistributedDataParallel) else \
        [p for p in discriminator.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        logits_real = None
        if loss == "relativistic":
            with torch.no_grad():
                logits_real = discriminator(reals[-1])
        loss_g = generator_loss(loss, discriminator(fake), logits_real)
        loss_g.backward()
    finally:
        for p in frozen:
            p.requires_grad_(True)
    opt_g.step()
    return loss_d.detach(), loss_g.detach()


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The visiting order of epoch ``epoch`` (0-based): a function of (seed, epoch) only."""
    g = torch.Generator().manual_seed((seed * 1_000_003 + epoch) % (2 ** 63))
    return torch.randperm(n, generator=g)


def fixed_noise(latent_dim: int, seed: int, n: int = N_FIXED_NOISE) -> torch.Tensor:
    """The noise batch behind every ``samples_epoch_XXX.png`` (so the grids show progress)."""
    g = torch.Generator().manual_seed(seed + 7919)
    return torch.randn(n, latent_dim, generator=g)


def _unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


@torch.no_grad()
def generate(generator: nn.Module, z: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Images of ``generator`` for noise ``z`` in eval mode (batch-norm running statistics, so a
    sample does not depend on the other samples of its batch); restores the previous mode."""
    generator = _unwrap(generator)
    was_training = generator.training
    generator.eval()
    try:
        device = next(generator.parameters()).device
        return torch.cat([generator(z[i:i + batch_size].to(device)).cpu()
                          for i in range(0, len(z), batch_size)])
    finally:
        generator.train(was_training)


def save_samples(images: torch.Tensor, path: str | os.PathLike, nrow: int = 8) -> Path:
    """Write a grid of ``[N, 1, H, W]`` images in ``[-1, 1]`` as a PNG, atomically."""
    from torchvision.utils import save_image

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"out must be a .png file name, got {str(path)!r}")
    if path.is_dir():
        raise ValueError(f"out must be an image file name, got the folder {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    grid = images.detach().cpu().float()
    return atomic_write(path, lambda f: save_image(grid, f, format="png", nrow=nrow, padding=2,
                                                   normalize=True, value_range=(-1.0, 1.0)))


def _save_samples(generator: nn.Module, z: torch.Tensor, path: Path) -> None:
    save_samples(generate(generator, z), path, nrow=8)


def _resolve_device(name: str, local_rank: int) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def _in_notebook() -> bool:
    return "ipykernel" in sys.modules


class _Distributed:
    """Rank bookkeeping; a single process is world size 1 and every collective is a no-op."""

    def __init__(self, device_name: str):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.owns_group = False
        if self.world > 1 and not torch.distributed.is_initialized():
            use_cuda = device_name == "cuda" or (device_name == "auto" and torch.cuda.is_available())
            if use_cuda:
                torch.cuda.set_device(self.local_rank)
            torch.distributed.init_process_group("nccl" if use_cuda else "gloo")
            self.owns_group = True

    @property
    def main(self) -> bool:
        return self.rank == 0

    def max(self, values: list[int], device: torch.device) -> list[int]:
        """Element-wise maximum over ranks (one small all-reduce; identity for one process)."""
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.int64, device=device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return t.tolist()

    def gather(self, obj: Any) -> list[Any]:
        if self.world == 1:
            return [obj]
        out: list[Any] = [None] * self.world
        torch.distributed.all_gather_object(out, obj)
        return out

    def broadcast_buffers(self, module: nn.Module) -> None:
        """Copy rank 0's buffers (batch-norm running statistics) to every rank. DDP does this
        at the start of each forward, so after the last step the ranks' buffers differ."""
        if self.world > 1:
            for buffer in module.buffers():
                torch.distributed.broadcast(buffer, src=0)

    def close(self, wait: bool = True) -> None:
        if self.owns_group:
            # Rank 0 still writes checkpoints and samples when the others are done: wait for it,
            # so no rank tears down its gloo/nccl threads while a peer is still connected (seen
            # as "terminate called without an active exception" at exit).
            if wait:
                torch.distributed.barrier()
            torch.distributed.destroy_process_group()


def _rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


@contextlib.contextmanager
def _graceful_stop():
    """Within the block, the first SIGINT (Ctrl-C, Jupyter's "interrupt kernel") or SIGTERM
    (what SLURM, Kubernetes and torchrun send before they kill a job) only sets
    ``flag["interrupt"]`` (and ``flag["signal"]``), so the loop can write a checkpoint and stop
    cleanly; a second one acts as usual (KeyboardInterrupt, termination). Signals can only be
    handled in the main thread."""
    flag = {"interrupt": False, "signal": None}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    defaults = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}

    def on_signal(signum, frame):
        flag["interrupt"], flag["signal"] = True, signum
        signal.signal(signum, defaults[signum])

    previous = {sig: signal.signal(sig, on_signal) for sig in defaults}
    try:
        yield flag
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _check_out(out: Path | None, resume: bool) -> None:
    """A new run (no --resume) never writes over another run's checkpoint."""
    if out is None:
        return
    if not resume and (out / "checkpoint.pt").exists():
        raise ValueError(f"out: {out} already holds a run (checkpoint.pt); pass --resume to "
                         f"continue it, or choose another --out")


def _truncate_metrics(path: Path, last_step: int) -> None:
    """Keep the header and the rows with ``step <= last_step`` (rows after the checkpoint are
    re-done by the resumed run), written atomically."""
    rows = [CSV_HEADER]
    if path.exists():
        lines = path.read_text().splitlines()
        if lines and lines[0].strip() != CSV_HEADER:
            raise ValueError(f"{path}: unexpected header {lines[0]!r}; expected {CSV_HEADER!r}")
        for line in lines[1:]:
            try:
                step = int(line.split(",", 1)[0])
            except ValueError:
                continue  # a torn last line of a killed run
            if step <= last_step and line.count(",") == 4:
                rows.append(line)
    atomic_write_text(path, "\n".join(rows) + "\n")


def _check_same_run(saved: dict[str, Any], config: TrainConfig, path: Path) -> None:
    current = config.to_dict()
    defaults = TrainConfig().to_dict()   # a field a run predates had its default value then
    arch = saved.get("model_config")
    if isinstance(arch, dict) and "architecture" in arch:     # a GM-GAN config
        saved = {**saved, "model_config": {**PREDATED_VALUES, **arch}}
    diffs = [f"{k}={saved.get(k, defaults[k])!r} (now {current[k]!r})" for k in IDENTITY_FIELDS
             if saved.get(k, defaults[k]) != current[k]]
    if diffs:
        raise ValueError(f"--resume: {path} belongs to a different run: " + "; ".join(diffs)
                         + ". Repeat the original arguments, or choose another --out")


# ------------------------------------------------------------------------------------------
# The procedure
# ------------------------------------------------------------------------------------------

def train(config: TrainConfig, out: str | os.PathLike | None, *, resume: bool = False,
          images: torch.Tensor | None = None, dry_run: bool = False,
          progress: bool | None = None, verbose: bool = True) -> TrainResult:
    """Train a GAN as described in the module docstring; returns how the run ended.

    ``out`` is the run directory (``None`` or ``dry_run=True``: write nothing). ``images``
    replaces the dataset (a ``[N, 1, 28, 28]`` tensor in ``[-1, 1]``, e.g. in a notebook).
    ``progress``: a tqdm bar (default: when stderr is a terminal or in a notebook).
    Raises ValueError for bad arguments (before any work), CheckpointError for an unreadable
    checkpoint on resume, NonFiniteLossError when a loss becomes NaN or infinite.
    """
    config.validate()
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

    dist = _Distributed(config.device)
    finished = False
    try:
        with contextlib.ExitStack() as stack:
            # Rank 0 alone locks the directory; every rank learns whether it was refused, so
            # that no rank goes on into DDP's first broadcast alone.
            refused = None
            try:
                stack.enter_context(_run_lock(out if dist.main else None))
                _check_out(out, resume)
            except ValueError as err:
                refused = err
            if dist.max([int(refused is not None)],
                        _resolve_device(config.device, dist.local_rank))[0]:
                raise refused or ValueError(f"out: {out} was refused by rank 0 (see its error)")
            result = _train(config, out, resume, images, dry_run, progress,
                            verbose and dist.main, dist)
        finished = True
        return result
    finally:
        dist.close(wait=finished)   # after an error a peer may never reach the barrier


@contextlib.contextmanager
def _run_lock(out: Path | None):
    """Hold an exclusive lock on ``out/.lock`` for the life of the run, so that a second
    training process cannot write into the same directory. ``flock`` locks die with their
    process, so the file a killed run leaves behind never blocks a resume."""
    if out is None:
        yield
        return
    import fcntl

    created = not out.exists()
    acquired = False
    lock = out / ".lock"
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise ValueError(f"out: cannot create the run directory {out} ({err.strerror})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
            raise ValueError(f"out: {out} is in use by a running training (process {other}); "
                             f"wait for it to end, or choose another --out") from None
        acquired = True
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        # Temporary files of atomic writes that a killed run left behind (.NAME.XXXX.tmp):
        # with the lock held nobody else is writing them.
        for stale in out.glob(".*.tmp"):
            if stale.name[1:].startswith(("checkpoint.pt.", "config.json.", "metrics.csv.",
                                          "samples")):
                stale.unlink(missing_ok=True)
        yield
    except BaseException:
        # A new run refused or failed before its first checkpoint leaves no directory behind
        # (not a config.json and a header-only metrics.csv): everything in it is this run's.
        # Only the lock's holder may remove it: a process that lost the race for a directory
        # both saw missing must not delete the winner's.
        if created and acquired and not (out / "checkpoint.pt").exists():
            shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        os.close(fd)   # releases the lock


def _train(config: TrainConfig, out: Path | None, resume: bool, images: torch.Tensor | None,
           dry_run: bool, progress: bool | None, verbose: bool, dist: _Distributed) -> TrainResult:
    log = print if verbose else (lambda *a, **k: None)
    device = _resolve_device(config.device, dist.local_rank)
    ckpt_path = out / "checkpoint.pt" if out is not None else None
    state = None
    if resume and ckpt_path is not None and ckpt_path.exists():
        state = load_checkpoint(ckpt_path, require=("config", "generator", "discriminator",
                                                    "optimizer_g", "optimizer_d", "step", "rng"))
        if not isinstance(state["config"], dict) or not isinstance(state["step"], int):
            raise CheckpointError(f"{ckpt_path}: its config must be a dict and its step an int "
                                  f"(a file written by this library), got "
                                  f"{type(state['config']).__name__} and {type(state['step']).__name__}")
        _check_same_run(state["config"], config, ckpt_path)
    elif resume and not dry_run:
        log(f"--resume: no checkpoint in {display_path(out)}; starting a new run")

    # Data: one tensor on the training device.
    if images is None:
        from gmgan_lib.data import load_tensors

        images, _ = load_tensors(config.dataset, "train", fraction=config.data_fraction,
                                 seed=config.seed)
    images = images.to(device=device, dtype=torch.float32)
    n_per_rank = len(images) // dist.world
    # One step takes d_steps real batches (one per D update).
    steps_per_epoch = n_per_rank // (config.batch_size * config.d_steps)
    if steps_per_epoch == 0:
        per_step = f"batch_size {config.batch_size}" + (
            f" x d_steps {config.d_steps}" if config.d_steps > 1 else "")
        raise ValueError(f"{per_step} is larger than the {n_per_rank} training images per "
                         f"process (data_fraction={config.data_fraction}); use a smaller batch "
                         f"size or more data")
    total_steps = config.epochs * steps_per_epoch
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    if dry_run:
        total_steps = 1

    # Models and optimizers; the initial weights are a function of the seed.
    torch.manual_seed(config.seed)
    generator, discriminator = build(config.model, config.latent_dim, **config.model_config)
    if config.spectral_norm:
        apply_spectral_norm(discriminator)
    generator.to(device)
    discriminator.to(device)
    betas = (config.beta1, config.beta2)
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr, betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr_d or config.lr, betas=betas)
    noise = fixed_noise(config.latent_dim, config.seed)
    params = {"generator": count_parameters(generator),
              "discriminator": count_parameters(discriminator)}
    params["total"] = params["generator"] + params["discriminator"]
    log(f"{config.model}: {params['generator']:,} generator + {params['discriminator']:,} "
        f"discriminator = {params['total']:,} parameters")

    step, seconds_before = 0, 0.0
    torch.manual_seed(config.seed + dist.rank)  # each rank its own noise stream
    if state is not None:
        try:
            generator.load_state_dict(state["generator"])
            discriminator.load_state_dict(state["discriminator"])
            opt_g.load_state_dict(state["optimizer_g"])
            opt_d.load_state_dict(state["optimizer_d"])
        except (RuntimeError, ValueError, KeyError) as err:
            raise CheckpointError(f"{ckpt_path}: its weights do not fit this model "
                                  f"({str(err).splitlines()[0]})") from None
        step, seconds_before = int(state["step"]), float(state.get("seconds", 0.0))
        rngs = state["rng"]
        if len(rngs) != dist.world:
            log(f"note: checkpoint was written by {len(rngs)} process(es), this run has "
                f"{dist.world}: noise streams continue from rank states modulo {len(rngs)}")
        _set_rng_state(rngs[dist.rank % len(rngs)], device)
        noise = state["fixed_noise"]
        log(f"resumed from {display_path(ckpt_path)} at step {step} ({seconds_before:.1f} s "
            f"trained so far)")

    if dist.world > 1:
        ids = [device.index] if device.type == "cuda" else None
        generator = nn.parallel.DistributedDataParallel(generator, device_ids=ids)
        discriminator = nn.parallel.DistributedDataParallel(discriminator, device_ids=ids)

    writes = out is not None and dist.main
    metrics_file = None
    if writes:
        out.mkdir(parents=True, exist_ok=True)
        saved = {**config.to_dict(), "steps_per_epoch": steps_per_epoch, "world_size": dist.world,
                 "total_steps": total_steps, "parameters": params}
        atomic_write_text(out / "config.json", json.dumps(saved, indent=2) + "\n")
        _truncate_metrics(out / "metrics.csv", step)
        metrics_file = open(out / "metrics.csv", "a", buffering=1)  # line-buffered: rows hit disk

    def save(at_step: int) -> None:
        rngs = dist.gather(_rng_state(device))
        if not writes:
            return
        save_checkpoint({
            "config": config.to_dict(), "step": at_step,
            "epoch": max(1, math.ceil(at_step / steps_per_epoch)),
            "seconds": seconds_before + time.perf_counter() - t0,
            "generator": _unwrap(generator).state_dict(),
            "discriminator": _unwrap(discriminator).state_dict(),
            "optimizer_g": opt_g.state_dict(), "optimizer_d": opt_d.state_dict(),
            "rng": rngs, "fixed_noise": noise, "world_size": dist.world,
        }, ckpt_path)

    show_bar = (sys.stderr.isatty() or _in_notebook()) if progress is None else progress
    bar = None
    if show_bar and verbose and not dry_run:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_steps, initial=step, unit="step", dynamic_ncols=True)

    first_bad = torch.full((), -1, dtype=torch.int64, device=device)
    last_good = step     # the step of the newest checkpoint known to hold finite weights

    def diverged(bad_step: int) -> str:
        return (f"loss became NaN or infinite at step {bad_step}; the run stopped"
                + (f"; the last good checkpoint (step {last_good}) is kept in {ckpt_path}"
                   if writes and last_good > 0 else "; no checkpoint was written"))
    stopped_by = "done"
    t0 = time.perf_counter()
    last_line = t0
    perm, perm_epoch = None, -1
    loss_d = loss_g = torch.zeros((), device=device)
    # The run directory is always left consistent: bar and metrics file closed on any exit.
    with contextlib.ExitStack() as cleanup:
        stop = cleanup.enter_context(_graceful_stop())
        if bar is not None:
            cleanup.callback(bar.close)
        if metrics_file is not None:
            cleanup.callback(metrics_file.close)
        while step < total_steps:
            epoch, i = divmod(step, steps_per_epoch)
            if epoch != perm_epoch:
                perm = epoch_permutation(len(images), config.seed, epoch)[dist.rank::dist.world]
                perm, perm_epoch = perm.to(device), epoch
            b, n = config.batch_size, config.d_steps
            reals = [images.index_select(0, perm[(i * n + j) * b:(i * n + j + 1) * b])
                     for j in range(n)]
            try:
                loss_d, loss_g = gan_losses_step(generator, discriminator, opt_g, opt_d, reals,
                                                 config.latent_dim, config.loss, config.r1)
            except ValueError as error:
                # A PDE layer refuses NaN input or a NaN metric: that is the training diverging
                # (weights or activations overflowed: the data and the configuration were
                # checked before the loop), not a bad argument; report it like a NaN loss.
                if not (isinstance(error, NonFiniteInputError)
                        or _has_non_finite(generator, discriminator)):
                    raise
                first = int(first_bad)
                raise NonFiniteLossError(diverged(first if first >= 0 else step + 1)) from None
            step += 1
            # Remember the first non-finite step on the device (no host sync here).
            bad = ~torch.isfinite(loss_d + loss_g)
            first_bad = torch.where(bad & (first_bad < 0), step, first_bad)
            if bar is not None:
                bar.update(1)

            epoch_end = step % steps_per_epoch == 0
            over_time = (config.max_seconds is not None
                         and time.perf_counter() - t0 >= config.max_seconds)
            # A single process may stop at any step (a host-side check, no device sync);
            # several processes stop only at logging/checkpoint steps, where they agree.
            stop_now = dist.world == 1 and (stop["interrupt"] or over_time)
            logged = step % config.log_every == 0 or step == total_steps or stop_now
            checkpoint_due = epoch_end or step % config.checkpoint_every == 0 or step == total_steps
            if not (logged or checkpoint_due):
                continue
            # All ranks agree on: the first bad step, a pending interrupt, the time budget.
            bad_step, interrupt, timeout = dist.max(
                [int(first_bad), int(stop["interrupt"]), int(over_time)], device)
            if bad_step >= 0:
                raise NonFiniteLossError(diverged(bad_step))
            seconds = seconds_before + time.perf_counter() - t0
            if logged:
                ld, lg = float(loss_d), float(loss_g)
                if metrics_file is not None:
                    metrics_file.write(f"{step},{epoch + 1},{ld:.6f},{lg:.6f},{seconds:.3f}\n")
                if bar is not None:
                    bar.set_postfix(epoch=epoch + 1, loss_d=f"{ld:.3f}", loss_g=f"{lg:.3f}")
                elif verbose and (time.perf_counter() - last_line >= 10 or epoch_end
                                  or step == total_steps or dry_run):
                    last_line = time.perf_counter()
                    log(f"step {step}/{total_steps} epoch {epoch + 1} loss_d {ld:.4f} "
                        f"loss_g {lg:.4f} {seconds:.1f} s", flush=True)
            if epoch_end and writes:
                _save_samples(generator, noise, out / f"samples_epoch_{step // steps_per_epoch:03d}.png")
            if interrupt or timeout:
                stopped_by = "interrupt" if interrupt else "time"
                break
            if checkpoint_due:
                # The last update may have made the weights non-finite while this step's loss
                # (computed before it) was finite: never label such weights "good".
                if _has_non_finite(generator, discriminator):
                    raise NonFiniteLossError(diverged(step + 1))
                save(step)
                last_good = step
        for net in (generator, discriminator):
            dist.broadcast_buffers(_unwrap(net))
        if stopped_by != "done" or last_good != step:
            if _has_non_finite(generator, discriminator):
                raise NonFiniteLossError(diverged(step + 1))
            save(step)
        if writes:
            _save_samples(generator, noise, out / "samples.png")

    seconds = seconds_before + time.perf_counter() - t0
    received = stop["signal"] if stopped_by == "interrupt" else None
    if stopped_by == "interrupt":
        name = f" by {signal.Signals(received).name}" if received is not None else ""
        log(f"interrupted{name}: checkpoint written at step {step}"
            + (f" to {display_path(ckpt_path)}" if writes else ""))
    elif stopped_by == "time":
        log(f"time budget of {config.max_seconds:.0f} s reached at step {step}; checkpoint written")
    else:
        log(f"done: {step} steps in {seconds:.1f} s"
            + (f"; run directory {display_path(out)}" if writes else ""))
    return TrainResult(out=out, step=step, epoch=max(1, math.ceil(step / steps_per_epoch)),
                       seconds=seconds, stopped_by=stopped_by, parameters=params, signal=received,
                       generator=_unwrap(generator), discriminator=_unwrap(discriminator))


# ------------------------------------------------------------------------------------------
# Loading and sampling
# ------------------------------------------------------------------------------------------

def load_generator(path: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the generator of a checkpoint (a training one or a generator-only one) in eval
    mode. Raises :class:`CheckpointError` naming the file when it cannot."""
    return generator_from_state(load_checkpoint(path, require=("config", "generator")), path,
                                device)


def generator_from_state(state: dict[str, Any], path: str | os.PathLike,
                         device: str | torch.device = "cpu") -> nn.Module:
    """The generator of a loaded checkpoint ``state`` (``path`` names it in errors), eval mode."""
    cfg = state["config"]
    try:
        generator = build(cfg["model"], cfg["latent_dim"], **cfg.get("model_config", {})).generator
        generator.load_state_dict(state["generator"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{path}: cannot rebuild its generator "
                              f"({type(err).__name__}: {str(err).splitlines()[0]})") from None
    return generator.to(device).eval()


def generator_only(state: dict[str, Any]) -> dict[str, Any]:
    """The part of a training checkpoint needed to sample (for small shareable files)."""
    return {k: state[k] for k in ("config", "generator", "step", "epoch", "seconds", "fixed_noise")
            if k in state}


def export_generator(checkpoint: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write the generator-only part of a checkpoint to ``out`` (atomically): what ``sample``,
    ``evaluate`` and the notebooks need, without the discriminator and optimizer states."""
    state = load_checkpoint(checkpoint, require=("config", "generator"))
    return save_checkpoint(generator_only(state), out)


def sample(checkpoint: str | os.PathLike | nn.Module, n: int = 64, seed: int = 0,
           device: str | torch.device = "cpu") -> torch.Tensor:
    """``n`` images ``[n, 1, 28, 28]`` in ``[-1, 1]`` from a checkpoint path or a generator,
    for noise drawn from a generator seeded with ``seed`` (the same images every call)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    generator = checkpoint if isinstance(checkpoint, nn.Module) else load_generator(checkpoint, device)
    z = torch.randn(n, _unwrap(generator).latent_dim, generator=torch.Generator().manual_seed(seed))
    return generate(generator, z)


# ------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------

def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """``train``'s flags: one per :class:`TrainConfig` field (name, default, help and choices
    from the field), then the few that are not configuration."""
    for f in dataclasses.fields(TrainConfig):
        if f.metadata.get("cli", True) is False:
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(f.default, bool):
            p.add_argument(flag, action="store_true", help=f.metadata["help"])
            continue
        shown = "" if f.default is None else " (default: %(default)s)"
        p.add_argument(flag, type=f.metadata.get("type", type(f.default)), default=f.default,
                       choices=f.metadata.get("choices"), help=f.metadata["help"] + shown)
    p.add_argument("--out", required=True, help="run directory (created if missing)")
    p.add_argument("--resume", action="store_true", help="continue OUT/checkpoint.pt if present")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="wall-clock budget of this session (the configuration's max_seconds)")
    p.add_argument("--model-config", default="{}",
                   help='architecture overrides as JSON, e.g. \'{"preset": "hybrid-cde"}\' '
                        '(see gmgan_lib.models.config)')
    p.add_argument("--dry-run", action="store_true", help="one step, no files: check the set-up")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    try:
        model_config = json.loads(args.model_config)
    except json.JSONDecodeError as err:
        raise ValueError(f"--model-config must be a JSON object, got {args.model_config!r} "
                         f"({err})") from None
    if not isinstance(model_config, dict):
        raise ValueError(f"--model-config must be a JSON object, got {args.model_config!r}")
    if args.max_minutes is not None and not args.max_minutes > 0:
        raise ValueError(f"--max-minutes must be a positive number, got {args.max_minutes!r}")
    flags = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
             if f.metadata.get("cli", True) is not False}
    return TrainConfig(**flags, model_config=model_config,
                       max_seconds=None if args.max_minutes is None else 60.0 * args.max_minutes)


def run_train(args: argparse.Namespace) -> int:
    """CLI entry: 0 when done, 130 after a SIGINT (checkpoint written), 1 for a NaN/inf loss,
    2 for bad arguments or an unreadable checkpoint (a one-line message, no traceback)."""
    try:
        config = config_from_args(args)
        result = train(config, args.out, resume=args.resume, dry_run=args.dry_run)
    except (ValueError, CheckpointError) as err:  # includes the data loader's errors
        return cli_error(err, 2)
    except FileNotFoundError as err:
        return cli_error(err, 2)
    except NonFiniteLossError as err:
        return cli_error(err, 1)
    if not result.interrupted:
        return 0
    return EXIT_TERMINATED if result.signal == signal.SIGTERM else EXIT_INTERRUPTED


def add_sample_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="a checkpoint.pt (full or generator-only)")
    p.add_argument("--n", type=int, default=64, help="number of samples")
    p.add_argument("--out", default="grid.png", help="PNG file to write")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise")
    p.add_argument("--device", default="cpu", choices=DEVICES)


def run_sample(args: argparse.Namespace) -> int:
    try:
        if Path(args.out).is_dir() or Path(args.out).suffix.lower() != ".png":
            raise ValueError(f"--out must be a .png file name, got {args.out!r}")
        if not 1 <= args.n <= MAX_SAMPLES:
            raise ValueError(f"--n must be in [1, {MAX_SAMPLES:,}], got {args.n}")
        if not 0 <= args.seed <= MAX_SEED:
            raise ValueError(f"--seed must be an integer in [0, {MAX_SEED}], got {args.seed}")
        ensure_writable_folder(Path(args.out).parent)
        if args.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("--device cuda was asked for but no CUDA device is available")
        device = _resolve_device(args.device, 0)
        images = sample(args.checkpoint, n=args.n, seed=args.seed, device=device)
        path = save_samples(images, args.out, nrow=max(1, math.isqrt(args.n - 1) + 1))
    except (ValueError, CheckpointError) as err:
        return cli_error(err, 2)
    print(f"wrote {len(images)} samples to {path}")
    return 0
