"""Convection on M2 and R2: identity at g0 = 0, exact shifts, interpolation, gradients, equivariance.

Every test runs on each backend available here: the plane-copy reference formulation and the
Numba kernels (``GMGAN_BACKEND`` set, e.g. to ``triton`` by the interpreted run in
tests/kernels/test_triton_convection.py, selects that one alone).
"""
from __future__ import annotations

import math
import os

import pytest
import torch

from gmgan_lib import kernels
from gmgan_lib.nn import ConvectionM2, ConvectionR2, functional as gf
from gmgan_lib.nn.equivariance import rot90_m2

f64 = torch.float64
BACKENDS = ([os.environ["GMGAN_BACKEND"]] if os.environ.get("GMGAN_BACKEND")
            else ["reference"] + (["cpu"] if kernels.available("cpu") else []))


@pytest.fixture(autouse=True, params=BACKENDS)
def backend(request):
    with kernels.use_backend(request.param):
        yield request.param


def _shift(img: torch.Tensor, right: int, up: int) -> torch.Tensor:
    """``out(x) = img(x - (right, up))`` with zeros shifted in (rows grow downwards)."""
    out = torch.zeros_like(img)
    H, W = img.shape[-2:]
    rs, cs = -up, right                               # row shift, column shift
    out[..., max(rs, 0):H + min(rs, 0), max(cs, 0):W + min(cs, 0)] = \
        img[..., max(-rs, 0):H + min(-rs, 0), max(-cs, 0):W + min(-cs, 0)]
    return out


def test_zero_g0_is_the_identity():
    torch.manual_seed(0)
    f = torch.randn(2, 3, 8, 7, 6)
    torch.testing.assert_close(gf.convection_m2(f, torch.zeros(3, 3)), f, rtol=0, atol=1e-6)
    f = f.double()
    torch.testing.assert_close(gf.convection_m2(f, torch.zeros(3, 3, dtype=f64)), f, rtol=0, atol=1e-12)
    assert torch.equal(ConvectionM2(3).g0, torch.zeros(3, 3))


def test_integer_shift_moves_along_each_orientation_frame():
    """g0 = (2, 1, 0): orientation theta shifts by R_theta (2, 1), counter-clockwise on screen."""
    torch.manual_seed(1)
    f = torch.randn(1, 1, 4, 9, 9, dtype=f64)
    out = gf.convection_m2(f, torch.tensor([[2.0, 1.0, 0.0]], dtype=f64))
    moves = [(2, 1), (-1, 2), (-2, -1), (1, -2)]      # R_{k*90} (2, 1), (right, up)
    for o, (right, up) in enumerate(moves):
        torch.testing.assert_close(out[0, 0, o], _shift(f[0, 0, o], right, up), rtol=0, atol=1e-12)


def test_one_orientation_step_is_a_roll():
    torch.manual_seed(2)
    f = torch.randn(2, 2, 8, 5, 5, dtype=f64)
    step = 2 * math.pi / 8
    for k in (1, 3, -2, 9):
        out = gf.convection_m2(f, torch.tensor([[0.0, 0.0, k * step]] * 2, dtype=f64))
        torch.testing.assert_close(out, torch.roll(f, k, dims=2), rtol=0, atol=1e-12)


def test_fractional_shift_is_linear_interpolation():
    """A ramp in x and in theta is reproduced exactly by trilinear interpolation (inside)."""
    Or, H, W = 8, 9, 9
    cols = torch.arange(W, dtype=f64).view(1, 1, 1, 1, W)
    f = (3.0 * cols).expand(1, 1, Or, H, W).clone()
    out = gf.convection_m2(f, torch.tensor([[0.4, 0.0, 0.0]], dtype=f64))
    torch.testing.assert_close(out[0, 0, 0, :, 1:], 3.0 * (cols[0, 0, 0, :, 1:] - 0.4).expand(H, W - 1),
                               rtol=0, atol=1e-12)
    # Half a step in theta averages neighbouring orientations (periodically).
    g = torch.randn(1, 1, Or, 5, 5, dtype=f64)
    half = gf.convection_m2(g, torch.tensor([[0.0, 0.0, 0.5 * 2 * math.pi / Or]], dtype=f64))
    torch.testing.assert_close(half, 0.5 * (g + torch.roll(g, 1, dims=2)), rtol=0, atol=1e-12)


