"""The reference backend against a brute-force oracle written independently (unfold all offsets).

The oracle materialises every candidate ``f[...shifted] + k`` at once (fine for tiny shapes) and
takes ``torch.min``; the reference backend must give the same values, the same arg-min index
(ties to the smallest ``n``) and the same gradients as autograd through the oracle.
"""
from __future__ import annotations

import pytest
import torch

from gmgan_lib import kernels
from gmgan_lib.kernels import reference


def brute_force(f: torch.Tensor, kstack: torch.Tensor):
    """All candidates, stacked on a new last axis in the order n = (a*kH + i)*kW + j."""
    B, C, Or, H, W = f.shape
    _, _, kOr, kH, kW = kstack.shape
    qa, ph, pw = kOr // 2, kH // 2, kW // 2
    padded = torch.nn.functional.pad(f, (pw, pw, ph, ph), value=float("inf"))
    cands = []
    for a in range(kOr):
        orient = [(o + a - qa) % Or for o in range(Or)]
        for i in range(kH):
            for j in range(kW):
                cands.append(padded[:, :, orient, i:i + H, j:j + W] + kstack[:, :, a, i, j].view(1, C, Or, 1, 1))
    return torch.stack(cands, dim=-1)


@pytest.mark.parametrize("shape,ksize", [((2, 3, 4, 6, 5), (3, 3, 3)), ((1, 2, 8, 5, 7), (5, 3, 5)),
                                         ((2, 2, 1, 6, 6), (1, 5, 3)), ((1, 1, 4, 4, 4), (5, 5, 5))])
def test_forward_matches_brute_force(shape, ksize):
    torch.manual_seed(0)
    f = torch.randn(shape, dtype=torch.float64)
    k = torch.rand(shape[1], shape[2], *ksize, dtype=torch.float64)
    out, index = reference.erosion_forward(f, k, need_index=True)
    values, argmin = brute_force(f, k).min(dim=-1)
    assert torch.equal(out, values)
    assert index.dtype == torch.uint8
    assert torch.equal(index.long(), argmin)
    out2, none = reference.erosion_forward(f, k, need_index=False)
    assert none is None and torch.equal(out2, out)


def test_ties_go_to_smallest_offset():
    f = torch.zeros(1, 1, 4, 5, 5)
    k = torch.zeros(1, 4, 3, 3, 3)          # every candidate ties at 0
    out, index = reference.erosion_forward(f, k, need_index=True)
    assert torch.equal(out, f)
    # The smallest n whose sample lies inside the image: corners and edges skip rows/cols.
    assert index[0, 0, 0, 2, 2] == 0 and index[0, 0, 0, 0, 0] == 4 and index[0, 0, 0, 0, 2] == 3


def test_all_inf_candidates_give_inf_and_no_gradient_outside():
    f = torch.randn(1, 1, 1, 4, 4, dtype=torch.float64)
    k = torch.full((1, 1, 1, 3, 3), float("inf"), dtype=torch.float64)
    k[..., 0, 0] = 0.0                        # only offset (-1, -1) is finite
    out, index = reference.erosion_forward(f, k, need_index=True)
    assert torch.isinf(out[..., 0, :]).all() and torch.isinf(out[..., :, 0]).all()
    assert torch.equal(out[..., 1:, 1:], f[..., :-1, :-1])
    grad_f, grad_k = reference.erosion_backward(torch.ones_like(out), index, f.shape, k.shape)
    # Index 0 points outside the image on row 0 / column 0: those outputs send nothing.
    assert grad_f.sum() == 9 and grad_k[..., 0, 0].item() == 9 and grad_k.sum() == 9


@pytest.mark.parametrize("ksize", [(3, 3, 3), (1, 5, 5)])
def test_backward_matches_autograd_of_brute_force(ksize):
    torch.manual_seed(1)
    f = torch.randn(2, 2, 4, 5, 6, dtype=torch.float64, requires_grad=True)
    k = torch.rand(2, 4, *ksize, dtype=torch.float64, requires_grad=True)
    grad_out = torch.randn(2, 2, 4, 5, 6, dtype=torch.float64)
    brute_force(f, k).min(dim=-1).values.backward(grad_out)
    out, index = reference.erosion_forward(f.detach(), k.detach(), need_index=True)
    grad_f, grad_k = reference.erosion_backward(grad_out, index, f.shape, k.shape)
    torch.testing.assert_close(grad_f, f.grad, rtol=0, atol=1e-12)
    torch.testing.assert_close(grad_k, k.grad, rtol=0, atol=1e-12)
    # Non-contiguous (expanded, transposed) incoming gradients give the same result.
    g_nc = grad_out.transpose(-1, -2).contiguous().transpose(-1, -2)
    assert not torch.equal(torch.tensor(g_nc.stride()), torch.tensor(grad_out.stride()))
    gf2, gk2 = reference.erosion_backward(g_nc, index, f.shape, k.shape)
    assert torch.equal(gf2, grad_f) and torch.equal(gk2, grad_k)
    ones = torch.ones((), dtype=torch.float64).expand(2, 2, 4, 5, 6)
    gf3, _ = reference.erosion_backward(ones, index, f.shape, k.shape)
    assert gf3.sum().item() == out.numel()


def test_int16_index_for_large_kernels():
    f = torch.randn(1, 1, 8, 6, 6)
    k = torch.rand(1, 8, 7, 7, 7)            # 343 offsets > 256
    out, index = reference.erosion_forward(f, k, need_index=True)
    values, argmin = brute_force(f, k).min(dim=-1)
    assert index.dtype == torch.int16
    assert torch.equal(out, values) and torch.equal(index.long(), argmin)


def test_availability():
    backend = kernels.get_backend("reference")
    assert reference.is_available() and backend.is_available()
    for f in (torch.zeros(1, dtype=torch.float16), torch.zeros(1, dtype=torch.float64)):
        assert backend.runs(f)
