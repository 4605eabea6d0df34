"""Where the Triton tests can run, shared by test_triton.py and test_triton_convection.py.

Triton's interpreter only works when ``TRITON_INTERPRET=1`` is set before triton is first
imported, so without a GPU each Triton test file re-runs itself in a fresh process with the
variable set (:func:`run_interpreted`); inside that process, or on a CUDA machine, the kernel
tests (marked with :data:`runs_kernels`) run directly.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import torch

from gmgan_lib.kernels import triton as tk

INTERPRETED = tk.triton is not None and tk._INTERPRETED
CUDA = torch.cuda.is_available() and not INTERPRETED
DEVICE = "cuda" if CUDA else "cpu"
runs_kernels = pytest.mark.skipif(
    not (INTERPRETED or CUDA),
    reason="Triton kernels need CUDA or TRITON_INTERPRET=1 (covered by the subprocess test)")


def run_interpreted(paths, min_passed: int, env=None, pytest_args=()) -> None:
    """Run pytest on ``paths`` in a fresh process under ``TRITON_INTERPRET=1`` (plus ``env``) and
    assert it passed with at least ``min_passed`` tests, so that the kernels really ran."""
    if INTERPRETED or CUDA:
        pytest.skip("the kernel tests run directly in this process")
    if tk.triton is None:
        pytest.skip("triton is not installed")
    full_env = dict(os.environ, TRITON_INTERPRET="1", OMP_NUM_THREADS="1", **(env or {}))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *paths, "-q", "-p", "no:cacheprovider", "-m", "not gpu",
         *pytest_args],
        env=full_env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    passed = re.search(r"(\d+) passed", result.stdout)
    assert passed and int(passed.group(1)) >= min_passed, result.stdout[-2000:]
