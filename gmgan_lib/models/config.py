"""Every architectural choice of GM-GAN in one place.

The paper (Diop, Fall, Mbengue, Daoudi, arXiv:2403.14897) does **not** publish its generator and
discriminator layer lists, the number of orientations, the kernel sizes, alpha, or whether
convection is used. Everything below is this repository's reconstruction, in two readings
(docs/architecture.md, "Two readings of GM-GAN"; docs/experiments.md measures them):

- ``architecture="hybrid"`` (the default ``gmgan``): the DCGAN skeleton with p4 group
  convolutions as the linear layers and morphological PDE layers (dilation, erosion, optionally
  convection) as the nonlinearity (:mod:`gmgan_lib.models.hybrid`);
- ``architecture="pde"``: every block a CDE layer, no linear convolution but the lift
  (:mod:`gmgan_lib.models.all_pde`), the repository's first reconstruction.

Changing an experiment means changing (or overriding) a field of :class:`GMGANConfig`, never
editing a model file.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

GROUPS = ("m2", "r2")
MAX_CHANNELS = 4096      # fields per layer
MAX_KERNEL = 15          # spatial / angular kernel extent
MAX_ORIENTATIONS = 64
ARCHITECTURES = ("hybrid", "pde")
# "pde": PDE layers after both linear layers; "pde-7x7": only in the 7x7 block (the low
# resolution, where they cost least), the DCGAN's pointwise activation at 14x14; "relu"/"lrelu":
# no PDE layer in that network.
G_ACTIVATIONS = ("pde", "pde-7x7", "relu")
D_ACTIVATIONS = ("pde", "pde-7x7", "lrelu")
PROJECTIONS = ("max", "mean")   # M2 -> R2 at the end of G: over the orientations
# The end of D: "linear" reads the whole [fields, 4, 7, 7] map with one Linear (the DCGAN's
# flatten + Linear: D's features are equivariant, its decision sees orientation); "invariant"
# is a 7x7 group convolution and a max over orientations (D exactly invariant to quarter turns:
# right for rotation-invariant data such as rotated MNIST, a handicap on upright MNIST, where
# it cannot tell a digit from its turned copy; docs/experiments.md, section 3).
D_HEADS = ("linear", "invariant")
# How the invariant head pools its four orientation logits into one: the largest, their mean,
# or a soft maximum (log-mean-exp: between the two, smooth). Each is exactly invariant.
D_POOLS = ("max", "mean", "logsumexp")
#: What a checkpoint saved before a field existed meant by it: the value that rebuilds that
#: network (a saved architecture lacking the field is completed with these before it is
#: compared or built).
OLDER_CHECKPOINT_VALUES = {"d_head": "invariant", "d_pool": "max", "g_random_turn": False}


@dataclass(frozen=True)
class GMGANConfig:
    """Layer choices of GM-GAN and its ablations.

    **hybrid** (docstring of :mod:`gmgan_lib.models.hybrid`): ``g_channels`` = (fields at 7x7,
    fields at 14x14) of G, ``d_channels`` = (fields at 14x14, fields at 7x7) of D, each field
    4 orientations; ``kernel_size``, ``alpha``, ``convection`` describe the PDE nonlinearity;
    ``g_activation``/``d_activation`` say whether G/D use it (``"pde"``) or the DCGAN's
    pointwise one; ``d_batch_norm`` is D's middle batch norm. ``g_seed_channels`` and
    ``lift_kernel`` are not used.

    **pde** generator: ``Linear(latent -> g_seed_channels * 7 * 7)`` -> lift to M2 (``g_channels[0]``)
    -> BN3d -> CDE (``g_channels[1]``) -> up x2 -> CDE (``g_channels[2]``) -> up x2
    -> CDE (``g_channels[3]``) -> max over orientations -> 1x1 conv -> tanh.
    **pde** discriminator: lift (1 -> ``d_channels[0]``) -> BN3d -> CDE (``d_channels[1]``) -> pool 2
    -> CDE (``d_channels[2]``) -> pool 2 -> CDE (``d_channels[3]``) -> max over orientations
    -> spatial mean -> Linear -> logit.
    """

    architecture: str = "hybrid"       # "hybrid" (group convs + PDE nonlinearity) or "pde"
    group: str = "m2"                  # "m2": GM-GAN; "r2": translation-only PDE-CNN ablation
    orientations: int = 4              # Or; hybrid: 4 (p4); pde: any multiple of 4
    g_seed_channels: int = 32          # pde: channels of the 7x7 map the latent is projected to
    g_channels: tuple[int, ...] = (32, 16)           # hybrid: 2 widths; pde: lift + 3 CDE layers
    d_channels: tuple[int, ...] = (16, 32)           # hybrid: 2 widths; pde: lift + 3 CDE layers
    lift_kernel: int = 5               # pde: spatial size of the lifting kernels
    kernel_size: tuple[int, ...] = (3, 3, 3)         # (kOr, kH, kW) of dilation/erosion
    alpha: float = 0.65                # Hopf-Lax exponent of the fractional dilation/erosion
    convection: bool = False           # True: convection before dilation/erosion (CDE)
    g_activation: str = "pde"          # hybrid: "pde", "pde-7x7" (morphology) or "relu" in G
    d_activation: str = "lrelu"        # hybrid: "pde", "pde-7x7" (morphology) or "lrelu" in D
    d_batch_norm: bool = True          # hybrid: batch norm in D's middle block
    g_projection: str = "max"          # hybrid: G's last map to the image, "max" or "mean" over Or
    metric_init_scale: float = 2.0     # initial metrics x this (larger: a milder nonlinearity)
    d_minibatch_std: bool = False      # hybrid: D's last layer also sees the batch's spread
    d_head: str = "linear"             # D's decision: "linear" (sees orientation) or "invariant"
    d_pool: str = "max"                # invariant head: pooling over orientations (D_POOLS)
    g_random_turn: bool = False        # hybrid: G turns each sample by a random quarter turn

    def __post_init__(self) -> None:
        # Tuples survive a JSON round trip as lists: normalise, then validate every field.
        for name in ("g_channels", "d_channels", "kernel_size"):
            value = getattr(self, name)
            if (not isinstance(value, (list, tuple))
                    or any(isinstance(v, bool) or not isinstance(v, int) for v in value)):
                raise ValueError(f"{name} must be a list of ints, got {value!r}")
            object.__setattr__(self, name, tuple(value))
        # Upper bounds: a bad value must be a one-line error, not an allocation of terabytes.
        for name in ("g_channels", "d_channels"):
            if any(v > MAX_CHANNELS for v in getattr(self, name)):
                raise ValueError(f"{name} must be ints of at most {MAX_CHANNELS}, got "
                                 f"{list(getattr(self, name))!r}")
        if any(k > MAX_KERNEL for k in self.kernel_size):
            raise ValueError(f"kernel_size entries must be at most {MAX_KERNEL}, got "
                             f"{list(self.kernel_size)!r}")
        if isinstance(self.orientations, int) and self.orientations > MAX_ORIENTATIONS:
            raise ValueError(f"orientations must be at most {MAX_ORIENTATIONS}, got "
                             f"{self.orientations!r}")
        if isinstance(self.g_seed_channels, int) and self.g_seed_channels > MAX_CHANNELS:
            raise ValueError(f"g_seed_channels must be at most {MAX_CHANNELS}, got "
                             f"{self.g_seed_channels!r}")
        if isinstance(self.lift_kernel, int) and self.lift_kernel > MAX_KERNEL:
            raise ValueError(f"lift_kernel must be at most {MAX_KERNEL}, got {self.lift_kernel!r}")
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)):
            raise ValueError(f"alpha must be a number in [0.55, 1.0], got {self.alpha!r}")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}")
        if self.group not in GROUPS:
            raise ValueError(f"group must be one of {GROUPS}, got {self.group!r}")
        if not (isinstance(self.orientations, int) and self.orientations >= 4
                and self.orientations % 4 == 0):
            raise ValueError(f"orientations must be a positive multiple of 4 (exact 90-degree "
                             f"equivariance), got {self.orientations!r}")
        hybrid = self.architecture == "hybrid"
        if hybrid and self.orientations != 4:
            raise ValueError(f"orientations must be 4 for architecture 'hybrid' (p4 group "
                             f"convolutions, exact quarter turns), got {self.orientations!r}")
        n, what = (2, "the two block widths") if hybrid else (4, "lift, CDE1, CDE2, CDE3")
        for name in ("g_channels", "d_channels"):
            value = getattr(self, name)
            if len(value) != n or min(value) < 1:
                raise ValueError(f"{name} must be {n} positive ints ({what}) for architecture "
                                 f"{self.architecture!r}, got {value!r}")
        if self.g_activation not in G_ACTIVATIONS:
            raise ValueError(f"g_activation must be one of {G_ACTIVATIONS}, got {self.g_activation!r}")
        if self.d_activation not in D_ACTIVATIONS:
            raise ValueError(f"d_activation must be one of {D_ACTIVATIONS}, got {self.d_activation!r}")
        if not hybrid and (self.g_activation, self.d_activation) != ("pde", "pde"):
            raise ValueError("g_activation and d_activation apply to architecture 'hybrid' only; "
                             "a 'pde' network is made of PDE layers throughout")
        if (isinstance(self.metric_init_scale, bool)
                or not isinstance(self.metric_init_scale, (int, float))
                or not 0.1 <= self.metric_init_scale <= 10):
            raise ValueError(f"metric_init_scale must be a number in [0.1, 10], got "
                             f"{self.metric_init_scale!r}")
        if self.g_projection not in PROJECTIONS:
            raise ValueError(f"g_projection must be one of {PROJECTIONS}, got {self.g_projection!r}")
        if self.d_head not in D_HEADS:
            raise ValueError(f"d_head must be one of {D_HEADS}, got {self.d_head!r}")
        if self.d_pool not in D_POOLS:
            raise ValueError(f"d_pool must be one of {D_POOLS}, got {self.d_pool!r}")
        if self.d_pool != "max" and self.d_head != "invariant":
            raise ValueError(f"d_pool={self.d_pool!r} applies to d_head 'invariant' only (the "
                             f"linear head does not pool over orientations)")
        if not isinstance(self.g_random_turn, bool):
            raise ValueError(f"g_random_turn must be True or False, got {self.g_random_turn!r}")
        if not hybrid and (self.g_random_turn or self.d_pool != "max"):
            raise ValueError("g_random_turn and d_pool apply to architecture 'hybrid' only")
        if not isinstance(self.d_minibatch_std, bool):
            raise ValueError(f"d_minibatch_std must be True or False, got {self.d_minibatch_std!r}")
        if not hybrid and self.d_minibatch_std:
            raise ValueError("d_minibatch_std applies to architecture 'hybrid' only")
        if not isinstance(self.d_batch_norm, bool):
            raise ValueError(f"d_batch_norm must be True or False, got {self.d_batch_norm!r}")
        if not (isinstance(self.g_seed_channels, int) and self.g_seed_channels >= 1):
            raise ValueError(f"g_seed_channels must be a positive int, got {self.g_seed_channels!r}")
        if not (isinstance(self.lift_kernel, int) and self.lift_kernel >= 1
                and self.lift_kernel % 2 == 1):
            raise ValueError(f"lift_kernel must be a positive odd int, got {self.lift_kernel!r}")
        if len(self.kernel_size) != 3 or any(k < 1 or k % 2 == 0 for k in self.kernel_size):
            raise ValueError(f"kernel_size must be 3 positive odd ints (kOr, kH, kW), "
                             f"got {self.kernel_size!r}")
        if not 0.55 <= float(self.alpha) <= 1.0:
            raise ValueError(f"alpha must be in [0.55, 1.0], got {self.alpha!r}")
        if not isinstance(self.convection, bool):
            raise ValueError(f"convection must be True or False, got {self.convection!r}")

    def replace(self, **changes: Any) -> GMGANConfig:
        """A copy with some fields changed (unknown field names raise ValueError)."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ValueError(f"unknown GM-GAN config field(s) {unknown}; valid fields: "
                             f"{[f.name for f in dataclasses.fields(self)]}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON / checkpoint-safe values (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}


