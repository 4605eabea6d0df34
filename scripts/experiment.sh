#!/usr/bin/env bash
# One line of docs/experiments.md: train for a CPU budget on one thread, then evaluate.
#
#   scripts/experiment.sh NAME MINUTES [train arguments ...]
#   scripts/experiment.sh gm-4m 4 --model gmgan
#   scripts/experiment.sh gan-sn-4m 4 --model gan --spectral-norm --loss hinge
#
# A learning curve of one session (scripts/experiment_curve.sh NAME 1 MINUTES ...): trains into
# runs/exp/NAME (batch 64, seed 0, full MNIST, one torch and Numba thread, so two runs side by
# side share a 2-core machine fairly), evaluates the final generator with the project's protocol
# at N = 10,000 (one sampling seed) into runs/exp/NAME/eval/eval.json, and logs both to
# runs/exp/NAME.log. `python scripts/experiment_row.py runs/exp/NAME` then prints the table row
# and writes the sample strip docs/img/experiments/NAME.png.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: scripts/experiment.sh NAME MINUTES [train arguments ...]" >&2
  exit 2
fi
name=$1 minutes=$2
shift 2
exec "$(dirname "$0")/experiment_curve.sh" "$name" 1 "$minutes" "$@"
