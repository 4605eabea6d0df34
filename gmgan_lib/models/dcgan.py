"""The classical GAN baseline: the textbook strided DCGAN for 28x28 grey images.

This is the "GAN" that GM-GAN is compared with. The paper (arXiv:2403.14897) does not publish its
baseline, so we take the standard DCGAN for MNIST (Radford et al. 2016, as in most tutorials):
transposed convolutions of stride 2 with batch norm and ReLU in G, strided convolutions with
LeakyReLU (and batch norm in the middle) in D::

    G: z [B, latent] -> Linear -> BN1d -> ReLU -> [B, w, 7, 7]
       -> ConvT 4x4 s2 (w -> w/2) -> BN -> ReLU                 (14 x 14)
       -> ConvT 4x4 s2 (w/2 -> 1) -> tanh                       images [B, 1, 28, 28] in [-1, 1]
    D: Conv 4x4 s2 (1 -> w) -> LeakyReLU(0.2)                   (14 x 14)
       -> Conv 4x4 s2 (w -> 2w) -> BN -> LeakyReLU(0.2)         (7 x 7)
       -> flatten -> Linear(2w * 49 -> 1)                       a logit [B]

Widths ``g_width`` (w of G, 128) and ``d_width`` (w of D, 64). Why this one and not a heavier
network: docs/experiments.md measured it against the repository's earlier DCGAN (5x5 convolutions
at full resolution after nearest up-sampling): this one makes several times more steps per CPU
minute and draws better digits in the same time, so it is the fair baseline on a CPU. The
hybrid GM-GAN (:mod:`gmgan_lib.models.hybrid`) has exactly this skeleton, with p4 group
convolutions in place of the convolutions and morphology in place of ReLU.

``d_batch_norm=False`` drops D's batch norm (usual together with spectral norm, a training
option of :class:`gmgan_lib.training.config.TrainConfig`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from gmgan_lib.fields import Allowed, check, option, unknown_fields


_WIDTH = Allowed(int, low=2, high=16384, even=True)


@dataclass(frozen=True)
class DCGANConfig:
    """The baseline's architecture: widths of G and D, and D's middle batch norm; every field
    is a ``--model.FIELD`` flag of ``python -m gmgan_lib train --model gan``."""

    g_width: int = option(128, "channels of G's 7x7 map (halved at 14x14)", _WIDTH)
    d_width: int = option(64, "channels of D's 14x14 map (doubled at 7x7)", _WIDTH)
    d_batch_norm: bool = option(True, "batch norm in D's middle block (False: usual with "
                                      "spectral norm)")

    def __post_init__(self) -> None:
        check(self)

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> DCGANConfig:
        """Build from a dict of fields (unknown keys raise ValueError naming the valid ones)."""
        unknown_fields(cls, config, "DCGAN config")
        return cls(**config)

    def replace(self, **changes: Any) -> DCGANConfig:
        """A copy with some fields changed (unknown field names raise ValueError)."""
        unknown_fields(DCGANConfig, changes, "DCGAN config")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def init_dcgan_(module: nn.Module) -> None:
    """The DCGAN paper's initialisation: N(0, 0.02) weights, BN scales N(1, 0.02), zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def check_noise(z: torch.Tensor, latent_dim: int) -> None:
    if z.dim() != 2 or z.shape[1] != latent_dim:
        raise ValueError(f"z must have shape [B, {latent_dim}], got {list(z.shape)}")


def check_images(x: torch.Tensor) -> None:
    if x.dim() != 4 or x.shape[1:] != (1, 28, 28):
        raise ValueError(f"images must have shape [B, 1, 28, 28], got {list(x.shape)}")


class DCGANGenerator(nn.Module):
    """``z [B, latent_dim] -> images [B, 1, 28, 28]`` in ``[-1, 1]``."""

    def __init__(self, latent_dim: int = 100, width: int = 128):
        super().__init__()
        self.latent_dim, self.width = latent_dim, width
        self.project = nn.Sequential(
            nn.Linear(latent_dim, width * 7 * 7, bias=False),
            nn.BatchNorm1d(width * 7 * 7),
            nn.ReLU(inplace=True),
        )
        self.body = nn.Sequential(
            nn.ConvTranspose2d(width, width // 2, 4, stride=2, padding=1, bias=False),   # 7 -> 14
            nn.BatchNorm2d(width // 2),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(width // 2, 1, 4, stride=2, padding=1),                  # 14 -> 28
            nn.Tanh(),
        )
        init_dcgan_(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        check_noise(z, self.latent_dim)
        return self.body(self.project(z).view(z.shape[0], self.width, 7, 7))


class DCGANDiscriminator(nn.Module):
    """``images [B, 1, 28, 28] -> logits [B]`` (real > 0 > fake once trained)."""

    def __init__(self, width: int = 64, batch_norm: bool = True):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 4, stride=2, padding=1),                                # 28 -> 14
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1, bias=not batch_norm),   # 14 -> 7
            nn.BatchNorm2d(2 * width) if batch_norm else nn.Identity(),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.head = nn.Linear(2 * width * 7 * 7, 1)
        init_dcgan_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x)
        return self.head(self.features(x).flatten(1)).squeeze(1)
