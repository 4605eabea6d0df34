"""GAN models: GM-GAN, its ablations and the DCGAN baseline, built from a typed configuration.

A model is a name of :data:`MODEL_NAMES` and its architecture, a :class:`GMGANConfig` or a
:class:`DCGANConfig` (:data:`ModelConfig`):

- ``"gmgan"``: GM-GAN, morphological CDE layers on M2 (the default, hybrid network:
  :mod:`gmgan_lib.models.hybrid`; the all-PDE preset ``pde``: :mod:`gmgan_lib.models.all_pde`);
- ``"gan"``: the classical DCGAN baseline (:mod:`gmgan_lib.models.dcgan`);
- ``"gmgan-de"``: GM-GAN without convection (dilation + erosion layers only);
- ``"pdecnn-r2"``: the same skeleton with translation-only PDE layers on R2.

:func:`resolve` turns a name and overrides (fields, plus ``preset`` for the GM-GAN family; see
:data:`PRESETS`) into the complete configuration, validated once; :func:`build` builds the pair
from it. ``build("gmgan", preset="pde")`` does both, for notebooks and quick looks.
Checkpoints store ``resolve(...).to_dict()``, every field explicit, so a checkpoint rebuilds
the same network even if the defaults change later.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from gmgan_lib import retired_attributes
from gmgan_lib.fields import Allowed, defaults, refuse, unknown_fields
from gmgan_lib.models.config import (ARCHITECTURES, DEFAULT_PRESET, OLDER_CHECKPOINT_VALUES,
                                     PRESETS, GMGANConfig)
from gmgan_lib.models.dcgan import DCGANConfig, DCGANDiscriminator, DCGANGenerator

MODEL_NAMES = ("gmgan", "gan", "gmgan-de", "pdecnn-r2")

# ``from gmgan_lib.models import gmgan`` (a module renamed in 0.2.0) says where it went.
__getattr__ = retired_attributes(__name__)

# The ablations are GM-GAN with one field pinned.
_PINNED = {"gmgan": {}, "gmgan-de": {"convection": False}, "pdecnn-r2": {"group": "r2"}}


class GAN(NamedTuple):
    generator: nn.Module
    discriminator: nn.Module


ModelConfig = GMGANConfig | DCGANConfig


def _check_name(name: str) -> None:
    if not isinstance(name, str) or name not in MODEL_NAMES:
        raise refuse("model", Allowed(str, MODEL_NAMES).describe(), name)


def resolve(name: str, **overrides: Any) -> ModelConfig:
    """The complete configuration of model ``name``: its preset (``overrides["preset"]``, for
    the GM-GAN family) with ``overrides`` applied; a ValueError naming the field otherwise."""
    _check_name(name)
    if name == "gan":
        if "preset" in overrides:
            raise refuse("preset", "absent for model 'gan' (presets are GM-GAN configurations: "
                                   "models gmgan, gmgan-de, pdecnn-r2)", overrides["preset"])
        return DCGANConfig.from_dict(overrides)
    overrides = dict(overrides)
    preset = overrides.pop("preset", DEFAULT_PRESET)
    if not isinstance(preset, str) or preset not in PRESETS:
        raise refuse("preset", Allowed(str, tuple(PRESETS)).describe(), preset)
    unknown_fields(GMGANConfig, overrides, "GM-GAN config")
    _check_pinned(name, {k: overrides[k] for k in _PINNED[name] if k in overrides})
    base = PRESETS[preset]
    architecture = overrides.get("architecture", base.architecture)
    if architecture != base.architecture and architecture in ARCHITECTURES:
        # Another architecture than the preset's: the fields it does not read take the values
        # it requires (a 'pde' network's activations are 'pde') where the preset kept their
        # defaults; a preset's own choice (hybrid-invariant's d_pool) is refused, not dropped.
        default = defaults(GMGANConfig)
        neutral = {k: v for k, v in GMGANConfig.neutral(architecture).items()
                   if getattr(base, k) == default[k]}
        overrides = {**neutral, **overrides}
    return base.replace(**{**overrides, **_PINNED[name]})


def resolve_config(name: str, **overrides: Any) -> dict[str, Any]:
    """:func:`resolve` as the JSON dict that checkpoints and ``config.json`` store."""
    return resolve(name, **overrides).to_dict()


def from_saved(name: str, saved: dict[str, Any]) -> ModelConfig:
    """The configuration of model ``name`` that a checkpoint or ``config.json`` stores (a dict
    of fields, complete since 0.1.0; a field added later takes the value that rebuilds the
    older network, :data:`~gmgan_lib.models.config.OLDER_CHECKPOINT_VALUES`)."""
    if not isinstance(saved, dict):
        raise ValueError(f"model_config must be a dict of architecture fields, got "
                         f"{type(saved).__name__}")
    names = [k for k in saved if not isinstance(k, str)]
    if names:                       # before they could be passed on as keyword arguments
        raise ValueError(f"model_config keys must be field names, got {names[0]!r}")
    if name != "gan" and "architecture" in saved:
        saved = {**OLDER_CHECKPOINT_VALUES, **saved}
    return resolve(name, **saved)


def check_config(name: str, config: ModelConfig) -> ModelConfig:
    """``config`` if it is a configuration of model ``name`` (the right type, the fields that
    ``name`` fixes), else a ValueError."""
    _check_name(name)
    expected = DCGANConfig if name == "gan" else GMGANConfig
    if not isinstance(config, expected):
        raise ValueError(f"model {name!r} needs a {expected.__name__}, got "
                         f"{type(config).__name__}")
    if name != "gan":
        _check_pinned(name, {k: getattr(config, k) for k in _PINNED[name]})
    return config


def _check_pinned(name: str, values: dict[str, Any]) -> None:
    """Refuse a value of a field that model ``name`` fixes (``gmgan-de``: no convection)."""
    for key, value in values.items():
        if value != _PINNED[name][key]:
            raise refuse(key, f"{_PINNED[name][key]!r} for model {name!r} (the model fixes it)",
                         value)


def build(model: str | ModelConfig, latent_dim: int = 100, **overrides: Any) -> GAN:
    """The generator and discriminator of a configuration (or of a model name and overrides,
    resolved first: ``build("gmgan", preset="pde")``)."""
    if not (isinstance(latent_dim, int) and not isinstance(latent_dim, bool) and latent_dim >= 1):
        raise ValueError(f"latent_dim must be a positive int, got {latent_dim!r}")
    config = resolve(model, **overrides) if isinstance(model, str) else model
    if overrides and not isinstance(model, str):
        raise TypeError("build(config, latent_dim) takes no overrides: use config.replace(...)")
    if isinstance(config, DCGANConfig):
        return GAN(DCGANGenerator(latent_dim, config.g_width),
                   DCGANDiscriminator(config.d_width, config.d_batch_norm))
    if not isinstance(config, GMGANConfig):
        raise TypeError(f"build needs a model name, a GMGANConfig or a DCGANConfig, got "
                        f"{type(config).__name__}")
    # Imported here so the DCGAN works even where the PDE layers cannot be imported.
    if config.architecture == "hybrid":
        from gmgan_lib.models.hybrid import HybridDiscriminator, HybridGenerator

        return GAN(HybridGenerator(config, latent_dim), HybridDiscriminator(config))
    from gmgan_lib.models.all_pde import AllPDEDiscriminator, AllPDEGenerator

    return GAN(AllPDEGenerator(config, latent_dim), AllPDEDiscriminator(config))


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral norm (Miyato et al. 2018) on every convolution, group convolution and linear
    weight of ``module`` (in place; batch norm and the PDE layers' metrics are left alone)."""
    from torch.nn.utils.parametrizations import spectral_norm

    from gmgan_lib.nn import GroupConvM2

    for m in list(module.modules()):
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, GroupConvM2)):
            spectral_norm(m, dim=1 if isinstance(m, nn.ConvTranspose2d) else 0)
    return module


