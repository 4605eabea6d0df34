#!/usr/bin/env bash
# A learning curve: train in SEGMENTS sessions of MINUTES each (resumed bit-exactly), evaluate
# the generator after every session, and write runs/exp/NAME/curve.csv.
#
#   scripts/experiment_curve.sh NAME SEGMENTS MINUTES [train arguments ...]
#   scripts/experiment_curve.sh gm-10m 5 2 --model gmgan          # FID_MNIST at 2, 4, ... 10 min
#
# Same protocol as scripts/experiment.sh (batch 64, one torch and Numba thread, N = 10,000, one
# sampling seed); the budget counts training time only, so the sessions add up to exactly what
# one run of SEGMENTS x MINUTES would train (resume is bit-exact: tests/test_train.py).
# curve.csv: minutes (training wall clock), steps, fid, kl, mnist_score, precision, recall.
# `python scripts/experiment_row.py runs/exp/NAME` then gives the row of the final generator.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 3 ]; then
  echo "usage: scripts/experiment_curve.sh NAME SEGMENTS MINUTES [train arguments ...]" >&2
  exit 2
fi
name=$1 segments=$2 minutes=$3
shift 3
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$PWD/.numba_cache}"
PY=${PYTHON:-.venv/bin/python}
out=runs/exp/$name
if [ -e "$out/checkpoint.pt" ]; then
  echo "error: $out already holds a run; remove it or choose another NAME" >&2
  exit 2
fi
mkdir -p "$out/snapshots"
log=runs/exp/$name.log
: > "$log"
for s in $(seq 1 "$segments"); do
  "$PY" -m gmgan_lib train --batch-size 64 --max-minutes "$minutes" --device cpu --log-every 50 \
    --checkpoint-every 100000 --epochs 100 --out "$out" --resume "$@" >> "$log" 2>&1
  cp "$out/checkpoint.pt" "$out/snapshots/$s.pt"
done
echo "minutes,steps,fid,kl,mnist_score,precision,recall" > "$out/curve.csv.part"
for s in $(seq 1 "$segments"); do
  "$PY" -m gmgan_lib evaluate --checkpoint "$out/snapshots/$s.pt" --n 10000 --seeds 1 \
    --out "$out/eval-$s" >> "$log" 2>&1
  "$PY" - "$out/snapshots/$s.pt" "$out/eval-$s/eval.json" >> "$out/curve.csv.part" <<'EOF'
import json, sys
from gmgan_lib.checkpoint import load_checkpoint
state = load_checkpoint(sys.argv[1])
m = json.load(open(sys.argv[2]))["per_seed"][0]
print(f"{state['seconds'] / 60:.2f},{state['step']},{m['fid']:.1f},{m['kl']:.4f},"
      f"{m['mnist_score']:.3f},{m['precision']:.3f},{m['recall']:.3f}")
EOF
done
mv "$out/curve.csv.part" "$out/curve.csv"
mkdir -p "$out/eval" && cp "$out/eval-$segments/eval.json" "$out/eval/eval.json"
cat "$out/curve.csv"
