"""When a training run stops: a signal, the time budget, or a loss that is no longer finite.

A run stops cleanly (a checkpoint written, the CLI's exit code saying why) on the first SIGINT
(Ctrl-C, Jupyter's "interrupt kernel") or SIGTERM (what SLURM, Kubernetes and torchrun send
before they kill a job), and when its session has trained for ``max_seconds``. A NaN or infinite
loss stops it with :class:`NonFiniteLossError` naming the first bad step, and no checkpoint is
written after it, so the last good one is kept.

The bad-loss check adds no host synchronisation per step: a device tensor remembers the first
bad step, and it is read only at logging and checkpoint steps, where all ranks of a distributed
run also agree on the decision (so that no rank waits for a peer that left).
"""
from __future__ import annotations

import contextlib
import signal
import threading
import time
from pathlib import Path
from collections.abc import Iterator

import torch

from gmgan_lib.training.distributed import Distributed


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; the message names the step and the kept checkpoint."""


def divergence(bad_step: int, last_good: int, checkpoint: Path | None) -> NonFiniteLossError:
    """The error of a run that diverged at ``bad_step`` (``last_good``: its newest good
    checkpoint's step, 0 for none; ``checkpoint``: where it is, ``None`` when nothing is written)."""
    kept = (f"; the last good checkpoint (step {last_good}) is kept in {checkpoint}"
            if checkpoint is not None and last_good > 0 else "; no checkpoint was written")
    return NonFiniteLossError(f"loss became NaN or infinite at step {bad_step}; the run stopped"
                              + kept)


class Terminated(SystemExit):
    """SIGTERM outside the training loop (during the set-up: data loading, model building), raised
    so that clean-ups run (a new run's folder is removed); a process that does not catch it exits
    with 143, as SIGTERM's default action would have, but without leaving half its files."""

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` where it would have killed the process
    outright (its handler is the default one): ``finally`` blocks and ``except BaseException``
    clean-ups then run. A handler someone else installed (a notebook, torchrun's agent) is left
    as it is; so is everything outside the main thread, where signals cannot be handled."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL):
        yield
        return

    def on_sigterm(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)   # a second SIGTERM kills, as usual
        raise Terminated()

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGTERM) is on_sigterm:   # (not one installed meanwhile)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def graceful_stop() -> Iterator[dict]:
    """Within the block, the first SIGINT or SIGTERM only sets ``flag["interrupt"]`` (and
    ``flag["signal"]``), so the loop can write a checkpoint and stop cleanly; a second one acts
    as usual (KeyboardInterrupt, termination). Signals can only be handled in the main thread:
    elsewhere the flag never rises."""
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


class StopRule:
    """Decides when the loop stops, the same way on every rank.

    Call :meth:`after_step` after every step (it records the step's losses on the device and
    says whether a single process should stop at once), and :meth:`agree` at logging and
    checkpoint steps: it returns the first bad step (``-1``: none) and the reason to stop
    (``"interrupt"``, ``"time"`` or ``None``), maxima over all ranks. The clock starts at
    construction: ``elapsed()`` is this session's training time (what the budget limits),
    ``seconds()`` the run's, earlier sessions' ``seconds_before`` included.
    """

    def __init__(self, signals: dict, max_seconds: float | None, dist: Distributed,
                 seconds_before: float = 0.0):
        self.signals, self.max_seconds, self.dist = signals, max_seconds, dist
        self.seconds_before = seconds_before
        self.first_bad = torch.full((), -1, dtype=torch.int64, device=dist.device)
        self.over_time = False
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def seconds(self) -> float:
        return self.seconds_before + self.elapsed()

    def after_step(self, step: int, loss_d: torch.Tensor, loss_g: torch.Tensor) -> bool:
        """Record step ``step``'s losses; True when this (single) process must stop now."""
        bad = ~torch.isfinite(loss_d + loss_g)
        self.first_bad = torch.where(bad & (self.first_bad < 0), step, self.first_bad)
        # Read the clock once per step: the decision below and agree() must see the same answer.
        self.over_time = self.max_seconds is not None and self.elapsed() >= self.max_seconds
        # Several processes stop only where they agree (logging and checkpoint steps).
        return self.dist.world == 1 and (self.signals["interrupt"] or self.over_time)

    def agree(self) -> tuple[int, str | None]:
        bad, interrupt, timeout = self.dist.max(
            [int(self.first_bad), int(self.signals["interrupt"]), int(self.over_time)])
        return bad, ("interrupt" if interrupt else "time" if timeout else None)

    def first_bad_step(self) -> int:
        """The first step whose loss was not finite on this rank, ``-1`` if none (a host sync)."""
        return int(self.first_bad)
