"""The fused dilation-then-erosion against the two CPU operators it replaces, side by side.

    python benchmarks/bench_fused.py [--repeats 40] [--threads 1 2]

Every block of the hybrid GM-GAN applies a dilation directly followed by an erosion
(docs/architecture.md). ``gmgan_lib.kernels.cpu_fused`` computes the pair in one call, batch
innermost, keeping the intermediate map inside the kernel. This benchmark times, at the default
GM-GAN's shapes (batch 64, 3x3x3 kernels whose centre costs 0, as the metric kernels' do), the
forward with both indices and the backward with both kernel gradients, fused and composed,
alternating call by call in one process, and prints the medians and their ratio. It first checks
that both give the same output.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gmgan_lib.kernels import cpu, cpu_fused  # noqa: E402

SHAPES = [("7x7 blocks, 32 fields", (64, 32, 4, 7, 7)),
          ("14x14 blocks, 16 fields", (64, 16, 4, 14, 14))]


def _median_ms(fns, repeats):
    for fn in fns:      # warm-up (and the first compile, if the cache is cold)
        fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, t in zip(fns, times):
            start = time.perf_counter()
            fn()
            t.append(time.perf_counter() - start)
    return [1e3 * statistics.median(t) for t in times]


def _measure(shape, repeats):
    """Medians (ms) of the fused and composed forward and backward at ``shape``, or None when
    the two disagree."""
    g = torch.Generator().manual_seed(0)
    C, Or = shape[1], shape[2]
    f = torch.randn(shape, generator=g)
    k_dil = torch.rand(C, Or, 3, 3, 3, generator=g) * 2 + 0.5
    k_ero = torch.rand(C, Or, 3, 3, 3, generator=g) * 2 + 0.5
    k_dil[:, :, 1, 1, 1] = 0
    k_ero[:, :, 1, 1, 1] = 0
    grad = torch.randn(shape, generator=g)

    def composed():
        d, i_dil = cpu.erosion_forward(f, k_dil, True, negate=True)
        out, i_ero = cpu.erosion_forward(d, k_ero, True)
        return out, i_dil, i_ero

    out, i_dil, i_ero = cpu_fused.dilation_erosion_forward(f, k_dil, k_ero, True)
    expected, c_dil, c_ero = composed()
    if not torch.equal(out, expected):
        return None

    def composed_backward():
        grad_d, _ = cpu.erosion_backward(grad, c_ero, shape, k_ero.shape, True)
        cpu.erosion_backward(grad_d, c_dil, shape, k_dil.shape, True)

    return _median_ms([
        lambda: cpu_fused.dilation_erosion_forward(f, k_dil, k_ero, True), composed,
        lambda: cpu_fused.dilation_erosion_backward(grad, i_dil, i_ero, k_dil.shape, k_ero.shape,
                                                    check_index=False),
        composed_backward], repeats)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=40, help="timed calls per variant and shape")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                   help="torch.set_num_threads values to measure with")
    args = p.parse_args(argv)
    print(f"batch 64, 3x3x3 kernels, float32; median of {args.repeats} calls, fused and composed "
          f"taking turns")
    print(f"{'shape':<26}{'threads':>8}{'forward fused / composed':>30}"
          f"{'backward fused / composed':>31}")
    for threads in args.threads:
        torch.set_num_threads(threads)
        for name, shape in SHAPES:
            times = _measure(shape, args.repeats)
            if times is None:
                print(f"{name}: the fused output differs from the composition", file=sys.stderr)
                return 1
            fwd_f, fwd_c, bwd_f, bwd_c = times
            print(f"{name:<26}{threads:>8}{fwd_f:>12.2f} / {fwd_c:5.2f} ms = {fwd_f / fwd_c:4.2f}"
                  f"{bwd_f:>13.2f} / {bwd_c:5.2f} ms = {bwd_f / bwd_c:4.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
