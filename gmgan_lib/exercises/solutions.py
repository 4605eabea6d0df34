"""One solution per exercise of the course, kept apart from the notebooks: a notebook's exercise
cell starts as a template, and ``exercises.solution(key)`` prints the function here when a
student asks for it. ``exercises.check`` also uses these as the reference on fresh inputs."""
from __future__ import annotations

import torch

from gmgan_lib.nn import functional as F


# --- notebook 01: max-plus algebra --------------------------------------------------------
def equivalent_size(a, b):
    """01.1: the flat square whose erosion equals eroding by flat squares of sizes a, then b:
    their Minkowski sum, of side a + b - 1."""
    return a + b - 1


def shift(f):
    """01.2: move an image 3 pixels to the right, filling with the background -1."""
    out = torch.full_like(f, -1.0)
    out[..., 3:] = f[..., :-3]
    return out


def maxplus_identity(n):
    """01.3: the max-plus identity matrix: 0 on the diagonal, -inf elsewhere."""
    identity = torch.full((n, n), float("-inf"), dtype=torch.float64)
    identity[range(n), range(n)] = 0.0
    return identity


# --- notebook 02: PDE semigroups ----------------------------------------------------------
def beta_of(alpha):
    """02.1: the exponent conjugate to 2 alpha: 1/(2 alpha) + 1/beta = 1."""
    return 2 * alpha / (2 * alpha - 1)


def hopf_lax(r, alpha, t):
    """02.1: the Hopf-Lax kernel k_t at distance r: (t / beta) (r / t)^beta."""
    beta = beta_of(alpha)
    return (t / beta) * (r / t) ** beta


def sigma_of(t, alpha):
    """02.2: the metric scale that time is: k_t(x) = k_1(x / sigma), sigma = t^(1/(2 alpha))."""
    return t ** (1 / (2 * alpha))


def dilation_semigroup_difference(f, alpha, t, s, size=9, background=-1.0):
    """02.3: D_s D_t f - D_{t+s} f on a canvas of ``background`` wide enough that no border is
    reached (dilation: D f = -E(-f); ``-semigroup_error(-f, ...)`` is this with background +1)."""
    pad = 2 * size
    g = torch.nn.functional.pad(f, (pad,) * 4, value=background)
    kt, ks = (F.power(size, alpha, t=v, dtype=f.dtype) for v in (t, s))
    kts = F.power(2 * size - 1, alpha, t=t + s, dtype=f.dtype)
    two_steps = F.dilation_r2(F.dilation_r2(g, kt), ks)
    return (two_steps - F.dilation_r2(g, kts))[..., pad:-pad, pad:-pad]
