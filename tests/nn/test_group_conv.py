"""p4 group convolutions: exact quarter-turn equivariance (strided and transposed too), the
filter construction against a direct sum, and clear errors."""
import pytest
import torch
import torch.nn.functional as F

from gmgan_lib.nn import GroupConvM2, rot90_m2, rot90_r2
from gmgan_lib.nn.functional import group_conv_m2
from gmgan_lib.nn.group_conv import group_filters_p4, lift_filters_p4

f64 = torch.float64

# (module arguments, input shape): DCGAN's geometry (kernel 4, stride 2, padding 1 between
# 28, 14 and 7 pixels), a "same" 3x3 layer, and D's last layer whose 7x7 kernel covers the map.
CASES = [
    (dict(in_channels=2, out_channels=3, kernel_size=4, stride=2, padding=1, lift=True), (2, 2, 28, 28)),
    (dict(in_channels=2, out_channels=3, kernel_size=4, stride=2, padding=1), (2, 2, 4, 14, 14)),
    (dict(in_channels=3, out_channels=2, kernel_size=4, stride=2, padding=1, transposed=True), (2, 3, 4, 7, 7)),
    (dict(in_channels=2, out_channels=3, kernel_size=3, padding=1), (2, 2, 4, 9, 9)),
    (dict(in_channels=3, out_channels=1, kernel_size=7), (2, 3, 4, 7, 7)),
]


@pytest.mark.parametrize("kwargs, shape", CASES, ids=["lift-s2", "group-s2", "transposed-s2",
                                                      "group-same", "group-full"])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_quarter_turns_commute_exactly(kwargs, shape, k):
    torch.manual_seed(0)
    m = GroupConvM2(**kwargs).double()
    x = torch.randn(shape, dtype=f64)
    assert m(x).abs().max() > 1e-3
    assert m.check_equivariance(x, k) < 1e-12


def test_an_unrotated_filter_bank_is_not_equivariant():
    # The contrast that shows the test above can fail: one filter for all orientations.
    torch.manual_seed(0)
    w = torch.randn(3, 2, 4, 4, dtype=f64)
    x = torch.randn(2, 2, 28, 28, dtype=f64)
    plain = lambda t: F.conv2d(t, w.repeat_interleave(4, 0), stride=2, padding=1).view(2, 3, 4, 14, 14)
    assert (plain(rot90_r2(x)) - rot90_m2(plain(x))).abs().max() > 1e-2


def test_group_convolution_is_the_direct_sum_over_orientations():
    # out[c, o] = sum_{i, a} f[i, a] (*) rot90(w[c, i, (a - o) mod 4], o), written out.
    torch.manual_seed(1)
    w = torch.randn(3, 2, 4, 3, 3, dtype=f64)
    f = torch.randn(1, 2, 4, 6, 6, dtype=f64)
    out = group_conv_m2(f, w, padding=1)
    for c in range(3):
        for o in range(4):
            direct = sum(F.conv2d(f[:, i, a:a + 1], torch.rot90(w[c, i, (a - o) % 4], o)[None, None],
                                  padding=1) for i in range(2) for a in range(4))
            torch.testing.assert_close(out[:, c, o:o + 1], direct)


def test_lifting_filters_are_exact_quarter_turns():
    w = torch.arange(2 * 1 * 4 * 4, dtype=f64).view(2, 1, 4, 4)
    filters = lift_filters_p4(w).view(2, 4, 1, 4, 4)
    for o in range(4):
        assert torch.equal(filters[:, o], torch.rot90(w, o, dims=(-2, -1)))
    assert group_filters_p4(torch.zeros(2, 3, 4, 5, 5)).shape == (8, 12, 5, 5)


def test_transposed_convolution_is_the_adjoint():
    # <conv(x), y> == <x, conv_transpose(y)> with the same weight: the transposed layer is the
    # adjoint of a group convolution, which is why it is equivariant too.
    torch.manual_seed(2)
    w = torch.randn(3, 2, 4, 4, 4, dtype=f64)       # group conv 2 -> 3 fields
    x = torch.randn(1, 2, 4, 14, 14, dtype=f64)
    y = torch.randn(1, 3, 4, 7, 7, dtype=f64)
    lhs = (group_conv_m2(x, w, 2, 1) * y).sum()
    rhs = (x * group_conv_m2(y, w, 2, 1, transposed=True)).sum()
    torch.testing.assert_close(lhs, rhs)


def test_gradients_match_float64_gradcheck():
    torch.manual_seed(3)
    x = torch.randn(1, 2, 4, 5, 5, dtype=f64, requires_grad=True)
    w = torch.randn(2, 2, 4, 3, 3, dtype=f64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: group_conv_m2(a, b, padding=1), (x, w))


@pytest.mark.parametrize("x, w, kwargs, match", [
    (torch.zeros(1, 2, 8, 5, 5), torch.zeros(3, 2, 4, 3, 3), {}, r"x must have Or=4"),
    (torch.zeros(1, 2, 4, 5, 5), torch.zeros(3, 2, 8, 3, 3), {}, r"weight must have Or=4"),
    (torch.zeros(1, 5, 4, 5, 5), torch.zeros(3, 2, 4, 3, 3), {}, r"Cin=5"),
    (torch.zeros(1, 2, 5, 5), torch.zeros(3, 2, 3, 3), {"transposed": True}, r"transposed lifting"),
    (torch.zeros(1, 2, 4, 5, 5), torch.zeros(3, 2, 3, 3), {}, r"x must have layout \[B, Cin, H, W\]"),
    (torch.zeros(1, 2, 4, 5, 5), torch.zeros(3, 2, 4, 3, 3, dtype=f64), {}, r"dtype"),
])
def test_bad_input_names_the_argument(x, w, kwargs, match):
    with pytest.raises(ValueError, match=match):
        group_conv_m2(x, w, **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(in_channels=0, out_channels=2, kernel_size=3), "in_channels"),
    (dict(in_channels=2, out_channels=2, kernel_size=3, padding=-1), "padding"),
    (dict(in_channels=2, out_channels=2, kernel_size=3, lift=True, transposed=True), "lift"),
])
def test_bad_module_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GroupConvM2(**kwargs)
