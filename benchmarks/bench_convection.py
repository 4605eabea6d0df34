"""Benchmark of convection (the trilinear shift on M2): both formulations side by side in one run.

Rows: the plane-copy reference formulation (``gmgan_lib/nn/convection.py``) and the fused
kernels of the device (Numba on the CPU, Triton on CUDA), each for ``convection_m2`` alone and
inside a whole ``CDELayerM2`` (convection, dilation, erosion, linear, batch norm), where only the
convection changes: the erosions run on the fast backend in both rows. Medians of ``--repeats``
runs after one warm-up; the ratio divides by the plane-copy row of each pair.

Examples::

    python benchmarks/bench_convection.py --device cpu --threads 2
    python benchmarks/bench_convection.py --device cuda
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, REPO)

from gmgan_lib.nn import CDELayerM2  # noqa: E402
from gmgan_lib.nn import convection as convection_module  # noqa: E402
from gmgan_lib.nn.functional import convection_m2  # noqa: E402


def _time(fn, device, repeats: int) -> float:
    fn()                                     # warm-up (compiles or loads kernels)
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   choices=["cpu", "cuda"], help="default: cuda when available")
    p.add_argument("--shape", default="64,16,8,28,28", help="B,C,Or,H,W (default 64,16,8,28,28)")
    p.add_argument("--repeats", type=int, default=7, help="timed runs per row (median reported)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (torch.set_num_threads)")
    args = p.parse_args(argv)
    try:
        B, C, Or, H, W = (int(v) for v in args.shape.split(","))
    except ValueError:
        p.error(f"--shape must be 5 integers B,C,Or,H,W, got {args.shape!r}")
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda given but CUDA is not available")
    if args.threads:
        torch.set_num_threads(args.threads)
    fused = "Triton kernels" if device.type == "cuda" else "Numba kernels"
    choose_kernels = convection_module._fused_backend

    g = torch.Generator().manual_seed(0)
    f = torch.randn((B, C, Or, H, W), generator=g).to(device).requires_grad_()
    grad = torch.randn((B, C, Or, H, W), generator=g).to(device)
    g0 = (torch.randn((C, 3), generator=g) * 1.5).to(device).requires_grad_()
    torch.manual_seed(0)
    layer = CDELayerM2(C, C).to(device)
    with torch.no_grad():
        layer.convection.g0.copy_(g0)

    print(f"# bench_convection: {' '.join([os.path.basename(sys.executable)] + sys.argv)}")
    print(f"device  : {args.device}" + (f", {torch.get_num_threads()} threads" if device.type == "cpu" else
                                        f", {torch.cuda.get_device_name()}"))
    print(f"versions: torch {torch.__version__}, python {platform.python_version()}")
    if hasattr(os, "getloadavg"):
        print("load avg: {:.2f} {:.2f} {:.2f} (before the run)".format(*os.getloadavg()))
    print(f"shape   : {(B, C, Or, H, W)}, g0 ~ N(0, 1.5^2) per channel; {args.repeats} repeats (median)\n")
    print("| what | convection by | forward ms | fwd+bwd ms | fwd+bwd / plane copies |")
    print("|---|---|---|---|---|")
    for what, run in (("convection_m2", lambda: convection_m2(f, g0)), (f"CDELayerM2({C},{C})", lambda: layer(f))):
        first = None
        for label in ("plane copies", fused):
            # The plane copies run when no fused kernels are chosen for the tensor.
            convection_module._fused_backend = (lambda t: None) if label == "plane copies" else choose_kernels
            try:
                t_f = _time(run, device, args.repeats)
                t_fb = _time(lambda run=run: run().backward(grad), device, args.repeats)
            finally:
                convection_module._fused_backend = choose_kernels
            first = first or t_fb
            print(f"| {what} | {label} | {t_f:.1f} | {t_fb:.1f} | {t_fb / first:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
