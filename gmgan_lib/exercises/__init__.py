"""The course's exercises: a check per exercise, on fresh inputs, and a solution on request.

In a notebook an exercise is three cells: the statement; a template the student completes (a
function whose body is ``raise NotImplementedError``); and a check cell::

    exercises.check("01.3", maxplus_identity)

The check calls the student's function on inputs drawn afresh at every call (random sizes and
values), so nothing left over from an earlier "Run All" can pass it, and compares the result with
the mathematics (an identity, a bound) and with the reference solution. The reference figures
are computed before the student's function runs, and that function only ever sees copies of the
inputs (:func:`_on_copies`): an answer that changes its inputs in place (centres an array,
zeroes a vector) cannot change what it is compared with. It prints one line:
"correct", or "not attempted yet" while the template is untouched (so the committed notebook
runs top to bottom), and raises ``AssertionError`` with a hint for a wrong answer. The solutions
live in :mod:`gmgan_lib.exercises.solutions`, never executed by a notebook before the student
asks: ``exercises.solution("01.3")`` prints one.
"""
from __future__ import annotations

import copy
import functools
import inspect
import math
import random
from collections.abc import Callable

import torch

from gmgan_lib.exercises import solutions as S
from gmgan_lib.nn import functional as F
from gmgan_lib.nn.equivariance import EquivariantModule

_CHECKS: dict[str, tuple[Callable, tuple[Callable, ...]]] = {}


def _exercise(key: str, *reference: Callable):
    def register(check):
        _CHECKS[key] = (check, reference)
        return check
    return register


def _images(rng: random.Random, low: int = 10, high: int = 30) -> torch.Tensor:
    """A fresh batch [B, 1, H, W] of values in [-1, 1], float64, of random shape."""
    b, h, w = rng.randint(1, 4), rng.randint(low, high), rng.randint(low, high)
    g = torch.Generator().manual_seed(rng.getrandbits(62))
    return torch.rand(b, 1, h, w, generator=g, dtype=torch.float64) * 2 - 1


@_exercise("01.1", S.equivalent_size)
def _check_01_1(rng, equivalent_size):
    f = _images(rng)
    for _ in range(3):
        a, b = rng.choice([3, 5, 7]), rng.choice([3, 5, 7])
        size = equivalent_size(a, b)
        twice = F.erosion_r2(F.erosion_r2(f, F.flat_square(a, dtype=f.dtype)),
                             F.flat_square(b, dtype=f.dtype))
        assert isinstance(size, int) and size % 2 == 1, f"a square of odd side: got {size!r}"
        assert torch.equal(F.erosion_r2(f, F.flat_square(size, dtype=f.dtype)), twice), \
            f"sizes {a} then {b}: the Minkowski sum of the two squares, not {size}"


@_exercise("01.2", S.shift)
def _check_01_2(rng, shift):
    f = _images(rng)
    want = S.shift(f)
    moved = shift(f)
    assert moved.shape == f.shape, f"shift keeps the shape: got {tuple(moved.shape)}"
    assert torch.equal(moved, want), "shift by 3 pixels to the right, filling with -1"
    quad = F.quadratic(5, dtype=f.dtype)
    a = F.erosion_r2(moved, quad)[..., 5:-3]
    b = shift(F.erosion_r2(f, quad))[..., 5:-3]
    assert torch.equal(a, b), "erosion commutes with the shift away from the borders"


@_exercise("01.3", S.maxplus_identity)
def _check_01_3(rng, maxplus_identity):
    for n in rng.sample(range(2, 10), 3):
        identity = torch.as_tensor(maxplus_identity(n), dtype=torch.float64)
        assert identity.shape == (n, n), f"for n={n} the identity is n x n: got {tuple(identity.shape)}"
        x = torch.randn(n, rng.randint(1, 5), dtype=torch.float64)
        product = (identity[:, :, None] + x[None, :, :]).amax(dim=1)     # I (max,+) x
        assert torch.equal(product, x), f"I (max,+) x must be x (n={n}): 0 on the diagonal, -inf off it"


