"""The Numba CPU backend against the reference backend and a naive per-element oracle.

Integer-valued inputs and kernels make equal candidate sums common, so these tests exercise the
tie rule (smallest offset n wins) and not just generic positions. Forward values and indices
must agree *exactly*; gradients too when ``grad_out`` is integer-valued (every partial sum is
then an exactly representable integer, so summation order cannot matter).
"""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from gmgan_lib import kernels
from gmgan_lib.kernels import cpu, cpu_runtime, reference

pytestmark = pytest.mark.skipif(not cpu.is_available(), reason="numba is not installed")

INF = float("inf")


def naive_erosion(f: torch.Tensor, kstack: torch.Tensor):
    """The defining formula, one output element at a time (tiny shapes only)."""
    B, C, Or, H, W = f.shape
    _, _, kOr, kH, kW = kstack.shape
    qa, ph, pw = kOr // 2, kH // 2, kW // 2
    out = torch.full(f.shape, INF, dtype=f.dtype)
    index = torch.zeros(f.shape, dtype=torch.int64)
    fa, ka = f.tolist(), kstack.tolist()
    for b in range(B):
        for c in range(C):
            for o in range(Or):
                for y in range(H):
                    for x in range(W):
                        best, arg = INF, 0
                        for a in range(kOr):
                            for i in range(kH):
                                for j in range(kW):
                                    yy, xx = y + i - ph, x + j - pw
                                    if not (0 <= yy < H and 0 <= xx < W):
                                        continue
                                    v = fa[b][c][(o + a - qa) % Or][yy][xx] + ka[c][o][a][i][j]
                                    if v < best:
                                        best, arg = v, (a * kH + i) * kW + j
                        out[b, c, o, y, x] = best
                        index[b, c, o, y, x] = arg
    return out, index


def integer_case(shape, kshape, seed, dtype=torch.float32, hi=4):
    g = torch.Generator().manual_seed(seed)
    f = torch.randint(0, hi, shape, generator=g).to(dtype)
    k = torch.randint(0, 3, kshape, generator=g).to(dtype)
    grad = torch.randint(-3, 4, shape, generator=g).to(dtype)
    return f, k, grad


def assert_backends_agree(f, k, grad):
    out_c, idx_c = cpu.erosion_forward(f, k, True)
    out_r, idx_r = reference.erosion_forward(f, k, True)
    assert out_c.dtype == f.dtype and idx_c.dtype == idx_r.dtype
    assert torch.equal(out_c, out_r)
    assert torch.equal(idx_c, idx_r)
    out_v, none = cpu.erosion_forward(f, k, False)
    assert none is None and torch.equal(out_v, out_r)
    gf_c, gk_c = cpu.erosion_backward(grad, idx_c, f.shape, k.shape)
    gf_r, gk_r = reference.erosion_backward(grad, idx_r, f.shape, k.shape)
    if not torch.isinf(out_r).any():
        # Every winner reads inside the image: the unchecked scatter must give the same result.
        gf_u, gk_u = cpu.erosion_backward(grad, idx_c, f.shape, k.shape, winners_inside=True)
        assert torch.equal(gf_u, gf_r) and torch.equal(gk_u, gk_r)
    assert gf_c.shape == f.shape and gk_c.shape == k.shape
    assert gf_c.dtype == grad.dtype and gk_c.dtype == grad.dtype
    assert torch.equal(gf_c, gf_r)
    assert torch.equal(gk_c, gk_r)
    return out_c, idx_c, gf_c, gk_c


def test_matches_naive_oracle_with_ties():
    f, k, _ = integer_case((2, 2, 4, 6, 5), (2, 4, 3, 3, 3), seed=0, hi=2)
    out, idx = cpu.erosion_forward(f, k, True)
    out_n, idx_n = naive_erosion(f, k)
    assert torch.equal(out, out_n)
    assert torch.equal(idx.long(), idx_n)


