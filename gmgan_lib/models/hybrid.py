"""The hybrid GM-GAN: linear p4 group convolutions, morphological PDE layers as the nonlinearity.

This is the reading of the paper's abstract ("morphological equivariant convolutions in
PDE-G-CNNs to bring nonlinearity in classical CNNs"): the channels are carried by linear group
convolutions on M2 (GEMM cost), and where a CNN has its ReLU, this network has a dilation and an
erosion on M2 (optionally after a convection), each the exact solution of a morphological PDE
with a learned left-invariant metric. It is **our reconstruction**, not the authors' network
(which is unpublished); docs/experiments.md says why this is the default ``gmgan``.

The skeleton is the textbook DCGAN of :mod:`gmgan_lib.models.dcgan`, layer for layer, with each
convolution replaced by its p4 group convolution (:class:`~gmgan_lib.nn.GroupConvM2`) carrying
``channels`` fields of 4 orientations, so ``channels * 4`` planes: with a quarter of the DCGAN's
channel counts a layer costs what the DCGAN's costs and has a quarter of its weights::

    G: z -> Linear -> [B, g0, 4, 7, 7] -> BN3d -> PDE                  (M2, 7 x 7)
         -> group ConvT 4x4 s2 (g0 -> g1) -> BN3d -> PDE               (14 x 14)
         -> group ConvT 4x4 s2 (g1 -> 1) -> max over orientations -> + b -> tanh   [B, 1, 28, 28]
    D: image -> lifting conv 4x4 s2 (1 -> d0) -> LeakyReLU or PDE      (M2, 14 x 14)
         -> group conv 4x4 s2 (d0 -> d1) -> BN3d -> LeakyReLU or PDE   (7 x 7)
         -> Linear over [d1, 4, 7, 7] -> + b                           a logit [B]

where PDE = [convection ->] dilation -> erosion on M2 (3x3x3 kernels by default). In the default
``gmgan`` only G has them: D keeps the DCGAN's LeakyReLU inside its group convolutions
(``d_activation="lrelu"``; preset ``hybrid-gd`` puts PDE layers in D as well, as good per step
and costlier: docs/experiments.md, section 6). Unlike a ReLU,
a dilation is not scale-free: it compares neighbour differences with the kernel's cost, so the
batch norms in front of the PDE layers matter (see D's first block below). D decides from its
last map with one Linear layer (``d_head="linear"``, the DCGAN's flatten + Linear, which sees
orientation); with ``d_head="invariant"`` the last layer is a group convolution whose 7x7 kernel
covers the whole map, followed by the max over orientations, which makes D *exactly* invariant to
quarter turns of its input (for rotation-invariant data); ``d_pool`` chooses how the four
orientation logits become one (``max``, ``mean`` or the soft maximum ``logsumexp``). G is exactly
equivariant from its first feature map on: turning that map (``rot90_m2``) turns the image
(tests/models/test_hybrid.py).

An invariant D cannot see in which of the four orientations G draws a digit, so nothing in
training would make G cover all four: with ``g_random_turn`` G turns each sample by a uniformly
random quarter turn, which makes its distribution exactly invariant *by construction*
(:func:`turn_by_quarters`; the preset ``hybrid-invariant`` uses both: docs/architecture.md,
"An invariant discriminator needs an invariant generator").

Options (fields of :class:`~gmgan_lib.models.config.GMGANConfig`): ``g_activation`` and
``d_activation`` say per network whether it uses the PDE layers (``"pde"``) or the pointwise
activation of the DCGAN, still inside group convolutions (``"relu"`` in G, ``"lrelu"`` in D);
``"pde-7x7"`` keeps them only in the 7x7 block of that network, where they cost least;
``group="r2"`` is the translation-only
ablation ``pdecnn-r2``: the DCGAN's plain convolutions with ``channels * 4`` channels and
morphology on R2 as the nonlinearity.
"""
from __future__ import annotations

import math
import warnings

import torch
from torch import nn

from gmgan_lib.models.config import GMGANConfig
from gmgan_lib.models.dcgan import check_images, check_noise
from gmgan_lib.nn import (ConvectionM2, ConvectionR2, DilationM2, DilationR2, ErosionM2, ErosionR2,
                          GroupConvM2, PDESequence)
from gmgan_lib.nn.group_conv import P4

# The soft maximum of the invariant head: log-mean-exp of the four orientation logits.
LOG_P4 = math.log(P4)