@_exercise("02.1", S.beta_of, S.hopf_lax)
def _check_02_1(rng, beta_of, hopf_lax):
    for _ in range(3):
        alpha, t = rng.uniform(0.55, 1.0), rng.uniform(0.5, 3.0)
        assert math.isclose(beta_of(alpha), F.beta_of_alpha(alpha), rel_tol=1e-9), \
            f"beta for alpha={alpha:.3f}: 1/(2 alpha) + 1/beta = 1"
        library = F.power(5, alpha, t=t, dtype=torch.float64)[0, 2, 4].item()   # |x| = 2
        assert math.isclose(hopf_lax(2.0, alpha, t), library, rel_tol=1e-9), \
            f"k_t at |x| = 2 for alpha={alpha:.3f}, t={t:.3f}: (t / beta) (|x| / t)^beta"


@_exercise("02.2", S.sigma_of)
def _check_02_2(rng, sigma_of):
    for _ in range(3):
        alpha, t = rng.uniform(0.55, 1.0), rng.uniform(0.5, 3.0)
        metric = torch.full((1, 2), 1 / sigma_of(t, alpha), dtype=torch.float64)
        lhs = F.power(7, alpha, t=t, dtype=torch.float64)
        rhs = F.morphological_kernel_r2(metric, 7, alpha, t=1.0)
        assert torch.allclose(lhs, rhs), \
            f"k_t(x) = k_1(x / sigma) fails for alpha={alpha:.3f}, t={t:.3f}"


@_exercise("02.3", S.dilation_semigroup_difference)
def _check_02_3(rng, dilation_semigroup_difference):
    f = _images(rng)
    alpha, t, s = rng.choice([1.0, 0.75, 0.65]), rng.uniform(0.5, 2.0), rng.uniform(0.5, 2.0)
    wants = [S.dilation_semigroup_difference(f, alpha, t, s, background=b) for b in (-1.0, 1.0)]
    diff = dilation_semigroup_difference(f, alpha, t, s)
    assert diff.shape == f.shape, f"the difference has the image's shape: got {tuple(diff.shape)}"
    assert diff.max() <= 1e-12, "D_s D_t f <= D_{t+s} f: a grid supremum never exceeds the plane's"
    # The canvas outside the image may be the background -1 or, for the mirror trick
    # -semigroup_error(-f, ...), +1: both are the difference, with two border conventions.
    assert any(torch.allclose(diff, want, atol=1e-12) for want in wants), \
        f"not D_s D_t f - D_(t+s) f for alpha={alpha}, t={t:.3f}, s={s:.3f} (D f = -E(-f))"


@_exercise("03.1", S.orientation_roll)
def _check_03_1(rng, orientation_roll):
    from gmgan_lib import nn as gnn

    x = _images(rng, 9, 15).float()
    for orientations in rng.sample([4, 8, 12, 16], 2):
        lift = gnn.LiftM2(1, 2, orientations=orientations, kernel_size=5)
        for k in (1, 2, 3):
            s = orientation_roll(orientations, k)
            with torch.no_grad():
                a = lift(torch.rot90(x, k, dims=(-2, -1)))
                b = torch.roll(torch.rot90(lift(x), k, dims=(-2, -1)), s, dims=2)
            assert isinstance(s, int), f"a roll is a whole number of steps: got {s!r}"
            assert torch.allclose(a, b, atol=1e-5), \
                f"Or={orientations}, k={k}: a roll of {s} does not make the lift equivariant"


