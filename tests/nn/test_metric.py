"""Distances and Hopf-Lax kernels on R2 and M2: values, bounds, symmetries, exact quarter turns."""
from __future__ import annotations

import math

import pytest
import torch

from gmgan_lib.nn import functional as gf
from gmgan_lib.nn.metric import (SUB_RIEMANNIAN_NU, distance_m2, m2_offsets, metric_init_range,
                                 orientation_cos_sin)

f64 = torch.float64
DISTANCES = ["logarithmic", "half_angle", "sub_riemannian", "combined"]


def test_beta_is_the_conjugate_exponent():
    for alpha in (0.55, 0.65, 0.75, 1.0):
        beta = gf.beta_of_alpha(alpha)
        assert 1 / (2 * alpha) + 1 / beta == pytest.approx(1.0)
    assert gf.beta_of_alpha(1.0) == 2.0 and gf.beta_of_alpha(0.75) == pytest.approx(3.0)


def test_quarter_turns_are_exact():
    for Or in (4, 8, 12, 16):
        cos, sin = orientation_cos_sin(Or)
        q = Or // 4
        assert torch.equal(torch.roll(cos, -q), -sin) and torch.equal(torch.roll(sin, -q), cos)
        assert cos[0] == 1 and sin[0] == 0 and cos[q] == 0 and sin[q] == 1
        torch.testing.assert_close(torch.atan2(sin, cos) % (2 * math.pi),
                                   torch.arange(Or, dtype=f64) * 2 * math.pi / Or, rtol=0, atol=1e-12)


