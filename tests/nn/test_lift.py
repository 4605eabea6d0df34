"""Lifting R2 -> M2: rotated filters, exact quarter turns, gradients, the orientation convention."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gmgan_lib.nn import LiftM2, functional as gf
from gmgan_lib.nn.equivariance import rot90_m2, rot90_r2

f64 = torch.float64


@pytest.mark.parametrize("Or", [4, 8, 12])
def test_rotated_filters_are_exact_at_quarter_turns(Or):
    torch.manual_seed(0)
    w = torch.randn(3, 2, 5, 5)
    R = gf.rotated_filters(w, Or)                     # [Cout, Or, Cin, k, k]
    assert R.shape == (3, Or, 2, 5, 5)
    q = Or // 4
    for m in range(4):
        assert torch.equal(R[:, m * q], torch.rot90(w, m, dims=(-2, -1)))
    for o in range(Or):                               # every orientation, not only multiples of 90
        assert torch.equal(R[:, (o + q) % Or], torch.rot90(R[:, o], 1, dims=(-2, -1)))


def test_rotated_filters_interpolate_bilinearly():
    """A filter that is linear in x (columns) stays linear along the rotated axis, inside the disk."""
    cols = torch.arange(7, dtype=f64) - 3
    w = cols.expand(7, 7).clone().view(1, 1, 7, 7)   # w(x, y) = x
    R = gf.rotated_filters(w, 8)[0, 1, 0]             # theta = 45 degrees: R(d) = w(R_{-45} d)
    x = cols.view(1, 7)
    y = -cols.view(7, 1)
    expected = (x + y) / 2 ** 0.5                     # x-component of R_{-45}(x, y)
    inside = (x ** 2 + y ** 2) <= 3.0 ** 2
    torch.testing.assert_close(R[inside], expected.expand(7, 7)[inside], rtol=0, atol=1e-12)


def test_lift_is_conv_with_rotated_filters_and_keeps_size():
    torch.manual_seed(1)
    x = torch.randn(2, 2, 9, 8, dtype=f64)
    w = torch.randn(3, 2, 5, 5, dtype=f64)
    y = gf.lift_m2(x, w, 4)
    assert y.shape == (2, 3, 4, 9, 8)
    for m in range(4):
        torch.testing.assert_close(y[:, :, m], F.conv2d(x, torch.rot90(w, m, dims=(-2, -1)), padding=2),
                                   rtol=0, atol=1e-12)


def test_gradcheck_lift():
    torch.manual_seed(2)
    x = torch.randn(1, 2, 6, 6, dtype=f64, requires_grad=True)
    w = torch.randn(2, 2, 3, 3, dtype=f64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w: gf.lift_m2(x, w, 8), (x, w))


@pytest.mark.parametrize("Or", [4, 8])
def test_lift_equivariance(Or):
    torch.manual_seed(3)
    lift = LiftM2(2, 3, orientations=Or, kernel_size=5)
    x = torch.randn(2, 2, 11, 11)
    assert lift.check_equivariance(x) < 1e-5
    assert torch.allclose(lift(rot90_r2(x)), rot90_m2(lift(x)), atol=1e-5)


def test_convention_probe_with_an_oriented_bar():
    """A half-bar pointing up-right lights orientation 1 of 8: theta turns counter-clockwise on screen.

    The filter is a half-line from the centre to the right (theta = 0). After ``torch.rot90`` the bar
    points up-left and the maximum moves to orientation 3 = 1 + Or/4: the roll is ``+Or/4``.
    """
    w = torch.zeros(1, 1, 5, 5)
    w[0, 0, 2, 2:] = 1.0
    img = torch.zeros(1, 1, 17, 17)
    for k in range(5):
        img[0, 0, 8 - k, 8 + k] = 1.0                 # up (row decreases) and right
    centre = lambda t: gf.lift_m2(t, w, 8)[0, 0, :, 8, 8]
    assert centre(img).argmax().item() == 1
    assert centre(rot90_r2(img)).argmax().item() == 3
    assert centre(rot90_r2(img, 2)).argmax().item() == 5


def test_lift_bad_input():
    with pytest.raises(ValueError, match="kernel_size"):
        LiftM2(1, 2, kernel_size=4)
    with pytest.raises(ValueError, match="orientations"):
        LiftM2(1, 2, orientations=0)
    lift = LiftM2(2, 3)
    with pytest.raises(ValueError, match="LiftM2"):
        lift(torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match="x"):
        gf.lift_m2(torch.randn(2, 8, 8), torch.randn(3, 2, 5, 5), 8)
    with pytest.raises(ValueError, match="Cin"):
        gf.lift_m2(torch.randn(1, 2, 8, 8), torch.randn(3, 1, 5, 5), 8)
    with pytest.raises(ValueError, match="NaN"):
        gf.lift_m2(torch.full((1, 2, 8, 8), float("nan")), torch.randn(3, 2, 5, 5), 8)
    with pytest.raises(ValueError, match="dtype"):
        gf.lift_m2(torch.randn(1, 2, 8, 8), torch.randn(3, 2, 5, 5, dtype=f64), 8)