@_exercise("03.2", S.half_turn_error)
def _check_03_2(rng, half_turn_error):
    from gmgan_lib import nn as gnn

    torch.manual_seed(rng.getrandbits(31))
    x = torch.randn(rng.randint(1, 3), 2, 8, 12, 12)
    exact = half_turn_error(gnn.CDELayerM2(2, 2), x)
    assert isinstance(exact, float), f"return the error as a float: got {type(exact).__name__}"
    assert exact < 1e-5, f"the CDE layer is equivariant to half turns, yet you measured {exact:.3g}"
    # a layer that is not equivariant (it adds a fixed random map) must measure large
    broken = half_turn_error(_AddsAFixedMap(torch.randn(1, 1, 8, 12, 12)), x)
    assert broken > 1e-2, "measure layer(Rot x) - Rot layer(x): a non-equivariant map gave ~0"


class _AddsAFixedMap(EquivariantModule):
    """Not equivariant at all (``check_equivariance`` is there only so that every way of
    measuring works on it): y + a fixed random map."""

    def __init__(self, bias: torch.Tensor):
        super().__init__()
        self.register_buffer("bias", bias)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return y + self.bias


@_exercise("03.3", S.error_type_of)
def _check_03_3(rng, error_type_of):
    from gmgan_lib import nn as gnn

    for orientations in rng.sample([3, 5, 6, 10], 2):
        got = error_type_of(lambda o=orientations: gnn.rot90_m2(torch.zeros(1, 1, o, 5, 5)))
        assert got is ValueError, f"Or={orientations}: rot90_m2 refuses with a ValueError, got {got}"
    got = error_type_of(lambda: gnn.rot90_m2(torch.zeros(1, 1, 4 * rng.randint(1, 4), 5, 5)))
    assert got is None, f"a whole number of orientation steps raises nothing, got {got}"


@_exercise("04.1", S.p4_conv_parameters)
def _check_04_1(rng, p4_conv_parameters):
    from gmgan_lib import nn as gnn
    from gmgan_lib.models import count_parameters

    for _ in range(3):
        c_in, c_out, k = rng.randint(1, 40), rng.randint(1, 40), rng.choice([1, 3, 4, 5])
        n = count_parameters(gnn.GroupConvM2(c_in, c_out, k))
        got = p4_conv_parameters(c_in, c_out, k)
        assert got == n, f"GroupConvM2({c_in}, {c_out}, {k}) has {n} weights, not {got}"


@_exercise("04.2", S.interpolate)
def _check_04_2(rng, interpolate):
    from gmgan_lib.models import build
    from gmgan_lib.sampling import generate

    torch.manual_seed(rng.getrandbits(31))
    G = build("gan", latent_dim=rng.randint(8, 32)).generator        # a fresh, untrained G
    z0, z1 = torch.randn(2, G.latent_dim)
    steps = rng.randint(4, 9)
    start, end = generate(G, z0[None])[0], generate(G, z1[None])[0]
    want = S.interpolate(G, z0, z1, steps)
    images = interpolate(G, z0, z1, steps)
    assert tuple(images.shape) == (steps, 1, 28, 28), \
        f"{steps} images [steps, 1, 28, 28], got {tuple(images.shape)}"
    assert torch.allclose(images[0], start, atol=1e-5), "start at z0"
    assert torch.allclose(images[-1], end, atol=1e-5), "end at z1"
    assert torch.allclose(images, want, atol=1e-5), \
        "equally spaced points (1 - w) z0 + w z1, w = 0, 1/(steps-1), ..., 1"


@_exercise("05.1", S.fid_from_features)
def _check_05_1(rng, fid_from_features):
    from gmgan_lib.metrics import frechet_distance

    g = torch.Generator().manual_seed(rng.getrandbits(62))
    d = rng.randint(4, 16)
    fa = torch.randn(rng.randint(100, 300), d, generator=g, dtype=torch.float64)
    fb = torch.randn(rng.randint(100, 300), d, generator=g, dtype=torch.float64) * 1.5 + 0.3
    want = frechet_distance(fa, fb)
    got = fid_from_features(fa.numpy(), fb.numpy())
    assert abs(got - want) <= 1e-6 * max(1.0, want), f"FID {got:.6g}, expected {want:.6g}"
    assert abs(fid_from_features(fa.numpy(), fa.numpy())) < 1e-6, "the FID of a set to itself is 0"


