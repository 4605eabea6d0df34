"""The Triton backend against the reference backend (and a tiny naive oracle).

Without a GPU the kernels run under Triton's interpreter, which only works when
``TRITON_INTERPRET=1`` is set before triton is first imported. So in an ordinary pytest process
(where torch or another test may already have imported triton) one test re-runs this file in a
fresh subprocess with the variable set; inside it, or on a CUDA machine, the kernel tests run
directly. The interpreter executes every program in Python, so shapes here are small; the
``gpu``-marked tests repeat the comparison at the full reference shape on a CUDA device.

Integer-valued inputs make ties common: values and indices must agree exactly (smallest ``n``
wins), and with integer-valued ``grad_out`` so must the gradients.
"""
from __future__ import annotations

import pytest
import torch

from gmgan_lib import kernels
from gmgan_lib.kernels import reference
from gmgan_lib.kernels import triton as tk

from triton_env import CUDA, DEVICE, INTERPRETED, run_interpreted, runs_kernels

INF = float("inf")
gpu = pytest.mark.gpu


def test_interpreted_suite_in_a_fresh_process():
    """Run this file again under TRITON_INTERPRET=1 (what CI does without a GPU)."""
    run_interpreted([__file__], min_passed=20)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def naive_erosion(f: torch.Tensor, kstack: torch.Tensor):
    """The defining formula, one output element at a time (tiny shapes only)."""
    B, C, Or, H, W = f.shape
    _, _, kOr, kH, kW = kstack.shape
    qa, ph, pw = kOr // 2, kH // 2, kW // 2
    out = torch.full(f.shape, INF, dtype=torch.float64)
    index = torch.zeros(f.shape, dtype=torch.int64)
    fa, ka = f.double().tolist(), kstack.double().tolist()
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
                                    if 0 <= yy < H and 0 <= xx < W:
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
    return f.to(DEVICE), k.to(DEVICE), grad.to(DEVICE)


def assert_backends_agree(f, k, grad, with_no_index=True):
    out_t, idx_t = tk.erosion_forward(f, k, True)
    out_r, idx_r = reference.erosion_forward(f, k, True)
    assert out_t.dtype == f.dtype and idx_t.dtype == idx_r.dtype
    assert torch.equal(out_t, out_r)
    assert torch.equal(idx_t, idx_r)
    if with_no_index:
        out_v, none = tk.erosion_forward(f, k, False)
        assert none is None and torch.equal(out_v, out_r)
    gf_t, gk_t = tk.erosion_backward(grad, idx_t, f.shape, k.shape)
    gf_r, gk_r = reference.erosion_backward(grad, idx_r, f.shape, k.shape)
    assert gf_t.dtype == grad.dtype and gk_t.dtype == grad.dtype
    assert torch.equal(gf_t, gf_r)
    assert torch.equal(gk_t, gk_r)
    return out_t, idx_t, gf_t, gk_t


# --------------------------------------------------------------------------------------------
# kernel tests (interpreter or CUDA)
# --------------------------------------------------------------------------------------------
@runs_kernels
def test_matches_naive_oracle_with_ties():
    f, k, _ = integer_case((1, 2, 4, 5, 4), (2, 4, 3, 3, 3), seed=0, hi=2)
    out, idx = tk.erosion_forward(f, k, True)
    out_n, idx_n = naive_erosion(f.cpu(), k.cpu())
    assert torch.equal(out.cpu().double(), out_n)
    assert torch.equal(idx.cpu().long(), idx_n)


@runs_kernels
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
def test_every_dtype_equals_reference(dtype):
    # Values up to 40 with kernels up to 2: sums are exact in bfloat16 (8 significant bits).
    f, k, grad = integer_case((1, 2, 4, 6, 5), (2, 4, 3, 3, 3), seed=1, dtype=dtype, hi=40)
    out, idx, gf, gk = assert_backends_agree(f, k, grad)
    assert gf.double().sum().item() == grad.double().sum().item()


