"""The fused dilation-then-erosion CPU kernel against the two operators it replaces.

Integer-valued maps and kernels make equal candidate sums common, so the tie rule (smallest
offset ``n`` wins) is exercised at both stages; with an integer-valued ``grad_out`` every partial
sum is an exactly representable integer, so the gradients must agree exactly too.
"""
from __future__ import annotations

import pytest
import torch

from gmgan_lib import kernels
from gmgan_lib.kernels import cpu, cpu_fused
from gmgan_lib.nn.functional import dilation_erosion_m2, dilation_m2, erosion_m2

pytestmark = pytest.mark.skipif(not cpu.is_available(), reason="numba is not installed")

CASES = [  # f shape, dilation kernel size, erosion kernel size
    ((16, 3, 4, 5, 6), (3, 3, 3), (3, 3, 3)),
    ((17, 2, 8, 7, 7), (1, 3, 3), (3, 5, 5)),   # odd batch: the vector loops' remainders
    ((16, 1, 1, 4, 9), (1, 1, 5), (1, 3, 1)),   # R2 as the case Or = 1
    ((32, 2, 4, 14, 14), (3, 3, 3), (3, 3, 3)),
    ((16, 1, 4, 6, 6), (3, 11, 11), (1, 3, 3)),  # 363 offsets: an int16 index; most read outside
]


def integer_case(shape, kd, ke, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    C, Or = shape[1], shape[2]
    f = torch.randint(-4, 5, shape, generator=g).to(dtype)
    k_dil = torch.randint(0, 3, (C, Or, *kd), generator=g).to(dtype)
    k_ero = torch.randint(0, 3, (C, Or, *ke), generator=g).to(dtype)
    return f, k_dil, k_ero


def composed(f, k_dil, k_ero):
    d, i_dil = cpu.erosion_forward(f, k_dil, True, negate=True)
    out, i_ero = cpu.erosion_forward(d, k_ero, True)
    return d, out, i_dil, i_ero


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape,kd,ke", CASES)
def test_forward_is_the_composition_bit_for_bit(shape, kd, ke, dtype):
    f, k_dil, k_ero = integer_case(shape, kd, ke, dtype)
    out, i_dil, i_ero = cpu_fused.dilation_erosion_forward(f, k_dil, k_ero, True)
    _, expected, e_dil, e_ero = composed(f, k_dil, k_ero)
    assert torch.equal(out, expected)
    # the indices are kept batch innermost, [C, Or, H, W, B]
    assert torch.equal(i_dil, e_dil.permute(1, 2, 3, 4, 0))
    assert torch.equal(i_ero, e_ero.permute(1, 2, 3, 4, 0))
    value_only, none_dil, none_ero = cpu_fused.dilation_erosion_forward(f, k_dil, k_ero, False)
    assert torch.equal(value_only, expected) and none_dil is None and none_ero is None


def test_forward_on_random_floats_is_the_composition():
    g = torch.Generator().manual_seed(1)
    f = torch.randn(64, 4, 4, 7, 7, generator=g)
    k_dil = torch.rand(4, 4, 3, 3, 3, generator=g) * 2
    k_ero = torch.rand(4, 4, 3, 3, 3, generator=g) * 2
    out, _, _ = cpu_fused.dilation_erosion_forward(f, k_dil, k_ero, True)
    assert torch.equal(out, composed(f, k_dil, k_ero)[1])


@pytest.mark.parametrize("shape,kd,ke", CASES)
def test_backward_is_the_composition_exactly(shape, kd, ke):
    f, k_dil, k_ero = integer_case(shape, kd, ke, torch.float64, seed=2)
    grad_out = torch.randint(-3, 4, shape, generator=torch.Generator().manual_seed(3)).double()
    _, i_dil, i_ero = cpu_fused.dilation_erosion_forward(f, k_dil, k_ero, True)
    grad_f, grad_kd, grad_ke = cpu_fused.dilation_erosion_backward(
        grad_out, i_dil, i_ero, k_dil.shape, k_ero.shape)
    d, _, e_dil, e_ero = composed(f, k_dil, k_ero)
    grad_d, expected_ke = cpu.erosion_backward(grad_out, e_ero, d.shape, k_ero.shape)
    expected_f, expected_kd = cpu.erosion_backward(grad_d, e_dil, f.shape, k_dil.shape)
    assert torch.equal(grad_f, expected_f)
    assert torch.equal(grad_kd, -expected_kd)   # the dilation's kernel enters with a minus
    assert torch.equal(grad_ke, expected_ke)
    only_f, none_kd, none_ke = cpu_fused.dilation_erosion_backward(
        grad_out, i_dil, i_ero, k_dil.shape, k_ero.shape, need_grad_k=False)
    assert torch.equal(only_f, expected_f) and none_kd is None and none_ke is None


def test_results_do_not_depend_on_the_thread_count():
    f, k_dil, k_ero = integer_case((64, 8, 4, 14, 14), (3, 3, 3), (3, 3, 3), torch.float32)
    f = f + torch.rand(f.shape, generator=torch.Generator().manual_seed(4))
    grad_out = torch.randn(f.shape, generator=torch.Generator().manual_seed(5))
    results = []
    previous = torch.get_num_threads()
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            out, i_dil, i_ero = cpu_fused.dilation_erosion_forward(f, k_dil, k_ero, True)
            grads = cpu_fused.dilation_erosion_backward(grad_out, i_dil, i_ero, k_dil.shape,
                                                        k_ero.shape)
            results.append((out, *grads))
    finally:
        torch.set_num_threads(previous)
    for other in results[1:]:
        assert all(torch.equal(a, b) for a, b in zip(results[0], other))


def test_backward_refuses_a_foreign_index():
    f, k_dil, k_ero = integer_case((16, 2, 4, 5, 5), (3, 3, 3), (3, 3, 3), torch.float32)
    _, i_dil, i_ero = cpu_fused.dilation_erosion_forward(f, k_dil, k_ero, True)
    g = torch.ones(f.shape)
    with pytest.raises(ValueError, match=r"index_dil must be torch.uint8 of shape \[C, Or, H, W, B\]"):
        cpu_fused.dilation_erosion_backward(g, i_dil.permute(4, 0, 1, 2, 3), i_ero, k_dil.shape,
                                            k_ero.shape)
    with pytest.raises(ValueError, match=r"index_ero values must lie in \[0, 27\)"):
        cpu_fused.dilation_erosion_backward(g, i_dil, torch.full_like(i_ero, 27), k_dil.shape,
                                            k_ero.shape)
    with pytest.raises(ValueError, match="kstack must be"):
        cpu_fused.dilation_erosion_forward(f, k_dil[:1], k_ero, True)


# ------------------------------------------------------------------ the operator that uses it


def test_operator_takes_the_fused_path_and_matches_the_composition(monkeypatch):
    calls = []
    forward = cpu_fused.dilation_erosion_forward
    monkeypatch.setattr(cpu_fused, "dilation_erosion_forward",
                        lambda *a: calls.append(a[0].shape) or forward(*a))
    kernels.get_backend.cache_clear()
    try:
        g = torch.Generator().manual_seed(6)
        f = torch.randn(16, 2, 4, 6, 6, generator=g, requires_grad=True)
        k_dil = (torch.rand(2, 4, 3, 3, 3, generator=g) * 2).requires_grad_()
        k_ero = (torch.rand(2, 4, 3, 3, 3, generator=g) * 2).requires_grad_()
        out = dilation_erosion_m2(f, k_dil, k_ero)
        assert calls == [f.shape]
        grad_out = torch.randn(out.shape, generator=g)
        grads = torch.autograd.grad(out, (f, k_dil, k_ero), grad_out)
        expected = erosion_m2(dilation_m2(f, k_dil), k_ero)
        expected_grads = torch.autograd.grad(expected, (f, k_dil, k_ero), grad_out)
        assert torch.equal(out, expected)
        assert torch.equal(grads[0], expected_grads[0])
        for a, b in zip(grads[1:], expected_grads[1:]):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-5)
        # small batches, infinite values: the composition (with its dead-output rule)
        calls.clear()
        dilation_erosion_m2(f[:8], k_dil, k_ero)
        f_inf = f.detach().clone()
        f_inf[0, 0, 0, 0, 0] = float("inf")
        torch.testing.assert_close(dilation_erosion_m2(f_inf, k_dil, k_ero),
                                   erosion_m2(dilation_m2(f_inf, k_dil), k_ero))
        assert calls == []
    finally:
        kernels.get_backend.cache_clear()


