"""GM-GAN training step vs DCGAN training step, side by side in one run.

    python benchmarks/bench_train.py                      # the defaults: gmgan vs gan, batch 64
    python benchmarks/bench_train.py --device cuda --compile --compile-mode reduce-overhead
    python benchmarks/bench_train.py --preset pde-small --batch-size 32 --steps 5
    python benchmarks/bench_train.py --models gmgan gmgan-de gan --steps 20
    python benchmarks/bench_train.py --models gan gmgan 'gmgan={"g_activation": "pde-7x7"}'
    python benchmarks/bench_train.py --models gan gan@diffaugment 'gmgan@rotate={"preset": "hybrid-invariant"}'

One *step* is what ``gmgan_lib.training.train`` does per batch: a discriminator update on a real and a
fake batch, then a generator update (three D forwards, two backwards, two Adam steps). The real
batch is already on the device (as in training). We report the median and minimum wall-clock ms
per step over ``--steps`` timed steps after ``--warmup`` untimed ones (compilation, Numba's JIT,
cuDNN autotuning happen there); on CUDA every step is bracketed by ``torch.cuda.synchronize()``.
The models take turns step by step (round robin), so a change in the machine's load during the
run hits them alike and the printed ratio compares like with like.

The CPU target (issue "GM-GAN that learns on a CPU"): the default GM-GAN's step at most 1.5x the
DCGAN's at batch 64 on 2 threads. Figures: docs/performance.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch

from gmgan_lib.models import build, count_parameters
from gmgan_lib.training.step import gan_losses_step
from gmgan_lib.training.augment import augmentation


def prepare(model: str, model_config: dict, device: torch.device, compile_mode: str | None):
    """Networks and optimisers of one model, built from seed 0 as in training."""
    torch.manual_seed(0)
    G, D = build(model, 100, **model_config)
    params = count_parameters(G) + count_parameters(D)
    G, D = G.to(device), D.to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    if compile_mode is not None:
        G, D = torch.compile(G, mode=compile_mode), torch.compile(D, mode=compile_mode)
    return (G, D, opt_g, opt_d), params


def time_steps(models: dict, batch_size: int, steps: int, warmup: int, device: torch.device) -> dict:
    """Milliseconds per step of every model, the models taking turns step by step."""
    real = torch.rand(batch_size, 1, 28, 28, device=device) * 2 - 1
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times = {name: [] for name in models}
    for i in range(warmup + steps):
        for name, (nets, augment) in models.items():
            sync()
            t = time.perf_counter()
            gan_losses_step(*nets, real, 100, augment=augment)
            sync()
            if i >= warmup:
                times[name].append(1000 * (time.perf_counter() - t))
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=5, help="timed steps per model")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per model")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--preset", default=None, help="GM-GAN preset (default: the default gmgan)")
    p.add_argument("--model-config", default="{}",
                   help="GM-GAN architecture overrides as JSON, for every GM-GAN model")
    p.add_argument("--models", nargs="+", default=["gmgan", "gan"],
                   help="models to time; NAME or NAME=JSON with architecture overrides, "
                        "NAME@AUGMENT for a training augmentation (diffaugment, rotate)")
    p.add_argument("--compile", action="store_true", help="torch.compile both networks")
    p.add_argument("--compile-mode", default="default",
                   choices=("default", "reduce-overhead", "max-autotune"),
                   help="reduce-overhead uses CUDA graphs")
    p.add_argument("--json", help="also write the results to this file")
    args = p.parse_args(argv)
    if args.batch_size < 1 or args.steps < 1 or args.warmup < 0:
        p.error("--batch-size and --steps must be positive, --warmup non-negative")
    if len(set(args.models)) != len(args.models):
        p.error(f"--models must not repeat a model, got {args.models}")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device is available")
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if args.device == "auto" else args.device))

    where = (torch.cuda.get_device_name(device) if device.type == "cuda"
             else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    mode = f"torch.compile({args.compile_mode})" if args.compile else "eager"
    # How waiting OpenMP threads behave changes the figures (docs/performance.md, "OpenMP
    # threads that wait"): print it.
    omp = ", ".join(f"{k}={os.environ[k]}" for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
                    if k in os.environ) or "OpenMP waiting: libgomp default"
    print(f"device: {device} ({where}); load average {load:.1f}; batch {args.batch_size}; {mode}; "
          f"{omp}")
    overrides = json.loads(args.model_config)
    if args.preset is not None:
        overrides["preset"] = args.preset
    models, results = {}, []
    for label in args.models:
        model, _, extra = label.partition("=")
        model, _, augment = model.partition("@")
        config = {} if model == "gan" else {**overrides, **(json.loads(extra) if extra else {})}
        nets, params = prepare(model, config, device, args.compile_mode if args.compile else None)
        models[label] = (nets, augmentation(augment or "none"))
        results.append({"model": label, "config": config, "parameters": params})
    times = time_steps(models, args.batch_size, args.steps, args.warmup, device)
    for r in results:
        t = times[r["model"]]
        r.update(median_ms=statistics.median(t), min_ms=min(t), steps=len(t))
        print(f"  {r['model']:10s} {r['parameters']:>10,d} params   median {r['median_ms']:9.1f} ms/step"
              f"   min {r['min_ms']:9.1f} ms", flush=True)
    by_name = {r["model"]: r for r in results}
    if "gan" in by_name:      # every other model against the DCGAN, medians of the same run
        for r in results:
            if r["model"] != "gan":
                r["ratio_to_gan"] = r["median_ms"] / by_name["gan"]["median_ms"]
                print(f"  {r['model']} / gan step time: {r['ratio_to_gan']:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": str(device), "where": where, "load": load, "mode": mode,
                       "batch_size": args.batch_size, "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