@runs_kernels
def test_half_precision_rounds_like_pytorch():
    """Non-integer float16 data: the candidate f + k is rounded once to float16, as PyTorch
    does, so the result equals the reference bit for bit."""
    g = torch.Generator().manual_seed(2)
    f = torch.randn(1, 1, 4, 5, 6, generator=g).half().to(DEVICE)
    k = (torch.rand(1, 4, 3, 3, 3, generator=g) * 3).half().to(DEVICE)
    grad = torch.randn(f.shape, generator=g).half().to(DEVICE)
    out, idx = tk.erosion_forward(f, k, True)
    out_r, idx_r = reference.erosion_forward(f, k, True)
    assert torch.equal(out, out_r) and torch.equal(idx, idx_r)
    gf, gk = tk.erosion_backward(grad, idx, f.shape, k.shape)
    gf_r, gk_r = reference.erosion_backward(grad, idx_r, f.shape, k.shape)
    torch.testing.assert_close(gf, gf_r, rtol=2e-3, atol=2e-3)   # float32 vs float16 sums
    torch.testing.assert_close(gk, gk_r, rtol=2e-3, atol=2e-3)


@runs_kernels
@pytest.mark.parametrize("shape,kshape", [
    ((2, 1, 1, 7, 6), (1, 1, 1, 5, 3)),      # R2: Or = kOr = 1, non-square kernel
    ((1, 1, 3, 4, 4), (1, 3, 5, 3, 3)),      # kOr > Or: the orientation axis wraps twice
    ((1, 1, 2, 3, 2), (1, 2, 3, 5, 5)),      # kernel larger than the image
    ((1, 1, 1, 40, 70), (1, 1, 1, 3, 3)),    # several tiles per plane in both directions
])
def test_shapes_equal_reference(shape, kshape):
    f, k, grad = integer_case(shape, kshape, seed=3)
    assert_backends_agree(f, k, grad, with_no_index=False)


@runs_kernels
def test_negate_is_the_dilation():
    # negate=True is -erosion(-f), with the index of the erosion of -f (the CPU test does the
    # same for the Numba kernels, which fold the signs into their copies).
    f, k, _ = integer_case((2, 2, 4, 6, 5), (2, 4, 3, 3, 3), seed=7)
    out, idx = tk.erosion_forward(f, k, True, negate=True)
    ref, ref_idx = reference.erosion_forward(-f, k, True)
    assert torch.equal(out, -ref) and torch.equal(idx, ref_idx)
    value, _ = tk.erosion_forward(f, k, False, negate=True)
    assert torch.equal(value, -ref)


@runs_kernels
def test_large_offset_count_uses_int16_index():
    f, k, grad = integer_case((1, 1, 2, 6, 7), (1, 2, 3, 11, 11), seed=4)
    k[:, :, :2] += 10.0  # the last angular offset (n >= 242) wins, ties still common
    out, idx, gf, gk = assert_backends_agree(f, k, grad, with_no_index=False)
    assert idx.dtype == torch.int16 and int(idx.max()) > 255


@runs_kernels
@pytest.mark.parametrize("where", ["image", "kernel"])
@pytest.mark.parametrize("negate", [False, True])
def test_a_nan_shows_in_the_output_where_the_reference_shows_it(where, negate):
    """No value check runs on the GPU, so a NaN must not vanish there: it used to lose every
    comparison of the running minimum and leave no trace (0 NaN outputs of 240)."""
    f, k, _ = integer_case((1, 2, 4, 6, 5), (2, 4, 3, 3, 3), seed=3, hi=5)
    if where == "image":
        f[0, 0, 1, 2, 2] = float("nan")
    else:
        k[0, 1, 1, 1, 1] = float("nan")
    out, _ = tk.erosion_forward(f, k, True, negate)
    ref, _ = reference.erosion_forward(f.cpu(), k.cpu(), True, negate)
    assert torch.isnan(ref).any()
    assert torch.equal(torch.isnan(out.cpu()), torch.isnan(ref))
    finite = ~torch.isnan(ref)
    assert torch.equal(out.cpu()[finite], ref[finite])


@runs_kernels
def test_delta_kernel_is_an_exact_shift():
    B, C, Or, H, W = 1, 1, 4, 6, 5
    f = torch.randn(B, C, Or, H, W).to(DEVICE)
    k = torch.full((C, Or, 3, 3, 3), INF, device=DEVICE)
    k[:, :, 2, 2, 0] = 0.0                     # orientation +1, y +1, x -1
    out, idx = tk.erosion_forward(f, k, True)
    expected = torch.full_like(f, INF)
    expected[..., : H - 1, 1:] = torch.roll(f, shifts=-1, dims=2)[..., 1:, : W - 1]
    assert torch.equal(out, expected)
    assert torch.all(idx[torch.isfinite(out)] == (2 * 3 + 2) * 3 + 0)


