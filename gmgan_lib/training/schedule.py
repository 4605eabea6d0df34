"""Which real images each step sees: a function of (seed, step) only, so a resumed run needs no
iterator state.

Epoch ``e`` visits a permutation drawn from a generator seeded with ``(seed, e)``; global step
``s`` takes batch ``s % steps_per_epoch`` of epoch ``s // steps_per_epoch``, and one step takes
``d_steps`` consecutive batches (one per discriminator update). Under ``torchrun`` rank ``r`` of
``w`` takes the disjoint shard ``perm[r::w]`` of every epoch. The images stay on the training
device as one tensor (MNIST is 188 MB as float32) and batches are ``index_select``-s of it: no
DataLoader worker and no host-to-device copy is in the loop.
"""
from __future__ import annotations

import torch

N_FIXED_NOISE = 64


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The visiting order of epoch ``epoch`` (0-based): a function of (seed, epoch) only."""
    g = torch.Generator().manual_seed((seed * 1_000_003 + epoch) % (2 ** 63))
    return torch.randperm(n, generator=g)


def fixed_noise(latent_dim: int, seed: int, n: int = N_FIXED_NOISE) -> torch.Tensor:
    """The noise batch behind every ``samples_epoch_XXX.png`` (so the grids show progress)."""
    g = torch.Generator().manual_seed(seed + 7919)
    return torch.randn(n, latent_dim, generator=g)


class Schedule:
    """The steps of a run over ``n_images`` training images: ``steps_per_epoch``,
    ``total_steps``, and :meth:`real_batches` of any step.

    ``total_steps`` is ``epochs * steps_per_epoch``, capped by ``max_steps``, and 1 for a dry
    run. Raises ValueError when one step needs more images than a process has.
    """

    def __init__(self, n_images: int, *, batch_size: int, d_steps: int, epochs: int,
                 max_steps: int | None, seed: int, rank: int = 0, world: int = 1,
                 dry_run: bool = False, data_fraction: float = 1.0):
        self.n_images, self.batch_size, self.d_steps = n_images, batch_size, d_steps
        self.seed, self.rank, self.world = seed, rank, world
        per_rank = n_images // world
        self.steps_per_epoch = per_rank // (batch_size * d_steps)
        if self.steps_per_epoch == 0:
            per_step = f"batch_size {batch_size}" + (f" x d_steps {d_steps}" if d_steps > 1 else "")
            raise ValueError(f"{per_step} is larger than the {per_rank} training images per "
                             f"process (data_fraction={data_fraction}); use a smaller batch "
                             f"size or more data")
        self.total_steps = epochs * self.steps_per_epoch
        if max_steps is not None:
            self.total_steps = min(self.total_steps, max_steps)
        if dry_run:
            self.total_steps = 1
        self._perm, self._perm_epoch = None, -1

    def epoch(self, step: int) -> int:
        """The 1-based epoch that step ``step`` (1-based: the ``step``-th update) belongs to."""
        return max(1, -(-step // self.steps_per_epoch))

    def ends_epoch(self, step: int) -> bool:
        return step % self.steps_per_epoch == 0

    def real_batches(self, images: torch.Tensor, step: int) -> list[torch.Tensor]:
        """The ``d_steps`` real batches of the step after ``step`` steps were done."""
        epoch, i = divmod(step, self.steps_per_epoch)
        if epoch != self._perm_epoch:
            perm = epoch_permutation(self.n_images, self.seed, epoch)[self.rank::self.world]
            self._perm, self._perm_epoch = perm.to(images.device), epoch
        b, n = self.batch_size, self.d_steps
        return [images.index_select(0, self._perm[(i * n + j) * b:(i * n + j + 1) * b])
                for j in range(n)]
