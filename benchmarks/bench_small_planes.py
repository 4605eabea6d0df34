"""The CPU erosion at the hybrid GM-GAN's small planes, batch grouping on and off, side by side.

    python benchmarks/bench_small_planes.py [--repeats 30]

The Numba forward folds four kernel offsets per pass over a row buffer. At the 7x7 and 14x14
maps of the hybrid GM-GAN (docs/architecture.md) a pass over one plane is a few dozen
positions long, so the CPU kernel treats the planes of several batch elements in one pass
(``gmgan_lib.kernels.cpu._batch_group``). This benchmark times the forward (with the arg-min
index, as in training) and the forward+backward at those shapes, with the grouping as shipped
and with ``_batch_group`` forced to 1 (one batch element per pass: the kernel as it was before),
alternating call by call in one process, and prints the medians and their ratio. It also checks
that both give the same values and index.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gmgan_lib.kernels import cpu  # noqa: E402

# (name, f shape [B, C, Or, H, W]): the PDE layers of the default GM-GAN at batch 64.
# (G's 14x14 block and D's 14x14 block have the same shape, as do the two 7x7 blocks.) The
# last row is the reference shape of docs/performance.md (the all-PDE model's 28x28 maps, 5x5x5
# kernels), where groups hold 2 elements: it must not get slower.
SHAPES = [("7x7 blocks, 32 fields", (64, 32, 4, 7, 7), None),
          ("14x14 blocks, 16 fields", (64, 16, 4, 14, 14), None),
          ("reference shape, 5x5x5", (64, 16, 8, 28, 28), (5, 5, 5))]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=30, help="timed calls per variant and shape")
    p.add_argument("--kernel", type=int, nargs=3, default=(3, 3, 3),
                   help="kOr kH kW of the small-plane rows")
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be positive")
    grouped = cpu._batch_group
    variants = {"grouped": grouped, "one per pass": lambda *a: 1}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name, shape, kernel in SHAPES:
        f = torch.randn(shape)
        k = torch.rand(shape[1], shape[2], *(kernel or args.kernel))
        results = {}
        outs = {}
        times = {v: ([], []) for v in variants}
        for v, fn in variants.items():        # warm up (compilation) and check equality
            cpu._batch_group = fn
            outs[v] = cpu.erosion_forward(f, k, True)
        assert torch.equal(outs["grouped"][0], outs["one per pass"][0])
        assert torch.equal(outs["grouped"][1], outs["one per pass"][1])
        for _ in range(args.repeats):
            for v, fn in variants.items():
                cpu._batch_group = fn
                t = time.perf_counter()
                out, index = cpu.erosion_forward(f, k, True)
                t1 = time.perf_counter()
                cpu.erosion_backward(out, index, f.shape, k.shape, winners_inside=True)
                t2 = time.perf_counter()
                times[v][0].append(1000 * (t1 - t))
                times[v][1].append(1000 * (t2 - t))
        cpu._batch_group = grouped
        for v in variants:
            results[v] = (statistics.median(times[v][0]), statistics.median(times[v][1]))
        g, o = results["grouped"], results["one per pass"]
        print(f"{name:30s} {str(list(shape)):22s} forward {o[0]:6.2f} -> {g[0]:6.2f} ms "
              f"({o[0] / g[0]:.2f}x)   forward+backward {o[1]:6.2f} -> {g[1]:6.2f} ms "
              f"({o[1] / g[1]:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
