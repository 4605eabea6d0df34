"""Compile the Numba CPU kernels once, after installing: ``python -m gmgan_lib.kernels.warmup``.

Numba compiles a kernel on its first call and caches the machine code on disk
(``NUMBA_CACHE_DIR``); calling every kernel once here, at set-up, means no notebook or training
run ever pays the compile time (about 30 s), later processes only load the cache.
"""
from __future__ import annotations

import torch

from gmgan_lib.kernels import cpu, cpu_convection, cpu_fused
from gmgan_lib.kernels.cpu_runtime import numba


def warmup(dtypes=(torch.float32, torch.float64)) -> None:
    """Compile (or load from the on-disk cache) every kernel specialisation for ``dtypes``:
    forward with a ``uint8`` and an ``int16`` index, the value-only forward and both backwards,
    the three convection kernels (:mod:`gmgan_lib.kernels.cpu_convection`) and the fused
    dilation-then-erosion (:mod:`gmgan_lib.kernels.cpu_fused`). Run once after
    installing (``python -m gmgan_lib.kernels.warmup``) so that no notebook or training run ever
    pays the compile time; later processes only load the cache."""
    for dtype in dtypes:
        f = torch.zeros(1, 1, 2, 3, 3, dtype=dtype)
        tables = (torch.zeros(1, 2, dtype=dtype), torch.zeros(1, 2, 4, dtype=dtype),
                  torch.zeros(1, dtype=torch.int64), torch.zeros(1, 2, dtype=torch.int64),
                  torch.zeros(1, 2, dtype=torch.int64))
        cpu_convection.trilinear_shift_backward(cpu_convection.trilinear_shift_forward(f, *tables),
                                                f, *tables)
        f = torch.zeros(1, 1, 2, 3, 3, dtype=dtype)
        for ksize in ((1, 3, 3), (3, 11, 11)):  # 9 offsets -> uint8 index, 363 -> int16
            k = torch.zeros((1, 2) + ksize, dtype=dtype)
            out, index = cpu.erosion_forward(f, k, True)
            cpu.erosion_backward(out, index, f.shape, k.shape)   # (the flag is a run-time value)
        cpu.erosion_forward(f, torch.zeros(1, 2, 1, 3, 3, dtype=dtype), False)
        f = torch.zeros(cpu_fused.MIN_BATCH, 1, 2, 3, 3, dtype=dtype)
        k = torch.zeros(1, 2, 3, 3, 3, dtype=dtype)
        out, i_dil, i_ero = cpu_fused.dilation_erosion_forward(f, k, k, True)
        cpu_fused.dilation_erosion_backward(out, i_dil, i_ero, k.shape, k.shape)


if __name__ == "__main__":
    import time

    t0 = time.perf_counter()
    warmup()
    print(f"gmgan_lib.kernels.warmup: CPU kernels compiled or loaded in "
          f"{time.perf_counter() - t0:.1f} s (cache: {numba.config.CACHE_DIR or 'next to the source'})")
