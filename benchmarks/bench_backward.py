"""The CPU backward kernels of one checkout, timed: to compare two versions of the code.

    python benchmarks/bench_backward.py [ROOT] [--repeats 80]

Imports ``gmgan_lib`` from ``ROOT`` (default: this checkout), so that two checkouts (say
``git worktree add /tmp/old HEAD~1``) run alternately in fresh processes give a side-by-side
comparison on one machine. One thread; the default GM-GAN's shapes (batch 64, 3x3x3 kernels
whose centre costs 0); the medians, in ms, of ``cpu.erosion_backward`` and of the fused
``cpu_fused.dilation_erosion_backward``. Give each checkout its own ``NUMBA_CACHE_DIR``, and run
each once before timing (the first call compiles).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

SHAPES = [("7x7 blocks, 32 fields", (64, 32, 4, 7, 7)),
          ("14x14 blocks, 16 fields", (64, 16, 4, 14, 14))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("root", nargs="?", default=str(Path(__file__).resolve().parents[1]))
    p.add_argument("--repeats", type=int, default=80)
    args = p.parse_args()
    sys.path.insert(0, str(Path(args.root).resolve()))
    import torch

    from gmgan_lib.kernels import cpu, cpu_fused

    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(f"gmgan_lib from {Path(cpu.__file__).parents[2]}")
    for name, shape in SHAPES:
        f, grad = torch.randn(shape), torch.randn(shape)
        k = torch.rand(shape[1], 4, 3, 3, 3)
        k[:, :, 1, 1, 1] = 0
        _, index = cpu.erosion_forward(f, k, True)
        _, i_dil, i_ero = cpu_fused.dilation_erosion_forward(f, k, k, True)
        calls = {"erosion backward": (cpu.erosion_backward, (grad, index, f.shape, k.shape)),
                 "fused backward": (cpu_fused.dilation_erosion_backward,
                                    (grad, i_dil, i_ero, k.shape, k.shape))}
        for label, (fn, fn_args) in calls.items():
            fn(*fn_args)
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                fn(*fn_args)
                times.append(time.perf_counter() - start)
            print(f"{name}: {label} {1e3 * statistics.median(times):.3f} ms")


if __name__ == "__main__":
    main()
