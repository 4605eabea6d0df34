#!/usr/bin/env bash
# Everything this repository still has to measure on a GPU, in one go (issues 4, 5 and 8 list
# them): the full-size GPU tests, the kernel benchmark beside torch.compile and cuDNN, and the
# training step beside the DCGAN's, eager and compiled. Every output goes to one log per part in
# OUT_DIR, so the figures can be copied into docs/performance.md and docs/results.md with the
# device, versions and command that produced them.
#
# Usage:  scripts/gpu_check.sh [OUT_DIR]      (default: runs/gpu-check)
# About 10 minutes on an H100 (the torch.compile rows dominate). Needs CUDA; stops at once
# without it. Parts run in order and a failing part does not stop the next one; the exit status
# is non-zero if any part failed.
set -uo pipefail

OUT="${1:-runs/gpu-check}"
cd "$(dirname "$0")/.."
mkdir -p "$OUT"
PY="${PYTHON:-python}"

if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_check: no CUDA device visible to $PY; nothing to measure" >&2
    exit 2
fi

status=0
part() {  # part NAME COMMAND...: run, tee into OUT/NAME.log, remember a failure
    local name="$1"; shift
    echo "== $name: $*" | tee "$OUT/$name.log"
    "$@" 2>&1 | tee -a "$OUT/$name.log"
    local rc=${PIPESTATUS[0]}
    echo "== $name: exit $rc" | tee -a "$OUT/$name.log"
    [ "$rc" -eq 0 ] || status=1
}

{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null
  "$PY" -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__)"
  git rev-parse --short HEAD 2>/dev/null; } | tee "$OUT/device.txt"

# 1. Correctness at full size on the GPU (Triton erosion and convection against the reference,
#    all dtypes; a CDE layer's step with host synchronisations turned into errors).
part tests "$PY" -m pytest -q tests/kernels -p no:cacheprovider   # on CUDA the kernel tests run directly
# 2. The min-plus convolution beside the shift loop (eager and torch.compile) and cuDNN.
part bench_morph "$PY" benchmarks/bench_morph.py --device cuda
part bench_morph_bf16 "$PY" benchmarks/bench_morph.py --device cuda --dtype bfloat16 --no-compile --skip layer
# 3. A training step at batch 64, GM-GAN beside DCGAN: eager, then compiled with CUDA graphs.
part bench_train "$PY" benchmarks/bench_train.py --device cuda --steps 50 --warmup 10
part bench_train_graphs "$PY" benchmarks/bench_train.py --device cuda --steps 50 --warmup 10 \
    --compile --compile-mode reduce-overhead

echo "gpu_check: logs in $OUT (overall exit $status)"
exit $status
