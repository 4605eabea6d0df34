"""The fused Triton convection kernels against the plane-copy formulation of gmgan_lib.nn.convection.

As in test_triton.py: without a GPU the kernels run under Triton's interpreter, which needs
``TRITON_INTERPRET=1`` before triton's first import, so one test re-runs, in a fresh process,
this file and the mathematical convection tests of tests/nn/test_convection.py with the Triton
backend forced (``GMGAN_BACKEND=triton``): identity, exact shifts and rolls, interpolation,
equivariance, agreement with ``F.grid_sample`` and its gradients all then test the fused path.
"""
from __future__ import annotations

import os

import pytest
import torch

from gmgan_lib import kernels
from gmgan_lib.kernels import triton as tk
from gmgan_lib.nn import CDELayerM2, functional as gf

from convection_cases import assert_bad_tables_rejected, both, case, value_and_grads as _value_and_grads

from triton_env import CUDA, DEVICE, run_interpreted, runs_kernels

HERE = os.path.dirname(os.path.abspath(__file__))
CONVECTION_TESTS = os.path.join(HERE, "..", "nn", "test_convection.py")


def test_interpreted_suite_in_a_fresh_process():
    """This file and tests/nn/test_convection.py under TRITON_INTERPRET=1 with the Triton backend
    forced. (The big gradcheck there takes minutes interpreted: this file has a smaller one.)"""
    run_interpreted([__file__, CONVECTION_TESTS], min_passed=20, env={"GMGAN_BACKEND": "triton"},
                    pytest_args=("-k", "not test_gradcheck_convection"))


def _both(fn, *args):
    return both("triton", fn, *args)


def _case(shape, seed, dtype=torch.float64, spread=4.5):
    return case(shape, seed, dtype, spread, device=DEVICE)


@runs_kernels
@pytest.mark.parametrize("shape", [
    (2, 3, 4, 7, 6),
    (1, 1, 3, 20, 70),     # several tiles per plane in both directions
    (2, 2, 1, 5, 9),       # Or = 1: the R2 case
    (1, 3, 6, 5, 4),       # Or not a power of two
])
def test_fused_equals_plane_copies_float64(shape):
    f, g0, w = _case(shape, seed=sum(shape))
    plain, fused = _both(_value_and_grads, f, g0, w)
    for a, b in zip(plain, fused):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-12)


@runs_kernels
def test_fused_equals_plane_copies_float32_and_far_shifts():
    f, g0, w = _case((2, 4, 4, 9, 11), seed=1, dtype=torch.float32, spread=20.0)  # some off-image
    plain, fused = _both(_value_and_grads, f, g0, w)
    for a, b in zip(plain, fused):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


