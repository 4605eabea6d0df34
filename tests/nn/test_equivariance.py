"""The rotation helpers themselves: group laws and agreement between exact and resampled turns."""
from __future__ import annotations

import math

import pytest
import torch

from gmgan_lib.nn.equivariance import rot90_m2, rot90_r2, rotate_m2, rotate_r2


def test_quarter_turns_form_a_cyclic_group():
    torch.manual_seed(0)
    y = torch.randn(2, 3, 8, 6, 6)
    assert torch.equal(rot90_m2(rot90_m2(y)), rot90_m2(y, 2))
    assert torch.equal(rot90_m2(y, 4), y) and torch.equal(rot90_m2(rot90_m2(y, -1)), y)
    x = torch.randn(2, 3, 5, 7)
    assert torch.equal(rot90_r2(x, 4), x) and rot90_r2(x).shape == (2, 3, 7, 5)


def test_a_quarter_turn_is_counter_clockwise_on_screen():
    img = torch.zeros(1, 1, 5, 5)
    img[0, 0, 2, 4] = 1.0                              # a pixel to the right of the centre
    assert rot90_r2(img)[0, 0, 0, 2] == 1.0            # ... goes to the top


@pytest.mark.parametrize("Or", [4, 8])
def test_resampled_rotation_agrees_with_exact_quarter_turn(Or):
    torch.manual_seed(1)
    x = torch.randn(1, 2, 9, 9)
    torch.testing.assert_close(rotate_r2(x, math.pi / 2), rot90_r2(x), rtol=0, atol=1e-5)
    y = torch.randn(1, 2, Or, 9, 9)
    torch.testing.assert_close(rotate_m2(y, Or // 4), rot90_m2(y), rtol=0, atol=1e-5)
