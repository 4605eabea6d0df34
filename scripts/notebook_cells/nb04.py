"""Cells of notebooks/04_gmgan_training.ipynb (built by scripts/build_notebooks.py)."""

CELLS = [
("md", r"""
# 4. GM-GAN: building and training it next to a classical GAN

Notebooks 1-3 built the pieces: morphological convolutions, the PDEs they solve, and the
roto-translation group on which those PDEs are equivariant. Here they become a generative
adversarial network.

Outline
1. the two networks: GM-GAN and the DCGAN baseline, parameter counts side by side;
2. the training procedure, with live progress, loss curves and sample grids, on MNIST and on
   rotated MNIST;
3. samples of the small committed checkpoints;
4. exercises.

**FAST mode** (`GMGAN_FAST=1`, how CI runs this notebook): a GM-GAN step takes seconds on a
CPU, so each model trains for only a handful of steps, enough to see the machinery work (and the
samples are still noise). The pictures of *trained* generators come from the small checkpoints
committed under `data/checkpoints/`. Without `GMGAN_FAST` the notebook trains for
`profile().train_steps` steps with the full-size networks (use a GPU).
"""),
("code", r"""
%matplotlib inline
import shutil
from pathlib import Path

import torch
import matplotlib.pyplot as plt

import gmgan_lib
from gmgan_lib import nn as gnn, viz
from gmgan_lib.checkpoint import load_checkpoint
from gmgan_lib.models import build, count_parameters
from gmgan_lib.train import TrainConfig, generate, load_generator, sample, train

P = gmgan_lib.profile()
print(P)
ROOT = Path(gmgan_lib.__file__).resolve().parents[1]
RUNS = ROOT / "runs" / "notebook04"
# FAST: a few small-batch steps of the "small" preset; FULL: more steps, full size.
STEPS = P.train_steps
BATCH = P.batch_size
PRESET = "small" if P.fast else "paper"
print(f"training {STEPS} steps per model, batch {BATCH}, GM-GAN preset {PRESET!r}")
"""),
("md", r"""
## 1. Two generators, two discriminators

**The baseline** is a standard DCGAN for $28\times28$ digits: the generator projects the latent
$z \sim \mathcal N(0, I_{100})$ to a $128\times7\times7$ map and up-samples twice with
$5\times5$ convolutions, batch norm and ReLU, ending in $\tanh$; the discriminator has three
convolutions with leaky ReLU and average pooling, a global mean and a linear read-out.

**GM-GAN** keeps the skeleton and replaces every conv + ReLU block by a **CDE layer** on
$M_2$ (convection, dilation, erosion, channel mixing, batch norm): the generator lifts its
$7\times7$ seed map to $M_2$, applies CDE layers with nearest up-sampling in between, and
max-projects over the orientations; the discriminator lifts the image, applies CDE layers with
$2\times2$ pooling, max-projects, averages over space and reads out a logit. There is **no ReLU**:
dilations and erosions are the nonlinearity.

*The GM-GAN paper (arXiv:2403.14897) does not publish its layer lists, widths, orientations,
kernel sizes or $\alpha$. The networks here are this repository's reconstruction; every choice is
a field of `gmgan_lib.models.GMGANConfig`.*
"""),
("code", r"""
# NBVAL_IGNORE_OUTPUT
rows = []
for name, config in [("gmgan", {}), ("gmgan", {"preset": "small"}), ("gmgan-de", {}),
                     ("pdecnn-r2", {}), ("gan", {})]:
    G, D = build(name, **config)
    rows.append((name + (f" ({config['preset']})" if config else ""), count_parameters(G),
                 count_parameters(D)))
print(f"{'model':20s} {'generator':>10s} {'discriminator':>14s}")
for name, g, d in rows:
    print(f"{name:20s} {g:>10,d} {d:>14,d}")
"""),
("code", r"""
# NBVAL_CHECK_OUTPUT
gm, gan = build("gmgan"), build("gan")
print("GM-GAN generator smaller than DCGAN's:", count_parameters(gm.generator) < count_parameters(gan.generator))
print("GM-GAN discriminator smaller than DCGAN's:",
      count_parameters(gm.discriminator) < count_parameters(gan.discriminator))
z = torch.randn(2, 100)
for name, pair in [("GM-GAN", gm), ("DCGAN", gan)]:
    pair.generator.eval(); pair.discriminator.eval()
    with torch.no_grad():
        x = pair.generator(z)
        print(f"{name}: G(z) {tuple(x.shape)} in [-1, 1]: {bool(x.abs().max() <= 1)}, "
              f"D(x) {tuple(pair.discriminator(x).shape)}")
"""),
("md", r"""
Where do GM-GAN's parameters go? A CDE layer from $C_{in}$ to $C_{out}$ channels has per input
channel a transport $g_0$ (3 numbers) and two metrics (3 + 3), then a $C_{in}\times C_{out}$
channel mixing and a batch norm ($2C_{out}$): most of the capacity is in the linear mixing, and
the morphological part is *tiny* compared with a $5\times5$ convolution's $25\,C_{in}C_{out}$
weights. (Exercise 1 asks you to count.)

## 2. Training

The procedure is the textbook one (Goodfellow et al. 2014, with the non-saturating generator
loss and DCGAN's hyper-parameters): per step, one discriminator update on a real and a fake batch,
then one generator update,
$$\mathcal L_D = -\mathbb E_x \log \sigma(D(x)) - \mathbb E_z \log\big(1 - \sigma(D(G(z)))\big),
\qquad \mathcal L_G = -\mathbb E_z \log \sigma(D(G(z))),$$
binary cross-entropy on logits, Adam($2\cdot10^{-4}$, $\beta = (0.5, 0.999)$). `gmgan_lib.train`
writes a run directory with `config.json`, an atomic `checkpoint.pt`, `metrics.csv` and sample
grids; the same procedure is the command line `python -m gmgan_lib train ...`.
"""),
("code", r"""
# NBVAL_IGNORE_OUTPUT
def run(model, dataset, **model_config):
    out = RUNS / f"{model}-{dataset}"
    shutil.rmtree(out, ignore_errors=True)           # a fresh run every time the cell runs
    config = TrainConfig(model=model, dataset=dataset, max_steps=STEPS, batch_size=BATCH,
                         data_fraction=P.data_fraction, device=P.device, log_every=1,
                         model_config=model_config)
    return train(config, out, progress=True)

gm_run = run("gmgan", "mnist", preset=PRESET)
"""),
("code", r"""
# NBVAL_IGNORE_OUTPUT
gan_run = run("gan", "mnist")
"""),
("code", r"""
# NBVAL_CHECK_OUTPUT
for r in (gm_run, gan_run):
    files = sorted(p.name for p in r.out.iterdir() if not p.name.startswith("samples_epoch"))
    print(r.stopped_by, r.step == STEPS, files)
"""),
("code", r"""
# NBVAL_IGNORE_OUTPUT
viz.training_curves({"GM-GAN": gm_run.out / "metrics.csv", "DCGAN": gan_run.out / "metrics.csv"})
"""),
("code", r"""
# NBVAL_IGNORE_OUTPUT
fig, axes = plt.subplots(1, 2, figsize=(9, 4.5))
for ax, (name, r) in zip(axes, [("GM-GAN", gm_run), ("DCGAN", gan_run)]):
    ax.imshow(viz.image_grid(sample(r.generator, 64, seed=0), nrow=8), cmap="gray")
    ax.set_title(f"{name} after {r.step} steps"); ax.axis("off")
plt.show()
"""),
("md", r"""
### Rotated MNIST

In `rotmnist` every digit is rotated by a fixed random angle in $[0^\circ, 360^\circ)$. This is
where equivariance should pay off: a GM-GAN discriminator sees a digit and its quarter-turned copy
as the same input, while a DCGAN must learn every orientation from data.
"""),
("code", r"""
# NBVAL_IGNORE_OUTPUT
rot_run = run("gmgan", "rotmnist", preset=PRESET)
viz.plot_grid(sample(rot_run.generator, 32, seed=0), nrow=8,
              title=f"GM-GAN on rotated MNIST after {rot_run.step} steps")
"""),
("md", r"""
## 3. The committed checkpoints

Small generators trained on the CPU, committed under `data/checkpoints/` (0.4 MB for GM-GAN, 3.7 MB for the DCGAN;
how they were trained is stored in each checkpoint's `config`). They are what notebook 5
evaluates in FAST mode.
"""),
("code", r"""
CHECKPOINTS = sorted((ROOT / "data" / "checkpoints").glob("*.pt"))
assert CHECKPOINTS, f"no generator checkpoints in {ROOT / 'data' / 'checkpoints'}"
def describe(path):
    state = load_checkpoint(path, require=("config", "generator"))
    c = state["config"]
    return f"{c['model']} on {c['dataset']}, {state.get('step', '?')} steps"
for path in CHECKPOINTS:
    print(path.name, ":", describe(path))
"""),
("code", r"""
# NBVAL_IGNORE_OUTPUT
n = len(CHECKPOINTS)
fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 4.5), squeeze=False)
for ax, path in zip(axes[0], CHECKPOINTS):
    ax.imshow(viz.image_grid(sample(path, 64, seed=0), nrow=8), cmap="gray")
    ax.set_title(describe(path), fontsize=9); ax.axis("off")
plt.show()
"""),
("code", r"""
# NBVAL_CHECK_OUTPUT
checks = []
for path in CHECKPOINTS:
    G = load_generator(path)
    a, b = sample(G, 16, seed=1), sample(G, 16, seed=1)
    checks.append(a.shape == (16, 1, 28, 28) and bool(a.abs().max() <= 1) and torch.equal(a, b))
print("every committed generator: 16 images [16, 1, 28, 28] in [-1, 1], the same for the same seed:",
      all(checks))
"""),
("md", r"""
## 4. Exercises

**Exercise 1.** Count by hand the parameters of `gnn.CDELayerM2(16, 32)` (see the formula above
section 2) and store the number in `n_cde`. Compare with a `Conv2d(16, 32, 5)` layer.
"""),
("code", r"""
# Exercise 1: your answer here (the line below is one solution)
n_cde = 16 * (3 + 3 + 3) + 16 * 32 + 2 * 32
"""),
("code", r"""
# NBVAL_CHECK_OUTPUT
assert n_cde == count_parameters(gnn.CDELayerM2(16, 32)), "g0, two metrics, mixing, batch norm"
print("Exercise 1: correct;", n_cde, "parameters against",
      count_parameters(torch.nn.Conv2d(16, 32, 5)), "for a 5x5 convolution")
"""),
("md", r"""
**Exercise 2 (latent interpolation).** Take the first committed checkpoint's generator `G`, two
latent vectors `z0`, `z1` and the 8 points $z_w = (1-w)z_0 + w z_1$, $w \in \{0, \frac17, \dots, 1\}$.
Generate their images `path_images` (`[8, 1, 28, 28]`) with `generate(G, zs)`.
"""),
("code", r"""
# Exercise 2: your code here (the lines below are one solution)
G = load_generator(CHECKPOINTS[0])
g = torch.Generator().manual_seed(3)
z0, z1 = torch.randn(2, G.latent_dim, generator=g)
w = torch.linspace(0, 1, 8)[:, None]
path_images = generate(G, (1 - w) * z0 + w * z1)
viz.plot_grid(path_images, nrow=8, title="a straight line in latent space")
"""),
("code", r"""
# NBVAL_CHECK_OUTPUT
assert path_images.shape == (8, 1, 28, 28)
assert torch.allclose(path_images[0], generate(G, z0[None])[0], atol=1e-5)
assert torch.allclose(path_images[-1], generate(G, z1[None])[0], atol=1e-5)
print("Exercise 2: correct")
"""),
("md", r"""
**Next:** notebook 5 measures what the eye judges here: FID on MNIST-classifier features, class
KL, the MNIST score, precision and recall.
"""),
]
