"""The PDE layers as ``nn.Module``s: lift, convection, dilation, erosion, channel mixing, projection.

One CDE layer (docs/method.md 2.2, 2.8) solves, per channel and for unit time, the PDE

    dW/dt = -c.W  +  ||grad W||^(2a)_{G+}  -  ||grad W||^(2a)_{G-}

by operator splitting: convection (:class:`ConvectionM2`), then dilation with metric ``G+``,
then erosion with metric ``G-``, each solved exactly; then :class:`LinearM2` mixes channels
and ``BatchNorm3d`` normalises. No ReLU anywhere: dilation and erosion are the nonlinearity.

Orientations are read from the input (``f.shape[2]``), so one layer works for any ``Or``.
Metric weights are stored raw and passed through ``relu`` before use (as lietorch 0.8.2 does):
they stay non-negative whatever the optimiser does, and a weight driven to 0 simply makes that
direction free. They are initialised uniformly in ``[1.4/max(ks), 0.7*min(ks)]`` (lietorch),
times ``metric_init_scale`` (default 1): larger metrics make steeper kernels, so fewer
neighbours beat the centre and the layer starts as a milder nonlinearity (the hybrid GM-GAN uses
2: docs/experiments.md).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from gmgan_lib.nn._checks import (check_alpha, check_finite, check_no_nan, check_positive_int,
                                  odd_sizes)
from gmgan_lib.nn.convection import convection_m2, convection_r2
from gmgan_lib.nn.equivariance import EquivariantModule
from gmgan_lib.nn.lift import lift_init_, lift_m2
from gmgan_lib.nn.metric import (DISTANCES, _kernel_m2, _kernel_r2, metric_init_range,
                                  morphological_kernel_m2, morphological_kernel_r2)
from gmgan_lib.nn.morphology import _dilation_erosion_m2, _min_plus

__all__ = ["LiftM2", "ConvectionM2", "DilationM2", "ErosionM2", "LinearM2", "MaxProjectM2",
           "PDESequence", "CDELayerM2", "DELayerM2", "ConvectionR2", "DilationR2", "ErosionR2",
           "LinearR2", "CDELayerR2"]


# A layer checks its input once per call, here; it checked its own sizes, alpha and distance
# when it was built, and builds its kernels to fit the input, so it calls the operators' unchecked
# twins (the public functions check every argument, for callers who pass their own kernels).
def _check_input(f: torch.Tensor, channels: int, who: str, rank: int) -> None:
    if (not isinstance(f, torch.Tensor) or f.dim() != rank or f.shape[1] != channels
            or min(f.shape) < 1 or not f.is_floating_point()):
        layout = f"[B, {channels}, Or, H, W]" if rank == 5 else f"[B, {channels}, H, W]"
        got = (f"{tuple(f.shape)} {f.dtype}" if isinstance(f, torch.Tensor)
               else type(f).__name__)
        raise ValueError(f"{who} expects a non-empty floating-point input {layout}, got {got}")


def _check_m2_input(f: torch.Tensor, channels: int, who: str) -> None:
    _check_input(f, channels, who, 5)


def _check_r2_input(f: torch.Tensor, channels: int, who: str) -> None:
    _check_input(f, channels, who, 4)


# ----------------------------------------------------------------------------------------- M2


class LiftM2(EquivariantModule):
    """R2 -> M2 lifting with ``Or`` rotated copies of learned ``k x k`` filters (no bias)."""

    input_space, output_space = "r2", "m2"

    def __init__(self, in_channels: int, out_channels: int, orientations: int = 8, kernel_size: int = 5):
        super().__init__()
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.out_channels = check_positive_int("out_channels", out_channels)
        self.orientations = check_positive_int("orientations", orientations)
        (k,) = odd_sizes("kernel_size", kernel_size, 1)
        self.weight = nn.Parameter(lift_init_(torch.empty(out_channels, in_channels, k, k)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_r2_input(x, self.in_channels, "LiftM2")
        return lift_m2(x, self.weight, self.orientations)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, orientations={self.orientations}, kernel_size={self.weight.shape[-1]}"


class ConvectionM2(EquivariantModule):
    """Transport by a learned group element ``g0`` [C, 3] = (x0, y0, theta0); init 0 = identity."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = check_positive_int("channels", channels)
        self.g0 = nn.Parameter(torch.zeros(channels, 3))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        _check_m2_input(f, self.channels, "ConvectionM2")
        return convection_m2(f, self.g0)