_PDE = dict(architecture="pde", d_activation="pde", orientations=8, g_seed_channels=32,
            g_channels=(32, 32, 16, 16), d_channels=(16, 32, 32, 32), lift_kernel=5,
            kernel_size=(5, 5, 5), convection=True, metric_init_scale=1.0)

#: Named configurations (docs/experiments.md measures them side by side):
#: - "hybrid", the default ``gmgan``: dilation and erosion in G, a p4 group-convolution D with
#:   LeakyReLU, metrics initialised at twice lietorch's range (with lietorch's own range,
#:   training collapsed in 7 runs out of 9);
#: - "hybrid-invariant": the geometric prior on both sides, for rotation-invariant data: G's
#:   samples turned by a uniformly random quarter turn (its distribution invariant by
#:   construction) and D exactly invariant, the mean over orientations (docs/architecture.md, "An
#:   invariant discriminator needs an invariant generator"; docs/results.md measures the other
#:   poolings);
#: - "hybrid-gd": PDE layers in D as well (as good per step, costlier per CPU minute:
#:   docs/experiments.md, section 6); "hybrid-cde": "hybrid-gd" with convection;
#: - "hybrid-tiny": unit-test size, PDE layers in both networks with convection and lietorch's
#:   range, so that the tests exercise every layer with active morphology;
#: - "pde": every block a CDE layer (models/all_pde.py); "pde-small" its thin CPU version (4
#:   orientations, 3x5x5 kernels); "pde-tiny" the unit-test size.
PRESETS: dict[str, GMGANConfig] = {
    "hybrid": GMGANConfig(),
    "hybrid-gd": GMGANConfig(d_activation="pde"),
    "hybrid-invariant": GMGANConfig(d_head="invariant", d_pool="mean", g_random_turn=True),
    "hybrid-cde": GMGANConfig(convection=True, d_activation="pde"),
    "hybrid-tiny": GMGANConfig(g_channels=(4, 4), d_channels=(2, 4), convection=True,
                               metric_init_scale=1.0, d_activation="pde"),
    "pde": GMGANConfig(**_PDE),
    "pde-small": GMGANConfig(**{**_PDE, "orientations": 4, "g_seed_channels": 16,
                                "g_channels": (16, 16, 8, 8), "d_channels": (8, 16, 16, 16),
                                "kernel_size": (3, 5, 5)}),
    "pde-tiny": GMGANConfig(**{**_PDE, "orientations": 4, "g_seed_channels": 4,
                               "g_channels": (4, 4, 4, 4), "d_channels": (4, 4, 4, 4),
                               "lift_kernel": 3, "kernel_size": (3, 3, 3)}),
}
DEFAULT_PRESET = "hybrid"