@runs_kernels
def test_all_inf_outputs_send_no_gradient():
    f, _, grad = integer_case((1, 1, 2, 5, 6), (1, 2, 3, 3, 3), seed=5)
    k = torch.full((1, 2, 3, 3, 3), INF, device=DEVICE)
    k[:, :, 1, 0, 0] = 1.0                     # only the up-left neighbour can win
    out, idx, gf, gk = assert_backends_agree(f, k, grad, with_no_index=False)
    dead = torch.isinf(out)
    assert dead[..., 0, :].all() and dead[..., :, 0].all() and not dead[..., 1:, 1:].any()
    assert gf.sum().item() == grad[~dead].sum().item()
    assert gk.sum().item() == grad[~dead].sum().item()


@runs_kernels
def test_backward_honours_any_strides():
    f, k, grad = integer_case((1, 2, 2, 5, 4), (2, 2, 3, 3, 3), seed=6)
    _, idx = tk.erosion_forward(f, k, True)
    transposed = grad.transpose(3, 4).contiguous().transpose(3, 4)
    expanded = torch.ones((), device=DEVICE).expand(f.shape)       # y.sum().backward()
    for g in (transposed, expanded):
        assert not g.is_contiguous()
        got = tk.erosion_backward(g, idx, f.shape, k.shape)
        want = reference.erosion_backward(g, idx, f.shape, k.shape)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


@runs_kernels
def test_dispatcher_picks_triton_where_it_runs():
    f = torch.zeros(1, 1, 1, 2, 2, device=DEVICE)
    assert tk.supports(f) and kernels.select_backend(f).name == "triton"


# --------------------------------------------------------------------------------------------
# no kernels needed
# --------------------------------------------------------------------------------------------
def test_supports_only_where_it_can_run():
    cpu_f = torch.zeros(1, 1, 1, 2, 2)
    assert tk.supports(cpu_f) == INTERPRETED
    assert not tk.supports(cpu_f.to(torch.int32))


@pytest.mark.skipif(tk.triton is None, reason="triton is not installed")
@pytest.mark.parametrize("f_shape,k_shape,f_dtype,k_dtype,match", [
    ((2, 3, 4, 5), (3, 4, 3, 3, 3), torch.float32, torch.float32, "f must be a 5-D"),
    ((1, 3, 4, 5, 5), (2, 4, 3, 3, 3), torch.float32, torch.float32, "kstack must be"),
    ((1, 3, 4, 5, 5), (3, 4, 3, 3, 3), torch.float32, torch.float16, "match f in dtype"),
    ((1, 3, 4, 5, 5), (3, 4, 3, 3, 3), torch.int32, torch.int32, "triton backend needs f in"),
])
def test_bad_input_is_rejected(f_shape, k_shape, f_dtype, k_dtype, match):
    with pytest.raises(ValueError, match=match):
        tk.erosion_forward(torch.zeros(f_shape, dtype=f_dtype), torch.zeros(k_shape, dtype=k_dtype),
                           True)


@pytest.mark.skipif(tk.triton is None or INTERPRETED, reason="needs the compiled (non-interpreted) mode")
def test_cpu_tensors_without_interpreter_are_rejected():
    with pytest.raises(ValueError, match="TRITON_INTERPRET=1"):
        tk.erosion_forward(torch.zeros(1, 1, 1, 3, 3), torch.zeros(1, 1, 1, 3, 3), True)


# --------------------------------------------------------------------------------------------
# full size, on a GPU only
# --------------------------------------------------------------------------------------------
@gpu
@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_reference_shape_on_gpu(dtype):
    f, k, grad = integer_case((64, 16, 8, 28, 28), (16, 8, 5, 5, 5), seed=7, dtype=dtype, hi=40)
    assert_backends_agree(f, k, grad)


@gpu
@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_continuous_float32_on_gpu():
    g = torch.Generator().manual_seed(8)
    f = torch.randn(64, 16, 8, 28, 28, generator=g).cuda()
    k = torch.rand(16, 8, 5, 5, 5, generator=g).cuda()
    grad = torch.randn(f.shape, generator=g).cuda()
    out, idx = tk.erosion_forward(f, k, True)
    out_r, idx_r = reference.erosion_forward(f, k, True)
    assert torch.equal(out, out_r) and torch.equal(idx, idx_r)
    gf, gk = tk.erosion_backward(grad, idx, f.shape, k.shape)
    gf_r, gk_r = reference.erosion_backward(grad, idx_r, f.shape, k.shape)
    torch.testing.assert_close(gf, gf_r)
    torch.testing.assert_close(gk, gk_r, rtol=1e-4, atol=1e-3)  # sums of 50k terms, other order
