#!/usr/bin/env bash
# Optional anchor for benchmarks/bench_morph.py: a SEPARATE virtual environment with lietorch
# 0.6.2 (B. Smets et al.), so that the benchmark can add lietorch's row next to ours.
#
# lietorch is never a dependency of gmgan_lib:
#   * its compiled extension is tied to one torch version (0.6.x <-> torch 2.0);
#   * lietorch 0.6.2's __init__ parses torch.version.cuda, which is None on CPU-only torch
#     builds, so it needs the default (CUDA) torch 2.0.1 wheel even to run on the CPU: the
#     download is several GB (nvidia-* wheels);
#   * the PyPI name "lietorch" collides with princeton-vl/lietorch (SE3/Sim3 for SLAM).
# See /work/shared/design/method.md 5.2-5.4 and docs/performance.md.
#
# Usage:  scripts/lietorch_env.sh [VENV_DIR]      (default: ~/.cache/gmgan/venv-lietorch, outside the repo)
#         VENV_DIR/bin/python benchmarks/bench_morph.py --device cpu --threads 2
# Needs a Python for which torch 2.0.1 has wheels (3.8 - 3.11): set PYTHON=python3.11 if needed.
# lietorch's backward needs a contiguous incoming gradient; the benchmark passes one.
set -euo pipefail

VENV="${1:-$HOME/.cache/gmgan/venv-lietorch}"
PYTHON="${PYTHON:-python3}"
cd "$(dirname "$0")/.."

"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --upgrade pip
# numba: the project's pin (it supports numpy 1.26); numba 0.60, what pip would otherwise pick
# next to numpy<2, runs our CPU kernel 7x slower (docs/performance.md).
NUMBA_PIN="$(grep -E '^numba==' requirements/lock.txt)"
"$VENV/bin/pip" install "torch==2.0.1" "lietorch==0.6.2.post1" "numpy<2" "$NUMBA_PIN" scipy
# gmgan_lib itself, without letting pip replace torch 2.0.1 by the project's newer pin.
"$VENV/bin/pip" install --no-deps -e .
# Fail loudly here rather than silently dropping the row in the benchmark.
"$VENV/bin/python" - <<'EOF'
import torch
import lietorch  # noqa: F401
from lietorch.nn.m2 import MorphologicalConvolutionM2

x = torch.rand(2, 3, 8, 12, 12, requires_grad=True)
m = MorphologicalConvolutionM2(3, (5, 5, 5))
m(x).backward(torch.ones(2, 3, 8, 12, 12))
print("lietorch", getattr(lietorch, "__version__", "?"), "works with torch", torch.__version__)
EOF
echo "Now run: $VENV/bin/python benchmarks/bench_morph.py --device cpu --threads 2"
