"""One solution per exercise of the course, kept apart from the notebooks: a notebook's exercise
cell starts as a template, and ``exercises.solution(key)`` shows the function here when a
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


# --- notebook 03: Lie-group equivariance --------------------------------------------------
def orientation_roll(orientations, k):
    """03.1: k quarter turns of the plane move an orientation score by k * Or / 4 orientation
    steps (counter-clockwise) along its orientation axis."""
    return k * orientations // 4


def half_turn_error(layer, x):
    """03.2: the max error of layer(Rot x) - Rot layer(x) for a half turn on M2 maps."""
    from gmgan_lib.nn import rot90_m2

    with torch.no_grad():
        return (layer(rot90_m2(x, 2)) - rot90_m2(layer(x), 2)).abs().max().item()


def error_type_of(action):
    """03.3: the type of the exception that ``action()`` raises, or None if it raises none."""
    try:
        action()
    except Exception as error:
        return type(error)
    return None


# --- notebook 04: GM-GAN training ---------------------------------------------------------
def p4_conv_parameters(c_in, c_out, k):
    """04.1: a p4 group convolution has one k x k filter per (output field, input field, input
    orientation): C_out * C_in * 4 * k * k weights (the 4 output orientations are rotations)."""
    return c_out * c_in * 4 * k * k


def interpolate(G, z0, z1, steps):
    """04.2: images of ``steps`` points on the straight line from z0 to z1, ends included."""
    from gmgan_lib.sampling import generate

    w = torch.linspace(0, 1, steps)[:, None]
    return generate(G, (1 - w) * z0 + w * z1)


# --- notebook 05: evaluation --------------------------------------------------------------
def fid_from_features(fa, fb):
    """05.1: the Frechet distance of Gaussians fitted to features fa [N, D] and fb [M, D]."""
    import numpy as np

    mu_a, mu_b = fa.mean(0), fb.mean(0)
    cov_a, cov_b = np.cov(fa, rowvar=False), np.cov(fb, rowvar=False)
    eig = np.linalg.eigvals(cov_a @ cov_b).real.clip(min=0)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b)
                 - 2 * np.sqrt(eig).sum())


def class_kl(pred_real, pred_gen, eps=1e-6):
    """05.2: KL(p_real || p_gen) of the predicted-class histograms (10 classes), each smoothed
    by adding eps to every bin and renormalising."""
    def histogram(pred):
        h = torch.bincount(pred, minlength=10).double() / len(pred) + eps
        return h / h.sum()

    p, q = histogram(pred_real), histogram(pred_gen)
    return float((p * (p / q).log()).sum())


# --- notebook 06: where geometry pays ---------------------------------------------------------
def turn_each(images, turns):
    """06.1: image ``b`` of ``images [B, C, H, H]`` turned by ``turns[b]`` quarter turns
    counter-clockwise (as displayed), each independently."""
    return torch.stack([torch.rot90(x, int(k), dims=(-2, -1)) for x, k in zip(images, turns)])
