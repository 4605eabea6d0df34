"""When does data run out? The discriminator's overfitting signal.

A discriminator that has memorised its training images calls *them* real and other real images
of the same distribution fake: its mean logit on the training images climbs away from its mean
logit on held-out images. Two numbers along a run show when that happens:

- ``gap`` = mean D(x_train) - mean D(x_held_out), on as many held-out images (the test split) as
  training images; about 0 while D generalises, growing as it memorises;
- ``r_t`` = E[sign D(x_train)], the signal that adaptive discriminator augmentation (ADA,
  Karras et al. 2020) steers by: near 0 for a D that cannot tell, towards 1 for one that is sure
  of every training image.

D is run as in training (batch-norm statistics of each batch of 64 real images), on images that
are *not* augmented, without changing any of its buffers. Layout: images ``[N, 1, 28, 28]``.
"""
from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from gmgan_lib.checkpoint import CheckpointError, load_checkpoint

MAX_IMAGES = 1024   # per side: enough for means to 1e-2, a second of D's time


@torch.no_grad()
def discriminator_logits(discriminator: nn.Module, images: torch.Tensor,
                         batch_size: int = 64) -> torch.Tensor:
    """D's logits ``[N]`` on ``images`` in training mode (batch statistics per batch of
    ``batch_size``, as D sees real batches in a step); D's buffers and mode are left unchanged."""
    buffers = {name: b.clone() for name, b in discriminator.named_buffers()}
    was_training = discriminator.training
    discriminator.train()
    try:
        return torch.cat([discriminator(images[i:i + batch_size]).float()
                          for i in range(0, len(images), batch_size)])
    finally:
        discriminator.train(was_training)
        for name, b in discriminator.named_buffers():
            b.copy_(buffers[name])


def overfitting_signal(discriminator: nn.Module, train_images: torch.Tensor,
                       held_out: torch.Tensor) -> dict[str, float]:
    """``d_train``, ``d_held_out`` (mean logits), their ``gap`` and ``r_t`` (module docstring)."""
    train = discriminator_logits(discriminator, train_images)
    other = discriminator_logits(discriminator, held_out)
    return {"d_train": float(train.mean()), "d_held_out": float(other.mean()),
            "gap": float(train.mean() - other.mean()), "r_t": float(torch.sign(train).mean())}


def checkpoint_overfitting(path: str | os.PathLike, n: int = MAX_IMAGES) -> dict[str, Any]:
    """:func:`overfitting_signal` of the discriminator in the training checkpoint ``path``, on
    (at most ``n`` of) the images it was trained on and as many of the test split's."""
    from gmgan_lib.data import load_tensors
    from gmgan_lib.models import apply_spectral_norm, build, from_saved

    state = load_checkpoint(path, require=("config", "discriminator"))
    cfg = state["config"]
    try:
        arch = from_saved(cfg["model"], cfg["model_config"])
        discriminator = build(arch, cfg["latent_dim"]).discriminator
        if cfg.get("spectral_norm"):
            apply_spectral_norm(discriminator)
        discriminator.load_state_dict(state["discriminator"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{path}: cannot rebuild its discriminator "
                              f"({type(err).__name__}: {str(err).splitlines()[0]})") from None
    train, _ = load_tensors(cfg["dataset"], "train", fraction=cfg.get("data_fraction", 1.0),
                            seed=cfg["seed"])
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:n]
    held_out, _ = load_tensors(cfg["dataset"], "test")
    k = len(pick)
    return {"step": int(state["step"]),
            **overfitting_signal(discriminator, train[pick], held_out[:k])}
