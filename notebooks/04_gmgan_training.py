# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 4. GM-GAN: building and training it next to a classical GAN
#
# Notebooks 1-3 built the pieces: morphological convolutions, the PDEs they solve, and the
# roto-translation group on which those PDEs are equivariant. Here they become a generative
# adversarial network.
#
# Outline
# 1. the two networks: GM-GAN and the DCGAN baseline, parameter counts side by side;
# 2. the training procedure, watched live (loss curves and samples redrawn in place), on MNIST
#    and on rotated MNIST;
# 3. the committed CPU runs: their loss curves and samples;
# 4. exercises.
#
# **FAST mode** (`GMGAN_FAST=1`): each model trains for only a handful
# of steps, enough to see the machinery work (those samples are still noise). The pictures of
# *trained* generators, and their loss curves, come from the runs committed under
# `data/checkpoints/` (a few CPU minutes each, `python -m gmgan_lib demo` and the same budget for
# the DCGAN). Without `GMGAN_FAST` the notebook trains for `profile().train_steps` steps.

# %%
# %matplotlib inline
import shutil
from pathlib import Path

import torch
import matplotlib.pyplot as plt

import gmgan_lib
from gmgan_lib import nn as gnn, viz            # (gnn and generate: for the exercises)
from gmgan_lib.checkpoint import load_checkpoint
from gmgan_lib.models import build, count_parameters
from gmgan_lib.train import TrainConfig, generate, load_generator, sample, train

P = gmgan_lib.profile()
print(P)
ROOT = Path(gmgan_lib.__file__).resolve().parents[1]
RUNS = ROOT / "runs" / "notebook04"
# FAST: a few small-batch steps of the unit-test size; FULL: more steps of the default GM-GAN.
STEPS = P.train_steps
BATCH = P.batch_size
PRESET = "hybrid-tiny" if P.fast else "hybrid"
print(f"training {STEPS} steps per model, batch {BATCH}, GM-GAN preset {PRESET!r}")

# %% [markdown]
# ## 1. Two generators, two discriminators
#
# **The baseline** is the textbook strided DCGAN for $28\times28$ digits: the generator projects
# the latent $z \sim \mathcal N(0, I_{100})$ to a $128\times7\times7$ map and doubles the
# resolution twice with $4\times4$ transposed convolutions of stride 2 (batch norm and ReLU in
# between), ending in $\tanh$; the discriminator halves it twice with $4\times4$ convolutions of
# stride 2 and leaky ReLU, and reads out a logit with a linear layer.
#
# **GM-GAN** (the default, "hybrid" reading) keeps that skeleton layer for layer and changes two
# things. Every convolution becomes a **p4 group convolution** on $M_2$ with four orientations: one
# learned filter, used turned by $0^\circ, 90^\circ, 180^\circ, 270^\circ$ (notebook 3). And every
# ReLU of the generator becomes **morphological PDE layers**: a dilation and an erosion on $M_2$
# (optionally after a convection), each the exact solution of a PDE with a learned left-invariant
# metric (notebooks 1-2). The generator ends with a max over the orientations. There is **no ReLU**
# in GM-GAN's generator: dilations and erosions are its nonlinearity. The discriminator keeps the
# DCGAN's leaky ReLUs inside its group convolutions (with them, GM-GAN learns as well per CPU minute
# as with PDE layers in both networks, at a lower cost per step: `preset="hybrid-gd"` puts them in
# both; [docs/experiments.md](../docs/experiments.md), section 6). Its features are equivariant to
# quarter turns, and a last
# linear layer reads its whole $7\times7$ map, orientations included, to a logit.
#
# Why not make the discriminator exactly *invariant* (a max over orientations at the end, as the
# equivariant-GAN papers do on rotated MNIST)? Because upright MNIST is not rotation invariant.
# An invariant discriminator scores a digit and its copy turned by $90^\circ$ alike, so nothing
# tells the generator which way up to draw. Here are 16 samples of a p4 GAN with such a head (and
# plain ReLUs), after 4 CPU minutes, and of GM-GAN (PDE layers in both networks) after the same 4 minutes:
#
# ![invariant head](../docs/img/experiments/p4-relu-4m.png)
#
# ![linear head](../docs/img/experiments/gm-linhead-4m.png)
#
# The first row draws turned 7s, 4s and 9s; the classifier behind the metrics of notebook 5 reads
# them as other digits or as nothing (FID_MNIST 667 against 160;
# [docs/experiments.md](../docs/experiments.md), section 3).
# `d_head="invariant"` keeps that head for rotated data.
#
# *The GM-GAN paper (arXiv:2403.14897) does not publish its layer lists, widths, orientations,
# kernel sizes or $\alpha$. The networks here are this repository's reconstruction; every choice is
# a field of `gmgan_lib.models.GMGANConfig`, and [docs/experiments.md](../docs/experiments.md)
# says why the default is what
# it is (the all-PDE reading, `preset="pde"`, is kept too).*

