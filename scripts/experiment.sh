#!/usr/bin/env bash
# One line of docs/experiments.md: train for a CPU budget on one thread, then evaluate.
#
#   scripts/experiment.sh NAME MINUTES [train arguments ...]
#   scripts/experiment.sh gm-4m 4 --model gmgan
#   scripts/experiment.sh gan-sn-4m 4 --model gan --spectral-norm --loss hinge
#
# Trains into runs/exp/NAME (batch 64, seed 0, full MNIST, one torch and Numba thread, so two
# runs side by side share a 2-core machine fairly), evaluates the final generator with the
# project's protocol at N = 10,000 (one sampling seed) into runs/exp/NAME/eval/eval.json, and
# logs both to runs/exp/NAME.log. `python scripts/experiment_row.py runs/exp/NAME` then prints
# the table row and writes the sample strip docs/img/experiments/NAME.png.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then
  echo "usage: scripts/experiment.sh NAME MINUTES [train arguments ...]" >&2
  exit 2
fi
name=$1 minutes=$2
shift 2
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$PWD/.numba_cache}"
PY=${PYTHON:-.venv/bin/python}
out=runs/exp/$name
if [ -e "$out/checkpoint.pt" ]; then
  echo "error: $out already holds a run; remove it or choose another NAME" >&2
  exit 2
fi
mkdir -p runs/exp
"$PY" -m gmgan_lib train --batch-size 64 --max-minutes "$minutes" --device cpu --log-every 50 \
  --checkpoint-every 100000 --epochs 100 --out "$out" "$@" > "runs/exp/$name.log" 2>&1
"$PY" -m gmgan_lib evaluate --checkpoint "$out/checkpoint.pt" --n 10000 --seeds 1 \
  --out "$out/eval" >> "runs/exp/$name.log" 2>&1
tail -n 4 "runs/exp/$name.log"