@pytest.mark.parametrize("shape,kshape", [
    ((2, 3, 8, 11, 9), (3, 8, 5, 5, 5)),     # M2, the lietorch default kernel
    ((3, 2, 1, 10, 13), (2, 1, 1, 5, 3)),    # R2: Or = kOr = 1, non-square kernel
    ((1, 2, 3, 7, 7), (2, 3, 5, 3, 3)),      # kOr > Or: the orientation axis wraps twice
    ((2, 1, 4, 3, 2), (1, 4, 3, 7, 5)),      # kernel larger than the image
    ((1, 1, 2, 1, 1), (1, 2, 1, 1, 1)),      # 1x1 images, size-1 kernel
])
def test_forward_and_backward_equal_reference(shape, kshape):
    f, k, grad = integer_case(shape, kshape, seed=1)
    out, idx, gf, gk = assert_backends_agree(f, k, grad)
    # Each output sends its gradient to exactly one input and one kernel entry.
    assert gf.sum().item() == grad.sum().item()
    assert gk.sum().item() == grad.sum().item()


@pytest.mark.parametrize("shape,kshape", [
    ((30, 2, 4, 7, 7), (2, 4, 3, 3, 3)),     # 28 elements per pass, then a partial group of 2
    ((19, 1, 4, 14, 14), (1, 4, 3, 3, 3)),   # 8 per pass: groups 8, 8, 3
    ((5, 2, 2, 4, 6), (2, 2, 3, 5, 3)),      # the whole batch in one pass
])
def test_batch_groups_equal_reference(shape, kshape):
    # Small planes are processed several batch elements per pass (cpu._batch_group); the
    # planes of one pass are separated by +inf padding, so no element may read another's.
    B, _, _, H, W = shape
    nb = cpu._batch_group(B, H, W, kshape[3], kshape[4])
    assert 1 < nb and (nb == B or B % nb)              # several per pass, a partial group
    assert_backends_agree(*integer_case(shape, kshape, seed=4))


@pytest.mark.parametrize("backend", [cpu, reference], ids=["cpu", "reference"])
def test_negate_is_the_dilation_bit_for_bit(backend):
    # negate=True must be exactly -erosion(-f): the CPU kernels fold the signs into their copies.
    f, k, _ = integer_case((3, 2, 4, 7, 7), (2, 4, 3, 3, 3), seed=5)
    f[0, 0, 0, 0, 0] = -INF                                         # a dead output of the dilation
    out, idx = backend.erosion_forward(f, k, True, negate=True)
    ref, ref_idx = reference.erosion_forward(-f, k, True)
    assert torch.equal(out, -ref) and torch.equal(idx, ref_idx)
    value, _ = backend.erosion_forward(f, k, False, negate=True)
    assert torch.equal(value, -ref)


def test_float64_and_large_offset_count_use_int16_index():
    f, k, grad = integer_case((1, 2, 2, 12, 13), (2, 2, 3, 11, 11), seed=2, dtype=torch.float64)
    k[:, :, :2] += 10.0  # make the last angular offset (n >= 242) win, ties still common
    out, idx, gf, gk = assert_backends_agree(f, k, grad)
    assert out.dtype == torch.float64 and idx.dtype == torch.int16
    assert int(idx.max()) > 255  # offsets beyond one byte actually won somewhere


def test_delta_kernel_is_an_exact_shift():
    """A kernel that is 0 at one offset and +inf elsewhere translates f (and rolls the
    orientation axis) exactly; +inf entries are skipped by the kernel, not just added."""
    B, C, Or, H, W = 2, 3, 6, 9, 8
    f = torch.randn(B, C, Or, H, W)
    k = torch.full((C, Or, 3, 5, 5), INF)
    a, i, j = 2, 4, 1                          # orientation +1, y +2, x -1
    k[:, :, a, i, j] = 0.0
    out, idx = cpu.erosion_forward(f, k, True)
    expected = torch.full_like(f, INF)
    expected[..., : H - 2, 1:] = torch.roll(f, shifts=-1, dims=2)[..., 2:, : W - 1]
    assert torch.equal(out, expected)
    n = (a * 5 + i) * 5 + j
    assert torch.all(idx[torch.isfinite(out)] == n)
    identity = torch.full((C, Or, 1, 3, 3), INF)
    identity[:, :, 0, 1, 1] = 0.0
    assert torch.equal(cpu.erosion_forward(f, identity, False)[0], f)