def _initial_metric(channels: int, n: int, kernel_size, scale: float) -> torch.Tensor:
    """Metric weights ``[channels, n]`` uniform in lietorch's range, times ``scale``."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
        raise ValueError(f"metric_init_scale must be a positive number, got {scale!r}")
    lo, hi = metric_init_range(kernel_size)
    return torch.empty(channels, n).uniform_(lo, hi) * scale


class _MorphologicalM2(EquivariantModule):
    def __init__(self, channels: int, kernel_size=(5, 5, 5), alpha: float = 0.65,
                 distance: str = "logarithmic", metric_init_scale: float = 1.0):
        super().__init__()
        self.channels = check_positive_int("channels", channels)
        self.kernel_size = odd_sizes("kernel_size", kernel_size, 3)
        self.alpha = check_alpha(alpha)
        if distance not in DISTANCES:
            raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
        self.distance = distance
        self.metric = nn.Parameter(_initial_metric(channels, 3, self.kernel_size, metric_init_scale))

    def kernel_stack(self, orientations: int) -> torch.Tensor:
        """The current kernel stack ``[C, Or, kOr, kH, kW]`` (differentiable in the metric)."""
        return morphological_kernel_m2(torch.relu(self.metric), self.kernel_size, orientations,
                                       self.alpha, distance=self.distance)

    def _kernel_for(self, f: torch.Tensor) -> torch.Tensor:
        """The kernel stack for the (checked) input ``f``, in its dtype. The metric's values are
        the one thing to look at (on the CPU): NaN or infinite weights are a training that
        diverged, and would make the kernel NaN."""
        check_finite("metric", self.metric, "metric weights")
        return _kernel_m2(torch.relu(self.metric), self.kernel_size, f.shape[2], self.alpha,
                          1.0, self.distance).to(f.dtype)

    def extra_repr(self) -> str:
        return f"{self.channels}, kernel_size={self.kernel_size}, alpha={self.alpha}, distance={self.distance!r}"


class DilationM2(_MorphologicalM2):
    """Exact solver of ``dW/dt = +(1/2a) ||grad W||^(2a)_G``: max-plus convolution, Hopf-Lax kernel."""

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        _check_m2_input(f, self.channels, "DilationM2")
        check_no_nan("f", f)
        return _min_plus(f, self._kernel_for(f), negate=True)


class ErosionM2(_MorphologicalM2):
    """Exact solver of ``dW/dt = -(1/2a) ||grad W||^(2a)_G``: min-plus convolution, Hopf-Lax kernel."""

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        _check_m2_input(f, self.channels, "ErosionM2")
        check_no_nan("f", f)
        return _min_plus(f, self._kernel_for(f))


def dilation_then_erosion(dilation: DilationM2, erosion: ErosionM2, f: torch.Tensor) -> torch.Tensor:
    """``erosion(dilation(f))`` through :func:`~gmgan_lib.nn.morphology.dilation_erosion_m2`:
    one fused kernel call where the backend has one, the same values as the two modules."""
    _check_m2_input(f, dilation.channels, "DilationM2")
    _check_m2_input(f, erosion.channels, "ErosionM2")
    # (f's NaN test is the fused operator's finiteness test: a NaN goes to the checked path)
    return _dilation_erosion_m2(f, dilation._kernel_for(f), erosion._kernel_for(f))


def _dilate_then_erode(dilation: nn.Module, erosion: nn.Module, f: torch.Tensor) -> torch.Tensor:
    """``erosion(dilation(f))``, fused when both are plain layers (:func:`_fusable`)."""
    if _fusable(dilation, DilationM2) and _fusable(erosion, ErosionM2):
        return dilation_then_erosion(dilation, erosion, f)
    return erosion(dilation(f))


def _fusable(module: nn.Module, cls: type) -> bool:
    """``module`` is a plain ``cls`` (its own ``forward``) without hooks of any kind, so running
    it inside the fused call changes nothing a caller can observe."""
    from torch.nn.modules import module as torch_module
    hooks = (module._forward_hooks, module._forward_pre_hooks, module._backward_hooks,
             module._backward_pre_hooks, torch_module._global_forward_hooks,
             torch_module._global_forward_pre_hooks, torch_module._global_backward_hooks,
             torch_module._global_backward_pre_hooks)
    return (isinstance(module, cls) and type(module).forward is cls.forward
            and not any(hooks))


class PDESequence(nn.Sequential, EquivariantModule):
    """An ``nn.Sequential`` of PDE layers in which a :class:`DilationM2` directly followed by an
    :class:`ErosionM2` runs as one fused call (:func:`dilation_then_erosion`): the same values,
    parameters and state-dict keys as the plain ``nn.Sequential``, at about half the cost on the
    CPU (docs/performance.md). A layer with hooks (or a subclass with its own ``forward``) runs
    as itself, so that what it adds happens."""

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        layers = list(self)
        i = 0
        while i < len(layers):
            if i + 1 < len(layers) and isinstance(layers[i], DilationM2) \
                    and isinstance(layers[i + 1], ErosionM2):
                f = _dilate_then_erode(layers[i], layers[i + 1], f)
                i += 2
            else:
                f = layers[i](f)
                i += 1
        return f


def linear_m2(f: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Channel mixing ``out[b, o] = sum_i weight[o, i] f[b, i]`` on M2 (or any ``[B, C, ...]``)."""
    if weight.dim() != 2 or f.dim() < 2 or weight.shape[1] != f.shape[1]:
        raise ValueError(f"weight must be [Cout, Cin] with Cin = f.shape[1]; got weight "
                         f"{tuple(weight.shape)} and f {tuple(f.shape)}")
    return torch.einsum("oi,bi...->bo...", weight, f)


