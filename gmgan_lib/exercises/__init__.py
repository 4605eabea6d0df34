"""The course's exercises: a check per exercise, on fresh inputs, and a solution on request.

In a notebook an exercise is three cells: the statement; a template the student completes (a
function whose body is ``raise NotImplementedError``); and a check cell::

    exercises.check("01.3", maxplus_identity)

The check calls the student's function on inputs drawn afresh at every call (random sizes and
values), so nothing left over from an earlier "Run All" can pass it, and compares the result with
the mathematics (an identity, a bound) and with the reference solution. The reference figures
are computed before the student's function runs, and that function only ever sees copies of the
inputs (:func:`_on_copies`): an answer that changes its inputs in place (centres an array,
zeroes a vector) cannot change what it is compared with.

It prints one line and returns nothing: "correct"; "not attempted yet" while the template is
untouched (so the committed notebook runs top to bottom); or, for a wrong answer,
"Exercise KEY: not yet: <hint>". A wrong answer is a step of learning, not a crash: no traceback
and no line of the checker reaches the screen, and the hint names the idea to look at (often
what was wrong with this answer: a wrong direction, a missing term, a factor), never the answer
itself. An answer still running after :data:`TIME_LIMIT_S` seconds (an endless loop) is
stopped with a hint too. The solutions live in :mod:`gmgan_lib.exercises.solutions`, never executed by a notebook
before the student asks: ``exercises.solution("01.3")`` shows one.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import linecache
import math
import numbers
import random
import signal
import threading
from collections.abc import Callable
from typing import NoReturn

import torch

from gmgan_lib.exercises import solutions as S
from gmgan_lib.nn import functional as F
from gmgan_lib.nn.equivariance import EquivariantModule

_CHECKS: dict[str, tuple[Callable, tuple[Callable, ...]]] = {}


class _NotYet(Exception):
    """A wrong answer; the message is the hint that :func:`check` prints. (The checks raise this,
    never use ``assert``: asserts vanish under ``python -O``, and an AssertionError raised inside
    the student's own code must not read as the checker's verdict.)"""


# The longest a check may take: the reference solutions need at most about 10 s (05.1, on a
# loaded 2-core VM), so an answer still running after this is stuck (a loop that never ends) or
# works element by element in Python where the exercise wants tensor operations.
TIME_LIMIT_S = 60


class _TooSlow(BaseException):
    """Raised by the alarm inside the student's code: a BaseException, so that no ``except
    Exception`` in their function or in the checker takes it for a wrong value."""


@contextlib.contextmanager
def _time_limit(seconds: float):
    """Raise :class:`_TooSlow` in the main thread after ``seconds`` (an interval timer, SIGALRM).
    Only where the alarm is free: off the main thread, on a platform without SIGALRM, or when
    someone else's handler is installed (a test runner's timeout), there is no limit."""
    if (not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGALRM) is not signal.SIG_DFL):
        yield
        return

    def on_alarm(signum, frame):
        raise _TooSlow()

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)


class _AnswerRaised(_NotYet):
    """The student's function itself raised; the message says what, and where in their code."""


def _not_yet(hint: str) -> NoReturn:
    raise _NotYet(hint)


def _expect(condition: bool, hint: str) -> None:
    if not condition:
        raise _NotYet(hint)


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


def _describe(value) -> str:
    """What an answer returned, in a few words (its shape, not its values): one line, however
    large the value (a list of tensors once printed every number of every tensor)."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if hasattr(value, "shape"):
        return f"{type(value).__name__} of shape {tuple(value.shape)}"
    if isinstance(value, (list, tuple)):
        return (f"a {type(value).__name__} of {len(value)} {_items(value)}" if value
                else f"an empty {type(value).__name__}")
    if value is None:
        return "None"
    text = repr(value)
    return f"{text if len(text) <= 60 else text[:57] + '...'} ({type(value).__name__})"


def _items(values) -> str:
    """What a non-empty list or tuple holds, in the plural when it holds several: "tensors of
    shape (1, 5, 5)", "ints", "items of different types"."""
    s = "" if len(values) == 1 else "s"
    kinds = {type(v) for v in values}
    if len(kinds) > 1:
        return "items of different types"
    kind = kinds.pop()
    if hasattr(values[0], "shape"):
        name = "tensor" if issubclass(kind, torch.Tensor) else kind.__name__
        shapes = {tuple(v.shape) for v in values}
        return f"{name}{s} of shape {shapes.pop()}" if len(shapes) == 1 else \
            f"{name}s of different shapes"
    return f"None value{s}" if kind is type(None) else f"{kind.__name__}{s}"