@_exercise("05.2", S.class_kl)
def _check_05_2(rng, class_kl):
    from gmgan_lib.metrics.scores import class_kl as library_kl

    g = torch.Generator().manual_seed(rng.getrandbits(62))
    real = torch.randint(0, 10, (rng.randint(50, 500),), generator=g)
    fake = torch.randint(0, rng.randint(1, 10), (rng.randint(50, 500),), generator=g)
    want = library_kl(real, fake, eps=1e-6)
    got = class_kl(real, fake)
    assert abs(got - want) < 1e-9 * max(1.0, want), f"KL {got:.6g}, expected {want:.6g}"


@_exercise("06.1", S.turn_each)
def _check_06_1(rng, turn_each):
    from gmgan_lib.models.hybrid import random_quarter_turns

    n, side = rng.randint(2, 6), rng.randint(5, 28)      # square: a quarter turn keeps the shape
    g = torch.Generator().manual_seed(rng.getrandbits(62))
    images = torch.rand(n, 1, side, side, generator=g, dtype=torch.float64) * 2 - 1
    turns = torch.tensor([rng.randrange(4) for _ in range(n)])
    turns[0], turns[1] = 1, 3          # both senses appear, so a clockwise answer cannot pass
    want = random_quarter_turns(images, turns)
    got = turn_each(images, turns)
    assert tuple(got.shape) == tuple(want.shape), \
        f"one image out per image in, same layout: expected {tuple(want.shape)}, got {tuple(got.shape)}"
    for b in range(n):
        assert torch.equal(got[b], want[b]), (
            f"image {b} should be turned {int(turns[b])} quarter turn(s) counter-clockwise "
            f"(torch.rot90 over the last two axes), each image by its own number")


def _on_copies(answer: Callable) -> Callable:
    """``answer`` called on deep copies of its arguments (tensors, arrays, modules): whatever it
    does to them in place, the check's own inputs, and the reference figures computed from them,
    stay as they were drawn."""
    @functools.wraps(answer)
    def on_copies(*args, **kwargs):
        return answer(*copy.deepcopy(args), **copy.deepcopy(kwargs))
    return on_copies


def check(key: str, *answers: Callable, seed: int | None = None) -> None:
    """Check exercise ``key`` ("01.3") on the student's functions, on fresh inputs, and print
    the verdict ("correct", or "not attempted yet" while the template is untouched); raises
    AssertionError (with a hint) for a wrong answer. (It returns nothing, so that a notebook
    cell shows the verdict alone.)"""
    if key not in _CHECKS:
        raise ValueError(f"key must name an exercise, one of {sorted(_CHECKS)}; got {key!r}")
    run, reference = _CHECKS[key]
    if len(answers) != len(reference):
        names = ", ".join(f.__name__ for f in reference)
        raise TypeError(f"exercise {key} checks {len(reference)} function(s) ({names}), "
                        f"got {len(answers)}")
    rng = random.Random(seed)     # None: fresh inputs at every call
    try:
        run(rng, *(_on_copies(answer) for answer in answers))
    except NotImplementedError:
        print(f"Exercise {key}: not attempted yet (complete the cell above, then run this one; "
              f'exercises.solution("{key}") shows one solution)')
        return
    print(f"Exercise {key}: correct")


def solution(key: str) -> str:
    """Print (and return) the source of one solution of exercise ``key``."""
    if key not in _CHECKS:
        raise ValueError(f"key must name an exercise, one of {sorted(_CHECKS)}; got {key!r}")
    text = "\n\n".join(inspect.getsource(f) for f in _CHECKS[key][1])
    print(text)
    return text


def keys() -> list[str]:
    return sorted(_CHECKS)