def test_gradcheck_convection():
    torch.manual_seed(3)
    f = torch.randn(1, 2, 4, 5, 5, dtype=f64, requires_grad=True)
    # Away from kinks: no sample position lands on a grid line.
    g0 = torch.tensor([[0.3, -0.45, 0.2], [-0.7, 0.15, -0.9]], dtype=f64, requires_grad=True)
    assert torch.autograd.gradcheck(gf.convection_m2, (f, g0), atol=1e-6)
    fr = torch.randn(1, 2, 5, 5, dtype=f64, requires_grad=True)
    shift = torch.tensor([[0.3, -0.45], [1.2, 0.35]], dtype=f64, requires_grad=True)
    assert torch.autograd.gradcheck(gf.convection_r2, (fr, shift), atol=1e-6)


@pytest.mark.parametrize("Or", [4, 8])
def test_convection_equivariance(Or):
    torch.manual_seed(4)
    conv = ConvectionM2(3)
    with torch.no_grad():
        conv.g0.copy_(torch.tensor([[1.3, -0.6, 0.4], [2.0, 1.0, 0.0], [-0.2, 0.9, -2.5]]))
    f = torch.randn(2, 3, Or, 10, 10)
    assert conv.check_equivariance(f) < 1e-5
    assert torch.allclose(conv(rot90_m2(f)), rot90_m2(conv(f)), atol=1e-5)


def test_convection_r2_shift_and_identity():
    torch.manual_seed(5)
    f = torch.randn(2, 2, 7, 8, dtype=f64)
    assert torch.allclose(ConvectionR2(2).double()(f), f, atol=1e-12)
    out = gf.convection_r2(f, torch.tensor([[1.0, 0.0], [0.0, -2.0]], dtype=f64))
    torch.testing.assert_close(out[:, 0], _shift(f[:, 0], 1, 0), rtol=0, atol=1e-12)
    torch.testing.assert_close(out[:, 1], _shift(f[:, 1], 0, -2), rtol=0, atol=1e-12)


def test_convection_bad_input():
    f = torch.randn(1, 2, 4, 5, 5)
    with pytest.raises(ValueError, match="g0"):
        gf.convection_m2(f, torch.zeros(3, 3))
    with pytest.raises(ValueError, match="g0"):
        gf.convection_m2(f, torch.zeros(2, 2))
    with pytest.raises(ValueError, match="f"):
        gf.convection_m2(f[0], torch.zeros(2, 3))
    with pytest.raises(ValueError, match="dtype"):
        gf.convection_m2(f, torch.zeros(2, 3, dtype=f64))
    with pytest.raises(ValueError, match="NaN"):
        gf.convection_m2(f * float("nan"), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="shift"):
        gf.convection_r2(f[:, :, 0], torch.zeros(2, 3))
    with pytest.raises(ValueError, match="ConvectionM2"):
        ConvectionM2(3)(f)


def _grid_sample_reference(f: torch.Tensor, g0: torch.Tensor) -> torch.Tensor:
    """Independent reference: ``F.grid_sample`` (trilinear, zeros outside) in float64.

    The output at ``(x, y, theta_o)`` reads the input at ``(x, y) - R_{theta_o - theta0} (x0, y0)``
    (y up, so rows move the other way) and orientation ``theta_o - theta0``. The orientation axis is
    padded circularly by ``Or`` slices on both sides, so theta shifts of up to one full turn
    interpolate periodically.
    """
    B, C, Or, H, W = f.shape
    out = torch.empty_like(f)
    theta_o = torch.arange(Or, dtype=f64) * (2 * math.pi / Or)
    ys, xs = torch.meshgrid(torch.arange(H, dtype=f64), torch.arange(W, dtype=f64), indexing="ij")
    for c in range(C):
        x0, y0, th0 = g0[c].tolist()
        padded = torch.cat([f[:, c:c + 1]] * 3, dim=2)                  # [B, 1, 3*Or, H, W]
        grid = torch.empty(Or, H, W, 3, dtype=f64)
        for o in range(Or):
            phi = theta_o[o].item() - th0
            ux, uy = math.cos(phi) * x0 - math.sin(phi) * y0, math.sin(phi) * x0 + math.cos(phi) * y0
            src_o = Or + o - th0 * Or / (2 * math.pi)                     # index in the padded axis
            # align_corners=True: index i of a size-n axis sits at -1 + 2 i / (n - 1).
            grid[o, ..., 0] = -1 + 2 * (xs - ux) / (W - 1)
            grid[o, ..., 1] = -1 + 2 * (ys + uy) / (H - 1)
            grid[o, ..., 2] = -1 + 2 * src_o / (3 * Or - 1)
        out[:, c] = torch.nn.functional.grid_sample(
            padded, grid.unsqueeze(0).expand(B, -1, -1, -1, -1), mode="bilinear",
            padding_mode="zeros", align_corners=True)[:, 0]
    return out