def _number(value, call: str) -> float:
    """``value`` as a float, or a hint that ``call`` should have returned a number."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    _expect(isinstance(value, numbers.Real) and not isinstance(value, bool),
            f"{call} should return a number, got {_describe(value)}")
    return float(value)


def _is_tensor_of_shape(value, shape: tuple) -> bool:
    return isinstance(value, torch.Tensor) and tuple(value.shape) == tuple(shape)


@_exercise("01.1", S.equivalent_size)
def _check_01_1(rng, equivalent_size):
    f = _images(rng)
    for _ in range(3):
        a, b = rng.choice([3, 5, 7]), rng.choice([3, 5, 7])
        twice = F.erosion_r2(F.erosion_r2(f, F.flat_square(a, dtype=f.dtype)),
                             F.flat_square(b, dtype=f.dtype))
        size = equivalent_size(a, b)
        _expect(isinstance(size, numbers.Integral) and not isinstance(size, bool)
                and size > 0 and size % 2 == 1,
                f"equivalent_size({a}, {b}) is the side of a square with a centre pixel: a "
                f"positive odd int, got {_describe(size)}")
        # (a side far beyond both squares would also make the check build a huge kernel)
        _expect(size <= 2 * (a + b), f"a {size} x {size} square reaches much farther than a "
                f"{a} x {a} window followed by a {b} x {b} one can")
        _expect(torch.equal(F.erosion_r2(f, F.flat_square(int(size), dtype=f.dtype)), twice),
                f"eroding by a {a} x {a} square, then by a {b} x {b} square, is not eroding once "
                f"by a {size} x {size} square: how far from its centre does the first window "
                "reach, and how much farther the second one from there? Together they cover the "
                "Minkowski sum of the two squares")


@_exercise("01.2", S.shift)
def _check_01_2(rng, shift):
    f = _images(rng)
    want = S.shift(f)
    moved = shift(f)
    _expect(_is_tensor_of_shape(moved, f.shape),
            f"shift(f) should return an image of f's shape {tuple(f.shape)}, "
            f"got {_describe(moved)}")
    if torch.equal(moved[..., :-3], f[..., 3:]):
        _not_yet("the image moved to the left; the statement moves it to the right")
    if not torch.equal(moved[..., 3:], want[..., 3:]):
        _not_yet("column j of the result (for j >= 3) should be column j - 3 of the image")
    if not torch.equal(moved[..., :3], want[..., :3]):
        if torch.equal(moved[..., :3], f[..., -3:]):
            _not_yet("the 3 columns that enter on the left came round from the right edge (a "
                     "roll wraps around); they should be background")
        _not_yet("the 3 columns that enter on the left should be background, -1")
    quad = F.quadratic(5, dtype=f.dtype)
    a = F.erosion_r2(moved, quad)[..., 5:-3]
    b = shift(F.erosion_r2(f, quad))[..., 5:-3]
    _expect(torch.equal(a, b), "eroding then shifting should equal shifting then eroding away "
            "from the borders: does shift give the same result on every image?")


@_exercise("01.3", S.maxplus_identity)
def _check_01_3(rng, maxplus_identity):
    for n in rng.sample(range(2, 10), 3):
        answer = maxplus_identity(n)
        try:
            identity = torch.as_tensor(answer, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            _not_yet(f"maxplus_identity({n}) should return an {n} x {n} matrix of numbers (a "
                     f"tensor or an array), got {_describe(answer)}")
        _expect(identity.shape == (n, n),
                f"maxplus_identity({n}) should be {n} x {n}, got shape {tuple(identity.shape)}")
        x = torch.randn(n, rng.randint(1, 5), dtype=torch.float64)
        product = (identity[:, :, None] + x[None, :, :]).amax(dim=1)     # I (max,+) x
        if not torch.equal(product, x):
            i = int((product != x).any(dim=1).nonzero()[0])
            _not_yet(f"I (max,+) x should be x for every x; with your I (n={n}) entry {i} of the "
                     f"product is {product[i, 0].item():.3g}, not x[{i}] = {x[i, 0].item():.3g}. "
                     f"That entry is max_k (I[{i}, k] + x[k]): which value of I[{i}, {i}] leaves "
                     f"x[{i}] as it is, and which values of I[{i}, k], k != {i}, can never win the "
                     "max? The table of section 1 names both")


@_exercise("02.1", S.beta_of, S.hopf_lax)
def _check_02_1(rng, beta_of, hopf_lax):
    for _ in range(3):
        alpha, t = rng.uniform(0.55, 1.0), rng.uniform(0.5, 3.0)
        want = F.beta_of_alpha(alpha)
        library = F.power(5, alpha, t=t, dtype=torch.float64)[0, 2, 4].item()   # |x| = 2
        beta = _number(beta_of(alpha), f"beta_of({alpha:.3f})")
        if not math.isclose(beta, want, rel_tol=1e-9):
            relation = (f"1/(2 alpha) + 1/beta = {1 / (2 * alpha) + 1 / beta:.4g}, not 1"
                        if beta != 0 else "1/beta is not even defined")
            _not_yet(f"beta_of({alpha:.3f}) = {beta:.6g}, but then {relation}: solve that "
                     "relation for beta")
        got = _number(hopf_lax(2.0, alpha, t), f"hopf_lax(2.0, {alpha:.3f}, {t:.3f})")
        _expect(math.isclose(got, library, rel_tol=1e-9),
                f"hopf_lax(2.0, {alpha:.3f}, {t:.3f}) = {got:.6g}, but the library's kernel "
                f"(F.power) is {library:.6g} at |x| = 2: compare your code with k_t(x) of the "
                "Hopf-Lax formula (section 1) term by term: where does t appear, and beta?")


@_exercise("02.2", S.sigma_of)
def _check_02_2(rng, sigma_of):
    for _ in range(3):
        alpha, t = rng.uniform(0.55, 1.0), rng.uniform(0.5, 3.0)
        lhs = F.power(7, alpha, t=t, dtype=torch.float64)
        sigma = _number(sigma_of(t, alpha), f"sigma_of({t:.3f}, {alpha:.3f})")
        _expect(sigma > 0, f"sigma is a length (x is divided by it): sigma_of({t:.3f}, "
                f"{alpha:.3f}) = {sigma:.4g} should be positive")
        metric = torch.full((1, 2), 1 / sigma, dtype=torch.float64)
        rhs = F.morphological_kernel_r2(metric, 7, alpha, t=1.0)
        _expect(torch.allclose(lhs, rhs),
                f"with sigma = {sigma:.4g}, k_1(x / sigma) is not k_t(x) for alpha={alpha:.3f}, "
                f"t={t:.3f}: k_1(x / sigma) = (1/beta) |x|^beta sigma^(-beta), so which sigma "
                "makes sigma^(-beta) equal t^(1 - beta)? Then use (beta - 1)/beta = 1/(2 alpha)")


@_exercise("02.3", S.dilation_semigroup_difference)
def _check_02_3(rng, dilation_semigroup_difference):
    f = _images(rng)
    alpha, t, s = rng.choice([1.0, 0.75, 0.65]), rng.uniform(0.5, 2.0), rng.uniform(0.5, 2.0)
    # The canvas outside the image may be the background -1 or, for the mirror trick
    # -semigroup_error(-f, ...), +1: both are the difference, with two border conventions.
    wants = [S.dilation_semigroup_difference(f, alpha, t, s, background=b) for b in (-1.0, 1.0)]
    diff = dilation_semigroup_difference(f, alpha, t, s)
    _expect(_is_tensor_of_shape(diff, f.shape), f"the difference has the image's shape "
            f"{tuple(f.shape)}: got {_describe(diff)}")
    if any(torch.allclose(diff, want, atol=1e-12) for want in wants):
        return
    if any(torch.allclose(-diff, want, atol=1e-12) for want in wants):
        _not_yet("this is D_(t+s) f - D_s D_t f: the statement asks for the other order, "
                 "D_s D_t f - D_(t+s) f")
    if diff.max() > 1e-12:
        _not_yet("your difference is positive somewhere, yet D_s D_t f <= D_(t+s) f always (a "
                 "supremum over grid points never exceeds the one over the plane): is every "
                 "step a dilation? (Erosions give the opposite inequality; D f = -E(-f).)")
    _not_yet(f"not D_s D_t f - D_(t+s) f for alpha={alpha}, t={t:.3f}, s={s:.3f}: follow "
             "semigroup_error step by step, with dilations in place of erosions and the same "
             "kernel sizes and padding")


@_exercise("03.1", S.orientation_roll)
def _check_03_1(rng, orientation_roll):
    from gmgan_lib import nn as gnn

    x = _images(rng, 9, 15).float()
    for orientations in rng.sample([4, 8, 12, 16], 2):
        lift = gnn.LiftM2(1, 2, orientations=orientations, kernel_size=5)
        for k in (1, 2, 3):
            with torch.no_grad():
                a = lift(torch.rot90(x, k, dims=(-2, -1)))
                turned = torch.rot90(lift(x), k, dims=(-2, -1))
            s = orientation_roll(orientations, k)
            _expect(isinstance(s, numbers.Integral) and not isinstance(s, bool),
                    f"a roll moves by a whole number of orientation steps (an int): "
                    f"orientation_roll({orientations}, {k}) returned {_describe(s)}")
            if torch.allclose(a, torch.roll(turned, int(s), dims=2), atol=1e-5):
                continue
            if torch.allclose(a, torch.roll(turned, -int(s), dims=2), atol=1e-5):
                _not_yet(f"a roll of {s} goes the wrong way round: a counter-clockwise turn "
                         "moves each orientation to a larger angle, a larger index")
            _not_yet(f"with Or={orientations} orientations and k={k} quarter turn(s), a roll of "
                     f"{s} does not make the lift equivariant: the turn moves every line by "
                     f"k x 90 degrees; how many orientation steps of 360/Or degrees is that?")


@_exercise("03.2", S.half_turn_error)
def _check_03_2(rng, half_turn_error):
    from gmgan_lib import nn as gnn

    torch.manual_seed(rng.getrandbits(31))
    x = torch.randn(rng.randint(1, 3), 2, 8, 12, 12)
    layer = gnn.CDELayerM2(2, 2)
    exact = half_turn_error(layer, x)
    _expect(isinstance(exact, float), "return the error as a float (a tensor's .item() is "
            f"one), got {_describe(exact)}")
    _expect(exact < 1e-5, f"a fresh CDE layer is equivariant to half turns, yet you measured "
            f"{exact:.3g}: turn an M2 map as section 5 does (every slice and the orientation "
            "axis together) and compare layer(turned x) with the turned layer(x)")
    # a layer that is not equivariant (it adds a fixed random map) must measure large
    broken = half_turn_error(_AddsAFixedMap(torch.randn(1, 1, 8, 12, 12)), x)
    _expect(broken > 1e-2, f"for a layer that is not equivariant at all your measure gave "
            f"{broken:.3g}: compare layer(R x) with R layer(x), the layer applied on both sides")


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
        try:
            got = error_type_of(lambda o=orientations: gnn.rot90_m2(torch.zeros(1, 1, o, 5, 5)))
        except _AnswerRaised as raised:
            _not_yet(f"{raised}. error_type_of should catch what action() raises and return "
                     "its type")
        if isinstance(got, BaseException):
            _not_yet(f"error_type_of returned the exception itself ({got!r}): return its type")
        _expect(got is ValueError, f"action() raises here (Or={orientations}: try it), and "
                f"error_type_of returned {got!r}: return the type of the exception you caught")
    got = error_type_of(lambda: gnn.rot90_m2(torch.zeros(1, 1, 4 * rng.randint(1, 4), 5, 5)))
    _expect(got is None, f"an action that raises nothing should give None, got {got!r}")


@_exercise("04.1", S.p4_conv_parameters)
def _check_04_1(rng, p4_conv_parameters):
    from gmgan_lib import nn as gnn
    from gmgan_lib.models import count_parameters

    for _ in range(3):
        c_in, c_out, k = rng.randint(1, 40), rng.randint(1, 40), rng.choice([1, 3, 4, 5])
        n = count_parameters(gnn.GroupConvM2(c_in, c_out, k))
        got = _number(p4_conv_parameters(c_in, c_out, k),
                      f"p4_conv_parameters({c_in}, {c_out}, {k})")
        if got != n:
            got = int(got) if got.is_integer() else got
            ratio = ""            # a whole factor apart: the student counted one kind too few/many
            if got and n % got == 0:
                ratio = f" ({n // got} times too few)"
            elif got and got % n == 0:
                ratio = f" ({got // n} times too many)"
            _not_yet(f"GroupConvM2({c_in}, {c_out}, {k}) has {n} weights, your count gives "
                     f"{got}{ratio}: how many k x k filters does one pair (output field, input "
                     "field) need? The paragraph above section 2 counts them")


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
    _expect(_is_tensor_of_shape(images, (steps, 1, 28, 28)),
            f"interpolate(G, z0, z1, {steps}) should return {steps} images "
            f"[{steps}, 1, 28, 28], got {_describe(images)}")
    _expect(torch.allclose(images[0], start, atol=1e-5),
            "the first image should be generate(G, ...) of z0 itself (w = 0)")
    _expect(torch.allclose(images[-1], end, atol=1e-5),
            "the last image should be generate(G, ...) of z1 itself (w = 1): the points include "
            "both ends")
    if not torch.allclose(images, want, atol=1e-5):
        # The usual slip: the two end *images* blended pixel by pixel, with the right weights.
        w = torch.linspace(0, 1, steps)[:, None, None, None]
        _expect(not torch.allclose(images, (1 - w) * start + w * end, atol=1e-5),
                "your images are blends of the first and the last image, pixel by pixel (a "
                "cross-fade): the path should run through the latent space instead. Mix the two "
                "latent vectors first, then let the generator draw each mixture")
        _not_yet(f"the {steps} points should be equally spaced on the segment from z0 to z1: w "
                 f"goes from 0 to 1 in {steps - 1} equal steps")


def _fid_with_biased_covariances(a, b) -> float:
    """05.1's usual slip: covariances divided by N instead of N - 1."""
    import numpy as np

    cov_a, cov_b = np.cov(a, rowvar=False, ddof=0), np.cov(b, rowvar=False, ddof=0)
    eig = np.linalg.eigvals(cov_a @ cov_b).real.clip(min=0)
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b)
                 - 2 * np.sqrt(eig).sum())


