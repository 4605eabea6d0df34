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
from gmgan_lib.runtime import unwrap
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


def _check_moments(opt: torch.optim.Optimizer, where: str, field: str) -> None:
    """Each of Adam's moments must have its parameter's shape: torch's load_state_dict does not
    check it, and a crafted moment of another shape failed in the first step, with a traceback."""
    params = [param for group in opt.param_groups for param in group["params"]]
    for i, param in enumerate(params):        # i: the parameter's index in the state_dict
        for name, value in opt.state.get(param, {}).items():
            if name != "step" and tuple(value.shape) != tuple(param.shape):
                raise CheckpointError(
                    f"{where}: field {field}.state[{i}][{name!r}] has shape {list(value.shape)}, "
                    f"its parameter {list(param.shape)}; the checkpoint is damaged or crafted: "
                    f"resume from a good copy, or start a new run with another --out")


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
        generator, discriminator = build(config.model_config, config.latent_dim)
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
        for field, part in (("generator", unwrap(self.generator)),
                            ("discriminator", unwrap(self.discriminator)),
                            ("optimizer_g", self.opt_g), ("optimizer_d", self.opt_d)):
            try:
                part.load_state_dict(state[field])
            except (RuntimeError, ValueError, KeyError, TypeError) as err:
                # torch's message spans lines ("Error(s) in loading ...:", then the mismatch)
                reason = " ".join(str(err).split())
                reason = reason if len(reason) <= 200 else reason[:197] + "..."
                raise CheckpointError(f"{where}: its weights do not fit this model: field "
                                      f"{field} ({reason})") from None
        _check_moments(self.opt_g, where, "optimizer_g")
        _check_moments(self.opt_d, where, "optimizer_d")
        self.step, self.seconds = int(state["step"]), float(state.get("seconds", 0.0))
        rngs = state["rng"]
        try:      # (a GPU state of the wrong size is refused by torch here)
            set_rng_state(rngs[rank % len(rngs)], self.device)
        except (RuntimeError, TypeError, ValueError) as err:
            raise CheckpointError(f"{where}: field rng holds a random-number state torch does "
                                  f"not accept ({str(err).splitlines()[0]})") from None
        self.noise = state["fixed_noise"]
