"""Drawing images from a trained generator: from a checkpoint, to a tensor or a PNG grid.

    python -m gmgan_lib sample --checkpoint runs/NAME/checkpoint.pt --n 64 --out grid.png

A checkpoint is a training one (``OUT/checkpoint.pt``) or a generator-only one (what
:func:`export_generator` writes: the generator and its configuration, small enough to commit).
Samples are drawn in eval mode (batch-norm running statistics), so an image depends only on its
noise, and :func:`sample` draws the same images for the same seed every time.
"""
from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gmgan_lib import cli_error, cli_os_error
from gmgan_lib.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from gmgan_lib.files import ensure_writable_folder
from gmgan_lib.models import build, check_memory, from_saved
from gmgan_lib.runtime import DEVICES, check_device, check_seed, resolve_device, unwrap

MAX_SAMPLES = 100_000   # `sample --n`: one grid image


@torch.no_grad()
def generate(generator: nn.Module, z: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Images of ``generator`` for noise ``z`` in eval mode (batch-norm running statistics, so a
    sample does not depend on the other samples of its batch); restores the previous mode."""
    generator = unwrap(generator)
    was_training = generator.training
    generator.eval()
    try:
        device = next(generator.parameters()).device
        return torch.cat([generator(z[i:i + batch_size].to(device)).cpu()
                          for i in range(0, len(z), batch_size)])
    finally:
        generator.train(was_training)


def save_samples(images: torch.Tensor, path: str | os.PathLike, nrow: int = 8) -> Path:
    """Write a grid of ``[N, 1, H, W]`` images in ``[-1, 1]`` as a PNG, atomically (the one grid
    writer, :func:`gmgan_lib.viz.save_grid`, with the folder made if missing)."""
    from gmgan_lib.viz import save_grid

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"out must be a .png file name, got {str(path)!r}")
    if path.is_dir():
        raise ValueError(f"out must be an image file name, got the folder {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_grid(images.detach().cpu().float(), path, nrow=nrow, padding=2,
                     value_range=(-1.0, 1.0))


def load_generator(path: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the generator of a checkpoint (a training one or a generator-only one) in eval
    mode. Raises :class:`CheckpointError` naming the file when it cannot."""
    return generator_from_state(load_checkpoint(path, require=("config", "generator")), path,
                                device)


def generator_from_state(state: dict[str, Any], path: str | os.PathLike,
                         device: str | torch.device = "cpu") -> nn.Module:
    """The generator of a loaded checkpoint ``state`` (``path`` names it in errors), eval mode."""
    cfg = state["config"]
    try:
        latent, arch = cfg["latent_dim"], from_saved(cfg["model"], cfg.get("model_config", {}))
        # Shapes first, on the meta device: a crafted file whose configuration declares huge
        # widths beside small weights is refused before a byte of its network is allocated.
        with torch.device("meta"):
            expected = build(arch, latent).generator.state_dict()
        weights = state["generator"]
        for key, tensor in expected.items():
            if key in weights and tuple(getattr(weights[key], "shape", ())) != tuple(tensor.shape):
                raise ValueError(f"generator.{key} has shape {tuple(weights[key].shape)}, the "
                                 f"configuration declares {tuple(tensor.shape)}")
        check_memory(arch, latent, training=False)
        generator = build(arch, latent).generator
        generator.load_state_dict(weights)
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{path}: cannot rebuild its generator "
                              f"({type(err).__name__}: {str(err).splitlines()[0]})") from None
    return generator.to(device).eval()


def generator_only(state: dict[str, Any]) -> dict[str, Any]:
    """The part of a training checkpoint needed to sample (for small shareable files)."""
    return {k: state[k] for k in ("config", "generator", "step", "epoch", "seconds", "fixed_noise")
            if k in state}


def export_generator(checkpoint: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write the generator-only part of a checkpoint to ``out`` (atomically): what ``sample``,
    ``evaluate`` and the notebooks need, without the discriminator and optimizer states."""
    state = load_checkpoint(checkpoint, require=("config", "generator"))
    return save_checkpoint(generator_only(state), out)


def sample(checkpoint: str | os.PathLike | nn.Module, n: int = 64, seed: int = 0,
           device: str | torch.device = "cpu") -> torch.Tensor:
    """``n`` images ``[n, 1, 28, 28]`` in ``[-1, 1]`` from a checkpoint path or a generator,
    for noise drawn from a generator seeded with ``seed`` (the same images every call)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    generator = checkpoint if isinstance(checkpoint, nn.Module) else load_generator(checkpoint, device)
    z = torch.randn(n, unwrap(generator).latent_dim, generator=torch.Generator().manual_seed(seed))
    return generate(generator, z)


# The command line

def add_sample_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="a checkpoint.pt (full or generator-only)")
    p.add_argument("--n", type=int, default=64, help="number of samples")
    p.add_argument("--out", default="grid.png", help="PNG file to write")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise")
    p.add_argument("--device", default="auto", choices=DEVICES,
                   help="auto: CUDA when there is one, else the CPU (default: %(default)s)")


def run_sample(args: argparse.Namespace) -> int:
    try:
        if Path(args.out).is_dir() or Path(args.out).suffix.lower() != ".png":
            raise ValueError(f"--out must be a .png file name, got {args.out!r}")
        if not 1 <= args.n <= MAX_SAMPLES:
            raise ValueError(f"--n must be in [1, {MAX_SAMPLES:,}], got {args.n}")
        check_seed(args.seed, "--seed")
        # Checked, not created: a sample that fails leaves no empty folder behind.
        ensure_writable_folder(Path(args.out).parent, create=False)
        device = resolve_device(check_device(args.device, "--device"), 0)
        images = sample(args.checkpoint, n=args.n, seed=args.seed, device=device)
        path = save_samples(images, args.out, nrow=max(1, math.isqrt(args.n - 1) + 1))
    except (ValueError, CheckpointError) as err:
        return cli_error(err, 2)
    except OSError as err:        # disk full while writing the grid, a name too long
        return cli_os_error(err)
    print(f"wrote {len(images)} samples to {path}")
    return 0