def _class_kl_with(real, fake, eps=1e-6, normalise_first=True, renormalise=True, base=math.e):
    """05.2's KL with one of the usual slips: eps added to the counts rather than to the
    probabilities, no renormalising after smoothing, or another logarithm."""
    def histogram(pred):
        h = torch.bincount(pred, minlength=10).double()
        h = (h / len(pred) if normalise_first else h) + eps
        return h / h.sum() if renormalise else h

    p, q = histogram(real), histogram(fake)
    return float((p * (p / q).log()).sum()) / math.log(base)


@_exercise("05.1", S.fid_from_features)
def _check_05_1(rng, fid_from_features):
    from gmgan_lib.evaluation import frechet_distance

    g = torch.Generator().manual_seed(rng.getrandbits(62))
    d = rng.randint(4, 16)
    fa = torch.randn(rng.randint(100, 300), d, generator=g, dtype=torch.float64)
    fb = torch.randn(rng.randint(100, 300), d, generator=g, dtype=torch.float64) * 1.5 + 0.3
    want = frechet_distance(fa, fb)
    got = _number(fid_from_features(fa.numpy(), fb.numpy()), "fid_from_features(fa, fb)")
    itself = _number(fid_from_features(fa.numpy(), fa.numpy()), "fid_from_features(fa, fa)")
    _expect(abs(itself) < 1e-6, f"the FID of a feature set with itself must be 0, yours is "
            f"{itself:.6g}: with equal means and covariances every term should cancel")
    if abs(got - want) <= 1e-6 * max(1.0, want):
        return
    a, b = fa.numpy(), fb.numpy()
    means = float(((a.mean(0) - b.mean(0)) ** 2).sum())
    if math.isclose(got, means, rel_tol=1e-6):
        _not_yet("that is the distance of the means only: the covariances add the trace term")
    if math.isclose(got, _fid_with_biased_covariances(a, b), rel_tol=1e-6):
        _not_yet("the covariances should be the unbiased ones (dividing by N - 1, as np.cov "
                 "does), as the statement says")
    _not_yet(f"FID {got:.6g}, where the library gives {want:.6g} on the same features: check "
             "the terms one by one: the distance of the means, the traces of the two "
             "covariances, and the trace of the square root of their product (the statement's "
             "hint)")