def check_double_backward(module: nn.Module, option: str) -> None:
    """Raise a ValueError naming ``option`` if ``module`` holds a layer without double backward
    (the min-plus / max-plus autograd node): gradient penalties such as R1 need it."""
    from gmgan_lib.nn.layers import _MorphologicalM2, _MorphologicalR2

    found = [name for name, m in module.named_modules()
             if isinstance(m, (_MorphologicalM2, _MorphologicalR2))]
    if found:
        raise ValueError(f"{option} needs the second derivative of the discriminator, and its "
                         f"morphological layers ({found[0]}, ...) have none (their backward is a "
                         f"scatter through the arg-min index); set {option}=0, or use a "
                         f"discriminator without PDE layers (model_config d_activation='lrelu', "
                         f"or model 'gan')")


def machine_memory() -> int:
    """Bytes of physical memory of this machine (0 where the system does not say)."""
    import os

    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


def check_memory(config: ModelConfig, latent_dim: int, *, training: bool,
                 memory: int | None = None) -> None:
    """Refuse, before anything is allocated, a model whose weights alone would not fit in
    ``memory`` (default: this machine's): 4 bytes per parameter, and for training four copies
    (weights, gradients, Adam's two moments). Activations come on top, so this is a lower bound:
    it catches the sizes that validation lets through and no machine holds (a latent of 65,536
    with 4,096 fields makes a first Linear layer of 53 billion weights)."""
    with torch.device("meta"):   # shapes only: nothing is allocated
        pair = build(config, latent_dim)
    g = count_parameters(pair.generator)
    d = count_parameters(pair.discriminator) if training else 0
    need = 4 * (g + d) * (4 if training else 1)
    have = machine_memory() if memory is None else memory
    if have and need > have:
        what = "weights, gradients and Adam moments" if training else "weights"
        kind = "DCGAN" if isinstance(config, DCGANConfig) else "GM-GAN"
        raise ValueError(f"this {kind} with latent_dim {latent_dim} and this architecture needs "
                         f"at least {need / 2**30:,.1f} GiB for its {what} ({g:,} generator"
                         + (f" + {d:,} discriminator" if training else "") + f" parameters), more "
                         f"than this machine's {have / 2**30:,.1f} GiB; use a smaller latent_dim, "
                         f"g_channels or d_channels")


def count_parameters(module: nn.Module) -> int:
    """Number of trainable scalars of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


__all__ = ["MODEL_NAMES", "GAN", "ModelConfig", "GMGANConfig", "DCGANConfig", "PRESETS", "resolve",
           "resolve_config", "from_saved", "check_config", "build", "count_parameters", "check_memory", "machine_memory", "apply_spectral_norm", "check_double_backward", "DCGANGenerator", "DCGANDiscriminator"]