class _ChannelMixing(nn.Module):
    """The weight [Cout, Cin] shared by LinearM2 and LinearR2 (only their input checks differ)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.out_channels = check_positive_int("out_channels", out_channels)
        # kaiming_uniform(a=sqrt 5), the nn.Linear default; fan_in = in_channels here.
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))


class LinearM2(_ChannelMixing, EquivariantModule):
    """Channel mixing at every point of M2 (a 1x1x1 convolution without bias), weight [Cout, Cin]."""

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        _check_m2_input(f, self.in_channels, "LinearM2")
        return linear_m2(f, self.weight)


def max_project_m2(f: torch.Tensor) -> torch.Tensor:
    """M2 -> R2: maximum over the orientation axis, ``[B, C, Or, H, W] -> [B, C, H, W]``."""
    if f.dim() != 5:
        raise ValueError(f"f must have layout [B, C, Or, H, W], got shape {tuple(f.shape)}")
    return f.amax(dim=2)


class MaxProjectM2(EquivariantModule):
    """M2 -> R2 projection by the maximum over orientations (invariant to the orientation roll)."""

    output_space = "r2"

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return max_project_m2(f)


class CDELayerM2(EquivariantModule):
    """Convection, dilation, erosion (one split step), then LinearM2 and BatchNorm3d.

    ``convection=False`` gives the DE layer of the "gmgan-de" ablation. BatchNorm3d keeps running
    statistics (``track_running_stats=True``, as lietorch 0.8.2) so that samples in eval mode do
    not depend on the batch; its statistics pool over (B, Or, H, W), so it is equivariant.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size=(5, 5, 5), alpha: float = 0.65,
                 distance: str = "logarithmic", convection: bool = True,
                 metric_init_scale: float = 1.0):
        super().__init__()
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.out_channels = check_positive_int("out_channels", out_channels)
        self.convection = ConvectionM2(in_channels) if convection else nn.Identity()
        self.dilation = DilationM2(in_channels, kernel_size, alpha, distance, metric_init_scale)
        self.erosion = ErosionM2(in_channels, kernel_size, alpha, distance, metric_init_scale)
        self.linear = LinearM2(in_channels, out_channels)
        self.batch_norm = nn.BatchNorm3d(out_channels, track_running_stats=True)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        _check_m2_input(f, self.in_channels, type(self).__name__)
        f = _dilate_then_erode(self.dilation, self.erosion, self.convection(f))
        return self.batch_norm(self.linear(f))


