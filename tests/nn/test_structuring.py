"""Teaching structuring elements: values, and the flat limit of the power kernels."""
from __future__ import annotations

import pytest
import torch

from gmgan_lib.nn.structuring import delta, flat_disk, flat_square, power, quadratic

f64 = torch.float64


def test_shapes_and_centres():
    for k in (delta(5, 3), flat_square(3, 3), flat_disk(2.5, 3), quadratic(5, channels=3), power(7, 0.65, channels=3)):
        assert k.dim() == 3 and k.shape[0] == 3 and k.shape[1] == k.shape[2] and k.shape[1] % 2 == 1
        c = k.shape[1] // 2
        assert (k[:, c, c] == 0).all() and (k >= 0).all()


def test_flat_disk_is_the_pixel_disk():
    k = flat_disk(2.0)[0]
    assert k.shape == (5, 5)
    r = torch.arange(5) - 2
    inside = r.view(-1, 1) ** 2 + r.view(1, -1) ** 2 <= 4
    assert torch.equal(k == 0, inside) and torch.isinf(k[~inside]).all()
    assert torch.isinf(delta(3)).sum() == 8


def test_quadratic_and_power_values():
    q = quadratic(5, t=2.0, dtype=f64)[0]
    assert q[2, 4] == 4 / 4 and q[0, 0] == 8 / 4          # |x|^2 / (2t)
    p = power(5, 0.75, t=1.0, dtype=f64)[0]                # beta = 3: |x|^3 / 3
    assert p[2, 4].item() == pytest.approx(8 / 3)
    torch.testing.assert_close(power(5, 1.0, t=2.0, dtype=f64), quadratic(5, 2.0, dtype=f64))


def test_power_kernel_tends_to_the_flat_disk():
    """As alpha -> 1/2 (beta -> inf) the kernel is ~0 inside |x| < t and huge outside."""
    t = 2.5
    p = power(7, 0.55, t=t, dtype=f64)[0]                 # beta = 11
    r = torch.arange(7, dtype=f64) - 3
    rad = torch.sqrt(r.view(-1, 1) ** 2 + r.view(1, -1) ** 2)
    assert p[rad <= 1.5].max() < 1e-3 and p[rad >= 3.5].min() > 10


def test_bad_arguments():
    for fn, word in [(lambda: flat_square(4), "size"), (lambda: delta(0), "size"), (lambda: flat_disk(-1), "radius"),
                     (lambda: quadratic(5, t=0), "t"), (lambda: power(5, 0.4), "alpha"),
                     (lambda: flat_square(3, channels=0), "channels")]:
        with pytest.raises(ValueError, match=word):
            fn()