def test_kernel_gradient_when_one_offset_always_wins():
    """The usual case in training: the kernel centre (cost 0) beats every neighbour, so every
    output adds its gradient to the same kernel entry. The backward spreads those additions
    over several accumulators (``cpu_runtime._LANES``); their sum must be exact: integer gradients,
    every partial sum exactly representable."""
    B, C, Or, H, W = 3, 2, 4, 7, 14                     # W > _LANES: columns share lanes
    f = torch.randn(B, C, Or, H, W)
    k = torch.full((C, Or, 3, 3, 3), 100.0)
    k[:, :, 1, 1, 1] = 0.0                               # n = 13 wins everywhere
    out, idx = cpu.erosion_forward(f, k, True)
    assert torch.equal(out, f) and torch.all(idx == 13)
    g = torch.randint(-5, 6, f.shape).to(f.dtype)
    grad_f, grad_k = cpu.erosion_backward(g, idx, f.shape, k.shape, winners_inside=True)
    assert torch.equal(grad_f, g)
    expected = torch.zeros_like(k)
    expected[:, :, 1, 1, 1] = g.sum(dim=(0, 3, 4))
    assert torch.equal(grad_k, expected)


def test_all_inf_outputs_send_no_gradient():
    """Outputs whose every candidate lies outside the image are +inf and get no gradient."""
    B, C, Or, H, W = 1, 2, 4, 6, 7
    f, _, grad = integer_case((B, C, Or, H, W), (C, Or, 3, 3, 3), seed=3)
    k = torch.full((C, Or, 3, 3, 3), INF)
    k[:, :, 1, 0, 0] = 1.0                     # only the up-left neighbour can win
    out, idx, gf, gk = assert_backends_agree(f, k, grad)
    dead = torch.isinf(out)
    assert dead[..., 0, :].all() and dead[..., :, 0].all() and not dead[..., 1:, 1:].any()
    assert gf.sum().item() == grad[~dead].sum().item()
    assert gk.sum().item() == grad[~dead].sum().item()
    # The bounds test is what keeps the dead outputs' gradient out of the kernel gradient: the
    # promise winners_inside=True would be false here, and the result shows it (so the flag
    # really switches the test off, and the node must only pass it when no output is +inf).
    _, gk_unchecked = cpu.erosion_backward(grad, idx, f.shape, k.shape, winners_inside=True)
    assert gk_unchecked.sum().item() == grad.sum().item() != gk.sum().item()


def test_backward_accepts_any_strides():
    f, k, grad = integer_case((2, 3, 4, 8, 8), (3, 4, 3, 3, 3), seed=4)
    _, idx = cpu.erosion_forward(f, k, True)
    ref = cpu.erosion_backward(grad, idx, f.shape, k.shape)
    transposed = grad.transpose(3, 4).contiguous().transpose(3, 4)   # same values, other strides
    expanded = torch.ones(()).expand(f.shape)                       # what y.sum().backward() sends
    for g in (transposed, expanded):
        assert not g.is_contiguous()
        got = cpu.erosion_backward(g, idx, f.shape, k.shape)
        want = reference.erosion_backward(g, idx, f.shape, k.shape)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    assert torch.equal(cpu.erosion_backward(transposed, idx, f.shape, k.shape)[0], ref[0])


class _Erosion(torch.autograd.Function):
    """Minimal autograd wrapper over the cpu backend, for gradcheck."""

    @staticmethod
    def forward(ctx, f, k):
        out, idx = cpu.erosion_forward(f, k, True)
        ctx.save_for_backward(idx)
        ctx.shapes = (f.shape, k.shape)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (idx,) = ctx.saved_tensors
        return cpu.erosion_backward(grad_out, idx, *ctx.shapes)


