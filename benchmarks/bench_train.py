"""GM-GAN training step vs DCGAN training step, side by side in one run.

    python benchmarks/bench_train.py                      # CPU here, CUDA when available
    python benchmarks/bench_train.py --device cuda --compile --compile-mode reduce-overhead
    python benchmarks/bench_train.py --preset small --batch-size 32 --steps 5

One *step* is what ``gmgan_lib.train`` does per batch: a discriminator update on a real and a
fake batch, then a generator update (three D forwards, two backwards, two Adam steps). The real
batch is already on the device (as in training). We report the median and minimum wall-clock ms
per step over ``--steps`` timed steps after ``--warmup`` untimed ones (compilation, Numba's JIT,
cuDNN autotuning happen there); on CUDA every step is bracketed by ``torch.cuda.synchronize()``.

The issue's targets are for an H100 (GM-GAN step <= 1.5x the DCGAN step in the same execution
mode; ~3 ms a step for the full protocol). They can only be checked on such a machine; a CPU run
measures the CPU, nothing else.
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
from gmgan_lib.train import gan_losses_step


def time_steps(model: str, model_config: dict, batch_size: int, steps: int, warmup: int,
               device: torch.device, compile_mode: str | None) -> dict:
    torch.manual_seed(0)
    G, D = build(model, 100, **model_config)
    params = count_parameters(G) + count_parameters(D)
    G, D = G.to(device), D.to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    if compile_mode is not None:
        G, D = torch.compile(G, mode=compile_mode), torch.compile(D, mode=compile_mode)
    real = torch.rand(batch_size, 1, 28, 28, device=device) * 2 - 1
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times = []
    for i in range(warmup + steps):
        sync()
        t = time.perf_counter()
        gan_losses_step(G, D, opt_g, opt_d, real, 100)
        sync()
        if i >= warmup:
            times.append(1000 * (time.perf_counter() - t))
    return {"model": model, "parameters": params, "median_ms": statistics.median(times),
            "min_ms": min(times), "steps": steps}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=5, help="timed steps per model")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per model")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--preset", default="paper", help="GM-GAN preset (paper, small, tiny)")
    p.add_argument("--models", nargs="+", default=["gmgan", "gan"])
    p.add_argument("--compile", action="store_true", help="torch.compile both networks")
    p.add_argument("--compile-mode", default="default",
                   choices=("default", "reduce-overhead", "max-autotune"),
                   help="reduce-overhead uses CUDA graphs")
    p.add_argument("--json", help="also write the results to this file")
    args = p.parse_args(argv)
    if args.batch_size < 1 or args.steps < 1 or args.warmup < 0:
        p.error("--batch-size and --steps must be positive, --warmup non-negative")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device is available")
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if args.device == "auto" else args.device))

    where = (torch.cuda.get_device_name(device) if device.type == "cuda"
             else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    mode = f"torch.compile({args.compile_mode})" if args.compile else "eager"
    print(f"device: {device} ({where}); load average {load:.1f}; batch {args.batch_size}; {mode}")
    results = []
    for model in args.models:
        config = {} if model == "gan" else {"preset": args.preset}
        r = time_steps(model, config, args.batch_size, args.steps, args.warmup, device,
                       args.compile_mode if args.compile else None)
        r["config"] = config
        results.append(r)
        print(f"  {model:10s} {r['parameters']:>10,d} params   median {r['median_ms']:9.1f} ms/step"
              f"   min {r['min_ms']:9.1f} ms", flush=True)
    by_name = {r["model"]: r for r in results}
    if "gmgan" in by_name and "gan" in by_name:
        ratio = by_name["gmgan"]["median_ms"] / by_name["gan"]["median_ms"]
        print(f"  GM-GAN / DCGAN step time: {ratio:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": str(device), "where": where, "load": load, "mode": mode,
                       "batch_size": args.batch_size, "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