# %% tags=["nbval-ignore-output"]
rows = []
for name, config in [("gmgan", {}), ("gmgan", {"preset": "pde"}), ("gmgan-de", {}),
                     ("pdecnn-r2", {}), ("gan", {})]:
    G, D = build(name, **config)
    rows.append((name + (f" ({config['preset']})" if config else ""), count_parameters(G),
                 count_parameters(D)))
print(f"{'model':20s} {'generator':>10s} {'discriminator':>14s}")
for name, g, d in rows:
    print(f"{name:20s} {g:>10,d} {d:>14,d}")

# %% tags=["nbval-check-output"]
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


# %% [markdown]
# Where do GM-GAN's parameters go? A p4 group convolution from $C_{in}$ to $C_{out}$ fields with
# $k\times k$ filters has $C_{out}\,C_{in}\cdot 4\cdot k^2$ weights (one filter per input
# orientation, shared by the four output orientations), for $4C_{out}$ output planes: with a quarter
# of the DCGAN's channels per orientation it has the DCGAN layer's cost and a quarter of its
# weights. The morphological layers are *tiny*: per channel a transport $g_0$ (3 numbers) and two
# metrics (3 + 3). Most of the generator's weights are in the linear layer from the latent.
# (Exercise 1 asks you to count.)
#
# ## 2. Training
#
# The procedure is the textbook one (Goodfellow et al. 2014, with the non-saturating generator
# loss and DCGAN's hyper-parameters): per step, one discriminator update on a real and a fake batch,
# then one generator update,
# $$\mathcal L_D = -\mathbb E_x \log \sigma(D(x)) - \mathbb E_z \log\big(1 - \sigma(D(G(z)))\big),
# \qquad \mathcal L_G = -\mathbb E_z \log \sigma(D(G(z))),$$
# binary cross-entropy on logits, Adam($2\cdot10^{-4}$, $\beta = (0.5, 0.999)$). The stabilisers
# of the equivariant-GAN papers are options of `TrainConfig` for every model alike (hinge or
# relativistic loss, R1 penalty, several D steps, D's learning rate, Adam's betas, spectral norm).
# `gmgan_lib.train` writes a run directory with `config.json`, an atomic `checkpoint.pt`,
# `metrics.csv` and sample grids; the same procedure is the command line
# `python -m gmgan_lib train ...`.
#
# **Watching it train.** `LiveTraining` is a hook of `train` (`on_log=`): one picture, redrawn in
# place every few seconds, with both losses so far and samples of the generator on the run's
# fixed noise (the same latent points, improving). **To stop a run**, press the stop button
# (Kernel → Interrupt): the training catches the interrupt, writes a checkpoint at the current
# step and returns normally (`stopped_by == "interrupt"`); `train(config, out, resume=True)`
# continues it later from that checkpoint, bit for bit.

# %% tags=["nbval-ignore-output"]
from gmgan_lib.live import LiveTraining


def run(model, dataset, **model_config):
    out = RUNS / f"{model}-{dataset}"
    shutil.rmtree(out, ignore_errors=True)           # a fresh run every time the cell runs
    config = TrainConfig(model=model, dataset=dataset, max_steps=STEPS, batch_size=BATCH,
                         data_fraction=P.data_fraction, device=P.device, log_every=1,
                         model_config=model_config)
    result = train(config, out, progress=False, on_log=LiveTraining(every_seconds=5))
    print(f"{model} on {dataset}: {result.stopped_by} at step {result.step} "
          f"({result.seconds:.0f} s)")
    return result

gm_run = run("gmgan", "mnist", preset=PRESET)

# %% tags=["nbval-ignore-output"]
gan_run = run("gan", "mnist")

# %% tags=["nbval-check-output"]
for r in (gm_run, gan_run):
    files = sorted(p.name for p in r.out.iterdir() if not p.name.startswith("samples_epoch"))
    print(r.stopped_by, r.step == STEPS, files)

# %% [markdown]
# A handful of steps (FAST mode) only shows that the machinery runs; the samples are still noise.
# The committed runs of section 3 show what a few CPU minutes give.

# %% tags=["nbval-ignore-output"]
viz.training_curves({"GM-GAN": gm_run.out / "metrics.csv", "DCGAN": gan_run.out / "metrics.csv"})

# %% [markdown]
# ### Rotated MNIST
#
# In `rotmnist` every digit is rotated by a fixed random angle in $[0^\circ, 360^\circ)$. This is
# where equivariance should pay off: GM-GAN's group convolutions use every filter at four
# orientations at once (and with `d_head="invariant"` its discriminator scores a digit and its
# quarter-turned copy alike, which is right for this data), while a DCGAN must learn every
# orientation from data.