@pytest.mark.parametrize("Or", [4, 8, 6])
def test_convection_matches_grid_sample_reference(Or):
    """Random g0 with negative and multi-pixel shifts and theta beyond one step, vs grid_sample."""
    torch.manual_seed(10 + Or)
    C = 5
    f = torch.randn(2, C, Or, 9, 11, dtype=f64)
    g0 = torch.empty(C, 3, dtype=f64)
    g0[:, :2] = torch.empty(C, 2, dtype=f64).uniform_(-4.5, 4.5)
    g0[:, 2] = torch.empty(C, dtype=f64).uniform_(-2.5, 2.5) * (2 * math.pi / Or)
    g0[0] = torch.tensor([12.3, -0.7, 1.1])                            # beyond the image in x
    torch.testing.assert_close(gf.convection_m2(f, g0), _grid_sample_reference(f, g0), rtol=0, atol=1e-10)


def test_convection_gradients_match_grid_sample_reference():
    """The custom backward (adjoint shifts) equals autograd through grid_sample, for f and g0."""
    torch.manual_seed(11)
    f = torch.randn(2, 3, 4, 7, 8, dtype=f64, requires_grad=True)
    g0 = torch.tensor([[1.3, -2.6, 0.4], [-3.2, 0.45, -2.2], [0.2, 1.7, 4.0]], dtype=f64, requires_grad=True)
    w = torch.randn(2, 3, 4, 7, 8, dtype=f64)
    ours = torch.autograd.grad((gf.convection_m2(f, g0) * w).sum(), (f, g0))
    # The reference builds its grid from python floats, so differentiate it w.r.t. f only, and
    # check the g0 gradient against central differences of the reference (smooth away from kinks).
    ref_f, = torch.autograd.grad((_grid_sample_reference(f, g0.detach()) * w).sum(), (f,))
    torch.testing.assert_close(ours[0], ref_f, rtol=0, atol=1e-10)
    eps = 1e-6
    for c in range(3):
        for i in range(3):
            d = torch.zeros_like(g0)
            d[c, i] = eps
            num = ((_grid_sample_reference(f.detach(), g0.detach() + d) -
                    _grid_sample_reference(f.detach(), g0.detach() - d)) * w).sum() / (2 * eps)
            torch.testing.assert_close(ours[1][c, i], num, rtol=1e-6, atol=1e-6)


def test_shift_far_beyond_the_image_gives_zeros_and_zero_gradient():
    """Huge learned shifts read only the zero outside: exact zeros, no overflow, no huge padding."""
    torch.manual_seed(12)
    f = torch.randn(2, 3, 4, 6, 7, dtype=f64, requires_grad=True)
    g0 = torch.tensor([[1e6, 0.5, 0.3], [-3e7, 2e5, -1.0], [0.2, -1e9, 2.0]], dtype=f64)
    out = gf.convection_m2(f, g0)
    assert torch.equal(out, torch.zeros_like(out))
    out.sum().backward()
    assert torch.equal(f.grad, torch.zeros_like(f))
    # Just past the border in each direction: one column/row of interpolated values remains.
    g = torch.randn(1, 1, 1, 5, 5, dtype=f64)
    out = gf.convection_m2(g, torch.tensor([[4.5, 0.0, 0.0]], dtype=f64))
    torch.testing.assert_close(out[..., 4], 0.5 * g[..., 0], rtol=0, atol=1e-12)
    assert torch.equal(out[..., :4], torch.zeros_like(out[..., :4]))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_non_finite_convection_shift_is_refused_naming_it(bad):
    # Issue 28, item 4: every tensor a caller passes is checked, the shifts too (each backend:
    # the autouse fixture above).
    from gmgan_lib.nn._checks import NonFiniteInputError

    f = torch.randn(2, 3, 4, 6, 6)
    g0, shift = torch.zeros(3, 3), torch.zeros(3, 2)
    g0[1, 2], shift[2, 0] = bad, bad
    with pytest.raises(NonFiniteInputError, match=r"^g0 contains NaN or an infinity"):
        gf.convection_m2(f, g0)
    with pytest.raises(NonFiniteInputError, match=r"^shift contains NaN or an infinity"):
        gf.convection_r2(f[:, :, 0], shift)
