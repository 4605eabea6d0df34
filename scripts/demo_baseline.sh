#!/usr/bin/env bash
# The DCGAN trained exactly like `make demo` trains GM-GAN (same budget, batch, seed, threads,
# learning rate and Adam betas as gmgan_lib/demo.py's DEMO_LR, DEMO_BETAS),
# then evaluated the same way: the picture beside the demo's in the README.
#
#   scripts/demo_baseline.sh [OUT] [MINUTES] [LR]   # defaults: runs/demo-gan, 5, 4e-4 (as make demo)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/demo-gan}
minutes=${2:-5}
lr=${3:-4e-4}
PY=${PYTHON:-.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} GOMP_SPINCOUNT=${GOMP_SPINCOUNT:-3000}  # as the Makefile
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$PWD/.numba_cache}"
rm -rf "$out"
"$PY" -m gmgan_lib train --model gan --dataset mnist --batch-size 64 --epochs 100 --seed 0 --lr "$lr" \
  --beta1 0.0 --beta2 0.9 \
  --device cpu --max-minutes "$minutes" --checkpoint-every 100 --log-every 10 --out "$out"
"$PY" -m gmgan_lib evaluate --checkpoint "$out/checkpoint.pt" --n 10000 --seeds 1 --out "$out/eval"