# %% tags=["nbval-ignore-output"]
rot_run = run("gmgan", "rotmnist", preset=PRESET)
print(f"GM-GAN on rotated MNIST: {rot_run.step} steps, run directory {rot_run.out.name}")

# %% [markdown]
# ## 3. The committed runs
#
# Two generators trained on the CPU for the same few minutes, committed under `data/checkpoints/`
# with their `metrics.csv` (how they were trained is stored in each checkpoint's `config`; the
# figures are in `data/checkpoints/README.md`). They are what notebook 5 evaluates.

# %%
CHECKPOINTS = sorted((ROOT / "data" / "checkpoints").glob("*.pt"))
assert CHECKPOINTS, f"no generator checkpoints in {ROOT / 'data' / 'checkpoints'}"
def describe(path):
    state = load_checkpoint(path, require=("config", "generator"))
    c = state["config"]
    return f"{c['model']} on {c['dataset']}, {state.get('step', '?')} steps"
for path in CHECKPOINTS:
    print(path.name, ":", describe(path))

# %% tags=["nbval-ignore-output"]
curves = {load_checkpoint(p, require=("config",))["config"]["model"]: p.with_suffix(".metrics.csv")
          for p in CHECKPOINTS if p.with_suffix(".metrics.csv").exists()}
viz.training_curves(curves, smooth=10)

# %% tags=["nbval-ignore-output"]
n = len(CHECKPOINTS)
fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 4.5), squeeze=False)
for ax, path in zip(axes[0], CHECKPOINTS):
    ax.imshow(viz.image_grid(sample(path, 64, seed=0), nrow=8), cmap="gray")
    ax.set_title(describe(path), fontsize=9); ax.axis("off")
plt.show()

# %% tags=["nbval-check-output"]
checks = []
for path in CHECKPOINTS:
    G = load_generator(path)
    a, b = sample(G, 16, seed=1), sample(G, 16, seed=1)
    checks.append(a.shape == (16, 1, 28, 28) and bool(a.abs().max() <= 1) and torch.equal(a, b))
print("every committed generator: 16 images [16, 1, 28, 28] in [-1, 1], the same for the same seed:",
      all(checks))

# %% [markdown]
# ## 4. Exercises
#
# As in notebook 1: complete the function under each statement, then run its check, which calls
# it on fresh random inputs; `exercises.solution("04.1")` shows one solution.

# %%
from gmgan_lib import exercises

# %% [markdown]
# **Exercise 1.** Count by hand the parameters of a p4 group convolution
# `gnn.GroupConvM2(c_in, c_out, k)` (from `c_in` to `c_out` fields with $k\times k$ filters, see
# the formula above section 2): write `p4_conv_parameters(c_in, c_out, k)`. Then compare
# `p4_conv_parameters(16, 32, 4)` with `count_parameters(torch.nn.Conv2d(64, 128, 4, bias=False))`,
# the DCGAN layer with the same number of planes (16 and 32 fields of 4 orientations).

# %%
# Exercise 1: your code here
def p4_conv_parameters(c_in, c_out, k):
    raise NotImplementedError("your code here")


# %% tags=["nbval-check-output"]
exercises.check("04.1", p4_conv_parameters)

# %% [markdown]
# **Exercise 2 (latent interpolation).** Write `interpolate(G, z0, z1, steps)`: from two latent
# vectors `z0`, `z1` (each of shape `[G.latent_dim]`), the images (`[steps, 1, 28, 28]`, made with
# `generate(G, zs)`, `zs` of shape `[steps, G.latent_dim]`) of the `steps` equally spaced points
# $z_w = (1-w)z_0 + w z_1$, $w \in \{0, \frac{1}{steps-1}, \dots, 1\}$. The check uses fresh
# generators and noise; the cell after it draws a path of the committed GM-GAN's generator.

# %%
# Exercise 2: your code here
def interpolate(G, z0, z1, steps):
    raise NotImplementedError("your code here")


# %% tags=["nbval-check-output"]
exercises.check("04.2", interpolate)

# %% tags=["nbval-ignore-output"]
try:
    G = load_generator(ROOT / "data" / "checkpoints" / "gmgan-mnist-cpu.pt")
    z0, z1 = torch.randn(2, G.latent_dim, generator=torch.Generator().manual_seed(3))
    viz.plot_grid(interpolate(G, z0, z1, 8), nrow=8, title="a straight line in latent space")
except NotImplementedError:
    print("(write interpolate above to see the committed generator's path)")

# %% [markdown]
# **Next:** notebook 5 measures what the eye judges here: FID on MNIST-classifier features, class
# KL, the MNIST score, precision and recall.
