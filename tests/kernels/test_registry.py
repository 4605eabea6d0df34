"""The backend registry: one record per backend, one place that chooses (gmgan_lib.kernels)."""
from __future__ import annotations

import types
import warnings

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


# --------------------------------------------------------------------------------------------
# A GPU the Triton kernels do not run: simulated (no GPU here). The stand-in tensor has what the
# dispatcher reads of a tensor, its dtype and its device; CUDA's answers are patched in.
# --------------------------------------------------------------------------------------------
def _cuda_tensor(dtype):
    return types.SimpleNamespace(dtype=dtype, device=torch.device("cuda", 0), is_cuda=True)


@pytest.fixture
def turing_gpu(monkeypatch):
    """A Tesla T4 (compute capability 7.5), as a student's free notebook GPU."""
    pytest.importorskip("triton")
    from gmgan_lib.kernels import triton as tk
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=None: "Tesla T4")
    monkeypatch.setattr(tk, "_capability", lambda index: (7, 5))
    monkeypatch.setattr(kernels, "_warned", set())
    monkeypatch.delenv("GMGAN_BACKEND", raising=False)
    return tk


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_an_older_gpu_falls_back_to_the_reference_with_one_warning(turing_gpu, dtype):
    with pytest.warns(kernels.BackendFallbackWarning) as caught:
        for _ in range(3):                       # an operator is called again and again
            assert kernels.select_backend(_cuda_tensor(dtype)).name == "reference"
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "7.5" in message and "8.0" in message and "Tesla T4" in message
    assert "reference" in message


def test_a_supported_gpu_gets_the_triton_kernels_without_a_warning(turing_gpu, monkeypatch):
    monkeypatch.setattr(turing_gpu, "_capability", lambda index: (8, 0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for dtype in (torch.bfloat16, torch.float16, torch.float32, torch.float64):
            assert kernels.select_backend(_cuda_tensor(dtype)).name == "triton"


def test_forcing_triton_on_an_older_gpu_is_one_line_error(turing_gpu):
    with kernels.use_backend("triton"):
        with pytest.raises(kernels.BackendError) as err:
            kernels.select_backend(_cuda_tensor(torch.bfloat16))
    message = str(err.value)
    assert "\n" not in message
    assert "'triton'" in message and "7.5" in message and "GMGAN_BACKEND=reference" in message


def test_forcing_a_backend_that_does_not_run_the_dtype_is_one_line_error(monkeypatch):
    monkeypatch.delenv("GMGAN_BACKEND", raising=False)
    if not kernels.available("cpu"):
        pytest.skip("the CPU kernels are not available")
    f = torch.zeros(1, 1, 4, 3, 3, dtype=torch.float16)
    with kernels.use_backend("cpu"), pytest.raises(kernels.BackendError, match="float16"):
        kernels.select_backend(f)
    monkeypatch.setenv("GMGAN_BACKEND", "cpu")
    with pytest.raises(kernels.BackendError, match="GMGAN_BACKEND='cpu'"):
        kernels.select_backend(f)
