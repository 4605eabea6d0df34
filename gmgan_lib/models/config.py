"""Every architectural choice of GM-GAN in one place.

The paper (Diop, Fall, Mbengue, Daoudi, arXiv:2403.14897) does **not** publish its generator and
discriminator layer lists, the number of orientations, the kernel sizes, alpha, or whether
convection is used. The defaults below are this repository's reconstruction
(../shared/design/method.md section 4.3), not the authors' configuration. Changing an experiment
means changing (or overriding) a field of :class:`GMGANConfig`, never editing a model file.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

GROUPS = ("m2", "r2")


@dataclass(frozen=True)
class GMGANConfig:
    """Layer choices of GM-GAN and its ablations.

    Generator: ``Linear(latent -> g_seed_channels * 7 * 7)`` -> lift to M2 (``g_channels[0]``)
    -> BN3d -> CDE (``g_channels[1]``) -> up x2 -> CDE (``g_channels[2]``) -> up x2
    -> CDE (``g_channels[3]``) -> max over orientations -> 1x1 conv -> tanh.
    Discriminator: lift (1 -> ``d_channels[0]``) -> BN3d -> CDE (``d_channels[1]``) -> pool 2
    -> CDE (``d_channels[2]``) -> pool 2 -> CDE (``d_channels[3]``) -> max over orientations
    -> spatial mean -> Linear -> logit.
    """

    group: str = "m2"                  # "m2": GM-GAN; "r2": translation-only PDE-CNN ablation
    orientations: int = 8              # Or; divisible by 4 keeps 90-degree equivariance exact
    g_seed_channels: int = 32          # channels of the 7x7 map the latent is projected to
    g_channels: tuple[int, ...] = (32, 32, 16, 16)   # lift, then the three CDE layers
    d_channels: tuple[int, ...] = (16, 32, 32, 32)   # lift, then the three CDE layers
    lift_kernel: int = 5               # spatial size of the lifting kernels
    kernel_size: tuple[int, ...] = (5, 5, 5)         # (kOr, kH, kW) of dilation/erosion
    alpha: float = 0.65                # Hopf-Lax exponent of the fractional dilation/erosion
    convection: bool = True            # False: DE layers (the "gmgan-de" ablation)

    def __post_init__(self) -> None:
        # Tuples survive a JSON round trip as lists: normalise, then validate every field.
        for name in ("g_channels", "d_channels", "kernel_size"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        if self.group not in GROUPS:
            raise ValueError(f"group must be one of {GROUPS}, got {self.group!r}")
        if not (isinstance(self.orientations, int) and self.orientations >= 4
                and self.orientations % 4 == 0):
            raise ValueError(f"orientations must be a positive multiple of 4 (exact 90-degree "
                             f"equivariance), got {self.orientations!r}")
        for name in ("g_channels", "d_channels"):
            value = getattr(self, name)
            if len(value) != 4 or min(value) < 1:
                raise ValueError(f"{name} must be 4 positive ints (lift, CDE1, CDE2, CDE3), "
                                 f"got {value!r}")
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

    def replace(self, **changes: Any) -> "GMGANConfig":
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


#: Named configurations. "paper" is the reconstruction of method.md 4.3; "small" is what the
#: CPU demo and the committed CPU checkpoint train (4 orientations, thin layers, 3x3x3 kernels:
#: about 20x cheaper per step); "tiny" exists for fast unit tests.
PRESETS: dict[str, GMGANConfig] = {
    "paper": GMGANConfig(),
    "small": GMGANConfig(orientations=4, g_seed_channels=16, g_channels=(16, 16, 8, 8),
                         d_channels=(8, 16, 16, 16), kernel_size=(3, 5, 5)),
    "tiny": GMGANConfig(orientations=4, g_seed_channels=4, g_channels=(4, 4, 4, 4),
                        d_channels=(4, 4, 4, 4), lift_kernel=3, kernel_size=(3, 3, 3)),
}
