"""Teaching structuring elements on R2: flat, quadratic and power kernels, shape ``[C, k, k]``.

Use them with :func:`gmgan_lib.nn.functional.erosion_r2` / ``dilation_r2``:

* flat kernels (0 on a set, ``+inf`` outside) turn erosion/dilation into min/max filters;
* ``quadratic(size, t)`` is ``|x|^2 / (2t)``, the Hopf-Lax kernel of ``W_t = -|grad W|^2 / 2``
  (alpha = 1); erosions by it form a semigroup ``E_t E_s = E_{t+s}``;
* ``power(size, alpha, t)`` is ``(t/beta)(|x|/t)^beta``, the kernel of alpha in [0.55, 1]; it
  approaches the flat disk of radius ``t`` as alpha -> 1/2.

All kernels are isotropic, centred at ``(k//2, k//2)`` and ``0`` at the centre.
"""
from __future__ import annotations

import torch

from gmgan_lib.nn._checks import check_positive_int, odd_sizes
from gmgan_lib.nn.metric import beta_of_alpha

__all__ = ["delta", "flat_square", "flat_disk", "quadratic", "power"]


def _radius2(size: int, dtype, device) -> torch.Tensor:
    """Squared distance to the centre (exact integers, so quadratic kernels are exact too)."""
    (size,) = odd_sizes("size", size, 1)
    r = torch.arange(size, dtype=dtype, device=device) - size // 2
    return r.view(-1, 1) ** 2 + r.view(1, -1) ** 2


def _channels(kernel: torch.Tensor, channels: int) -> torch.Tensor:
    check_positive_int("channels", channels)
    return kernel.expand(channels, *kernel.shape).contiguous()


def delta(size: int = 1, channels: int = 1, dtype=torch.float32, device="cpu") -> torch.Tensor:
    """0 at the centre, ``+inf`` elsewhere: erosion by it is the identity."""
    r2 = _radius2(size, dtype, device)
    return _channels(torch.where(r2 == 0, 0.0, float("inf")).to(dtype), channels)


def flat_square(size: int, channels: int = 1, dtype=torch.float32, device="cpu") -> torch.Tensor:
    """0 on the whole ``size x size`` square: erosion is the min filter over the square."""
    return _channels(torch.zeros_like(_radius2(size, dtype, device)), channels)


def flat_disk(radius: float, channels: int = 1, dtype=torch.float32, device="cpu") -> torch.Tensor:
    """0 on the pixels with ``|x| <= radius``, ``+inf`` outside; size ``2*floor(radius)+1``."""
    if not isinstance(radius, (int, float)) or isinstance(radius, bool) or not radius >= 0:
        raise ValueError(f"radius must be a non-negative number of pixels, got {radius!r}")
    r2 = _radius2(2 * int(radius) + 1, torch.float64, device)
    return _channels(torch.where(r2 <= radius ** 2, 0.0, float("inf")).to(dtype), channels)


def quadratic(size: int, t: float = 1.0, channels: int = 1, dtype=torch.float32, device="cpu") -> torch.Tensor:
    """``|x|^2 / (2t)``: the alpha = 1 Hopf-Lax kernel at time ``t``."""
    return power(size, 1.0, t, channels, dtype, device)


def power(size: int, alpha: float, t: float = 1.0, channels: int = 1, dtype=torch.float32,
          device="cpu") -> torch.Tensor:
    """``(t/beta) (|x|/t)^beta`` with ``beta = 2 alpha/(2 alpha - 1)``: the Hopf-Lax kernel."""
    beta = beta_of_alpha(alpha)
    if not isinstance(t, (int, float)) or isinstance(t, bool) or not t > 0:
        raise ValueError(f"t must be a positive number (the evolution time), got {t!r}")
    r2 = _radius2(size, torch.float64, device)
    return _channels(((t / beta) * (r2 / t ** 2) ** (beta / 2)).to(dtype), channels)
