"""One GAN step and its losses: what the training loop does per batch.

The step is the textbook one (Goodfellow et al. 2014, with the non-saturating generator loss):
**(1)** update D on real and fake batches (one update per real batch: ``d_steps`` of them),
**(2)** update G so that D calls its fakes real. The losses are binary cross-entropy on logits
(``bce``), the hinge loss (``hinge``) or the relativistic average loss (``relativistic``), with an
optional R1 penalty on real images: the stabilisers of the equivariant-GAN papers. With an
``augment`` (:mod:`gmgan_lib.training.augment`) every image D sees, real or fake, in both
updates, is augmented first; G's samples themselves never are.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def discriminator_loss(loss: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """D's loss from its logits on a real and a fake batch (``loss`` in :data:`gmgan_lib.training.config.LOSSES`)."""
    if loss == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    if loss == "relativistic":   # real should look more real than the average fake, and back
        real, fake = real - fake.mean(), fake - real.mean()
    return F.softplus(-real).mean() + F.softplus(fake).mean()   # BCE(real, 1) + BCE(fake, 0)


def generator_loss(loss: str, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
    """G's loss from D's logits on its fakes (and, for the relativistic loss, on real images)."""
    if loss == "hinge":
        return -fake.mean()
    if loss == "relativistic":
        return F.softplus(-(fake - real.mean())).mean() + F.softplus(real - fake.mean()).mean()
    return F.softplus(-fake).mean()   # non-saturating: -log D(G(z)), strong gradients early on


def r1_penalty(discriminator: nn.Module, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """D's logits on ``real`` and ``E |grad_x D(x)|^2`` (Mescheder et al. 2018), differentiable."""
    real = real.detach().requires_grad_(True)
    logits = discriminator(real)
    (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
    return logits, grad.square().sum(dim=(1, 2, 3)).mean()


def gan_losses_step(generator: nn.Module, discriminator: nn.Module,
                    opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                    reals: torch.Tensor | tuple[torch.Tensor, ...], latent_dim: int,
                    loss: str = "bce", r1: float = 0.0,
                    augment: Callable[[torch.Tensor], torch.Tensor] | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """One GAN step: a D update per real batch of ``reals``, then one G update.

    Returns D's last loss and G's loss as device tensors. Real and fake batches go through D
    separately, so batch-norm statistics never mix them. The fakes of the last D update are the
    ones G is updated with (one G forward saved). ``augment`` is applied to every batch on its
    way into D (a fresh draw each time), never to what G returns.
    """
    aug = augment if augment is not None else (lambda x: x)
    reals = (reals,) if isinstance(reals, torch.Tensor) else tuple(reals)
    batch = reals[0].shape[0]
    for j, real in enumerate(reals):
        # (1) Update D: push real logits up and fake logits down (+ the R1 penalty on reals).
        z = torch.randn(batch, latent_dim, device=real.device)
        if j < len(reals) - 1:
            with torch.no_grad():
                fake = generator(z)
        else:
            fake = generator(z)
        opt_d.zero_grad(set_to_none=True)
        if r1 > 0:
            logits_real, penalty = r1_penalty(discriminator, aug(real))
        else:
            logits_real, penalty = discriminator(aug(real)), None
        loss_d = discriminator_loss(loss, logits_real, discriminator(aug(fake.detach())))
        if penalty is not None:
            loss_d = loss_d + 0.5 * r1 * penalty
        loss_d.backward()
        opt_d.step()

    # (2) Update G: make D call the fakes real. D's weights are frozen for this backward: their
    # gradients would be thrown away, and not computing them saves a third of D's backward.
    # (Under DistributedDataParallel they are left alone: DDP expects every gradient.)
    opt_g.zero_grad(set_to_none=True)
    frozen = [] if isinstance(discriminator, nn.parallel.DistributedDataParallel) else \
        [p for p in discriminator.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        logits_real = None
        if loss == "relativistic":
            with torch.no_grad():
                logits_real = discriminator(aug(reals[-1]))
        loss_g = generator_loss(loss, discriminator(aug(fake)), logits_real)
        loss_g.backward()
    finally:
        for p in frozen:
            p.requires_grad_(True)
    opt_g.step()
    return loss_d.detach(), loss_g.detach()