@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("Or", [4, 8, 12])
def test_kernel_stack_rotates_exactly_with_the_orientation(distance, Or):
    """K[o + Or/4] is K[o] turned a quarter counter-clockwise on screen, bit for bit."""
    metric = torch.tensor([[0.7, 2.1, 1.3], [1.9, 0.4, 0.8]], dtype=torch.float32)
    K = gf.morphological_kernel_m2(metric, (3, 5, 5), Or, 0.65, distance=distance)
    assert K.shape == (2, Or, 3, 5, 5)
    for o in range(Or):
        assert torch.equal(K[:, (o + Or // 4) % Or], torch.rot90(K[:, o], 1, dims=(-2, -1)))


@pytest.mark.parametrize("distance", DISTANCES)
def test_kernels_are_zero_at_the_centre_and_positive_elsewhere(distance):
    metric = torch.tensor([[0.7, 2.1, 1.3]], dtype=f64)
    K = gf.morphological_kernel_m2(metric, (5, 5, 5), 8, 0.65, distance=distance)
    assert (K[:, :, 2, 2, 2] == 0).all()
    K[:, :, 2, 2, 2] = 1.0
    assert (K > 0).all()


def test_anisotropy_follows_the_orientation():
    """Main weight 1, lateral 3: moving along theta_o is cheap, moving across it is expensive."""
    metric = torch.tensor([[1.0, 3.0, 1.0]], dtype=f64)
    K = gf.morphological_kernel_m2(metric, (1, 3, 3), 4, 1.0)[0, :, 0]       # [Or, 3, 3]
    right, up = (1, 2), (0, 1)                   # (row, col): x = +1 and y = +1 (row 0 is up)
    assert K[0][right] == 0.5 and K[0][up] == 4.5            # theta = 0 points right
    assert K[1][up] == 0.5 and K[1][right] == 4.5            # theta = 90 degrees points up


def test_distance_relations():
    Or, ks = 8, (5, 5, 5)
    x, y, th = m2_offsets(Or, ks)
    metric = torch.tensor([[1.0, 2.5, 0.7], [0.5, 0.5, 3.0]], dtype=f64)
    rho = {d: distance_m2(metric, x, y, th, d) for d in DISTANCES}
    flat = th == 0
    # At zero angle the logarithmic and half-angle coordinates coincide (sinc(0) = 1).
    torch.testing.assert_close(rho["logarithmic"][:, flat], rho["half_angle"][:, flat], rtol=0, atol=1e-12)
    # |sinc| <= 1, so exponential coordinates are longer than half-angle ones.
    assert (rho["logarithmic"] >= rho["half_angle"] - 1e-12).all()
    # combined = max(l, min(rho_sr, rho_b)) lies between the lower bound and rho_b.
    w = metric.view(2, 3, 1, 1, 1, 1)
    lower = torch.sqrt(torch.minimum(w[:, 0], w[:, 1]) ** 2 * (x ** 2 + y ** 2) + (w[:, 2] * th) ** 2)
    assert (rho["combined"] >= lower - 1e-12).all()
    assert (rho["combined"] <= torch.maximum(lower, rho["half_angle"]) + 1e-12).all()
    # The lower bound is below every estimate that should approximate d_G from above.
    assert (lower <= rho["half_angle"] + 1e-12).all() and (lower <= rho["logarithmic"] + 1e-12).all()


def test_sub_riemannian_lateral_cost():
    """A pure lateral step y costs nu^(1/4) sqrt(w1 w3 y): second order in the lateral direction."""
    metric = torch.tensor([[1.0, 1.0, 1.0], [4.0, 1.0, 0.25]], dtype=f64)
    y = torch.tensor([1.0, 4.0], dtype=f64)
    rho = distance_m2(metric, torch.zeros(2, dtype=f64), y, torch.zeros(2, dtype=f64), "sub_riemannian")
    torch.testing.assert_close(rho, SUB_RIEMANNIAN_NU ** 0.25 * torch.sqrt(y).expand(2, 2), rtol=1e-12, atol=0)


@pytest.mark.parametrize("distance", DISTANCES)
def test_homogeneity_and_time_scaling(distance):
    """rho is 1-homogeneous in the weights; k_t(w) = k_1(w t^(-1/(2 alpha)))."""
    metric = torch.tensor([[0.7, 2.1, 1.3]], dtype=f64)
    alpha, t = 0.65, 1.7
    beta = gf.beta_of_alpha(alpha)
    k1 = gf.morphological_kernel_m2(metric, 3, 8, alpha, distance=distance)
    torch.testing.assert_close(gf.morphological_kernel_m2(2 * metric, 3, 8, alpha, distance=distance),
                               2 ** beta * k1, rtol=1e-10, atol=1e-12)
    kt = gf.morphological_kernel_m2(metric, 3, 8, alpha, t=t, distance=distance)
    torch.testing.assert_close(kt, gf.morphological_kernel_m2(metric * t ** (-1 / (2 * alpha)), 3, 8, alpha,
                                                              distance=distance), rtol=1e-10, atol=1e-12)


def test_r2_kernel_values():
    metric = torch.tensor([[1.0, 2.0]], dtype=f64)
    K = gf.morphological_kernel_r2(metric, (3, 5), 0.75)           # beta = 3
    assert K.shape == (1, 3, 5)
    assert K[0, 1, 2] == 0
    assert K[0, 1, 4].item() == pytest.approx(8 / 3)              # x = 2: rho = 2
    assert K[0, 0, 2].item() == pytest.approx(8 / 3)              # y = 1 with w_y = 2
    assert K[0, 0, 3].item() == pytest.approx(5 ** 1.5 / 3)       # rho^2 = 1 + 4


def test_metric_gradient_is_finite_at_the_centre():
    metric = torch.tensor([[0.7, 2.1, 1.3]], dtype=f64, requires_grad=True)
    for distance in DISTANCES:
        for alpha in (0.55, 1.0):
            gf.morphological_kernel_m2(metric, 3, 8, alpha, distance=distance).sum().backward()
            assert torch.isfinite(metric.grad).all()
            metric.grad = None


def test_init_range_is_lietorchs():
    assert metric_init_range((5, 5, 5)) == pytest.approx((0.28, 3.5))


def test_quarter_turn_shortcut_equals_direct_evaluation():
    """The stack built from its first quarter equals the kernel evaluated at every orientation."""
    metric = torch.tensor([[0.7, 2.1, 1.3], [1.9, 0.4, 0.8]], dtype=f64)
    x, y, th = m2_offsets(8, (3, 5, 5))
    beta = gf.beta_of_alpha(0.65)
    for distance in DISTANCES:
        direct = distance_m2(metric, x, y, th, distance) ** beta / beta
        torch.testing.assert_close(gf.morphological_kernel_m2(metric, (3, 5, 5), 8, 0.65, distance=distance),
                                   direct, rtol=1e-12, atol=1e-12)
    # Non-square spatial support: evaluated directly, shape kept.
    assert gf.morphological_kernel_m2(metric, (3, 3, 5), 8, 0.65).shape == (2, 8, 3, 3, 5)
