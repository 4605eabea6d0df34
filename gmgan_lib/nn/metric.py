r"""Distances and Hopf-Lax kernels: the structuring functions of the morphological PDEs.

The erosion PDE :math:`\partial_t W = -\frac{1}{2\alpha}\|\nabla W\|^{2\alpha}` is solved exactly by an
erosion (min-plus convolution) with the Hopf-Lax kernel (docs/method.md 1.4)

.. math::  k_t(p) = \frac{t}{\beta}\Big(\frac{\rho(p)}{t}\Big)^{\beta}, \qquad
           \beta = \frac{2\alpha}{2\alpha - 1},\quad \alpha\in[0.55, 1],

where :math:`\rho` is the distance from the kernel centre. This file builds :math:`\rho` on
R2 and on M2 and turns it into kernel stacks.

Coordinates and conventions (used by the whole of ``gmgan_lib.nn``):

* a pixel offset ``(i, j)`` from the kernel centre (row, column) is the planar vector
  ``x = j - pw`` (to the right), ``y = -(i - ph)`` (*up*: rows grow downwards);
* orientation ``o`` is the angle ``theta_o = 2*pi*o/Or``, measured from ``+x`` towards ``+y``,
  i.e. **counter-clockwise on screen**. ``torch.rot90(., k=1, dims=(-2, -1))`` is also a
  counter-clockwise quarter turn on screen, so rotating an M2 map by 90 degrees is
  ``rot90`` over ``(H, W)`` followed by ``roll(+Or/4)`` on the orientation axis.

On M2 the kernel for output orientation ``o`` is evaluated at the offset expressed in the
frame of ``theta_o`` (the group element ``g_out^-1 g_in``): the spatial offset rotated by
``-theta_o``. The rotations are computed so that quarter turns are *exact* (see
:func:`orientation_cos_sin`), which makes the kernel stack of orientation ``o + Or/4`` a
bit-exact rotated copy of that of ``o``, and hence erosion and dilation exactly equivariant
under 90-degree rotations.
"""
from __future__ import annotations

import functools
import math

import torch

from gmgan_lib.nn._checks import check_alpha, check_metric, check_positive_int, odd_sizes

__all__ = [
    "DISTANCES", "SUB_RIEMANNIAN_NU", "beta_of_alpha", "orientation_cos_sin",
    "m2_offsets", "distance_m2", "distance_r2",
    "morphological_kernel_m2", "morphological_kernel_r2", "metric_init_range",
]

DISTANCES = ("logarithmic", "half_angle", "sub_riemannian", "combined")

#: The constant nu of the sub-Riemannian approximation
#: ``rho_sr^4 = (w1^2 b1^2 + w3^2 b3^2)^2 + nu * w1^2 w3^2 b2^2``. Bellaard et al. (2023) use
#: nu ~ 44, as we recall it (NOT re-read in the paper: unverified; docs/method.md 1.5). Our
#: notes had the term as ``nu^4 ...``; we put nu in the first power because only then is the estimate
#: sensible: a pure lateral step ``b2 = y`` (w1 = w3 = 1) costs ``nu^(1/4) sqrt(y) = 2.58 sqrt(y)``,
#: below the explicit path "turn phi, move L, turn -2 phi, move -L, turn phi" of length
#: ``4 sqrt(y)``, whereas ``nu^4`` would give ``44 sqrt(y)``, ten times longer than that path.
SUB_RIEMANNIAN_NU = 44.0


def beta_of_alpha(alpha: float) -> float:
    """The Lagrangian exponent conjugate to ``2 alpha``: ``1/(2 alpha) + 1/beta = 1``."""
    alpha = check_alpha(alpha)
    return 2.0 * alpha / (2.0 * alpha - 1.0)


def metric_init_range(kernel_size) -> tuple[float, float]:
    """lietorch's initialisation interval of metric weights: ``[1.4/max(ks), 0.7*min(ks)]``."""
    return 1.4 / max(kernel_size), 0.7 * min(kernel_size)


