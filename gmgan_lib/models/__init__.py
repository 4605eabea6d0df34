"""GAN models: GM-GAN, its ablations and the DCGAN baseline, built by name.

``build(name, latent_dim=100, **config)`` returns a :class:`GAN` pair (generator,
discriminator) for one of :data:`MODEL_NAMES`:

- ``"gmgan"``: GM-GAN, morphological CDE layers on M2 (:mod:`gmgan_lib.models.gmgan`);
- ``"gan"``: the classical DCGAN baseline (:mod:`gmgan_lib.models.dcgan`);
- ``"gmgan-de"``: GM-GAN without convection (dilation + erosion layers only);
- ``"pdecnn-r2"``: the same skeleton with translation-only PDE layers on R2.

For the GM-GAN family, ``config`` holds fields of :class:`GMGANConfig` plus an optional
``preset`` (``"paper"``, ``"small"``, ``"tiny"``; see :data:`PRESETS`). For ``"gan"`` it may
hold ``g_width`` (128) and ``d_width`` (32). :func:`resolve_config` turns those into the full,
explicit dict stored in checkpoints, so a checkpoint rebuilds the same network even if the
defaults change later.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from torch import nn

from gmgan_lib.models.config import PRESETS, GMGANConfig
from gmgan_lib.models.dcgan import DCGANDiscriminator, DCGANGenerator

MODEL_NAMES = ("gmgan", "gan", "gmgan-de", "pdecnn-r2")

# The ablations are GM-GAN with one field pinned.
_PINNED = {"gmgan": {}, "gmgan-de": {"convection": False}, "pdecnn-r2": {"group": "r2"}}
_DCGAN_DEFAULTS = {"g_width": 128, "d_width": 32}


class GAN(NamedTuple):
    generator: nn.Module
    discriminator: nn.Module


def _check_name(name: str) -> None:
    if name not in MODEL_NAMES:
        raise ValueError(f"model must be one of {MODEL_NAMES}, got {name!r}")


def resolve_config(name: str, **config: Any) -> dict[str, Any]:
    """The complete, explicit architecture dict of model ``name`` (JSON- and checkpoint-safe)."""
    _check_name(name)
    if name == "gan":
        unknown = sorted(set(config) - set(_DCGAN_DEFAULTS))
        if unknown:
            raise ValueError(f"unknown config for model 'gan': {unknown}; valid keys: "
                             f"{sorted(_DCGAN_DEFAULTS)}")
        resolved = {**_DCGAN_DEFAULTS, **config}
        for key, value in resolved.items():
            if not (isinstance(value, int) and value >= 4 and value % 4 == 0):
                raise ValueError(f"{key} must be a positive multiple of 4, got {value!r}")
        return resolved
    config = dict(config)
    preset = config.pop("preset", "paper")
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {tuple(PRESETS)}, got {preset!r}")
    for key, value in _PINNED[name].items():
        if key in config and config[key] != value:
            raise ValueError(f"model {name!r} fixes {key}={value!r}; got {key}={config[key]!r}")
    return PRESETS[preset].replace(**{**config, **_PINNED[name]}).to_dict()


def build(name: str, latent_dim: int = 100, **config: Any) -> GAN:
    """Build the generator and discriminator of model ``name`` (see the module docstring)."""
    if not (isinstance(latent_dim, int) and latent_dim >= 1):
        raise ValueError(f"latent_dim must be a positive int, got {latent_dim!r}")
    resolved = resolve_config(name, **config)
    if name == "gan":
        return GAN(DCGANGenerator(latent_dim, resolved["g_width"]),
                   DCGANDiscriminator(resolved["d_width"]))
    # Imported here so the DCGAN works even where the PDE layers cannot be imported.
    from gmgan_lib.models.gmgan import GMDiscriminator, GMGenerator

    cfg = GMGANConfig(**resolved)
    return GAN(GMGenerator(cfg, latent_dim), GMDiscriminator(cfg))


def count_parameters(module: nn.Module) -> int:
    """Number of trainable scalars of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


__all__ = ["MODEL_NAMES", "GAN", "GMGANConfig", "PRESETS", "build", "resolve_config",
           "count_parameters", "DCGANGenerator", "DCGANDiscriminator"]
