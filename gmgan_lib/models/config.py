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

from gmgan_lib.fields import ANY, Allowed, check, declared, defaults, normalise, option, refuse, unknown_fields

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

_WIDTHS = Allowed(int, low=1, high=MAX_CHANNELS, length=ANY)
# How many widths each architecture has, and what they are.
_WIDTH_COUNTS = {"hybrid": (2, "the two block widths"), "pde": (4, "lift, CDE1, CDE2, CDE3")}


def _only(architecture: str, default: Any, help: str, allowed: Allowed | None = None,
          neutral: Any = None, why: str = "") -> Any:
    """A field that one architecture reads and the other does not: there it must keep its
    ``neutral`` value (by default ``default``), so that no setting is silently ignored."""
    return option(default, help, allowed, only=architecture,
                  neutral=default if neutral is None else neutral, why=why)


@dataclass(frozen=True)
class GMGANConfig:
    """Layer choices of GM-GAN and its ablations; every field is a ``--model.FIELD`` flag of
    ``python -m gmgan_lib train`` and a key of ``--model-config``.

    **hybrid** (docstring of :mod:`gmgan_lib.models.hybrid`): ``g_channels`` = (fields at 7x7,
    fields at 14x14) of G, ``d_channels`` = (fields at 14x14, fields at 7x7) of D, each field
    4 orientations; ``kernel_size``, ``alpha``, ``convection`` describe the PDE nonlinearity;
    ``g_activation``/``d_activation`` say whether G/D use it (``"pde"``) or the DCGAN's
    pointwise one; ``d_batch_norm`` is D's middle batch norm.

    **pde** generator: ``Linear(latent -> g_seed_channels * 7 * 7)`` -> lift to M2 (``g_channels[0]``)
    -> BN3d -> CDE (``g_channels[1]``) -> up x2 -> CDE (``g_channels[2]``) -> up x2
    -> CDE (``g_channels[3]``) -> max over orientations -> 1x1 conv -> tanh.
    **pde** discriminator: lift (1 -> ``d_channels[0]``) -> BN3d -> CDE (``d_channels[1]``) -> pool 2
    -> CDE (``d_channels[2]``) -> pool 2 -> CDE (``d_channels[3]``) -> max over orientations
    -> spatial mean -> Linear -> logit.

    A field this network does not read must keep its neutral value (``orientations`` is 4 in a
    hybrid network, ``lift_kernel`` 5, ``d_pool`` 'max' with the linear head, ...; see
    :meth:`_unread`): a setting is refused rather than ignored. (One part of a field is not
    read and not refused: the angular extent kOr of ``kernel_size`` on R2, ``group="r2"``.)
    """

    architecture: str = option("hybrid", "'hybrid': group convolutions with a PDE nonlinearity; "
                               "'pde': PDE layers throughout", Allowed(str, ARCHITECTURES))
    group: str = option("m2", "'m2': GM-GAN's roto-translation group; 'r2': the translation-"
                        "only PDE-CNN ablation", Allowed(str, GROUPS))
    orientations: int = _only("pde", 4, "Or, orientations per field",
                              Allowed(int, low=4, high=MAX_ORIENTATIONS, multiple_of=4),
                              why="p4 group convolutions: exact quarter turns")
    g_seed_channels: int = _only("pde", 32, "channels of the 7x7 map the latent is projected to",
                                 Allowed(int, low=1, high=MAX_CHANNELS))
    g_channels: tuple[int, ...] = option((32, 16), "G's widths: hybrid (7x7, 14x14); pde (lift, "
                                         "CDE1, CDE2, CDE3)", _WIDTHS)
    d_channels: tuple[int, ...] = option((16, 32), "D's widths: hybrid (14x14, 7x7); pde (lift, "
                                         "CDE1, CDE2, CDE3)", _WIDTHS)
    lift_kernel: int = _only("pde", 5, "spatial size of the lifting kernels",
                             Allowed(int, low=1, high=MAX_KERNEL, odd=True))
    kernel_size: tuple[int, ...] = option((3, 3, 3), "size of the dilation/erosion kernels",
                                          Allowed(int, low=1, high=MAX_KERNEL, odd=True, length=3,
                                                  note="(kOr, kH, kW)"))
    alpha: float = option(0.65, "Hopf-Lax exponent of the fractional dilation/erosion",
                          Allowed(float, low=0.55, high=1.0))
    convection: bool = option(False, "convection before dilation/erosion (CDE layers)")
    g_activation: str = _only("hybrid", "pde", "G's nonlinearity: morphology ('pde', "
                              "'pde-7x7': at 7x7 only) or the DCGAN's ReLU",
                              Allowed(str, G_ACTIVATIONS), neutral="pde",
                              why="a 'pde' network is made of PDE layers throughout")
    d_activation: str = _only("hybrid", "lrelu", "D's nonlinearity: morphology ('pde', "
                              "'pde-7x7') or the DCGAN's LeakyReLU",
                              Allowed(str, D_ACTIVATIONS), neutral="pde",
                              why="a 'pde' network is made of PDE layers throughout")
    d_batch_norm: bool = _only("hybrid", True, "batch norm in D's middle block (False: usual "
                                               "with spectral norm)")
    g_projection: str = _only("hybrid", "max", "G's last map to the image: max or mean over "
                              "the orientations", Allowed(str, PROJECTIONS))
    metric_init_scale: float = option(2.0, "initial metrics x this (larger: a milder "
                                      "nonlinearity)", Allowed(float, low=0.1, high=10))
    d_minibatch_std: bool = _only("hybrid", False, "D's last layer also sees the batch's spread")
    d_head: str = option("linear", "D's decision: 'linear' (sees orientation) or 'invariant' "
                         "(exactly invariant to quarter turns)", Allowed(str, D_HEADS))
    d_pool: str = _only("hybrid", "max", "the invariant head's pooling over orientations",
                        Allowed(str, D_POOLS))
    g_random_turn: bool = _only("hybrid", False, "G turns each sample by a uniformly random "
                                "quarter turn (an invariant output distribution)")

    def __post_init__(self) -> None:
        normalise(self)     # tuples come back from JSON as lists
        check(self)         # each field against its declaration
        self._check_architecture()

    def _check_architecture(self) -> None:
        """The rules that tie fields together, in :func:`refuse`'s format."""
        count, what = _WIDTH_COUNTS[self.architecture]
        for name in ("g_channels", "d_channels"):
            if len(getattr(self, name)) != count:
                raise refuse(name, f"{count} positive integers ({what}) for architecture "
                                   f"{self.architecture!r}", getattr(self, name))
        for name, (neutral, where, why) in self._unread().items():
            if getattr(self, name) != neutral:
                raise refuse(name, f"{neutral!r} {where} ({why})", getattr(self, name))

    def _unread(self) -> dict[str, tuple[Any, str, str]]:
        """The fields that this network does not read: for each, the value it must keep, and
        where and why it is not read."""
        unread = {}
        for f in declared(GMGANConfig):
            only = f.metadata.get("only")
            if only not in (None, self.architecture):
                unread[f.name] = (f.metadata["neutral"], f"for architecture {self.architecture!r}",
                                  f.metadata["why"] or f"it applies to architecture {only!r} only")
        if self.d_head != "invariant":
            unread.setdefault("d_pool", ("max", f"for d_head {self.d_head!r}", "it applies to "
                                         "d_head 'invariant' only: the linear head does not "
                                         "pool over orientations"))
        if self.group == "r2":
            for name in ("g_projection", "d_pool"):
                unread.setdefault(name, ("max", "for group 'r2'", "a network on R2 has no "
                                         "orientations to pool"))
        if self.architecture == "hybrid" and (self.g_activation, self.d_activation) == ("relu",
                                                                                        "lrelu"):
            default = defaults(GMGANConfig)
            for name in ("kernel_size", "alpha", "convection", "metric_init_scale"):
                unread.setdefault(name, (default[name], "without PDE layers (g_activation "
                                         "'relu', d_activation 'lrelu')", "no layer reads it"))
        return unread

    @classmethod
    def neutral(cls, architecture: str) -> dict[str, Any]:
        """The values that ``architecture`` requires of the fields it does not read."""
        return {f.name: f.metadata["neutral"] for f in declared(cls)
                if f.metadata.get("only") not in (None, architecture)}

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> GMGANConfig:
        """Build from a dict of fields, as JSON holds them (unknown keys raise ValueError)."""
        unknown_fields(cls, config, "GM-GAN config")
        return cls(**config)

    def replace(self, **changes: Any) -> GMGANConfig:
        """A copy with some fields changed (unknown field names raise ValueError)."""
        unknown_fields(GMGANConfig, changes, "GM-GAN config")
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