def orientation_cos_sin(orientations: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``cos`` and ``sin`` of ``theta_o = 2 pi o / Or`` (float64), exact under quarter turns.

    ``math.cos(pi/2)`` is ``6e-17``, not 0. When ``Or`` is divisible by 4 we write
    ``o = m*Or/4 + r`` and apply ``m`` exact quarter turns ``(c, s) -> (-s, c)`` to the angle of
    ``r``; then ``cos(theta_{o+Or/4}) == -sin(theta_o)`` holds bit for bit.
    """
    check_positive_int("orientations", orientations)
    cos, sin = [], []
    quarter = orientations // 4 if orientations % 4 == 0 else None
    for o in range(orientations):
        m, r = divmod(o, quarter) if quarter else (0, o)
        angle = 2.0 * math.pi * r / orientations
        c, s = math.cos(angle), math.sin(angle)
        for _ in range(m):
            c, s = -s, c
        cos.append(c)
        sin.append(s)
    return torch.tensor(cos, dtype=torch.float64), torch.tensor(sin, dtype=torch.float64)


def _planar_offsets(kH: int, kW: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Offsets ``x`` (right) and ``y`` (up) of a ``kH x kW`` grid from its centre, float64."""
    i = torch.arange(kH, dtype=torch.float64) - kH // 2
    j = torch.arange(kW, dtype=torch.float64) - kW // 2
    y, x = torch.meshgrid(-i, j, indexing="ij")
    return x, y


@functools.lru_cache(maxsize=64)
def _m2_offsets_cached(orientations, kernel_size, dtype, device):
    kOr, kH, kW = kernel_size
    cos, sin = orientation_cos_sin(orientations)
    x, y = _planar_offsets(kH, kW)
    c, s = cos.view(-1, 1, 1, 1), sin.view(-1, 1, 1, 1)
    # Rotate by -theta_o: the offset seen from the frame of the output orientation.
    xr = (c * x + s * y).expand(orientations, kOr, kH, kW)
    yr = (-s * x + c * y).expand(orientations, kOr, kH, kW)
    dth = (torch.arange(kOr, dtype=torch.float64) - kOr // 2) * (2.0 * math.pi / orientations)
    dth = torch.remainder(dth + math.pi, 2.0 * math.pi) - math.pi     # wrap to [-pi, pi)
    th = dth.view(1, kOr, 1, 1).expand(orientations, kOr, kH, kW)
    return tuple(t.contiguous().to(dtype=dtype, device=device) for t in (xr, yr, th))


def m2_offsets(orientations: int, kernel_size, dtype=torch.float64, device="cpu"):
    """The group element of every kernel offset in the frame of every output orientation.

    Returns ``(x, y, theta)``, each ``[Or, kOr, kH, kW]``: the spatial offset rotated by
    ``-theta_o`` and the wrapped angular offset. Cached (these are constants).
    """
    return _m2_offsets_cached(orientations, tuple(kernel_size), dtype, torch.device(device))


def _safe_root(s: torch.Tensor, power: float) -> torch.Tensor:
    """``s ** power`` for ``s >= 0`` with gradient 0 (not inf/NaN) at ``s = 0``.

    The kernel centre has distance 0, where ``sqrt`` has an infinite derivative; the derivative
    of the kernel ``rho^beta`` (beta >= 2) there is 0, which is what we return.
    """
    positive = s > 0
    return torch.where(positive, torch.where(positive, s, torch.ones_like(s)) ** power, torch.zeros_like(s))


def _half_angle(x, y, th):
    """Half-angle coordinates ``b`` (docs/method.md 1.5): the offset rotated by ``-theta/2``."""
    ch, sh = torch.cos(th / 2), torch.sin(th / 2)
    return x * ch + y * sh, -x * sh + y * ch, th


def distance_m2(metric: torch.Tensor, x, y, th, distance: str = "logarithmic") -> torch.Tensor:
    """Approximate left-invariant distance ``rho`` from the identity to ``(x, y, th)``.

    ``metric`` [C, 3] holds the weights ``(w1, w2, w3) = (main, lateral, angular)`` of the
    diagonal metric ``G = w1^2 w^1(x)w^1 + w2^2 w^2(x)w^2 + w3^2 w^3(x)w^3`` (so ``rho`` is
    homogeneous of degree 1 in the weights). ``x, y, th`` broadcast against each other; the result
    has shape ``[C, *x.shape]``.

    * ``"logarithmic"``: ``rho_c = |log g|_G`` in exponential coordinates
      ``c_{1,2} = b_{1,2} / sinc(theta/2)``, ``c3 = theta`` (what lietorch implements);
    * ``"half_angle"``: ``rho_b`` with the half-angle coordinates ``b`` (Bellaard et al.);
    * ``"sub_riemannian"``: ``rho_sr = ((w1^2 b1^2 + w3^2 b3^2)^2 + nu w1^2 w3^2 b2^2)^(1/4)``,
      ``nu =`` :data:`SUB_RIEMANNIAN_NU`; lateral motion costs second order (ball-box);
    * ``"combined"``: ``max(l, min(rho_sr, rho_b))`` with the lower bound
      ``l = sqrt(min(w1, w2)^2 (x^2 + y^2) + w3^2 theta^2)``.

    The lower bound ``l`` is our own choice, derived as follows: along any curve the speed is
    ``|u|_G >= sqrt(min(w1,w2)^2 |u_spatial|^2 + w3^2 u3^2)``, and by Minkowski's inequality the
    length of such a curve is at least ``sqrt((min(w1,w2) * spatial distance)^2 + (w3 |theta|)^2)``.
    The three Bellaard et al. forms follow docs/method.md 1.5 (recalled, not re-read).
    """
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
    w = metric.view(metric.shape[0], 3, *([1] * x.dim()))
    w1, w2, w3 = w[:, 0], w[:, 1], w[:, 2]
    b1, b2, b3 = _half_angle(x, y, th)
    if distance == "logarithmic":
        sinc = torch.sinc(th / (2 * math.pi))           # torch.sinc(u) = sin(pi u)/(pi u)
        c1, c2 = b1 / sinc, b2 / sinc
        return _safe_root((w1 * c1) ** 2 + (w2 * c2) ** 2 + (w3 * b3) ** 2, 0.5)
    rho_b = _safe_root((w1 * b1) ** 2 + (w2 * b2) ** 2 + (w3 * b3) ** 2, 0.5)
    if distance == "half_angle":
        return rho_b
    nu = SUB_RIEMANNIAN_NU
    rho_sr = _safe_root(((w1 * b1) ** 2 + (w3 * b3) ** 2) ** 2 + nu * (w1 * w3) ** 2 * b2 ** 2, 0.25)
    if distance == "sub_riemannian":
        return rho_sr
    lower = _safe_root(torch.minimum(w1, w2) ** 2 * (x ** 2 + y ** 2) + (w3 * th) ** 2, 0.5)
    return torch.maximum(lower, torch.minimum(rho_sr, rho_b))


def distance_r2(metric: torch.Tensor, x, y) -> torch.Tensor:
    """``rho = sqrt((w_x x)^2 + (w_y y)^2)`` for a diagonal R2 metric ``[C, 2] = (w_x, w_y)``."""
    w = metric.view(metric.shape[0], 2, *([1] * x.dim()))
    return _safe_root((w[:, 0] * x) ** 2 + (w[:, 1] * y) ** 2, 0.5)


def _check_time(t: float) -> None:
    if not isinstance(t, (int, float)) or isinstance(t, bool) or not t > 0 or math.isinf(t):
        raise ValueError(f"t must be a positive finite number (the evolution time), got {t!r}")


def _hopf_lax(rho: torch.Tensor, alpha: float, t: float) -> torch.Tensor:
    """``k_t = (t/beta) (rho/t)^beta`` (``alpha`` and ``t`` checked by the caller)."""
    beta = 2.0 * alpha / (2.0 * alpha - 1.0)
    return (t / beta) * (rho / t) ** beta


@functools.lru_cache(maxsize=64)
def _logarithmic_coefficients(orientations, kernel_size, dtype, device):
    """The logarithmic distance as a weighted norm of constants: ``rho^2 = sum_i (w_i coef_i)^2``,
    a few operations on ``[C, 3, n]`` instead of some twenty small ones per layer and call
    (docs/performance.md). Returns ``(coef, turns)``: ``coef`` [3, n] holds the absolute exponential
    coordinates ``|c1|, |c2|, |c3|`` (computed in float64) of the offsets of the first quarter of
    the orientations, and ``turns`` [Or * kOr * kH * kW] says which of them every entry of the
    full stack is, turned by quarter turns: the stack is ``kernel(coef)[:, turns]``, so the kernel
    of orientation ``o + Or/4`` is an exact copy of that of ``o``, turned. (Vectorised and scalar
    code paths of ``pow`` may differ in the last ulp, so computing every orientation would not
    give that.) ``turns`` is ``None`` where the grid has no quarter-turn symmetry; then ``coef``
    covers every orientation."""
    with torch.inference_mode(False):   # cached: must stay usable in autograd later
        return _logarithmic_coefficients_uncached(orientations, kernel_size, dtype, device)


def _logarithmic_coefficients_uncached(orientations, kernel_size, dtype, device):
    x, y, th = m2_offsets(orientations, kernel_size, torch.float64, "cpu")
    symmetric = orientations % 4 == 0 and kernel_size[1] == kernel_size[2]
    n = orientations // 4 if symmetric else orientations
    b1, b2, b3 = _half_angle(x[:n], y[:n], th[:n])
    sinc = torch.sinc(th[:n] / (2 * math.pi))
    coef = torch.stack([(b1 / sinc).abs(), (b2 / sinc).abs(), b3.abs()]).reshape(3, -1)
    turns = None
    if symmetric:
        position = torch.arange(coef.shape[1]).view(n, *kernel_size)
        turns = torch.cat([torch.rot90(position, m, dims=(-2, -1)) for m in range(4)]).reshape(-1)
        turns = turns.to(device)
    return coef.to(dtype=dtype, device=device).contiguous(), turns


def morphological_kernel_m2(metric: torch.Tensor, kernel_size, orientations: int, alpha: float,
                            t: float = 1.0, distance: str = "logarithmic") -> torch.Tensor:
    """Hopf-Lax kernel stack ``[C, Or, kOr, kH, kW]`` of the metric ``[C, 3]`` on M2.

    One kernel per output orientation (the spatial offsets rotated into its frame), evaluated
    analytically: no interpolation error enters the kernel. ``kernel_size`` is ``(kOr, kH, kW)``
    (odd) or one odd int. Differentiable in ``metric``.
    """
    check_metric(metric, 3, "(main, lateral, angular) weights per channel")
    kernel_size = odd_sizes("kernel_size", kernel_size, 3)
    check_positive_int("orientations", orientations)
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
    check_alpha(alpha)
    _check_time(t)
    return _kernel_m2(metric, kernel_size, orientations, alpha, t, distance)


def _kernel_m2(metric: torch.Tensor, kernel_size: tuple[int, int, int], orientations: int,
               alpha: float, t: float = 1.0, distance: str = "logarithmic") -> torch.Tensor:
    """:func:`morphological_kernel_m2` without its argument checks: for a layer, which checked
    its kernel size, alpha and distance once when it was built, and its metric's values in the
    forward that calls this (a hot path: one call per layer and step)."""
    if distance == "logarithmic":   # the default: a weighted norm of constant coordinates
        beta = 2.0 * alpha / (2.0 * alpha - 1.0)
        coef, turns = _logarithmic_coefficients(orientations, kernel_size, metric.dtype,
                                                metric.device)
        # rho^2 = sum_i (w_i |c_i|)^2: each weight multiplies its coordinate before the square,
        # so a huge weight on a zero coordinate (the centre) gives 0, not inf * 0 = NaN.
        # (rho / t)^2, t inside the square so that a tiny t cannot underflow t^2 to 0.
        rho2 = ((metric.unsqueeze(2) * (coef / t)) ** 2).sum(dim=1)        # [C, n]
        kernel = (t / beta) * rho2 ** (beta / 2)
        if turns is not None:
            kernel = kernel[:, turns]                                  # the other quarters
        return kernel.view(metric.shape[0], orientations, *kernel_size)
    x, y, th = m2_offsets(orientations, kernel_size, metric.dtype, metric.device)
    if orientations % 4 or kernel_size[1] != kernel_size[2]:   # no exact quarter-turn symmetry
        return _hopf_lax(distance_m2(metric, x, y, th, distance), alpha, t)
    # Evaluate the first quarter of the orientations only and turn it: K[o + m Or/4] = rot90(K[o], m).
    # Mathematically the same numbers (the offset grids are exact quarter turns of each other), but
    # computed this way the stack is exactly rotation-symmetric even though vectorised and scalar
    # code paths of pow/sin/cos may differ in the last ulp depending on where an element sits.
    q = orientations // 4
    quarter = _hopf_lax(distance_m2(metric, x[:q], y[:q], th[:q], distance), alpha, t)
    return torch.cat([torch.rot90(quarter, m, dims=(-2, -1)) for m in range(4)], dim=1)


def morphological_kernel_r2(metric: torch.Tensor, kernel_size, alpha: float, t: float = 1.0) -> torch.Tensor:
    """Hopf-Lax kernel ``[C, kH, kW]`` of the diagonal metric ``[C, 2] = (w_x, w_y)`` on R2.

    ``w_x == w_y`` gives the isotropic kernel ``(t/beta) (w |x| / t)^beta``.
    """
    check_metric(metric, 2, "(w_x, w_y) weights per channel")
    kernel_size = odd_sizes("kernel_size", kernel_size, 2)
    check_alpha(alpha)
    _check_time(t)
    return _kernel_r2(metric, kernel_size, alpha, t)


def _kernel_r2(metric: torch.Tensor, kernel_size: tuple[int, int], alpha: float,
               t: float = 1.0) -> torch.Tensor:
    """:func:`morphological_kernel_r2` without its argument checks (see :func:`_kernel_m2`)."""
    x, y = _planar_offsets(*kernel_size)
    x, y = x.to(metric.dtype).to(metric.device), y.to(metric.dtype).to(metric.device)
    return _hopf_lax(distance_r2(metric, x, y), alpha, t)
