"""The Numba convection kernels against the plane-copy reference of gmgan_lib.nn.convection.

(tests/nn/test_convection.py also runs all its mathematical tests on this backend.)
"""
from __future__ import annotations

import pytest
import torch

from gmgan_lib import kernels
from gmgan_lib.kernels import cpu
from gmgan_lib.nn import CDELayerM2, functional as gf

from convection_cases import assert_bad_tables_rejected, both, case as _case, value_and_grads as _value_and_grads

pytestmark = pytest.mark.skipif(not cpu.is_available(), reason="numba is not installed")


def _both(fn, *args):
    return both("cpu", fn, *args)


@pytest.mark.parametrize("shape", [
    (2, 3, 4, 7, 6),
    (1, 2, 8, 28, 28),
    (2, 2, 1, 5, 9),       # Or = 1: the R2 case
    (1, 3, 6, 5, 4),       # Or not a power of two
    (1, 1, 4, 1, 1),       # 1x1 images: every shift leaves the image
])
def test_equals_reference_float64(shape):
    f, g0, w = _case(shape, seed=sum(shape))
    plain, fast = _both(_value_and_grads, f, g0, w)
    for a, b in zip(plain, fast):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-12)


def test_equals_reference_float32_with_far_shifts():
    f, g0, w = _case((2, 4, 8, 9, 11), seed=1, dtype=torch.float32, spread=20.0)  # some off-image
    plain, fast = _both(_value_and_grads, f, g0, w)
    for a, b in zip(plain, fast):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5 * (1 + a.abs().max().item()))


def test_zero_shift_is_exactly_the_identity():
    f = torch.randn(2, 3, 4, 5, 6)
    with kernels.use_backend("cpu"):
        assert torch.equal(gf.convection_m2(f, torch.zeros(3, 3)), f)


def test_gradcheck_float64():
    torch.manual_seed(3)
    f = torch.randn(1, 2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    g0 = torch.tensor([[0.3, -0.45, 0.2], [-1.7, 0.15, -2.9]], dtype=torch.float64, requires_grad=True)
    with kernels.use_backend("cpu"):
        assert torch.autograd.gradcheck(gf.convection_m2, (f, g0), atol=1e-6)


def test_results_do_not_depend_on_the_thread_count():
    f, g0, w = _case((8, 8, 8, 28, 28), seed=5, dtype=torch.float32)
    before = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            with kernels.use_backend("cpu"):
                results.append(_value_and_grads(f, g0, w))
    finally:
        torch.set_num_threads(before)
    for a, b in zip(*results):
        assert torch.equal(a, b)


def test_only_the_needed_gradients_and_an_expanded_incoming_gradient():
    f, g0, _ = _case((1, 2, 4, 5, 6), seed=4)
    with kernels.use_backend("cpu"):
        got, = torch.autograd.grad(gf.convection_m2(f.detach(), g0).sum(), (g0,))
    with kernels.use_backend("reference"):
        want, = torch.autograd.grad(gf.convection_m2(f.detach(), g0).sum(), (g0,))
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


def test_cde_layer_agrees_on_both_paths():
    torch.manual_seed(6)
    layer = CDELayerM2(2, 3, kernel_size=(3, 3, 3)).double()
    with torch.no_grad():
        layer.convection.g0.copy_(torch.tensor([[0.6, -1.3, 0.5], [2.2, 0.4, -1.0]]))
    f = torch.randn(2, 2, 4, 6, 6, dtype=torch.float64)
    plain, fast = _both(layer, f)
    torch.testing.assert_close(fast, plain, rtol=0, atol=1e-10)


def test_bad_tables_are_rejected_with_their_name():
    from gmgan_lib.kernels import cpu_convection as cc
    assert_bad_tables_rejected(cc)
    f = torch.zeros(1, 2, 4, 5, 5)
    tables = dict(theta_w=torch.zeros(2, 2).half(), space_w=torch.zeros(2, 4, 4).half(),
                  kt=torch.zeros(2, dtype=torch.int64), rows=torch.zeros(2, 4, dtype=torch.int64),
                  cols=torch.zeros(2, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match="float32 or float64"):
        cc.trilinear_shift_forward(f.half(), **tables)
