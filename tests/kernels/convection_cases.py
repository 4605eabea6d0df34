"""Shared inputs and checks of the fused convection kernels' tests (test_cpu_convection.py,
test_triton_convection.py): both compare a fast backend with the plane-copy reference."""
from __future__ import annotations

import math

import pytest
import torch

from gmgan_lib import kernels
from gmgan_lib.nn import functional as gf


def case(shape, seed, dtype=torch.float64, spread=4.5, device="cpu"):
    """Random ``f`` [B,C,Or,H,W] and ``g0`` [C,3] (shifts up to ``spread`` pixels, up to three
    orientation steps either way), both requiring grad, and a weight ``w`` for a scalar loss."""
    g = torch.Generator().manual_seed(seed)
    B, C, Or, H, W = shape
    f = torch.randn(shape, generator=g, dtype=torch.float64)
    g0 = torch.empty(C, 3, dtype=torch.float64)
    g0[:, :2] = torch.rand(C, 2, generator=g, dtype=torch.float64) * 2 * spread - spread
    g0[:, 2] = (torch.rand(C, generator=g, dtype=torch.float64) * 6 - 3) * (2 * math.pi / Or)
    w = torch.randn(shape, generator=g, dtype=torch.float64)
    return (f.to(device, dtype).requires_grad_(), g0.to(device, dtype).requires_grad_(),
            w.to(device, dtype))


def value_and_grads(f, g0, w):
    """``convection_m2(f, g0)`` and the gradients of ``sum(out * w)`` for ``f`` and ``g0``."""
    out = gf.convection_m2(f, g0)
    return (out.detach(), *torch.autograd.grad((out * w).sum(), (f, g0)))


def both(fast: str, fn, *args):
    """``fn(*args)`` with the plane-copy reference, then with backend ``fast``."""
    with kernels.use_backend("reference"):
        plain = fn(*args)
    with kernels.use_backend(fast):
        fused = fn(*args)
    return plain, fused


def assert_bad_tables_rejected(module) -> None:
    """``module.trilinear_shift_forward`` names the bad table and the expected form."""
    f = torch.zeros(1, 2, 4, 5, 5)
    good = dict(theta_w=torch.zeros(2, 2), space_w=torch.zeros(2, 4, 4),
                kt=torch.zeros(2, dtype=torch.int64), rows=torch.zeros(2, 4, dtype=torch.int64),
                cols=torch.zeros(2, 4, dtype=torch.int64))
    for name, bad, match in [("space_w", torch.zeros(2, 4, 3), r"space_w must have shape \[2, 4, 4\]"),
                             ("kt", torch.zeros(2), "kt must be an int64"),
                             ("theta_w", torch.zeros(2, 2, dtype=torch.float64), "theta_w must have the dtype")]:
        with pytest.raises(ValueError, match=match):
            module.trilinear_shift_forward(f, **dict(good, **{name: bad}))
