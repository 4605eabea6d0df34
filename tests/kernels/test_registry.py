"""The backend registry: one record per backend, one place that chooses (gmgan_lib.kernels)."""
from __future__ import annotations

import pytest
import torch

from gmgan_lib import kernels
from gmgan_lib.nn import convection


def test_every_registered_backend_is_a_complete_record():
    for name in kernels.BACKENDS:
        if not kernels.available(name):
            continue
        backend = kernels.get_backend(name)
        assert backend.name == name
        assert callable(backend.erosion_forward) and callable(backend.erosion_backward)
        # the fused convection kernels come in pairs; the reference has none (plane copies)
        assert (backend.shift_forward is None) == (backend.shift_backward is None)
        assert (backend.shift_forward is None) == (name == "reference")


def test_unknown_backend_names_the_valid_ones():
    with pytest.raises(ValueError, match="reference"):
        kernels.get_backend("cuda")
    with pytest.raises(ValueError, match="backend must be one of"):
        with kernels.use_backend("numpy"):
            pass


def test_one_choice_serves_erosion_and_convection():
    f = torch.zeros(1, 1, 4, 3, 3)
    with kernels.use_backend("reference"):
        assert kernels.select_backend(f).name == "reference"
        assert convection._fused_backend(f) is None            # the plane copies run
    if kernels.available("cpu"):
        with kernels.use_backend("cpu"):
            assert convection._fused_backend(f) is kernels.get_backend("cpu")
    # automatic: half precision on the CPU has no fast path but the reference (or Triton when
    # interpreted), never the Numba kernels
    assert kernels.select_backend(f.half()).name in ("reference", "triton")
