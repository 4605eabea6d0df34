"""GAN models: GM-GAN, its ablations and the DCGAN baseline, built by name.

``build(name, latent_dim=100, **config)`` returns a :class:`GAN` pair (generator,
discriminator) for one of :data:`MODEL_NAMES`:

- ``"gmgan"``: GM-GAN, morphological CDE layers on M2 (the default, hybrid network:
  :mod:`gmgan_lib.models.hybrid`; the all-PDE preset ``pde``: :mod:`gmgan_lib.models.all_pde`);
- ``"gan"``: the classical DCGAN baseline (:mod:`gmgan_lib.models.dcgan`);
- ``"gmgan-de"``: GM-GAN without convection (dilation + erosion layers only);
- ``"pdecnn-r2"``: the same skeleton with translation-only PDE layers on R2.

For the GM-GAN family, ``config`` holds fields of :class:`GMGANConfig` plus an optional
``preset`` (default ``"hybrid"``; see :data:`PRESETS`). For ``"gan"`` it holds fields of
:class:`DCGANConfig` (``g_width`` 128, ``d_width`` 64, ``d_batch_norm`` True). :func:`resolve_config` turns those into the full,
explicit dict stored in checkpoints, so a checkpoint rebuilds the same network even if the
defaults change later.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from gmgan_lib import retired_attributes
from gmgan_lib.models.config import DEFAULT_PRESET, PRESETS, GMGANConfig
from gmgan_lib.models.dcgan import DCGANConfig, DCGANDiscriminator, DCGANGenerator

MODEL_NAMES = ("gmgan", "gan", "gmgan-de", "pdecnn-r2")

# ``from gmgan_lib.models import gmgan`` (a module renamed in 0.2.0) says where it went.
__getattr__ = retired_attributes(__name__)

# The ablations are GM-GAN with one field pinned.
_PINNED = {"gmgan": {}, "gmgan-de": {"convection": False}, "pdecnn-r2": {"group": "r2"}}


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
        return DCGANConfig.from_dict(config).to_dict()
    config = dict(config)
    preset = config.pop("preset", DEFAULT_PRESET)
    if not isinstance(preset, str) or preset not in PRESETS:
        raise ValueError(f"preset must be one of {tuple(PRESETS)}, got {preset!r}")
    for key, value in _PINNED[name].items():
        if key in config and config[key] != value:
            raise ValueError(f"model {name!r} fixes {key}={value!r}; got {key}={config[key]!r}")
    if config.get("architecture", PRESETS[preset].architecture) == "pde":
        # A 'pde' network is PDE layers throughout: the hybrid default D (LeakyReLU) does not
        # carry over to it; an explicit other choice is still refused by the config.
        config.setdefault("g_activation", "pde")
        config.setdefault("d_activation", "pde")
    return PRESETS[preset].replace(**{**config, **_PINNED[name]}).to_dict()


def build(name: str, latent_dim: int = 100, **config: Any) -> GAN:
    """Build the generator and discriminator of model ``name`` (see the module docstring)."""
    if not (isinstance(latent_dim, int) and latent_dim >= 1):
        raise ValueError(f"latent_dim must be a positive int, got {latent_dim!r}")
    resolved = resolve_config(name, **config)
    if name == "gan":
        return GAN(DCGANGenerator(latent_dim, resolved["g_width"]),
                   DCGANDiscriminator(resolved["d_width"], resolved["d_batch_norm"]))
    # Imported here so the DCGAN works even where the PDE layers cannot be imported.
    cfg = GMGANConfig(**resolved)
    if cfg.architecture == "hybrid":
        from gmgan_lib.models.hybrid import HybridDiscriminator, HybridGenerator

        return GAN(HybridGenerator(cfg, latent_dim), HybridDiscriminator(cfg))
    from gmgan_lib.models.all_pde import AllPDEDiscriminator, AllPDEGenerator

    return GAN(AllPDEGenerator(cfg, latent_dim), AllPDEDiscriminator(cfg))


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


def check_memory(name: str, latent_dim: int, config: dict[str, Any], *, training: bool,
                 memory: int | None = None) -> None:
    """Refuse, before anything is allocated, a model whose weights alone would not fit in
    ``memory`` (default: this machine's): 4 bytes per parameter, and for training four copies
    (weights, gradients, Adam's two moments). Activations come on top, so this is a lower bound:
    it catches the sizes that validation lets through and no machine holds (a latent of 65,536
    with 4,096 fields makes a first Linear layer of 53 billion weights)."""
    with torch.device("meta"):   # shapes only: nothing is allocated
        pair = build(name, latent_dim, **config)
    g = count_parameters(pair.generator)
    d = count_parameters(pair.discriminator) if training else 0
    need = 4 * (g + d) * (4 if training else 1)
    have = machine_memory() if memory is None else memory
    if have and need > have:
        what = "weights, gradients and Adam moments" if training else "weights"
        raise ValueError(f"model {name!r} with latent_dim {latent_dim} and this architecture needs "
                         f"at least {need / 2**30:,.1f} GiB for its {what} ({g:,} generator"
                         + (f" + {d:,} discriminator" if training else "") + f" parameters), more "
                         f"than this machine's {have / 2**30:,.1f} GiB; use a smaller latent_dim, "
                         f"g_channels or d_channels")


def count_parameters(module: nn.Module) -> int:
    """Number of trainable scalars of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


__all__ = ["MODEL_NAMES", "GAN", "GMGANConfig", "DCGANConfig", "PRESETS", "build", "resolve_config",
           "count_parameters", "check_memory", "machine_memory", "apply_spectral_norm", "check_double_backward", "DCGANGenerator", "DCGANDiscriminator"]