@_exercise("05.2", S.class_kl)
def _check_05_2(rng, class_kl):
    from gmgan_lib.evaluation.scores import class_kl as library_kl

    g = torch.Generator().manual_seed(rng.getrandbits(62))
    real = torch.randint(0, 10, (rng.randint(50, 500),), generator=g)
    fake = torch.randint(0, rng.randint(1, 10), (rng.randint(50, 500),), generator=g)
    want = library_kl(real, fake, eps=1e-6)
    try:
        got = _number(class_kl(real, fake), "class_kl(pred_real, pred_gen)")
    except _AnswerRaised as raised:
        _not_yet(f"{raised}. (Here the generator never draws some classes: do both histograms "
                 "have all 10 bins?)")
    if abs(got - want) < 1e-9 * max(1.0, want):
        return
    # The usual slips, each recognised by computing it here.
    if math.isclose(got, library_kl(fake, real, eps=1e-6), rel_tol=1e-9):
        _not_yet("that is KL(p_gen || p_real): KL is not symmetric, and the statement asks for "
                 "KL(p_real || p_gen)")
    slips = {
        "the counts were smoothed: turn each histogram into probabilities first (divide by the "
        "number of predictions), then add eps and renormalise":
            dict(normalise_first=False),
        "after adding eps, renormalise each histogram so that it sums to 1 again":
            dict(renormalise=False),
        "KL is measured in nats: use the natural logarithm": dict(base=2),
    }
    for hint, slip in slips.items():
        if math.isclose(got, _class_kl_with(real, fake, **slip), rel_tol=1e-9):
            _not_yet(hint)
    _not_yet(f"KL {got:.6g} where {want:.6g} was expected for these {len(real)} real and "
             f"{len(fake)} generated predictions: follow the statement's steps in order "
             "(histograms as probabilities, smoothing with eps, renormalising, then the sum)")