def test_float64_gradcheck():
    """Random continuous inputs have no ties, so the min is differentiable there and the
    scattered gradient must equal finite differences."""
    g = torch.Generator().manual_seed(5)
    f = torch.randn(1, 2, 4, 5, 6, dtype=torch.float64, generator=g, requires_grad=True)
    k = torch.rand(2, 4, 3, 3, 3, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(_Erosion.apply, (f, k), eps=1e-6, atol=1e-6)


def test_thread_count_does_not_change_results(monkeypatch):
    monkeypatch.setattr(cpu_runtime, "_PAIRS_PER_CHUNK", 1000)  # split this small problem into 32 chunks
    assert len(cpu_runtime._chunks(40, 4 * 9 * 10 * 27)) == 32
    f = torch.randn(8, 5, 4, 9, 10)   # 40 blocks: more than the 32 chunks
    k = torch.rand(5, 4, 3, 3, 3)
    grad = torch.randn(f.shape)
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        out1, idx1 = cpu.erosion_forward(f, k, True)
        gf1, gk1 = cpu.erosion_backward(grad, idx1, f.shape, k.shape)
        torch.set_num_threads(2)
        out2, idx2 = cpu.erosion_forward(f, k, True)
        gf2, gk2 = cpu.erosion_backward(grad, idx2, f.shape, k.shape)
    finally:
        torch.set_num_threads(previous)
    # The work split depends on the problem size only, so even the float sums agree exactly.
    assert torch.equal(out1, out2) and torch.equal(idx1, idx2)
    assert torch.equal(gf1, gf2) and torch.equal(gk1, gk2)


@settings(max_examples=25, deadline=None)
@given(B=st.integers(1, 2), C=st.integers(1, 3), Or=st.integers(1, 5), H=st.integers(1, 9),
       W=st.integers(1, 9), kOr=st.sampled_from([1, 3, 5]), kH=st.sampled_from([1, 3, 5]),
       kW=st.sampled_from([1, 3, 5]), seed=st.integers(0, 2**16))
def test_random_shapes_equal_reference(B, C, Or, H, W, kOr, kH, kW, seed):
    f, k, grad = integer_case((B, C, Or, H, W), (C, Or, kOr, kH, kW), seed=seed)
    assert_backends_agree(f, k, grad)


def test_dispatcher_picks_cpu_for_cpu_floats():
    for dtype in (torch.float32, torch.float64):
        assert kernels.select_backend(torch.zeros(1, 1, 1, 2, 2, dtype=dtype)).name == "cpu"
    assert not cpu.supports(torch.zeros(1, 1, 1, 2, 2, dtype=torch.float16))
    assert kernels.select_backend(torch.zeros(1, 1, 1, 2, 2, dtype=torch.bfloat16)).name == "reference"


@pytest.mark.parametrize("f_shape,k_shape,f_dtype,k_dtype,match", [
    ((2, 3, 4, 5), (3, 4, 3, 3, 3), torch.float32, torch.float32, "f must be a 5-D"),
    ((1, 3, 4, 5, 5), (2, 4, 3, 3, 3), torch.float32, torch.float32, "kstack must be"),
    ((1, 3, 4, 5, 5), (3, 4, 3, 3), torch.float32, torch.float32, "kstack must be a 5-D"),
    ((1, 3, 4, 5, 5), (3, 4, 3, 3, 3), torch.float32, torch.float64, "match f in dtype"),
    ((1, 3, 4, 5, 5), (3, 4, 3, 3, 3), torch.float16, torch.float16, "float32 or float64"),
])
def test_bad_input_is_rejected(f_shape, k_shape, f_dtype, k_dtype, match):
    with pytest.raises(ValueError, match=match):
        cpu.erosion_forward(torch.zeros(f_shape, dtype=f_dtype), torch.zeros(k_shape, dtype=k_dtype),
                            True)


def test_bad_backward_input_is_rejected():
    idx = torch.zeros(1, 2, 3, 4, 4, dtype=torch.uint8)
    g = torch.zeros(1, 2, 3, 4, 4)
    with pytest.raises(ValueError, match="index must be torch.int16"):
        cpu.erosion_backward(g, idx, g.shape, (2, 3, 3, 11, 11))
    with pytest.raises(ValueError, match="f_shape"):
        cpu.erosion_backward(g, idx, (1, 2, 3, 4, 5), (2, 3, 3, 3, 3))
    with pytest.raises(ValueError, match=r"index values must lie in \[0, 27\)"):
        cpu.erosion_backward(g, idx + 27, g.shape, (2, 3, 3, 3, 3))
    with pytest.raises(ValueError, match=r"\(C, Or\)"):
        cpu.erosion_backward(g, idx, g.shape, (2, 4, 3, 3, 3))
    assert math.isfinite(cpu.erosion_backward(g, idx, g.shape, (2, 3, 3, 3, 3))[1].sum().item())
