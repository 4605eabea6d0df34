"""The main job of ``make demo``: train a small GM-GAN on MNIST on the CPU, then evaluate it.

    python -m gmgan_lib demo --out runs/demo [--minutes 3] [--max-steps N]

What it does, in about four minutes on two CPU cores:

1. trains GM-GAN with :func:`gmgan_lib.train.train` (the same procedure, run directory and
   checkpoints as ``python -m gmgan_lib train``) in a configuration small enough for a CPU
   (``DEMO_MODEL_CONFIG``: 4 orientations, thin layers, 3x3x3 kernels), stopping after
   ``--minutes`` of training or ``--max-steps`` steps, whichever comes first;
2. draws ``--eval-n`` samples (1000 by default) and compares them with as many MNIST test digits
   through :func:`gmgan_lib.metrics.evaluate_images` (FID_MNIST, class KL, MNIST score,
   precision/recall on the frozen classifier's features);
3. writes ``samples.png`` (64 samples from the fixed noise batch) and ``metrics.json``
   (configuration, steps, seconds, parameter counts, metrics).

**This is a smoke test, not a result.** A few minutes of CPU training and 1000 samples
(FID is biased upwards for small N) say that the pipeline works end to end; they are not
comparable with the paper or with a full run (``python -m gmgan_lib train`` + ``evaluate``).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from gmgan_lib.checkpoint import CheckpointError, atomic_write_text
from gmgan_lib.models import build, count_parameters
from gmgan_lib.train import NonFiniteLossError, TrainConfig, sample, train

#: GM-GAN small enough to learn something in minutes on a CPU. The full reconstruction
#: ("paper" preset: 8 orientations, 16-32 channels, 5x5x5 kernels) costs several seconds a step
#: on two cores; this one is meant to cost a fraction of a second at batch 32.
DEMO_MODEL_CONFIG: dict[str, Any] = {"preset": "tiny", "g_seed_channels": 16,
                                     "g_channels": [8, 8, 8, 8], "d_channels": [4, 8, 8, 8],
                                     "lift_kernel": 5}
SMOKE_TEST_NOTE = ("smoke test: a few minutes of CPU training and a small evaluation sample; "
                   "FID_MNIST is biased upwards for small n and these numbers are not comparable "
                   "with the paper or with full runs")
# Files of a previous demo run (a new demo starts over instead of resuming).
_RUN_FILES = ("checkpoint.pt", "config.json", "metrics.csv", "metrics.json", "samples.png")


def add_demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="runs/demo", help="run directory (default runs/demo)")
    p.add_argument("--minutes", type=float, default=3.0,
                   help="training time budget (default 3; data loading, compilation and the "
                        "evaluation add about a minute)")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--data-fraction", type=float, default=1.0)
    p.add_argument("--eval-n", type=int, default=1000, help="samples for the evaluation (0: skip)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads for torch and the Numba kernels (default 1: see below)")
    p.add_argument("--model-config", default=json.dumps(DEMO_MODEL_CONFIG),
                   help="GM-GAN architecture as JSON (default: the demo's small configuration)")


def _set_threads(n: int) -> None:
    """Use ``n`` CPU threads in torch and in Numba's parallel kernels.

    Why the default is 1: on the project's shared 2-core machine (load average 3-5) one demo
    step (batch 32) took 0.46 s with one thread and 7.2 s with ``OMP_NUM_THREADS=2``. The demo's
    many small tensor operations make OpenMP threads spin-wait for a busy core at every one of
    them. A dedicated machine loses at most the second core's share with one thread; a busy one
    loses an order of magnitude with two.
    """
    torch.set_num_threads(n)
    try:
        import numba
    except ImportError:
        return
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


def _evaluate(generator: torch.nn.Module, n: int, seed: int) -> tuple[dict | None, str]:
    """Metrics of ``n`` samples against ``n`` MNIST test digits, or (None, why not)."""
    if n == 0:
        return None, "skipped (--eval-n 0)"
    try:
        from gmgan_lib.metrics import evaluate_images
    except ImportError as err:
        return None, f"unavailable: gmgan_lib.metrics cannot be imported ({err})"
    from gmgan_lib.data import load_tensors

    real, _ = load_tensors("mnist", "test", fraction=min(1.0, n / 10000), seed=seed)
    fake = sample(generator, n=n, seed=seed + 1)
    try:
        metrics = evaluate_images(fake, real, dataset="mnist")
    except (OSError, ValueError, RuntimeError) as err:   # e.g. the classifier weights are absent
        return None, f"unavailable: {type(err).__name__}: {str(err).splitlines()[0]}"
    return metrics, f"{SMOKE_TEST_NOTE} (n={len(fake)} samples vs {len(real)} test digits)"


def run_demo(args: argparse.Namespace) -> int:
    """CLI entry: 0 on success, 2 for bad arguments, 1 for a NaN/inf loss, 130 after SIGINT."""
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


def _run_demo(args: argparse.Namespace) -> int:
    t_start = time.perf_counter()
    out = Path(args.out)
    try:
        try:
            model_config = json.loads(args.model_config)
        except json.JSONDecodeError as err:
            raise ValueError(f"--model-config must be a JSON object ({err})") from None
        if not args.minutes > 0:
            raise ValueError(f"--minutes must be a positive number, got {args.minutes!r}")
        if args.eval_n < 0:
            raise ValueError(f"--eval-n must be >= 0, got {args.eval_n!r}")
        if args.threads < 1:
            raise ValueError(f"--threads must be a positive integer, got {args.threads!r}")
        config = TrainConfig(model="gmgan", dataset="mnist", epochs=5,   # the time budget stops it first
                             batch_size=args.batch_size, max_steps=args.max_steps,
                             data_fraction=args.data_fraction, seed=args.seed, device="cpu",
                             checkpoint_every=100, log_every=10, model_config=model_config,
                             max_seconds=60.0 * args.minutes)
        config.validate()
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out must be a directory, but {out} is a file")
        if out.is_dir():   # start over: remove the previous demo's files (only those)
            for path in [*(out / name for name in _RUN_FILES), *out.glob("samples_epoch_*.png")]:
                path.unlink(missing_ok=True)
        _set_threads(args.threads)
        print(f"demo: training GM-GAN on MNIST on the CPU for at most {args.minutes:g} min "
              f"(architecture {config.model_config})", flush=True)
        result = train(config, out)
    except (ValueError, CheckpointError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except NonFiniteLossError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1

    print(f"demo: evaluating {args.eval_n} samples against MNIST test digits ...", flush=True)
    t_eval = time.perf_counter()
    metrics, note = _evaluate(result.generator, args.eval_n, args.seed)
    baseline = build("gan", config.latent_dim)
    report = {
        "what": note,
        "model": "gmgan",
        "model_config": config.model_config,
        "train": {"steps": result.step, "epochs": result.epoch, "seconds": round(result.seconds, 1),
                  "stopped_by": result.stopped_by, "batch_size": config.batch_size,
                  "data_fraction": config.data_fraction, "seed": config.seed,
                  "torch_threads": torch.get_num_threads()},
        "parameters": {"gmgan": result.parameters,
                       "gan_baseline": {"generator": count_parameters(baseline.generator),
                                        "discriminator": count_parameters(baseline.discriminator)}},
        "metrics": metrics,
        "seconds_evaluation": round(time.perf_counter() - t_eval, 1),
        "seconds_total": round(time.perf_counter() - t_start, 1),
    }
    report["parameters"]["gan_baseline"]["total"] = sum(report["parameters"]["gan_baseline"].values())
    atomic_write_text(out / "metrics.json", json.dumps(report, indent=2, default=float) + "\n")
    if metrics is not None:
        shown = ", ".join(f"{k} {metrics[k]:.3f}" for k in ("fid", "kl", "mnist_score", "precision",
                                                            "recall") if k in metrics)
        print(f"demo: {shown} ({note})")
    else:
        print(f"demo: evaluation {note}")
    print(f"demo: wrote {out / 'samples.png'} and {out / 'metrics.json'} "
          f"({report['seconds_total']:.0f} s in total)")
    return 130 if result.interrupted else 0