@_exercise("06.1", S.turn_each)
def _check_06_1(rng, turn_each):
    from gmgan_lib.models.hybrid import turn_by_quarters

    n, side = rng.randint(2, 6), rng.randint(5, 28)      # square: a quarter turn keeps the shape
    g = torch.Generator().manual_seed(rng.getrandbits(62))
    images = torch.rand(n, 1, side, side, generator=g, dtype=torch.float64) * 2 - 1
    turns = torch.tensor([rng.randrange(4) for _ in range(n)])
    turns[0], turns[1] = 1, 3          # both senses appear, so a clockwise answer cannot pass
    want = turn_by_quarters(images, turns)
    got = turn_each(images, turns)
    _expect(_is_tensor_of_shape(got, want.shape), f"one image out per image in, same layout: "
            f"expected a tensor of shape {tuple(want.shape)}, got {_describe(got)}")
    if all(torch.equal(got[b], want[b]) for b in range(n)):
        return

    def turned_by(k) -> bool:
        return all(torch.equal(got[b], torch.rot90(images[b], int(k[b]), dims=(-2, -1)))
                   for b in range(n))

    if turned_by([turns[0]] * n):
        _not_yet("every image was turned by the same number of quarter turns: image b should "
                 "be turned by its own number, turns[b]")
    if turned_by(-turns):
        _not_yet("the images were turned clockwise: the statement turns them counter-clockwise "
                 "as displayed")
    b = next(b for b in range(n) if not torch.equal(got[b], want[b]))
    _not_yet(f"image {b} should be turned {int(turns[b])} quarter turn(s) counter-clockwise as "
             "displayed, independently of the others")