def _tables(C, Or, seed, dtype):
    """Random valid inputs of TrilinearShift: weights that sum to 1, integer shift tables."""
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(C, 1, generator=g)
    theta_w = torch.cat([1 - a, a], dim=1)
    fy, fx = torch.rand(C, Or, generator=g), torch.rand(C, Or, generator=g)
    space_w = torch.stack([(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx], dim=-1)
    kt = torch.randint(-9, 9, (C,), generator=g)
    rows, cols = torch.randint(-3, 3, (C, Or), generator=g), torch.randint(-3, 3, (C, Or), generator=g)
    return [t.to(DEVICE, dtype) for t in (theta_w, space_w)] + [t.to(DEVICE) for t in (kt, rows, cols)]


@runs_kernels
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_accumulates_in_float32(dtype):
    """Half-precision inputs: the kernels accumulate in float32 and round once at the end, so
    they agree with the float32 computation on the same (half-representable) numbers to about
    one rounding of the result."""
    from gmgan_lib.kernels import triton_convection as tc
    from gmgan_lib.nn.convection import TrilinearShift
    g = torch.Generator().manual_seed(2)
    f = torch.randn(2, 3, 4, 6, 5, generator=g).to(DEVICE, dtype)
    grad = torch.randn(f.shape, generator=g).to(DEVICE, dtype)
    tw, sw, kt, rows, cols = _tables(3, 4, seed=2, dtype=dtype)
    out = tc.trilinear_shift_forward(f, tw, sw, kt, rows, cols)
    grads = tc.trilinear_shift_backward(grad, f, tw, sw, kt, rows, cols)
    f32 = [t.float().requires_grad_() for t in (f, tw, sw)]
    with kernels.use_backend("reference"):
        want = TrilinearShift.apply(*f32, kt, rows, cols)
        want_grads = torch.autograd.grad(want, f32, grad.float())
    eps = torch.finfo(dtype).eps
    assert out.dtype == dtype and all(t.dtype == dtype for t in grads)
    torch.testing.assert_close(out.float(), want.detach(), rtol=eps, atol=eps * 4)
    for got, exp in zip(grads, want_grads):
        torch.testing.assert_close(got.float(), exp, rtol=eps, atol=eps * (1 + exp.abs().max().item()))


@runs_kernels
def test_zero_shift_is_exactly_the_identity():
    f = torch.randn(2, 3, 4, 5, 6, device=DEVICE)
    with kernels.use_backend("triton"):
        assert torch.equal(gf.convection_m2(f, torch.zeros(3, 3, device=DEVICE)), f)


@runs_kernels
def test_gradcheck_fused_float64():
    torch.manual_seed(3)
    f = torch.randn(1, 2, 3, 4, 4, dtype=torch.float64, device=DEVICE, requires_grad=True)
    # Away from kinks: no sample position lands on a grid line.
    g0 = torch.tensor([[0.3, -0.45, 0.2], [-1.7, 0.15, -2.9]], dtype=torch.float64, device=DEVICE,
                      requires_grad=True)
    with kernels.use_backend("triton"):
        # fast_mode: random projections instead of the full Jacobian (the interpreter is slow)
        assert torch.autograd.gradcheck(gf.convection_m2, (f, g0), atol=1e-6, fast_mode=True)


@runs_kernels
def test_only_the_needed_gradients_and_any_grad_strides():
    f, g0, _ = _case((1, 2, 4, 5, 6), seed=4)
    with kernels.use_backend("triton"):
        out = gf.convection_m2(f.detach(), g0)          # f frozen: only g0's gradient
        expanded, = torch.autograd.grad(out.sum(), (g0,))   # grad_out is an expanded 1
    with kernels.use_backend("reference"):
        want, = torch.autograd.grad(gf.convection_m2(f.detach(), g0).sum(), (g0,))
    torch.testing.assert_close(expanded, want, rtol=0, atol=1e-12)


@runs_kernels
def test_cde_layer_runs_fused_and_agrees():
    torch.manual_seed(5)
    layer = CDELayerM2(2, 3, kernel_size=(3, 3, 3)).double().to(DEVICE)
    with torch.no_grad():
        layer.convection.g0.copy_(torch.tensor([[0.6, -1.3, 0.5], [2.2, 0.4, -1.0]]))
    f = torch.randn(2, 2, 4, 6, 6, dtype=torch.float64, device=DEVICE)
    plain, fused = _both(layer, f)
    torch.testing.assert_close(fused, plain, rtol=0, atol=1e-10)


# --------------------------------------------------------------------------------------------
# no kernels needed
# --------------------------------------------------------------------------------------------
@pytest.mark.skipif(tk.triton is None, reason="triton is not installed")
def test_bad_tables_are_rejected_with_their_name():
    from gmgan_lib.kernels import triton_convection as tc
    assert_bad_tables_rejected(tc)


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_a_training_step_of_a_layer_never_waits_for_the_host():
    """Forward and backward of a CDE layer on CUDA with synchronising calls made errors."""
    layer = CDELayerM2(16, 16).cuda()
    f = torch.randn(8, 16, 8, 28, 28, device="cuda")
    layer(f).sum().backward()                   # compiles the kernels (may synchronise)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        layer(f).sum().backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
