"""What the Numba CPU kernels share: Numba itself, which tensors they run, and how their work is
split over threads.

:mod:`.cpu` (the min-plus convolution), :mod:`.cpu_convection` and :mod:`.cpu_fused` import it;
it imports none of them (the kernels' warm-up, which calls all three, is :mod:`.warmup`).

Parallelism: the kernels are plain ``@njit(nogil=True)`` functions over a range of ``(b, c)``
blocks; up to 32 such chunks are handed to ``torch.get_num_threads()`` Python threads
(:func:`_run_chunks`). The split depends on the problem size only, so results do not depend on
the thread count, bit for bit.
"""
from __future__ import annotations

import concurrent.futures
import itertools
import threading

import torch

try:  # Numba is a dependency, but keep the package importable (reference backend) without it.
    import numba
    from numba import njit
except ImportError:  # pragma: no cover - exercised only on installs without numba
    numba = njit = None

__all__ = ["numba", "njit", "is_available", "supports"]

_DTYPES = (torch.float32, torch.float64)


def is_available() -> bool:
    """True when Numba imports."""
    return numba is not None


def supports(f: torch.Tensor) -> bool:
    """CPU tensors of float32 or float64 (other dtypes go to the reference backend)."""
    return f.device.type == "cpu" and f.dtype in _DTYPES


# --------------------------------------------------------------------------------------------
# Threads
# --------------------------------------------------------------------------------------------
_pool: concurrent.futures.ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


#: Independent accumulators of the kernel gradient in the backward. Neighbouring outputs mostly
#: share their winner (the kernel centre, as a rule), and with one accumulator every addition
#: waits for the previous one (a store-to-load chain through memory): a backward in which the
#: centre always won took 2.4x as long as one with random winners. Output column ``x`` adds into
#: lane ``x % _LANES`` (a power of two), so neighbouring columns never wait on each other; the
#: lanes are summed at the end in a fixed order (results stay independent of the thread count).
_LANES = 8

_MAX_CHUNKS = 32
_PAIRS_PER_CHUNK = 4_000_000  # ~3-5 ms of work: below that, thread hand-offs cost more


def _chunks(n_blocks: int, pairs_per_block: int) -> list[tuple[int, int]]:
    """Split the ``n_blocks`` blocks ``(b, c)`` into contiguous chunks of at least ~4 M add-min
    pairs each, at most 32 of them. The split depends on the problem size only, never on the
    thread count, so every result (the kernel gradient's float64 partial sums included) is
    identical for any number of threads."""
    n = max(1, min(n_blocks, _MAX_CHUNKS, (n_blocks * pairs_per_block) // _PAIRS_PER_CHUNK))
    return [((n_blocks * t) // n, (n_blocks * (t + 1)) // n) for t in range(n)]


def _run_chunks(fn, chunks, make_args) -> None:
    """Run ``fn(*make_args(t), start, stop)`` for every chunk ``t`` on
    ``torch.get_num_threads()`` threads: the calling thread and ``T - 1`` pool threads take the
    next chunk from a shared counter until none is left (the Numba kernels release the GIL).

    More chunks than threads, taken as threads become free: on a shared machine a thread that
    loses its core for a while then does fewer chunks instead of holding everyone up (with one
    static chunk per thread, 2 threads ran slower than 1 on a loaded 2-core box).
    """
    global _pool, _pool_size
    T = max(1, min(torch.get_num_threads(), len(chunks)))
    if T == 1:
        for t, (start, stop) in enumerate(chunks):
            fn(*make_args(t), start, stop)
        return
    with _pool_lock:
        if _pool is None or _pool_size != T - 1:
            if _pool is not None:
                _pool.shutdown(wait=True)
            _pool = concurrent.futures.ThreadPoolExecutor(max_workers=T - 1,
                                                          thread_name_prefix="gmgan-cpu")
            _pool_size = T - 1
        pool = _pool
    counter = itertools.count()  # next() on it is atomic under the GIL

    def worker():
        for t in iter(counter.__next__, None):
            if t >= len(chunks):
                return
            fn(*make_args(t), *chunks[t])

    futures = [pool.submit(worker) for _ in range(T - 1)]
    worker()
    for fut in futures:
        fut.result()  # re-raises a kernel error here
