"""The main job of ``make demo``: train the default GM-GAN on MNIST on the CPU, then evaluate it.

    python -m gmgan_lib demo --out runs/demo [--steps 4600] [--minutes M] [--threads 2]

What it does (5 to 10 minutes on the development VM's two cores, depending on the day):

1. trains the default ``gmgan`` (the hybrid reconstruction: p4 group convolutions with
   morphological PDE layers as the generator's nonlinearity, a p4 group-convolution
   discriminator, :mod:`gmgan_lib.models.hybrid`) with
   :func:`gmgan_lib.training.train`: the same procedure, run directory and checkpoints as
   ``python -m gmgan_lib train``, for a fixed number of steps (``--steps``, 4,600), so every
   machine reaches the same figures and only the time differs (``--minutes`` adds a time budget,
   for whoever wants one: then the machine's speed decides the result);
2. evaluates it with the project's protocol (:func:`gmgan_lib.evaluation.evaluate.evaluate_generator`):
   ``--eval-n`` samples (10,000) against the 10,000 MNIST test digits, FID_MNIST, class KL,
   MNIST score, precision/recall, and the same figures for real train digits (the floor);
3. writes ``samples.png`` (64 samples from the fixed noise batch) and ``metrics.json``
   (configuration, steps, seconds, parameter counts, metrics, floor).

The run directory is locked (``OUT/.lock``, as ``train`` locks it) for the whole demo, training,
evaluation and report, and every decision about it is taken with the lock held, before anything
is written: a demo starts over in a folder of an earlier demo (marked by ``OUT/.gmgan-demo``,
whose files it replaces), and refuses, changing nothing, a folder that holds another run (a
``train`` directory) or that a running demo or training holds.

A few CPU minutes are far from the paper's 200 epochs: these are the figures of a short run,
measured with the protocol of docs/evaluation.md, comparable with other runs of the same budget
(docs/experiments.md), never with the paper's.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import time
from pathlib import Path

import torch

from gmgan_lib import check_threads, cli_error
from gmgan_lib.checkpoint import CheckpointError
from gmgan_lib.files import atomic_write_text
from gmgan_lib.models import build, count_parameters
from gmgan_lib.training import NonFiniteLossError, TrainConfig, train
from gmgan_lib.training.cli import (EXIT_INTERRUPTED, EXIT_TERMINATED, add_model_arguments,
                                    model_overrides)
from gmgan_lib.training.rundir import run_lock

# The demo's optimiser, for GM-GAN and for its baseline (scripts/demo_baseline.sh) alike: in 4
# one-thread minutes Adam 4e-4 beat the textbook 2e-4 for both models, and betas (0, 0.9), the
# equivariant-GAN papers' choice, beat the textbook (0.5, 0.999) for both (docs/experiments.md).
DEMO_LR = 4e-4
DEMO_BETAS = (0.0, 0.9)
# The demo's length, in steps rather than minutes, so that a slow laptop and a fast workstation
# reach the same figures: 4,600 steps are what 5 training minutes on 2 threads made on the
# development VM (4,604 steps, 2026-12-01; README, "What `make demo` gives", which also shows
# one thread and two giving the same figures).
DEMO_STEPS = 4600
NOTE = ("a short CPU run evaluated with the project's protocol (docs/evaluation.md); comparable "
        "with runs of the same budget (docs/experiments.md), not with the paper's 200 epochs")
# Files of a previous demo run (a new demo starts over instead of resuming).
_RUN_FILES = ("checkpoint.pt", "config.json", "metrics.csv", "metrics.json", "samples.png")
# Marks a folder a demo wrote: only there may a later demo remove those files. Any other folder
# holding them belongs to another run (a `train` directory, a copy), which a demo never touches.
DEMO_MARK = ".gmgan-demo"


def add_demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="runs/demo", help="run directory (default runs/demo)")
    p.add_argument("--steps", "--max-steps", dest="steps", type=int, default=DEMO_STEPS,
                   help="training steps (default %(default)d: 5-10 minutes on the 2 cores of "
                        "the development VM; the same figures on any machine, in another time)")
    p.add_argument("--minutes", type=float, default=None,
                   help="also stop after this many minutes of training (default: no time "
                        "budget; with one, a slower machine makes fewer steps)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--data-fraction", type=float, default=1.0)
    p.add_argument("--eval-n", type=int, default=10000,
                   help="samples for the evaluation (default 10000; 0: skip)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=DEMO_LR,
                   help="Adam learning rate of both networks (default %(default)g: in the "
                        "demo's budget it beat the textbook 2e-4 for GM-GAN and the DCGAN alike, "
                        "docs/experiments.md)")
    p.add_argument("--beta1", type=float, default=DEMO_BETAS[0],
                   help="Adam beta1 of both networks (default %(default)g)")
    p.add_argument("--beta2", type=float, default=DEMO_BETAS[1],
                   help="Adam beta2 of both networks (default %(default)g)")
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1),
                   help="CPU threads for torch and the Numba kernels (default: 2, or fewer "
                        "cores; at most the CPU count)")
    add_model_arguments(p)      # --model-config and --model.FIELD, as `train` has them


def _set_threads(n: int) -> None:
    """Use ``n`` CPU threads in torch and in Numba's kernels. (On a machine shared with other
    jobs, a short spin of waiting OpenMP threads, ``GOMP_SPINCOUNT=3000`` as the Makefile sets,
    matters: with libgomp's default two threads were measured several times slower than one
    there; docs/performance.md, "OpenMP threads that wait".)"""
    torch.set_num_threads(n)
    try:
        import numba
    except ImportError:
        return
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


def _evaluate(generator: torch.nn.Module, n: int) -> tuple[dict | None, dict | None, str]:
    """Metrics of ``n`` samples and the real-vs-real floor, or (None, None, why not)."""
    if n == 0:
        return None, None, "skipped (--eval-n 0)"
    try:
        from gmgan_lib.evaluation.evaluate import evaluate_generator
    except ImportError as err:
        return None, None, f"unavailable: gmgan_lib.evaluation cannot be imported ({err})"
    try:
        result = evaluate_generator(generator, "mnist", n, seeds=1)
    except (OSError, ValueError, RuntimeError) as err:   # e.g. the classifier weights are absent
        return None, None, f"unavailable: {type(err).__name__}: {str(err).splitlines()[0]}"
    return (result.per_seed[0], result.floor[0],
            f"{NOTE} (n={n} samples vs the {result.n_real:,} test digits, seed 0)")


def run_demo(args: argparse.Namespace) -> int:
    """CLI entry: 0 on success, 2 for bad arguments (or a folder it refuses), 1 for a NaN/inf
    loss, 130 after SIGINT and 143 after SIGTERM (checkpoint written, evaluation skipped)."""
    before = torch.get_num_threads()
    try:
        import numba
        numba_before = numba.get_num_threads()
    except ImportError:
        numba = None
    try:
        return _run_demo(args)
    finally:  # leave the process as it was (the demo also runs inside tests and notebooks)
        torch.set_num_threads(before)
        if numba is not None:
            numba.set_num_threads(numba_before)


def _finished_demo(out: Path) -> bool:
    """Whether ``out`` holds the report of a demo that finished before demos marked their
    folders (its metrics.json counts the DCGAN baseline's parameters, which no other run does)."""
    try:
        report = json.loads((out / "metrics.json").read_text())
        return isinstance(report, dict) and "gan_baseline" in report.get("parameters", {})
    except (OSError, ValueError, AttributeError):
        return False


def _start_over(out: Path) -> None:
    """Called with ``out`` locked, before anything in it is written: remove an earlier demo's
    files (a folder marked with :data:`DEMO_MARK`), or refuse a folder that holds another run's
    files, changing nothing."""
    found = [path for path in (out / name for name in _RUN_FILES) if os.path.lexists(path)]
    found += sorted(out.glob("samples_epoch_*.png"))
    if found and not ((out / DEMO_MARK).is_file() or _finished_demo(out)):
        names = ", ".join(path.name for path in found[:3]) + (", ..." if len(found) > 3 else "")
        raise ValueError(f"out: {out} holds another run ({names}), which a demo never removes; "
                         f"choose another --out (or delete that folder yourself)")
    try:
        for path in found:
            path.unlink()
        atomic_write_text(out / DEMO_MARK, "A `python -m gmgan_lib demo` run: the next demo "
                                           "into this folder replaces its files.\n")
    except OSError as err:
        raise ValueError(f"out: cannot start over in {out} ({err.strerror}: "
                         f"{err.filename})") from None


def _run_demo(args: argparse.Namespace) -> int:
    t_start = time.perf_counter()
    out = Path(args.out)
    try:
        model_config = model_overrides(args)
        if not args.out.strip():
            raise ValueError("--out must name a run directory, got an empty string")
        if isinstance(args.steps, bool) or not isinstance(args.steps, int) or args.steps < 1:
            raise ValueError(f"--steps must be a positive whole number, got {args.steps!r}")
        if args.minutes is not None and not args.minutes > 0:
            raise ValueError(f"--minutes must be a positive number, got {args.minutes!r}")
        if not (args.eval_n == 0 or 10 <= args.eval_n <= 60000):
            raise ValueError(f"--eval-n must be 0 (skip) or in [10, 60000], got {args.eval_n!r}")
        check_threads(args.threads)      # at most the CPU count: 100000 crashed torch's pool
        config = TrainConfig(model="gmgan", dataset="mnist", epochs=100,   # the steps stop it first
                             batch_size=args.batch_size, max_steps=args.steps, lr=args.lr,
                             beta1=args.beta1, beta2=args.beta2,
                             data_fraction=args.data_fraction, seed=args.seed, device="cpu",
                             checkpoint_every=100, log_every=10, model_config=model_config,
                             max_seconds=None if args.minutes is None else 60.0 * args.minutes,
                             ).resolved()
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out must be a directory, but {out} is a file")
        # The lock first, for the whole demo (train() nests in it), then the decision about the
        # folder (_start_over): a running demo's or training's folder is refused by the lock, a
        # finished training's by _start_over, and in both cases nothing was removed.
        with run_lock(out, _start_over):
            _set_threads(args.threads)
            budget = "" if args.minutes is None else f" (or {args.minutes:g} min, if sooner)"
            print(f"demo: training GM-GAN on MNIST on the CPU for {args.steps:,} steps{budget}, "
                  f"{args.threads} thread(s) (architecture {config.model_config.to_dict()})", flush=True)
            result = train(config, out)
            return _evaluate_and_report(args, config, result, out, t_start)
    except (ValueError, CheckpointError, FileNotFoundError) as err:
        return cli_error(err, 2)
    except NonFiniteLossError as err:
        return cli_error(err, 1)


def _evaluate_and_report(args: argparse.Namespace, config: TrainConfig, result, out: Path,
                         t_start: float) -> int:
    """Evaluate the trained generator (unless the run was interrupted), write metrics.json and
    print the figures; the exit code: 0, or 130 / 143 after SIGINT / SIGTERM."""
    if result.interrupted:
        # Stop quickly, as asked: the checkpoint is written, the evaluation would take minutes.
        name = signal.Signals(result.signal).name if result.signal is not None else "a signal"
        metrics, floor, note = None, None, f"skipped (interrupted by {name})"
    t_eval = time.perf_counter()
    if not result.interrupted:
        print(f"demo: evaluating {args.eval_n} samples against the MNIST test digits ...",
              flush=True)
        metrics, floor, note = _evaluate(result.generator, args.eval_n)
    with torch.device("meta"):   # the baseline's parameter count, without allocating it
        baseline = build("gan", config.latent_dim)
    report = {
        "what": note,
        "model": "gmgan",
        "model_config": config.model_config.to_dict(),
        "train": {"steps": result.step, "epochs": result.epoch, "seconds": round(result.seconds, 1),
                  "stopped_by": result.stopped_by, "batch_size": config.batch_size,
                  "data_fraction": config.data_fraction, "seed": config.seed,
                  "torch_threads": torch.get_num_threads()},
        "parameters": {"gmgan": result.parameters,
                       "gan_baseline": {"generator": count_parameters(baseline.generator),
                                        "discriminator": count_parameters(baseline.discriminator)}},
        "metrics": metrics,
        "floor": floor,
        "seconds_evaluation": round(time.perf_counter() - t_eval, 1),
        "seconds_total": round(time.perf_counter() - t_start, 1),
    }
    report["parameters"]["gan_baseline"]["total"] = sum(report["parameters"]["gan_baseline"].values())
    atomic_write_text(out / "metrics.json", json.dumps(report, indent=2, default=float) + "\n")
    if metrics is not None:
        names = {"fid": "FID_MNIST", "kl": "class KL", "mnist_score": "MNIST score",
                 "precision": "precision", "recall": "recall"}
        for key, label in names.items():
            print(f"demo: {label:12s} {metrics[key]:9.3f}   (real digits: {floor[key]:.3f})")
        print(f"demo: {note}")
    else:
        print(f"demo: evaluation {note}")
    print(f"demo: wrote {out / 'samples.png'} and {out / 'metrics.json'} "
          f"({report['seconds_total']:.0f} s in total)")
    if not result.interrupted:
        return 0
    # The shell's convention, as `train` answers: 143 for SIGTERM (what schedulers send before
    # a kill), 130 for SIGINT (Ctrl-C).
    return EXIT_TERMINATED if result.signal == signal.SIGTERM else EXIT_INTERRUPTED
