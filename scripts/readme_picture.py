#!/usr/bin/env python
"""The picture at the top of the README: GM-GAN, the DCGAN trained for the same time, real digits.

    python scripts/readme_picture.py [GMGAN_CKPT] [GAN_CKPT] [OUT]

Defaults: the committed generators (data/checkpoints/gmgan-mnist-cpu.pt, gan-mnist-cpu.pt) and
docs/img/demo_gmgan_gan_real.png. 64 samples each from the same noise (seed 0), and 64 MNIST
test digits, side by side with a white gap.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torchvision.utils import make_grid  # noqa: E402

from gmgan_lib.files import atomic_write  # noqa: E402
from gmgan_lib.data import load_tensors  # noqa: E402
from gmgan_lib.sampling import sample  # noqa: E402


def main(argv: list[str]) -> int:
    ckpt = ROOT / "data" / "checkpoints"
    gm = Path(argv[0]) if len(argv) > 0 else ckpt / "gmgan-mnist-cpu.pt"
    gan = Path(argv[1]) if len(argv) > 1 else ckpt / "gan-mnist-cpu.pt"
    out = Path(argv[2]) if len(argv) > 2 else ROOT / "docs" / "img" / "demo_gmgan_gan_real.png"
    real, _ = load_tensors("mnist", "test")
    grids = [make_grid(x, nrow=8, padding=2, normalize=True, value_range=(-1, 1))
             for x in (sample(gm, 64, seed=0), sample(gan, 64, seed=0), real[:64])]
    gap = torch.ones(3, grids[0].shape[1], 12)
    picture = torch.cat([grids[0], gap, grids[1], gap, grids[2]], dim=2)
    from torchvision.utils import save_image

    atomic_write(out, lambda f: save_image(picture, f, format="png"))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