def _where(error: BaseException, function: Callable) -> str:
    """`` at line N: `code` `` for the deepest line of ``function``'s own file in the traceback
    (the student's cell: IPython registers cells with linecache), or nothing."""
    code = getattr(function, "__code__", None)
    found = ""
    tb = error.__traceback__
    while tb is not None and code is not None:
        if tb.tb_frame.f_code.co_filename == code.co_filename:
            line = linecache.getline(code.co_filename, tb.tb_lineno).strip()
            found = f" at line {tb.tb_lineno}" + (f": `{line}`" if line else "")
        tb = tb.tb_next
    return found


def _first_line(error: BaseException) -> str:
    """``Type: message``, on one line: the verdict is one line (torch's errors can be long)."""
    return f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0]}"


def _on_copies(answer: Callable) -> Callable:
    """``answer`` called on deep copies of its arguments (tensors, arrays, modules): whatever it
    does to them in place, the check's own inputs, and the reference figures computed from them,
    stay as they were drawn. An error it raises becomes a hint (:class:`_AnswerRaised`) naming
    the error and the student's line, instead of a traceback through the checker."""
    @functools.wraps(answer)
    def on_copies(*args, **kwargs):
        try:
            return answer(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        except NotImplementedError:
            raise                              # the untouched template: "not attempted yet"
        except Exception as error:
            name = getattr(answer, "__name__", "your function")
            raise _AnswerRaised(f"{name}(...) raised {_first_line(error)}"
                                f"{_where(error, answer)}") from None
    return on_copies


def check(key: str, *answers: Callable, seed: int | None = None) -> None:
    """Check exercise ``key`` ("01.3") on the student's functions, on fresh inputs, and print
    the verdict: "correct", "not attempted yet" while the template is untouched, or "not yet:"
    with a hint. Nothing is raised for an answer, right or wrong (a wrong answer is feedback, not
    an error); it returns nothing, so that a notebook cell shows the verdict alone."""
    if key not in _CHECKS:
        raise ValueError(f"key must name an exercise, one of {sorted(_CHECKS)}; got {key!r}")
    run, reference = _CHECKS[key]
    if len(answers) != len(reference):
        names = ", ".join(f.__name__ for f in reference)
        raise TypeError(f"exercise {key} checks {len(reference)} function(s) ({names}), "
                        f"got {len(answers)}")
    rng = random.Random(seed)     # None: fresh inputs at every call
    try:
        with _time_limit(TIME_LIMIT_S):
            run(rng, *(_on_copies(answer) for answer in answers))
    except _TooSlow:
        print(f"Exercise {key}: not yet: the check stopped your function after {TIME_LIMIT_S} s "
              f"(one solution needs a few seconds): look for a loop that never ends, or for a "
              f"Python loop over single elements where one tensor operation would do")
        return
    except NotImplementedError:
        print(f"Exercise {key}: not attempted yet (complete the cell above, then run this one; "
              f'exercises.solution("{key}") shows one solution)')
        return
    except _NotYet as wrong:
        print(f"Exercise {key}: not yet: {wrong}")
        return
    except Exception as error:
        # The answer returned something the check could not even compare (a list where a tensor
        # was due, a string...): still feedback, with what went wrong, not the checker's code.
        print(f"Exercise {key}: not yet: the check could not use what your function returned "
              f"({_first_line(error)})")
        return
    print(f"Exercise {key}: correct")


class Solution:
    """The source of one solution. A notebook displays it once, as highlighted code (Markdown);
    a console shows the plain source (its repr). Nothing is printed on the side, so it never
    appears twice."""

    def __init__(self, key: str, source: str):
        self.key, self.source = key, source

    def _repr_markdown_(self) -> str:
        return f"```python\n{self.source}\n```"

    def __repr__(self) -> str:
        return self.source


def solution(key: str) -> Solution:
    """One solution of exercise ``key``, as code (display it: the last line of a cell)."""
    if key not in _CHECKS:
        raise ValueError(f"key must name an exercise, one of {sorted(_CHECKS)}; got {key!r}")
    return Solution(key, "\n\n".join(inspect.getsource(f).rstrip() for f in _CHECKS[key][1]))


def keys() -> list[str]:
    return sorted(_CHECKS)
