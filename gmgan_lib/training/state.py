"""The state of a training run: everything a checkpoint holds, as one object.

The networks, the optimisers, the step, the training seconds, the RNG states and the fixed noise
are the whole state of a run: one resumed from :meth:`RunState.state_dict` continues bit for bit
on the CPU as if it had never stopped (the data order is a function of the seed and the step,
:mod:`~gmgan_lib.training.schedule`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from gmgan_lib.checkpoint import CheckpointError
from gmgan_lib.models import apply_spectral_norm, build, count_parameters
from gmgan_lib.training.config import TrainConfig
from gmgan_lib.training.distributed import unwrap
from gmgan_lib.training.schedule import fixed_noise

# What a training checkpoint must hold to be resumed.
REQUIRED = ("config", "generator", "discriminator", "optimizer_g", "optimizer_d", "step", "rng")


def rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    """The random-number states a step consumes (the CPU's, and the GPU's when training there)."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def has_non_finite(*modules: nn.Module) -> bool:
    """Whether any parameter of ``modules`` is NaN or infinite."""
    return any(not bool(torch.isfinite(p).all()) for m in modules for p in m.parameters())


@dataclass
class RunState:
    """Networks, optimisers, ``step`` (optimizer steps done, resumed ones included),
    ``seconds`` (training wall-clock summed over sessions) and ``noise`` (the fixed noise of
    the sample grids). The networks may be wrapped in DistributedDataParallel."""

    config: TrainConfig
    generator: nn.Module
    discriminator: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    noise: torch.Tensor
    step: int = 0
    seconds: float = 0.0

    @classmethod
    def new(cls, config: TrainConfig, device: torch.device) -> RunState:
        """A fresh run of ``config`` (resolved): its initial weights are a function of the seed."""
        torch.manual_seed(config.seed)
        generator, discriminator = build(config.model, config.latent_dim, **config.model_config)
        if config.spectral_norm:
            apply_spectral_norm(discriminator)
        generator.to(device)
        discriminator.to(device)
        betas = (config.beta1, config.beta2)
        opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr, betas=betas)
        opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr_d or config.lr,
                                 betas=betas)
        return cls(config, generator, discriminator, opt_g, opt_d,
                   fixed_noise(config.latent_dim, config.seed))

    @property
    def device(self) -> torch.device:
        return next(unwrap(self.generator).parameters()).device

    def parameters(self) -> dict[str, int]:
        g, d = count_parameters(self.generator), count_parameters(self.discriminator)
        return {"generator": g, "discriminator": d, "total": g + d}

    def non_finite(self) -> bool:
        return has_non_finite(self.generator, self.discriminator)

    def state_dict(self, rng: list[dict[str, torch.Tensor]], epoch: int,
                   world_size: int = 1) -> dict[str, Any]:
        """The checkpoint's contents; ``rng``: every rank's :func:`rng_state`, in rank order."""
        return {
            "config": self.config.to_dict(), "step": self.step, "epoch": epoch,
            "seconds": self.seconds,
            "generator": unwrap(self.generator).state_dict(),
            "discriminator": unwrap(self.discriminator).state_dict(),
            "optimizer_g": self.opt_g.state_dict(), "optimizer_d": self.opt_d.state_dict(),
            "rng": rng, "fixed_noise": self.noise, "world_size": world_size,
        }

    def load_state_dict(self, state: dict[str, Any], rank: int = 0,
                        where: str = "the checkpoint") -> None:
        """Continue from ``state`` (a :meth:`state_dict`), taking rank ``rank``'s random-number
        state (modulo the number of ranks that wrote it). Raises CheckpointError naming
        ``where`` when the weights do not fit these networks."""
        try:
            unwrap(self.generator).load_state_dict(state["generator"])
            unwrap(self.discriminator).load_state_dict(state["discriminator"])
            self.opt_g.load_state_dict(state["optimizer_g"])
            self.opt_d.load_state_dict(state["optimizer_d"])
        except (RuntimeError, ValueError, KeyError) as err:
            raise CheckpointError(f"{where}: its weights do not fit this model "
                                  f"({str(err).splitlines()[0]})") from None
        self.step, self.seconds = int(state["step"]), float(state.get("seconds", 0.0))
        rngs = state["rng"]
        set_rng_state(rngs[rank % len(rngs)], self.device)
        self.noise = state["fixed_noise"]
