"""Benchmark of the min-plus (morphological) convolution on M2: one table, measured in one run.

Rows (each the erosion of f [B,C,Or,H,W] by a kernel stack [C,Or,kOr,kH,kW], same footprint):

* ``gmgan fast``     - ``gmgan_lib.nn.functional.erosion_m2`` with the automatic backend (Numba
                       on the CPU, Triton on CUDA), i.e. what the library's callers get;
* ``gmgan reference``- the same autograd node on the pure-PyTorch reference backend;
* ``shift loop``     - the naive baseline: a Python loop over the offsets, ``torch.minimum`` of
                       shifted copies, autograd through every step (saves one copy per offset);
* ``shift loop (torch.compile)`` - the same function under ``torch.compile`` (``--compile``; on by
                       default only on CUDA: on 2 CPU cores the compile took 52 s to 7 min);
* ``depthwise conv3d`` - ``F.conv3d(groups=C)`` of the same footprint (cuDNN / oneDNN): not the
                       same operator, a yardstick for what the hardware does with the same
                       memory traffic when a vendor library does it;
* ``lietorch``       - ``lietorch.nn.m2.MorphologicalConvolutionM2`` when ``import lietorch`` works
                       (a separate venv: scripts/lietorch_env.sh). It rotates one kernel per
                       orientation itself, so its kernel is [C, kOr, kH, kW]; same cost.

A second table times one whole PDE layer (convection, dilation, erosion, linear combination,
batch norm; C -> C channels, the same kernel size), where the ratio is to our layer:

* ``gmgan CDELayerM2``      - :class:`gmgan_lib.nn.CDELayerM2`;
* ``lietorch CDEPdeLayerM2`` - lietorch's layer of the same structure, when lietorch imports.

"forward" is the training forward (inputs require grad, so the fast path also writes its arg-min
index); "fwd+bwd" adds the backward of ``out`` with a fixed random ``grad_out``. Medians over
``--repeats`` runs after one warm-up call (whose time is printed as "first call"). Peak extra
memory of one forward+backward: on CUDA ``torch.cuda.max_memory_allocated`` above the inputs; on
the CPU the peak resident set size (``VmHWM``, reset just before) above the level before the
call, each row in a fresh process so that memory freed by earlier rows cannot hide it. The
ratio columns divide each row's time by the fast path's.

Examples::

    python benchmarks/bench_morph.py                       # reference shape, this machine
    python benchmarks/bench_morph.py --device cpu --threads 2 --compile
    python benchmarks/bench_morph.py --quick               # small shape, a few seconds
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, REPO)

from gmgan_lib import kernels  # noqa: E402
from gmgan_lib.nn import CDELayerM2  # noqa: E402
from gmgan_lib.nn.functional import erosion_m2  # noqa: E402


# --------------------------------------------------------------------------------------------
# implementations
# --------------------------------------------------------------------------------------------
def shift_loop(f: torch.Tensor, kstack: torch.Tensor) -> torch.Tensor:
    """Naive min-plus convolution: pad with +inf, then a running torch.minimum over offsets."""
    H, W = f.shape[-2:]
    kOr, kH, kW = kstack.shape[2:]
    qa, ph, pw = kOr // 2, kH // 2, kW // 2
    fp = F.pad(f, (pw, pw, ph, ph), value=float("inf"))
    out = None
    for a in range(kOr):
        fa = torch.roll(fp, shifts=-(a - qa), dims=2)
        for i in range(kH):
            for j in range(kW):
                cand = fa[..., i:i + H, j:j + W] + kstack[:, :, a, i, j, None, None]
                out = cand if out is None else torch.minimum(out, cand)
    return out


def gmgan(backend: str):
    def run(f, kstack):
        with kernels.use_backend(backend):
            return erosion_m2(f, kstack)
    return run


def depthwise_conv3d(f: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    kOr, kH, kW = weight.shape[2:]
    return F.conv3d(f, weight, padding=(kOr // 2, kH // 2, kW // 2), groups=f.shape[1])


def _inputs(shape, ksize, device, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    C, Or = shape[1], shape[2]
    f = torch.randn(shape, generator=g).to(device=device, dtype=dtype).requires_grad_()
    kstack = torch.rand((C, Or) + tuple(ksize), generator=g).to(device=device, dtype=dtype).requires_grad_()
    grad = torch.randn(shape, generator=g).to(device=device, dtype=dtype)
    return f, kstack, grad


def _row(key, f, ksize, device, dtype):
    """The function ``fn(x, weight)`` of row ``key`` and its own weight tensor."""
    C, Or = f.shape[1], f.shape[2]
    g = torch.Generator().manual_seed(1)
    kstack = torch.rand((C, Or) + tuple(ksize), generator=g).to(device=device, dtype=dtype).requires_grad_()
    if key == "fast":
        return gmgan("auto"), kstack
    if key == "reference":
        return gmgan("reference"), kstack
    if key == "shift":
        return shift_loop, kstack
    if key == "compile":
        return torch.compile(shift_loop), kstack
    if key == "conv":
        weight = torch.randn((C, 1) + tuple(ksize), generator=g).to(device=device, dtype=dtype)
        return depthwise_conv3d, weight.requires_grad_()
    if key in ("lietorch", "lietorch-layer"):
        module, note = lietorch_module(key, C, ksize, device, dtype)
        if module is None:
            raise RuntimeError(note)
        return (lambda x, _w: module(x)), kstack
    if key == "layer":
        torch.manual_seed(1)
        module = CDELayerM2(C, C, tuple(ksize)).to(device=device, dtype=dtype)
        return (lambda x, _w: module(x)), kstack
    raise ValueError(f"unknown row {key!r}")


def lietorch_module(key: str, C: int, ksize, device, dtype):
    """lietorch's erosion (``"lietorch"``) or whole CDE layer (``"lietorch-layer"``), or
    ``(None, why not)`` when lietorch does not import here."""
    try:
        import lietorch  # noqa: F401
        # lietorch 0.6-0.8 layout
        from lietorch.nn.m2 import CDEPdeLayerM2, MorphologicalConvolutionM2
    except Exception as err:  # ImportError, or lietorch 0.6.2 on a CPU-only torch (docs/method.md 5.4)
        return None, f"{type(err).__name__}: {err}".splitlines()[0][:100]
    torch.manual_seed(1)
    if key == "lietorch":
        module = MorphologicalConvolutionM2(C, ksize)
    else:
        module = CDEPdeLayerM2(C, C, tuple(ksize))
    return module.to(device=device, dtype=dtype), None


# --------------------------------------------------------------------------------------------
# measuring
# --------------------------------------------------------------------------------------------
def _proc_status_bytes(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # reported in kB
    raise RuntimeError(f"{field} not in /proc/self/status")


def _cpu_memory_child(args) -> int:
    """Hidden mode ``--memory-of ROW``: in this fresh process, run ROW's forward+backward once
    at full size and print the peak resident memory above the level just before that call.

    Kernels are compiled (or loaded) first on a tiny input, so their one-off cost is not
    counted; the full-size inputs exist before the baseline, so they are not counted either.
    """
    import gc

    device, dtype = torch.device("cpu"), getattr(torch, args.dtype)
    shape, ksize = _ints(args.shape, 5, "--shape"), _ints(args.kernel, 3, "--kernel")
    if args.threads:
        torch.set_num_threads(args.threads)
    f, kstack, grad = _inputs(shape, ksize, device, dtype)
    fn, weight = _row(args.memory_of, f, ksize, device, dtype)
    tiny = (1, shape[1], shape[2], min(shape[3], 8), min(shape[4], 8))
    ft, _, gt = _inputs(tiny, ksize, device, dtype)
    fn(ft, weight).backward(gt)
    del ft, gt
    gc.collect()
    # VmHWM is the peak RSS of this process; writing 5 to clear_refs resets it to the current
    # RSS (Linux >= 4.0). (getrusage's ru_maxrss would not do: it survives exec from the parent.)
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    before = _proc_status_bytes("VmRSS")
    fn(f, weight).backward(grad)
    peak = _proc_status_bytes("VmHWM")
    print(f"PEAK_EXTRA_BYTES {max(0, peak - before)}")
    return 0


def _cpu_memory(key: str, args) -> float:
    """Peak extra resident memory (MiB) of one row's forward+backward, from a fresh process."""
    import subprocess

    cmd = [sys.executable, os.path.abspath(__file__), "--device", "cpu", "--shape", args.shape,
           "--kernel", args.kernel, "--dtype", args.dtype, "--memory-of", key]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    for line in result.stdout.splitlines():
        if line.startswith("PEAK_EXTRA_BYTES"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time(fn, device, repeats):
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def measure(name, forward, f, kstack, grad, repeats, device):
    """First-call, forward and forward+backward times (ms) and peak extra memory (MB)."""
    def fwd():
        return forward(f, kstack)

    def fwd_bwd():
        out = forward(f, kstack)
        out.backward(grad)

    t0 = time.perf_counter()
    fwd_bwd()
    _sync(device)
    first = (time.perf_counter() - t0) * 1e3
    t_fwd = _time(fwd, device, repeats)
    t_fb = _time(fwd_bwd, device, repeats)
    f.grad = kstack.grad = None
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fwd_bwd()
        _sync(device)
        mem = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        mem = float("nan")  # filled in by the caller from a fresh process
    f.grad = kstack.grad = None
    return dict(name=name, first=first, fwd=t_fwd, fb=t_fb, mem=mem)


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------
def _ints(text: str, n: int, what: str):
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != n or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{what} must be {n} positive integers separated by commas")
    return values


def _device_name(device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip() + f" ({os.cpu_count()} logical CPUs)"
    except OSError:
        pass
    return platform.processor() or "cpu"


def _first_call_child(args) -> int:
    """Hidden mode ``--first-call-child``: time the first forward+backward of the fast path in
    this fresh process, then the steady state (median of 5)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    shape, ksize = _ints(args.shape, 5, "--shape"), _ints(args.kernel, 3, "--kernel")
    f, kstack, grad = _inputs(shape, ksize, torch.device("cpu"), getattr(torch, args.dtype))
    times = []
    for _ in range(6):
        t0 = time.perf_counter()
        erosion_m2(f, kstack).backward(grad)
        times.append(time.perf_counter() - t0)
    print(f"FIRST {times[0]:.3f} STEADY {statistics.median(times[1:]):.3f}")
    return 0


def _first_call(args) -> None:
    """Print the extra cost of the first call in a fresh process, cold and warm Numba cache."""
    import subprocess
    import tempfile

    cmd = [sys.executable, os.path.abspath(__file__), "--device", "cpu", "--shape", args.shape,
           "--kernel", args.kernel, "--dtype", args.dtype, "--first-call-child"]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    with tempfile.TemporaryDirectory(prefix="gmgan-numba-cache-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("cold (empty NUMBA_CACHE_DIR)", "warm (second fresh process)"):
            out = subprocess.run(cmd, env=env, capture_output=True, text=True).stdout.split()
            if "FIRST" not in out:
                print(f"first call, {label}: failed")
                continue
            first, steady = float(out[out.index("FIRST") + 1]), float(out[out.index("STEADY") + 1])
            print(f"first call, {label}: {first:.2f} s, steady {steady * 1e3:.0f} ms, "
                  f"extra {first - steady:.2f} s", flush=True)


ROWS = ("fast", "reference", "shift", "compile", "conv", "lietorch")
LAYER_ROWS = ("layer", "lietorch-layer")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--shape", default="64,16,8,28,28", help="B,C,Or,H,W (default 64,16,8,28,28)")
    parser.add_argument("--kernel", default="5,5,5", help="kOr,kH,kW (default 5,5,5)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16", "float64"])
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per row (default 10, 5 on CPU)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                        help="include the torch.compile'd shift loop (default: only on CUDA)")
    parser.add_argument("--memory", action=argparse.BooleanOptionalAction, default=True,
                        help="measure peak memory (on the CPU: one fresh process per row)")
    parser.add_argument("--quick", action="store_true", help="small shape (8,4,8,28,28), 3 repeats, no compile")
    parser.add_argument("--skip", default="", help="comma-separated rows to leave out: "
                        "reference,shift,compile,conv,lietorch; 'layer' leaves out the second table "
                        "(whole CDE layers)")
    parser.add_argument("--first-call", action="store_true",
                        help="CPU: also time the first forward+backward of the fast path in fresh "
                        "processes, with a cold and a warm Numba cache")
    parser.add_argument("--memory-of", default=None, choices=ROWS + LAYER_ROWS, help=argparse.SUPPRESS)
    parser.add_argument("--first-call-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.device not in ("cpu", "cuda"):
        parser.error(f"--device must be cpu or cuda, got {args.device!r}")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda given but CUDA is not available")
    if args.quick:
        args.shape = "8,4,8,28,28"
    try:
        shape = _ints(args.shape, 5, "--shape")
        ksize = _ints(args.kernel, 3, "--kernel")
    except argparse.ArgumentTypeError as err:
        parser.error(str(err))
    if args.memory_of:
        return _cpu_memory_child(args)
    if args.first_call_child:
        return _first_call_child(args)
    repeats = args.repeats or (3 if args.quick else (5 if device.type == "cpu" else 10))
    if repeats < 1:
        parser.error("--repeats must be >= 1")
    use_compile = (device.type == "cuda" and not args.quick) if args.compile is None else args.compile
    skip = {s for s in args.skip.split(",") if s}
    if skip - set(ROWS[1:] + LAYER_ROWS[:1]):
        parser.error(f"--skip takes names from {ROWS[1:] + LAYER_ROWS[:1]}, "
                     f"got {sorted(skip - set(ROWS[1:] + LAYER_ROWS[:1]))}")
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)

    B, C, Or, H, W = shape
    kOr, kH, kW = ksize
    f, kstack, grad = _inputs(shape, ksize, device, dtype)
    pairs = B * C * Or * H * W * kOr * kH * kW
    act_mb = f.numel() * f.element_size() / 2**20

    fast_backend = kernels.select_backend(f).name
    conv_label = "cuDNN" if device.type == "cuda" else "ATen/oneDNN"
    labels = {"fast": f"gmgan fast ({fast_backend})", "reference": "gmgan reference",
              "shift": "shift loop (eager)", "compile": "shift loop (torch.compile)",
              "conv": f"depthwise conv3d ({conv_label})", "lietorch": "lietorch MorphologicalConvolutionM2"}
    labels.update({"layer": "gmgan CDELayerM2", "lietorch-layer": "lietorch CDEPdeLayerM2"})
    keys = [k for k in ROWS if k not in skip and (k != "compile" or use_compile)]
    layer_keys = [] if "layer" in skip else list(LAYER_ROWS)
    lietorch_note = None
    if "lietorch" in keys or layer_keys:
        module, lietorch_note = lietorch_module("lietorch", C, ksize, device, dtype)
        if module is None:
            keys = [k for k in keys if k != "lietorch"]
            layer_keys = [k for k in layer_keys if k != "lietorch-layer"]

    print(f"# bench_morph: min-plus erosion on M2, {args.dtype}")
    print(f"command : {' '.join([os.path.basename(sys.executable)] + sys.argv)}")
    print(f"device  : {_device_name(device)}" + (f", {torch.get_num_threads()} threads" if device.type == "cpu" else ""))
    versions = f"torch {torch.__version__}, python {platform.python_version()}"
    for mod in ("numba", "triton"):
        try:
            versions += f", {mod} {__import__(mod).__version__}"
        except ImportError:
            pass
    print(f"versions: {versions}")
    if hasattr(os, "getloadavg"):
        print("load avg: {:.2f} {:.2f} {:.2f} (1/5/15 min, before the run)".format(*os.getloadavg()))
    print(f"shape   : f {tuple(shape)}, kernel stack {(C, Or, kOr, kH, kW)}; {pairs / 1e9:.3f} G add-min "
          f"pairs per erosion; activation {act_mb:.1f} MiB; {repeats} repeats (median)")
    if lietorch_note:
        print(f"lietorch: not measured ({lietorch_note})")
    if device.type == "cpu" and args.memory:
        print("memory  : peak resident set size above the level before one forward+backward, each row "
              "in a fresh process (not for torch.compile: it would recompile)")
    print(flush=True)

    compile_s = None

    def table(keys, what):
        """Measure and print one table; the ratio columns divide by its first row."""
        nonlocal compile_s
        mem_label = "peak extra MiB" + ("" if device.type == "cuda" else " (RSS)")
        header = (f"| {what:<38} | {'first call ms':>13} | {'forward ms':>10} | {'fwd+bwd ms':>10} | "
                  f"{mem_label:>20} | {'fwd / first row':>15} | {'fwd+bwd / first row':>19} |")
        print(header)
        print("|" + "|".join("-" * len(cell) for cell in header.split("|")[1:-1]) + "|", flush=True)
        first_row = None
        for key in keys:  # each row printed as soon as it is measured
            fn, weight = _row(key, f, ksize, device, dtype)
            if key == "compile":
                t0 = time.perf_counter()
                fn(f, weight).backward(grad)  # compiles the forward and backward graphs
                _sync(device)
                compile_s = time.perf_counter() - t0
                f.grad = weight.grad = None
            r = measure(labels[key], fn, f, weight, grad, repeats, device)
            if device.type == "cpu":
                r["mem"] = _cpu_memory(key, args) if args.memory and key != "compile" else float("nan")
            elif not args.memory:
                r["mem"] = float("nan")
            first_row = first_row or r
            print(f"| {r['name']:<38} | {r['first']:>13.1f} | {r['fwd']:>10.2f} | {r['fb']:>10.2f} | "
                  f"{r['mem']:>20.1f} | {r['fwd'] / first_row['fwd']:>15.2f} | "
                  f"{r['fb'] / first_row['fb']:>19.2f} |", flush=True)

    table(keys, "erosion on M2")
    if layer_keys:
        print(f"\nWhole layer: convection, dilation, erosion, linear {C}->{C}, batch norm "
              f"(train mode), kernel {tuple(ksize)}\n")
        table(layer_keys, "CDE layer")
    if args.first_call and device.type == "cpu":
        print()
        _first_call(args)
    if compile_s is not None:
        print(f"\ntorch.compile of the shift loop (forward and backward graphs, first call): {compile_s:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
