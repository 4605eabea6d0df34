"""A textbook DCGAN for 28x28 MNIST in one plain loop: the yardstick for the baseline's fairness.

    python benchmarks/textbook_dcgan.py --minutes 4 --out runs/textbook   # then:
    python -m gmgan_lib evaluate --checkpoint runs/textbook/generator.pt --n 10000 --seeds 1

Written the way tutorials write it (pytorch/examples' dcgan, sized for MNIST), on purpose
*without* anything of gmgan_lib's training procedure: its own layer list, its own loop, shuffled
batches drawn with ``torch.randperm``. docs/experiments.md trains it side by side with
``python -m gmgan_lib train --model gan`` for the same CPU minutes: if the project's baseline (its
model *and* its training loop) were handicapped, this would show it. The generator is saved in
the project's generator-only checkpoint format so that the project's evaluation reads it.

G: Linear(100 -> 128*7*7) + BN + ReLU, ConvT 4x4 s2 (128 -> 64) + BN + ReLU, ConvT 4x4 s2 (64 -> 1)
+ tanh. D: Conv 4x4 s2 (1 -> 64) + LeakyReLU, Conv 4x4 s2 (64 -> 128) + BN + LeakyReLU, Linear.
BCE, Adam(2e-4, betas (0.5, 0.999)), batch 64, N(0, 0.02) initialisation.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class Generator(nn.Module):
    def __init__(self, nz: int = 100):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(nz, 128 * 7 * 7, bias=False), nn.BatchNorm1d(128 * 7 * 7),
                                nn.ReLU(True))
        self.net = nn.Sequential(
            nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(True),
            nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())
        self.latent_dim = nz

    def forward(self, z):
        return self.net(self.fc(z).view(-1, 128, 7, 7))


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.2, True),
            nn.Flatten(), nn.Linear(128 * 7 * 7, 1))

    def forward(self, x):
        return self.net(x).view(-1)


def weights_init(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=4.0, help="training wall-clock budget")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="folder for generator.pt")
    args = p.parse_args(argv)
    if not args.minutes > 0 or args.batch_size < 1:
        p.error("--minutes must be positive and --batch-size at least 1")

    from gmgan_lib.checkpoint import save_checkpoint
    from gmgan_lib.data import load_tensors

    torch.manual_seed(args.seed)
    images, _ = load_tensors("mnist", "train")              # [60000, 1, 28, 28] in [-1, 1]
    G, D = Generator(), Discriminator()
    G.apply(weights_init)
    D.apply(weights_init)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    step, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 60 * args.minutes:
        for idx in torch.randperm(len(images)).split(args.batch_size):
            if len(idx) < args.batch_size or time.perf_counter() - t0 >= 60 * args.minutes:
                break
            real = images[idx]
            fake = G(torch.randn(len(idx), 100))
            # (1) Update D: maximize log(D(x)) + log(1 - D(G(z)))
            opt_d.zero_grad()
            loss_d = bce(D(real), torch.ones(len(idx))) + bce(D(fake.detach()), torch.zeros(len(idx)))
            loss_d.backward()
            opt_d.step()
            # (2) Update G: maximize log(D(G(z)))
            opt_g.zero_grad()
            loss_g = bce(D(fake), torch.ones(len(idx)))
            loss_g.backward()
            opt_g.step()
            step += 1
    seconds = time.perf_counter() - t0
    # The project's generator-only format: the project's own DCGAN has the same layer list, so
    # the weights are loaded into it by position (checked by the shapes).
    from gmgan_lib.models import build, resolve_config

    ours = build("gan").generator
    names = list(ours.state_dict())
    values = list(G.state_dict().values())
    if [v.shape for v in values] != [ours.state_dict()[n].shape for n in names]:
        raise SystemExit("the textbook generator no longer matches the project's DCGAN layer list")
    config = {"model": "gan", "dataset": "mnist", "latent_dim": 100, "batch_size": args.batch_size,
              "seed": args.seed, "model_config": resolve_config("gan"), "note": "textbook_dcgan.py"}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint({"config": config, "generator": dict(zip(names, values)), "step": step,
                     "epoch": 1 + step * args.batch_size // len(images), "seconds": seconds},
                    out / "generator.pt")
    print(f"textbook DCGAN: {step} steps in {seconds:.0f} s; wrote {out / 'generator.pt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
