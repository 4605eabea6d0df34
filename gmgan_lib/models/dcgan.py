"""The classical GAN baseline: a small DCGAN for 28x28 grey images.

This is the "GAN" that GM-GAN is compared with. The paper (arXiv:2403.14897) does not publish
its baseline's layers, so this is the reconstruction of ../shared/design/method.md section 4.3,
a standard DCGAN in the style of pytorch/examples/dcgan, sized for MNIST:

    G: z [B, latent] -> Linear -> BN1d -> ReLU -> [B, 128, 7, 7]
       -> up x2 -> conv5 (128 -> 64) -> BN -> ReLU        (14 x 14)
       -> up x2 -> conv5 (64 -> 32)  -> BN -> ReLU        (28 x 28)
       -> conv5 (32 -> 1) -> tanh                          images in [-1, 1]
    D: conv5 (1 -> 32) -> LeakyReLU(0.2) -> avgpool 2     (14 x 14)
       -> conv5 (32 -> 64) -> LeakyReLU -> avgpool 2      (7 x 7)
       -> conv3 (64 -> 128) -> LeakyReLU -> spatial mean -> Linear(128 -> 1)   a logit

Nearest up-sampling + convolution instead of transposed convolutions avoids checkerboard
artefacts; pooling instead of strided convolutions keeps the discriminator's structure the same
as GM-GAN's (there only the layers differ). The discriminator has no batch norm (its logits of a
real and a fake batch do not interact).
"""
from __future__ import annotations

import torch
from torch import nn


def _init_dcgan(module: nn.Module) -> None:
    # The DCGAN paper's initialisation: N(0, 0.02) weights, BN scales around 1.
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    """``z [B, latent_dim] -> images [B, 1, 28, 28]`` in ``[-1, 1]``."""

    def __init__(self, latent_dim: int = 100, width: int = 128):
        super().__init__()
        self.latent_dim = latent_dim
        self.width = width
        self.project = nn.Sequential(
            nn.Linear(latent_dim, width * 7 * 7, bias=False),
            nn.BatchNorm1d(width * 7 * 7),
            nn.ReLU(inplace=True),
        )
        self.body = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),                     # 7 -> 14
            nn.Conv2d(width, width // 2, 5, padding=2, bias=False),
            nn.BatchNorm2d(width // 2),
            nn.ReLU(inplace=True),
            nn.Upsample(scale_factor=2, mode="nearest"),                     # 14 -> 28
            nn.Conv2d(width // 2, width // 4, 5, padding=2, bias=False),
            nn.BatchNorm2d(width // 4),
            nn.ReLU(inplace=True),
            nn.Conv2d(width // 4, 1, 5, padding=2),
            nn.Tanh(),
        )
        _init_dcgan(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape [B, {self.latent_dim}], got {list(z.shape)}")
        x = self.project(z).view(z.shape[0], self.width, 7, 7)
        return self.body(x)


class DCGANDiscriminator(nn.Module):
    """``images [B, 1, 28, 28] -> logits [B]`` (real > 0 > fake once trained)."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 5, padding=2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.AvgPool2d(2),                                                 # 28 -> 14
            nn.Conv2d(width, 2 * width, 5, padding=2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.AvgPool2d(2),                                                 # 14 -> 7
            nn.Conv2d(2 * width, 4 * width, 3, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.head = nn.Linear(4 * width, 1)
        _init_dcgan(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1:] != (1, 28, 28):
            raise ValueError(f"images must have shape [B, 1, 28, 28], got {list(x.shape)}")
        h = self.features(x).mean(dim=(2, 3))
        return self.head(h).squeeze(1)
