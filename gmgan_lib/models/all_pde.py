"""The all-PDE reading of GM-GAN (``architecture="pde"``, preset ``"pde"``): every block a CDE layer.

Not the default: ``gmgan`` builds the hybrid network of :mod:`gmgan_lib.models.hybrid`
(docs/experiments.md tells how the two compared). This one is the other honest reading of the
paper, and the way the PDE-G-CNN literature builds networks.

**Reconstruction, not the authors' network.** The paper (Diop, Fall, Mbengue, Daoudi,
arXiv:2403.14897) says that GM-GAN's generator and discriminator are built from PDE-G-CNN layers
(convection, dilation, erosion on the roto-translation group) but does not publish the layer
lists, widths, orientations, kernel sizes or alpha. This network takes a small CNN's skeleton
(nearest up-sampling in G, average pooling in D) and puts a CDE layer where the CNN has a
convolution and a ReLU. Every choice is a field of :class:`~gmgan_lib.models.config.GMGANConfig`.

Generator (7 -> 14 -> 28)::

    z [B, latent] -> Linear -> [B, C0, 7, 7] -> LiftM2 -> BN3d          [B, C, Or, 7, 7]
      -> CDE -> up x2 -> CDE -> up x2 -> CDE                          [B, C', Or, 28, 28]
      -> max over orientations -> 1x1 conv -> tanh                     [B, 1, 28, 28]

Discriminator (28 -> 14 -> 7)::

    image [B, 1, 28, 28] -> LiftM2 -> BN3d -> CDE -> pool 2 -> CDE -> pool 2 -> CDE
      -> max over orientations -> spatial mean -> Linear -> logit [B]

No ReLU anywhere: dilation and erosion are the nonlinearity. Up-sampling (nearest) and pooling
(2x2 average) act on (H, W) of every orientation alike. Both commute exactly with quarter turns
of the plane because the 2x2 blocks of an even-sized grid map onto 2x2 blocks under ``rot90``; so
with ``Or`` divisible by 4 the discriminator is *exactly* invariant to 90-degree rotations of its
input, in eval and in train mode (batch norm pools over (B, Or, H, W), which a rotation only
permutes); tests/models/test_all_pde.py checks it. (lietorch's nearest sub-sampling keeps pixels
0, 2, 4, ... which a rotation maps to odd pixels, so it would break this.)

``group="r2"`` builds the "pdecnn-r2" ablation: the same skeleton with translation-only PDE
layers on R2 (a k x k convolution in place of the lift, CDELayerR2, no orientation axis).
``convection=False`` builds "gmgan-de" (dilation and erosion only).

Batch norm keeps running statistics: sample with ``generator.eval()`` so that an image does not
depend on the other images of its batch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gmgan_lib.models.config import GMGANConfig
from gmgan_lib.nn import CDELayerM2, CDELayerR2, LiftM2, MaxProjectM2


def _spatial(op, f: torch.Tensor) -> torch.Tensor:
    """Apply a 2-D op to the (H, W) planes of an R2 ``[B, C, H, W]`` or M2 ``[B, C, Or, H, W]`` map."""
    if f.dim() == 4:
        return op(f)
    B, C, Or, H, W = f.shape
    g = op(f.reshape(B, C * Or, H, W))
    return g.view(B, C, Or, *g.shape[-2:])


def upsample2(f: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour x2 up-sampling in (H, W)."""
    return _spatial(lambda x: F.interpolate(x, scale_factor=2, mode="nearest"), f)


def pool2(f: torch.Tensor) -> torch.Tensor:
    """2x2 average pooling in (H, W) (H and W must be even for exact rotation invariance)."""
    return _spatial(lambda x: F.avg_pool2d(x, 2), f)