def test_operator_names_nan_in_f():
    f = torch.zeros(16, 1, 4, 5, 5)
    f[3, 0, 1, 2, 2] = float("nan")
    k = torch.zeros(1, 4, 3, 3, 3)
    with pytest.raises(ValueError, match="f contains NaN"):
        dilation_erosion_m2(f, k, k)


def test_fused_gradients_against_float64_gradcheck():
    g = torch.Generator().manual_seed(7)
    f = torch.randn(16, 1, 2, 3, 3, dtype=torch.float64, generator=g, requires_grad=True)
    k_dil = (torch.rand(1, 2, 3, 3, 3, dtype=torch.float64, generator=g) * 2).requires_grad_()
    k_ero = (torch.rand(1, 2, 3, 3, 3, dtype=torch.float64, generator=g) * 2).requires_grad_()
    assert cpu_fused.supports_pair(f)
    assert torch.autograd.gradcheck(dilation_erosion_m2, (f, k_dil, k_ero), eps=1e-6, atol=1e-5)


def test_operator_falls_back_when_finite_inputs_overflow():
    # |f| near float32's largest value: f - k and then d + k overflow to -inf / +inf, some
    # outputs have no winner, and only the composition's rule (no gradient there) is right.
    f = torch.full((16, 1, 4, 3, 3), -3.0e38, requires_grad=True)
    k = torch.full((1, 4, 3, 3, 3), 3.0e38)
    k[:, :, 1, 1, 1] = 3.0e38
    out = dilation_erosion_m2(f, k, k)
    expected = erosion_m2(dilation_m2(f, k), k)
    assert torch.equal(out, expected) and not torch.isfinite(out).all()
    g = torch.ones(out.shape)
    assert torch.equal(torch.autograd.grad(out, f, g)[0], torch.autograd.grad(expected, f, g)[0])