def quarter_turns_of(z: torch.Tensor) -> torch.Tensor:
    """A uniformly random number of quarter turns ``[B]`` in {0, 1, 2, 3} for each noise vector
    of ``z [B, latent_dim]``, read off the noise itself: the sum of the last two bits of every
    float32 component, modulo 4.

    Why from the noise, and why those bits: a sample must stay a function of its noise alone
    (``sample(seed=...)`` draws the same images every time, a resumed run continues bit for bit,
    and no extra random stream is needed), and the turn must be independent of the image it
    turns. The lowest mantissa bits of Gaussian noise are uniform and are what a smooth network
    cannot see: changing them moves G's output by about 1e-7, so the turn is, for G, an
    independent uniform draw (tests/models/test_hybrid.py measures both)."""
    bits = z.detach().to(torch.float32).contiguous().view(torch.int32)
    return (bits & 3).sum(dim=1).remainder(P4)


def turn_by_quarters(images: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Turn each square image of ``[B, C, H, H]`` by its own ``turns[b]`` quarter turns
    counter-clockwise on screen (exact: a permutation of the pixels, differentiable). Nothing
    here is random: the invariant generator passes turns drawn by :func:`quarter_turns_of`."""
    rotations = torch.stack([torch.rot90(images, k, dims=(-2, -1)) for k in range(P4)])
    index = turns.to(images.device).view(1, -1, *([1] * (images.dim() - 1)))
    return rotations.gather(0, index.expand(1, *images.shape)).squeeze(0)


def random_quarter_turns(images: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Retired name of :func:`turn_by_quarters` (0.3.1: nothing in it is random); removed in
    0.4.0."""
    warnings.warn("random_quarter_turns was renamed turn_by_quarters in gmgan 0.3.1 (it turns "
                  "by the turns it is given); the old name goes in 0.4.0", FutureWarning,
                  stacklevel=2)
    return turn_by_quarters(images, turns)


def pde_activation(cfg: GMGANConfig, channels: int, pointwise: str, size: int) -> nn.Module:
    """The nonlinearity of a block at ``size x size``: the morphological PDE layers, or the
    DCGAN's ``pointwise`` activation ("relu" in G, "lrelu" in D), as the config asks."""
    activation = cfg.g_activation if pointwise == "relu" else cfg.d_activation
    if activation in ("relu", "lrelu") or (activation == "pde-7x7" and size != 7):
        return nn.ReLU() if pointwise == "relu" else nn.LeakyReLU(0.2)
    scale = cfg.metric_init_scale
    if cfg.group == "m2":
        layers = [ConvectionM2(channels)] if cfg.convection else []
        layers += [DilationM2(channels, cfg.kernel_size, cfg.alpha, metric_init_scale=scale),
                   ErosionM2(channels, cfg.kernel_size, cfg.alpha, metric_init_scale=scale)]
        return PDESequence(*layers)   # the dilation and erosion in one fused call
    else:   # the same number of planes as on M2: 4 channels per field
        c, k = P4 * channels, cfg.kernel_size[1:]
        layers = [ConvectionR2(c)] if cfg.convection else []
        layers += [DilationR2(c, k, cfg.alpha, metric_init_scale=scale),
                   ErosionR2(c, k, cfg.alpha, metric_init_scale=scale)]
    return nn.Sequential(*layers)


def _norm(cfg: GMGANConfig, channels: int) -> nn.Module:
    return nn.BatchNorm3d(channels) if cfg.group == "m2" else nn.BatchNorm2d(P4 * channels)


def _conv(cfg: GMGANConfig, cin: int, cout: int, k: int, stride: int = 1, padding: int = 0,
          transposed: bool = False, lift: bool = False) -> nn.Module:
    """A p4 group convolution on M2, or (``group="r2"``) the plain convolution with 4x channels."""
    if cfg.group == "m2":
        return GroupConvM2(cin, cout, k, stride, padding, transposed=transposed, lift=lift)
    cin = cin if lift else P4 * cin
    cout = P4 * cout if cout > 1 else 1
    cls = nn.ConvTranspose2d if transposed else nn.Conv2d
    conv = cls(cin, cout, k, stride=stride, padding=padding, bias=False)
    nn.init.normal_(conv.weight, 0.0, 0.02)
    return conv


def _init_norms(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class HybridGenerator(nn.Module):
    """``z [B, latent_dim] -> images [B, 1, 28, 28]`` in ``[-1, 1]``."""

    def __init__(self, cfg: GMGANConfig, latent_dim: int = 100):
        super().__init__()
        self.cfg, self.latent_dim = cfg, latent_dim
        g0, g1 = cfg.g_channels
        self.project = nn.Linear(latent_dim, g0 * P4 * 7 * 7, bias=False)
        nn.init.normal_(self.project.weight, 0.0, 0.02)
        self.block0 = nn.Sequential(_norm(cfg, g0), pde_activation(cfg, g0, "relu", 7))
        self.block1 = nn.Sequential(_conv(cfg, g0, g1, 4, 2, 1, transposed=True),
                                    _norm(cfg, g1), pde_activation(cfg, g1, "relu", 14))
        self.to_image = _conv(cfg, g1, 1, 4, 2, 1, transposed=True)
        self.bias = nn.Parameter(torch.zeros(()))
        _init_norms(self)

    def synthesis(self, h: torch.Tensor) -> torch.Tensor:
        """First feature map ``[B, g0, 4, 7, 7]`` (``[B, 4 g0, 7, 7]`` on R2) -> images."""
        x = self.to_image(self.block1(self.block0(h)))
        if self.cfg.group == "m2":   # projection over orientations: [B, 1, 4, 28, 28] -> [B, 1, 28, 28]
            x = x.amax(dim=2) if self.cfg.g_projection == "max" else x.mean(dim=2)
        return torch.tanh(x + self.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        check_noise(z, self.latent_dim)
        g0 = self.cfg.g_channels[0]
        shape = (g0, P4, 7, 7) if self.cfg.group == "m2" else (g0 * P4, 7, 7)
        images = self.synthesis(self.project(z).view(z.shape[0], *shape))
        if self.cfg.g_random_turn:   # a random element of the group per sample: see the docstring
            images = turn_by_quarters(images, quarter_turns_of(z))
        return images


class HybridDiscriminator(nn.Module):
    """``images [B, 1, 28, 28] -> logits [B]``; exactly invariant to quarter turns on M2."""

    def __init__(self, cfg: GMGANConfig):
        super().__init__()
        self.cfg = cfg
        d0, d1 = cfg.d_channels
        # As in the textbook DCGAN, no batch norm in the first block: its PDE layers see the
        # lifted image at the scale the lifting weights give it (a dilation is not scale-free,
        # so this matters). A batch norm here, tried, made both runs worse: docs/experiments.md,
        # lines gm-d0bn-4m and gm-de-d0bn-4m.
        self.block0 = nn.Sequential(_conv(cfg, 1, d0, 4, 2, 1, lift=True),
                                    pde_activation(cfg, d0, "lrelu", 14))
        self.block1 = nn.Sequential(_conv(cfg, d0, d1, 4, 2, 1),
                                    _norm(cfg, d1) if cfg.d_batch_norm else nn.Identity(),
                                    pde_activation(cfg, d1, "lrelu", 7))
        # The whole 7 x 7 map -> one value per orientation; with d_minibatch_std one more input
        # field: the batch's standard deviation, averaged to one number (Karras et al. 2018's
        # minibatch-stddev, against mode collapse), the same at every orientation and position,
        # so D stays exactly invariant.
        fields = d1 + int(cfg.d_minibatch_std)
        if cfg.d_head == "invariant":
            self.head = _conv(cfg, fields, 1, 7)
        else:
            self.head = nn.Linear(fields * P4 * 7 * 7, 1, bias=False)
            nn.init.normal_(self.head.weight, 0.0, 0.02)
        self.bias = nn.Parameter(torch.zeros(()))
        _init_norms(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x)
        f = self.block1(self.block0(x))
        if self.cfg.d_minibatch_std:
            spread = f.std(dim=0, unbiased=False).mean() if len(f) > 1 else f.new_zeros(())
            width = 1 if self.cfg.group == "m2" else P4
            f = torch.cat([f, spread.expand(len(f), width, *f.shape[2:])], dim=1)
        if self.cfg.d_head == "linear":
            return self.head(f.flatten(1)).squeeze(1) + self.bias
        h = self.head(f)                                     # [B, 1, 4, 1, 1] or [B, 1, 1, 1]
        if self.cfg.group == "m2":                           # invariant: pool over orientations
            if self.cfg.d_pool == "max":
                h = h.amax(dim=2)
            elif self.cfg.d_pool == "mean":
                h = h.mean(dim=2)
            else:                                            # soft maximum, mean <= it <= max
                h = torch.logsumexp(h, dim=2) - LOG_P4
        return h.flatten(1).squeeze(1) + self.bias
