"""The course's exercises: a check per exercise, on fresh inputs, and a solution on request.

In a notebook an exercise is three cells: the statement; a template the student completes (a
function whose body is ``raise NotImplementedError``); and a check cell::

    exercises.check("01.3", maxplus_identity)

The check calls the student's function on inputs drawn afresh at every call (random sizes and
values), so nothing left over from an earlier "Run All" can pass it, and compares the result with
the mathematics (an identity, a bound) and with the reference solution. It prints one line:
"correct", or "not attempted yet" while the template is untouched (so the committed notebook
runs top to bottom), and raises ``AssertionError`` with a hint for a wrong answer. The solutions
live in :mod:`gmgan_lib.exercises.solutions`, never executed by a notebook before the student
asks: ``exercises.solution("01.3")`` prints one.
"""
from __future__ import annotations

import inspect
import math
import random
from collections.abc import Callable

import torch

from gmgan_lib.exercises import solutions as S
from gmgan_lib.nn import functional as F

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
    moved = shift(f)
    assert moved.shape == f.shape, f"shift keeps the shape: got {tuple(moved.shape)}"
    assert torch.equal(moved, S.shift(f)), "shift by 3 pixels to the right, filling with -1"
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
    diff = dilation_semigroup_difference(f, alpha, t, s)
    assert diff.shape == f.shape, f"the difference has the image's shape: got {tuple(diff.shape)}"
    assert diff.max() <= 1e-12, "D_s D_t f <= D_{t+s} f: a grid supremum never exceeds the plane's"
    # The canvas outside the image may be the background -1 or, for the mirror trick
    # -semigroup_error(-f, ...), +1: both are the difference, with two border conventions.
    assert any(torch.allclose(diff, S.dilation_semigroup_difference(f, alpha, t, s,
                                                                   background=b), atol=1e-12)
               for b in (-1.0, 1.0)), \
        f"not D_s D_t f - D_(t+s) f for alpha={alpha}, t={t:.3f}, s={s:.3f} (D f = -E(-f))"


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
        run(rng, *answers)
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
