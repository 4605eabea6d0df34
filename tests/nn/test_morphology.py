"""Erosion and dilation on R2 and M2: gradients, exact identities, memory, properties, bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gmgan_lib import kernels
from gmgan_lib.nn import functional as gf
from gmgan_lib.nn.structuring import delta, flat_disk, flat_square, power, quadratic

f64 = torch.float64


# ------------------------------------------------------------------------------- gradients


def test_gradcheck_input_and_kernel_stack():
    torch.manual_seed(0)
    f = torch.randn(1, 2, 4, 4, 3, dtype=f64, requires_grad=True)
    k = torch.rand(2, 4, 3, 3, 3, dtype=f64, requires_grad=True)
    assert torch.autograd.gradcheck(gf.erosion_m2, (f, k))
    assert torch.autograd.gradcheck(gf.dilation_m2, (f, k))
    fr = torch.randn(1, 2, 5, 4, dtype=f64, requires_grad=True)
    kr = torch.rand(2, 3, 5, dtype=f64, requires_grad=True)
    assert torch.autograd.gradcheck(gf.erosion_r2, (fr, kr))
    assert torch.autograd.gradcheck(gf.dilation_r2, (fr, kr))


@pytest.mark.parametrize("distance", ["logarithmic", "half_angle", "sub_riemannian", "combined"])
def test_gradcheck_metric_m2(distance):
    torch.manual_seed(1)
    f = torch.randn(1, 2, 4, 5, 5, dtype=f64, requires_grad=True)
    metric = (0.3 + torch.rand(2, 3, dtype=f64)).requires_grad_()

    def op(f, metric):
        return gf.dilation_m2(f, gf.morphological_kernel_m2(metric, 3, 4, alpha=0.65, distance=distance))

    assert torch.autograd.gradcheck(op, (f, metric))


def test_gradcheck_metric_r2():
    torch.manual_seed(2)
    f = torch.randn(2, 2, 6, 6, dtype=f64, requires_grad=True)
    metric = (0.3 + torch.rand(2, 2, dtype=f64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda f, m: gf.erosion_r2(f, gf.morphological_kernel_r2(m, 5, 0.8)), (f, metric))


def test_expanded_incoming_gradient():
    """``y.sum().backward()`` hands the node an expanded, stride-0 gradient (lietorch rejects it)."""
    torch.manual_seed(3)
    f = torch.randn(2, 3, 4, 6, 6, requires_grad=True)
    k = torch.rand(3, 4, 3, 3, 3, requires_grad=True)
    gf.erosion_m2(f, k).sum().backward()
    # Every output sends exactly 1 to one input and to one kernel entry.
    assert f.grad.sum().item() == pytest.approx(f.numel())
    assert k.grad.sum().item() == pytest.approx(f.numel())
    assert (f.grad >= 0).all()


def test_non_contiguous_input_and_no_double_backward():
    torch.manual_seed(11)
    f = torch.randn(2, 3, 4, 7, 6).transpose(-1, -2)              # [2, 3, 4, 6, 7], strided
    k = torch.rand(3, 4, 3, 3, 3)
    assert not f.is_contiguous()
    assert torch.equal(gf.erosion_m2(f, k), gf.erosion_m2(f.contiguous(), k))
    f.requires_grad_()
    (g,) = torch.autograd.grad(gf.erosion_m2(f, k).square().sum(), f, create_graph=True)
    with pytest.raises(RuntimeError):                  # documented: double backward unsupported
        g.sum().backward()


def test_all_inf_output_sends_no_gradient():
    f = torch.randn(1, 1, 4, 4, requires_grad=True)
    k = torch.full((1, 3, 3), float("inf"))
    k[0, 0, 0] = 0.0
    k.requires_grad_()
    y = gf.erosion_r2(f, k)
    assert torch.isinf(y[0, 0, 0]).all()
    y.masked_fill(torch.isinf(y), 0).sum().backward()
    assert f.grad.sum().item() == 9.0 and k.grad.sum().item() == 9.0


# ------------------------------------------------------------------------------- exactness


def test_node_promises_winners_inside_only_without_inf_outputs(monkeypatch):
    """The autograd node lets the CPU backward skip its bounds test only when no output is +inf."""
    import dataclasses

    seen = []
    real = kernels.get_backend("cpu")

    def spy(*args, winners_inside=False):
        seen.append(winners_inside)
        return real.erosion_backward(*args, winners_inside=winners_inside)

    spying = dataclasses.replace(real, erosion_backward=spy)
    monkeypatch.setattr(kernels, "select_backend", lambda f: spying)
    f = torch.randn(1, 2, 4, 6, 6, requires_grad=True)
    k = torch.rand(2, 4, 3, 3, 3)
    k_dead = torch.full((2, 4, 3, 3, 3), float("inf"))
    k_dead[:, :, 1, 0, 0] = 0.0                      # the first row and column have no winner
    with kernels.use_backend("cpu"):
        gf.erosion_m2(f, k).sum().backward()
        grad_alive = f.grad.clone()
        f.grad = None
        out = gf.erosion_m2(f, k_dead)
        out.sum().backward()
    assert seen == [True, False]
    assert torch.isinf(out).any() and f.grad.sum().item() == (~torch.isinf(out)).sum().item()
    assert grad_alive.sum().item() == f.numel()


def test_delta_kernel_is_bitwise_identity():
    torch.manual_seed(4)
    f = torch.randn(2, 3, 8, 7, 6)
    k = torch.full((3, 8, 3, 5, 5), float("inf"))
    k[:, :, 1, 2, 2] = 0.0
    assert torch.equal(gf.erosion_m2(f, k), f)
    assert torch.equal(gf.dilation_m2(f, k), f)
    fr = torch.randn(2, 3, 7, 6)
    assert torch.equal(gf.erosion_r2(fr, delta(5, 3)), fr)
    assert torch.equal(gf.erosion_r2(fr, torch.zeros(3, 1, 1)), fr)        # size-1 zero kernel
    assert torch.equal(gf.erosion_m2(f, torch.zeros(3, 8, 1, 1, 1)), f)


def test_flat_kernels_are_min_max_filters():
    torch.manual_seed(5)
    f = torch.randn(2, 3, 9, 8)
    maxpool = F.max_pool2d(f, 3, stride=1, padding=1)          # pads with -inf
    assert torch.equal(gf.dilation_r2(f, flat_square(3, 3)), maxpool)
    assert torch.equal(gf.erosion_r2(f, flat_square(3, 3)), -F.max_pool2d(-f, 3, stride=1, padding=1))
    # M2: the orientation axis is periodic, so pad it circularly before pooling in 3D.
    g = torch.randn(2, 3, 8, 7, 7)
    circ = torch.cat([g[:, :, -1:], g, g[:, :, :1]], dim=2)
    assert torch.equal(gf.dilation_m2(g, torch.zeros(3, 8, 3, 3, 3)),
                       F.max_pool3d(circ, 3, stride=1, padding=(0, 1, 1)))
    # Flat disk of radius 1 = the 4-neighbourhood: min of a cross, computed by hand.
    inf = torch.full((2, 3, 1, 8), float("inf"))
    pad_r = torch.cat([inf, f, inf], dim=2)
    pad_c = torch.cat([inf[..., :1].expand(2, 3, 9, 1), f, inf[..., :1].expand(2, 3, 9, 1)], dim=3)
    cross = torch.minimum(torch.minimum(f, torch.minimum(pad_r[:, :, :-2], pad_r[:, :, 2:])),
                          torch.minimum(pad_c[..., :-2], pad_c[..., 2:]))
    assert torch.equal(gf.erosion_r2(f, flat_disk(1.0, 3)), cross)


def test_dilation_is_minus_erosion_of_minus():
    torch.manual_seed(6)
    f = torch.randn(2, 2, 4, 6, 6)
    k = torch.rand(2, 4, 3, 3, 3)
    assert torch.equal(gf.dilation_m2(f, k), -gf.erosion_m2(-f, k))


def test_flat_3x3_twice_is_flat_5x5():
    torch.manual_seed(7)
    f = torch.randn(2, 3, 11, 9)
    twice = gf.erosion_r2(gf.erosion_r2(f, flat_square(3, 3)), flat_square(3, 3))
    assert torch.equal(twice, gf.erosion_r2(f, flat_square(5, 3)))
    twice = gf.dilation_r2(gf.dilation_r2(f, flat_square(3, 3)), flat_square(3, 3))
    assert torch.equal(twice, gf.dilation_r2(f, flat_square(5, 3)))


# ------------------------------------------------------------------------------- semigroup
#
# On the integer grid the discrete infimal convolution min_{y in Z^2} k_t(y) + k_s(z - y) is an
# infimum over a subset of R^2, so it is >= the continuum value k_{t+s}(z): erosions can only
# overshoot, E_s E_t f >= E_{t+s} f (paths through intermediate pixels outside the image are
# excluded too, which again only raises the value). For the upper bound, let z* attain E_{t+s}
# and y* = t z*/(t+s) the continuum split; the grid point y = round(y*) is off by e, |e|^2 <= 1/2.
# Taylor at y* (gradient 0 there) gives k_t(y) + k_s(z*-y) - k_{t+s}(z*) <= |e|^2/2 * sup |Hessian|
# of y -> k_t(y) + k_s(z*-y) on the segment. For k = |x|^2/(2t) the Hessian is (1/t + 1/s) I,
# so the gap is at most (1/t + 1/s)/4. For k_t = (t/beta)(|x|/t)^beta the largest Hessian
# eigenvalue at x is (beta-1)(|x|/t)^(beta-2)/t, and on the segment |x| <= |y*| + sqrt(1/2),
# |z* - x| <= |z* - y*| + sqrt(1/2) with |z*| <= sqrt(2) R (R: half-width of the composed window).
# The bound holds at pixels at least the second kernel's half-width from the border, where the
# intermediate pixel x + u is inside the image, and with windows split in the ratio t : s so that
# the rounded split point stays in both windows.


def _power_gap_bound(beta, t, s, R):
    zmax = math.sqrt(2) * R
    rt = t * zmax / (t + s) + math.sqrt(0.5)
    rs = s * zmax / (t + s) + math.sqrt(0.5)
    return 0.25 * (beta - 1) * ((rt / t) ** (beta - 2) / t + (rs / s) ** (beta - 2) / s)


@pytest.mark.parametrize("t,s,sizes", [(1.0, 1.0, (5, 5)), (0.5, 1.0, (3, 5)), (2.0, 2.0, (7, 7))])
def test_semigroup_quadratic(t, s, sizes):
    torch.manual_seed(8)
    f = 4 * torch.randn(2, 2, 20, 20, dtype=f64)
    kt, ks = quadratic(sizes[0], t, 2, f64), quadratic(sizes[1], s, 2, f64)
    kts = quadratic(sizes[0] + sizes[1] - 1, t + s, 2, f64)
    two_steps = gf.erosion_r2(gf.erosion_r2(f, kt), ks)
    one_step = gf.erosion_r2(f, kts)
    m = sizes[1] // 2
    gap = (two_steps - one_step)[..., m:-m, m:-m]
    bound = (1 / t + 1 / s) / 4
    print(f"quadratic t={t} s={s}: max gap {gap.max().item():.4f} <= bound {bound:.4f}")
    assert gap.min() >= -1e-12 and (two_steps - one_step).min() >= -1e-12
    assert gap.max() <= bound + 1e-12
    assert gap.max() > 0          # the discretisation error is real, the bound is not vacuous


@pytest.mark.parametrize("alpha", [0.65, 0.8])
def test_semigroup_power(alpha):
    torch.manual_seed(9)
    t = s = 1.0
    beta = 2 * alpha / (2 * alpha - 1)
    f = 4 * torch.randn(2, 2, 20, 20, dtype=f64)
    kt, ks, kts = power(5, alpha, t, 2, f64), power(5, alpha, s, 2, f64), power(9, alpha, t + s, 2, f64)
    two_steps = gf.dilation_r2(gf.dilation_r2(f, kt), ks)
    one_step = gf.dilation_r2(f, kts)
    gap = (one_step - two_steps)[..., 2:-2, 2:-2]         # dilation: the mirror inequality
    bound = _power_gap_bound(beta, t, s, R=4)
    print(f"power alpha={alpha}: max gap {gap.max().item():.4f} <= bound {bound:.4f}")
    assert (one_step - two_steps).min() >= -1e-12
    assert gap.max() <= bound
    # The same bound on the kernels themselves (the infimal convolution of the sampled kernels).
    kinf = gf.erosion_r2(F.pad(kt[:1, None], (2, 2, 2, 2), value=float("inf")), ks[:1])[0]
    assert ((kinf - kts[:1]).min() >= -1e-12) and (kinf - kts[:1]).max() <= bound


def test_metric_kernel_r2_matches_teaching_power_kernel():
    ones = torch.ones(1, 2, dtype=f64)
    torch.testing.assert_close(gf.morphological_kernel_r2(ones, 5, 0.65), power(5, 0.65, channels=1, dtype=f64))
    torch.testing.assert_close(gf.morphological_kernel_r2(ones, 5, 1.0, t=2.0), quadratic(5, 2.0, dtype=f64))


# ------------------------------------------------------------------------------- memory


def _saved_bytes(fn, *args):
    total = []

    def pack(t):
        total.append(t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn(*args)
    return sum(total), out


def test_saved_for_backward_is_o_output():
    torch.manual_seed(10)
    f = torch.randn(2, 4, 8, 12, 12, requires_grad=True)
    k = torch.rand(4, 8, 5, 5, 5, requires_grad=True)
    saved, out = _saved_bytes(gf.erosion_m2, f, k)
    assert saved == out.numel()                       # exactly the uint8 arg-min index, 1 byte each

    def naive(f, k):                                  # what the custom node avoids
        out = None
        padded = F.pad(f, (2, 2, 2, 2), value=float("inf"))
        for a in range(5):
            fa = torch.roll(padded, -(a - 2), dims=2)
            for i in range(5):
                for j in range(5):
                    c = fa[..., i:i + 12, j:j + 12] + k[:, :, a, i, j][None, :, :, None, None]
                    out = c if out is None else torch.minimum(out, c)
        return out

    naive_saved, _ = _saved_bytes(naive, f, k)
    assert naive_saved > 50 * out.numel() * 4        # the hook does see per-offset copies
    saved_d, _ = _saved_bytes(gf.dilation_m2, f, k)
    assert saved_d == out.numel()
    # With +inf in the kernel some outputs may have no winner; a bool mask may join the index.
    k_inf = k.detach().clone()
    k_inf[:, :, :, 0, :] = float("inf")
    saved_inf, _ = _saved_bytes(gf.erosion_m2, f, k_inf)
    assert saved_inf <= 2 * out.numel()
    with torch.no_grad():                             # no graph: nothing saved, no index computed
        assert _saved_bytes(gf.erosion_m2, f, k)[0] == 0


# ------------------------------------------------------------------------------- properties

small = arrays(np.float64, (1, 2, 4, 5, 5), elements=st.integers(-20, 20).map(lambda v: v / 4))


def _kernel(seed, kor=3):
    g = torch.Generator().manual_seed(seed)
    k = torch.randint(0, 8, (2, 4, kor, 3, 3), generator=g).to(f64) / 4
    k[:, :, kor // 2, 1, 1] = 0.0               # k(0) = 0
    return k


@settings(max_examples=25, deadline=None)
@given(small, small, st.integers(0, 10_000))
def test_monotone(a, b, seed):
    f1 = torch.from_numpy(a)
    f2 = f1 + torch.from_numpy(b).abs()          # f1 <= f2
    k = _kernel(seed)
    assert (gf.erosion_m2(f1, k) <= gf.erosion_m2(f2, k)).all()
    assert (gf.dilation_m2(f1, k) <= gf.dilation_m2(f2, k)).all()


@settings(max_examples=25, deadline=None)
@given(small, st.integers(-40, 40).map(lambda v: v / 8), st.integers(0, 10_000))
def test_adding_a_constant_commutes(a, c, seed):
    f, k = torch.from_numpy(a), _kernel(seed)
    # Quarter-integer data: every sum is exact in float64, so equality is exact.
    assert torch.equal(gf.erosion_m2(f + c, k), gf.erosion_m2(f, k) + c)
    assert torch.equal(gf.dilation_m2(f + c, k), gf.dilation_m2(f, k) + c)


@settings(max_examples=25, deadline=None)
@given(small, st.integers(0, 10_000))
def test_erosion_below_f_below_dilation(a, seed):
    f, k = torch.from_numpy(a), _kernel(seed)
    assert (gf.erosion_m2(f, k) <= f).all() and (f <= gf.dilation_m2(f, k)).all()
    metric = torch.rand(2, 3, dtype=f64, generator=torch.Generator().manual_seed(seed))
    km = gf.morphological_kernel_m2(metric, 3, 4, 0.65)
    assert (gf.erosion_m2(f, km) <= f).all() and (f <= gf.dilation_m2(f, km)).all()


@settings(max_examples=20, deadline=None)
@given(arrays(np.float64, (1, 2, 4, 9, 9), elements=st.integers(-20, 20).map(lambda v: v / 4)),
       st.integers(-2, 2), st.integers(-2, 2), st.integers(0, 10_000))
def test_translation_equivariance_away_from_border(a, dy, dx, seed):
    f, k = torch.from_numpy(a), _kernel(seed)
    shifted = torch.roll(f, (dy, dx), dims=(-2, -1))
    lhs = gf.erosion_m2(shifted, k)
    rhs = torch.roll(gf.erosion_m2(f, k), (dy, dx), dims=(-2, -1))
    m = 1 + 2                                     # kernel half-width + largest shift
    assert torch.equal(lhs[..., m:-m, m:-m], rhs[..., m:-m, m:-m])


# ------------------------------------------------------------------------------- bad input


def test_bad_input_raises_value_error():
    f = torch.randn(1, 2, 4, 5, 5)
    k = torch.rand(2, 4, 3, 3, 3)
    cases = [
        (lambda: gf.erosion_m2(f[0], k), "f"),                                   # wrong rank
        (lambda: gf.erosion_m2(f, k[0]), "kernel_stack"),
        (lambda: gf.erosion_m2(f, torch.rand(2, 4, 3, 4, 3)), "odd"),           # even size
        (lambda: gf.erosion_m2(f, torch.rand(3, 4, 3, 3, 3)), "channels"),
        (lambda: gf.dilation_m2(f, torch.rand(2, 8, 3, 3, 3)), "orientation"),
        (lambda: gf.erosion_m2(f, k.double()), "dtype"),
        (lambda: gf.erosion_m2(f.int(), k), "floating"),
        (lambda: gf.erosion_m2(f.clone().index_fill_(3, torch.tensor([1]), float("nan")), k), "NaN"),
        (lambda: gf.erosion_r2(f[:, :, 0], torch.rand(2, 2, 3)), "odd"),
        (lambda: gf.erosion_r2(f[:, :, 0], torch.rand(3, 3, 3)), "channels"),
        (lambda: gf.dilation_r2(f, torch.rand(2, 3, 3)), "f"),
        (lambda: gf.morphological_kernel_m2(torch.rand(2, 2), 3, 4, 0.65), "metric"),
        (lambda: gf.morphological_kernel_m2(-torch.rand(2, 3), 3, 4, 0.65), "metric"),
        (lambda: gf.morphological_kernel_m2(torch.rand(2, 3), (3, 4, 3), 4, 0.65), "kernel_size"),
        (lambda: gf.morphological_kernel_m2(torch.rand(2, 3), 3, 4, 0.5), "alpha"),
        (lambda: gf.morphological_kernel_m2(torch.rand(2, 3), 3, 4, 1.1), "alpha"),
        (lambda: gf.morphological_kernel_m2(torch.rand(2, 3), 3, 0, 0.65), "orientations"),
        (lambda: gf.morphological_kernel_m2(torch.rand(2, 3), 3, 4, 0.65, distance="euclid"), "distance"),
        (lambda: gf.morphological_kernel_m2(torch.rand(2, 3), 3, 4, 0.65, t=0.0), "t"),
        (lambda: gf.morphological_kernel_r2(torch.rand(2, 3), 3, 0.65), "metric"),
        (lambda: gf.morphological_kernel_r2(torch.rand(2, 2), 4, 0.65), "kernel_size"),
        (lambda: gf.morphological_kernel_r2(torch.tensor([[1.0, float("nan")]]), 3, 0.65), "metric"),
        (lambda: flat_square(4), "size"),
        (lambda: power(5, 0.3), "alpha"),
    ]
    for fn, word in cases:
        with pytest.raises(ValueError, match=word):
            fn()


# Issue 28, item 4: a NaN inside a kernel was a silent wrong answer on the CPU backend (a NaN
# candidate never wins its strict "<"; the reference lets it through). Every kernel a caller
# passes is checked, under its own name, whatever the backend; +inf stays allowed (outside the
# structuring element: flat_disk, delta).
KERNEL_OPERATORS = {   # name -> (operator of one kernel, the parameter's name, the kernel's shape)
    "erosion_r2": (lambda f, k: gf.erosion_r2(f[:, :, 0], k), "kernel", (2, 3, 3)),
    "dilation_r2": (lambda f, k: gf.dilation_r2(f[:, :, 0], k), "kernel", (2, 3, 3)),
    "erosion_m2": (gf.erosion_m2, "kernel_stack", (2, 4, 3, 3, 3)),
    "dilation_m2": (gf.dilation_m2, "kernel_stack", (2, 4, 3, 3, 3)),
    "dilation_erosion_m2 (k_dil)": (
        lambda f, k: gf.dilation_erosion_m2(f, k, torch.rand(2, 4, 3, 3, 3)), "k_dil", (2, 4, 3, 3, 3)),
    "dilation_erosion_m2 (k_ero)": (
        lambda f, k: gf.dilation_erosion_m2(f, torch.rand(2, 4, 3, 3, 3), k), "k_ero", (2, 4, 3, 3, 3)),
}
CPU_BACKENDS = [name for name in ("reference", "cpu") if kernels.available(name)]


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("bad, word", [(float("nan"), "NaN"), (-float("inf"), "-inf")])
@pytest.mark.parametrize("operator", sorted(KERNEL_OPERATORS))
def test_a_nan_or_minus_inf_in_a_kernel_is_refused_naming_it(operator, bad, word, backend):
    from gmgan_lib.nn._checks import NonFiniteInputError

    fn, name, shape = KERNEL_OPERATORS[operator]
    torch.manual_seed(0)
    f = torch.randn(16, 2, 4, 6, 6)          # a batch of 16: the fused CPU kernel's case too
    k = torch.rand(shape)
    k.view(-1)[5] = bad
    with kernels.use_backend(backend):
        with pytest.raises(NonFiniteInputError, match=rf"^{name} contains {word}; "):
            fn(f, k)
        k.view(-1)[5] = float("inf")          # +inf: an offset outside the structuring element
        assert torch.isfinite(fn(f, k)).all()