class _Stem(nn.Module):
    """The first layer: lift R2 -> M2 (``group="m2"``) or a k x k convolution (``"r2"``), + BN."""

    def __init__(self, cfg: GMGANConfig, in_channels: int, out_channels: int):
        super().__init__()
        if cfg.group == "m2":
            self.lift = LiftM2(in_channels, out_channels, cfg.orientations, cfg.lift_kernel)
            self.batch_norm = nn.BatchNorm3d(out_channels)
        else:
            self.lift = nn.Conv2d(in_channels, out_channels, cfg.lift_kernel,
                                  padding=cfg.lift_kernel // 2, bias=False)
            self.batch_norm = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.batch_norm(self.lift(x))


def _pde_layer(cfg: GMGANConfig, in_channels: int, out_channels: int) -> nn.Module:
    if cfg.group == "m2":
        return CDELayerM2(in_channels, out_channels, cfg.kernel_size, cfg.alpha,
                          convection=cfg.convection, metric_init_scale=cfg.metric_init_scale)
    return CDELayerR2(in_channels, out_channels, cfg.kernel_size[1:], cfg.alpha,
                      convection=cfg.convection, metric_init_scale=cfg.metric_init_scale)


def _project(cfg: GMGANConfig) -> nn.Module:
    # Max over orientations: the invariant read-out of an orientation score (nothing to do on R2).
    return MaxProjectM2() if cfg.group == "m2" else nn.Identity()


class AllPDEGenerator(nn.Module):
    """``z [B, latent_dim] -> images [B, 1, 28, 28]`` in ``[-1, 1]``, made of PDE layers."""

    def __init__(self, cfg: GMGANConfig | None = None, latent_dim: int = 100):
        super().__init__()
        self.cfg = cfg = cfg or GMGANConfig()
        self.latent_dim = latent_dim
        c0, (c1, c2, c3, c4) = cfg.g_seed_channels, cfg.g_channels
        self.project = nn.Linear(latent_dim, c0 * 7 * 7)
        self.stem = _Stem(cfg, c0, c1)
        self.layer1 = _pde_layer(cfg, c1, c2)     # 7 x 7
        self.layer2 = _pde_layer(cfg, c2, c3)     # 14 x 14
        self.layer3 = _pde_layer(cfg, c3, c4)     # 28 x 28
        self.read_out = _project(cfg)
        self.to_image = nn.Conv2d(c4, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape [B, {self.latent_dim}], got {list(z.shape)}")
        x = self.project(z).view(z.shape[0], self.cfg.g_seed_channels, 7, 7)
        f = self.layer1(self.stem(x))
        f = self.layer2(upsample2(f))
        f = self.layer3(upsample2(f))
        return torch.tanh(self.to_image(self.read_out(f)))


class AllPDEDiscriminator(nn.Module):
    """``images [B, 1, 28, 28] -> logits [B]``. Its features are equivariant to 90-degree
    rotations (``group="m2"``); with ``d_head="invariant"`` so is its logit (max over
    orientations, spatial mean, Linear), with ``"linear"`` (the default) a Linear reads the
    whole last map and sees orientation (:data:`~gmgan_lib.models.config.D_HEADS`)."""

    def __init__(self, cfg: GMGANConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or GMGANConfig()
        c1, c2, c3, c4 = cfg.d_channels
        self.stem = _Stem(cfg, 1, c1)
        self.layer1 = _pde_layer(cfg, c1, c2)     # 28 x 28
        self.layer2 = _pde_layer(cfg, c2, c3)     # 14 x 14
        self.layer3 = _pde_layer(cfg, c3, c4)     # 7 x 7
        self.read_out = _project(cfg)
        if cfg.d_head == "invariant":
            self.head = nn.Linear(c4, 1)
        else:
            planes = c4 * (cfg.orientations if cfg.group == "m2" else 1)
            self.head = nn.Linear(planes * 7 * 7, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1:] != (1, 28, 28):
            raise ValueError(f"images must have shape [B, 1, 28, 28], got {list(x.shape)}")
        f = self.layer1(self.stem(x))
        f = self.layer2(pool2(f))
        f = self.layer3(pool2(f))
        if self.cfg.d_head == "linear":
            return self.head(f.flatten(1)).squeeze(1)
        h = self.read_out(f).mean(dim=(-2, -1))   # [B, C]: invariant to rotations and shifts
        return self.head(h).squeeze(1)