class DELayerM2(CDELayerM2):
    """A :class:`CDELayerM2` without convection (dilation, erosion, linear, batch norm)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size=(5, 5, 5), alpha: float = 0.65,
                 distance: str = "logarithmic"):
        super().__init__(in_channels, out_channels, kernel_size, alpha, distance, convection=False)


# ----------------------------------------------------------------------------------------- R2


class ConvectionR2(nn.Module):
    """Per-channel learned translation ``shift`` [C, 2] = (x0 right, y0 up) pixels; init 0."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = check_positive_int("channels", channels)
        self.shift = nn.Parameter(torch.zeros(channels, 2))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        _check_r2_input(f, self.channels, "ConvectionR2")
        return convection_r2(f, self.shift)


class _MorphologicalR2(nn.Module):
    """Hopf-Lax kernel of a diagonal metric ``[C, 2] = (w_x, w_y)`` (translation-equivariant only)."""

    def __init__(self, channels: int, kernel_size=5, alpha: float = 0.65,
                 metric_init_scale: float = 1.0):
        super().__init__()
        self.channels = check_positive_int("channels", channels)
        self.kernel_size = odd_sizes("kernel_size", kernel_size, 2)
        self.alpha = check_alpha(alpha)
        self.metric = nn.Parameter(_initial_metric(channels, 2, self.kernel_size, metric_init_scale))

    def kernel(self) -> torch.Tensor:
        return morphological_kernel_r2(torch.relu(self.metric), self.kernel_size, self.alpha)

    def _kernel_for(self, f: torch.Tensor) -> torch.Tensor:
        """The kernel ``[C, 1, 1, kH, kW]`` for the (checked) input ``f``: R2 is M2 with one
        orientation (see :class:`_MorphologicalM2`)."""
        check_finite("metric", self.metric, "metric weights")
        return _kernel_r2(torch.relu(self.metric), self.kernel_size, self.alpha
                          ).to(f.dtype)[:, None, None]

    def extra_repr(self) -> str:
        return f"{self.channels}, kernel_size={self.kernel_size}, alpha={self.alpha}"


class DilationR2(_MorphologicalR2):
    def forward(self, f: torch.Tensor) -> torch.Tensor:
        _check_r2_input(f, self.channels, "DilationR2")
        check_no_nan("f", f)
        return _min_plus(f.unsqueeze(2), self._kernel_for(f), negate=True).squeeze(2)


class ErosionR2(_MorphologicalR2):
    def forward(self, f: torch.Tensor) -> torch.Tensor:
        _check_r2_input(f, self.channels, "ErosionR2")
        check_no_nan("f", f)
        return _min_plus(f.unsqueeze(2), self._kernel_for(f)).squeeze(2)


class LinearR2(_ChannelMixing):
    """Channel mixing on R2 (1x1 convolution without bias), weight [Cout, Cin]."""

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        _check_r2_input(f, self.in_channels, "LinearR2")
        return linear_m2(f, self.weight)


class CDELayerR2(nn.Module):
    """R2 counterpart of :class:`CDELayerM2` (the translation-only "pdecnn-r2" ablation)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size=5, alpha: float = 0.65,
                 convection: bool = True, metric_init_scale: float = 1.0):
        super().__init__()
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.out_channels = check_positive_int("out_channels", out_channels)
        self.convection = ConvectionR2(in_channels) if convection else nn.Identity()
        self.dilation = DilationR2(in_channels, kernel_size, alpha, metric_init_scale)
        self.erosion = ErosionR2(in_channels, kernel_size, alpha, metric_init_scale)
        self.linear = LinearR2(in_channels, out_channels)
        self.batch_norm = nn.BatchNorm2d(out_channels, track_running_stats=True)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        _check_r2_input(f, self.in_channels, "CDELayerR2")
        return self.batch_norm(self.linear(self.erosion(self.dilation(self.convection(f)))))
