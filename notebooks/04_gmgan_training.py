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
# Notebooks 1-3 built the pieces: dilations and erosions, the PDEs they solve, and the group
# $M_2$ of shifts and turns, on which those PDEs turn along with the image. Here they become a
# **generative adversarial network** (GAN). A GAN is two networks that learn against each
# other. The *generator* $G$ turns a vector $z$ of random numbers into an image. The
# *discriminator* $D$ looks at an image and scores how real it looks. $D$ learns to tell the
# training digits from $G$'s images; $G$ learns to draw images that $D$ scores as real. You
# will watch it happen below: at the first step the generator draws a uniform grey, 200 steps
# later bright strokes on a dark background.
#
# Outline
# 1. the two networks: GM-GAN and the classical DCGAN, side by side;
# 2. training, watched live (loss curves and samples redrawn in place), on MNIST and on rotated
#    MNIST;
# 3. two generators trained for 5 CPU minutes each: their losses and their samples;
# 4. exercises.
#
# **Fast mode.** `make lab` opens the course with `GMGAN_FAST=1`. Each model below then trains
# for 200 steps of 32 images (`profile().train_steps`, `profile().batch_size`) on 5 % of MNIST:
# enough to see the samples leave the grey, not enough for good digits. Each run prints how long
# it took. The trained generators of section 3 come with the course (`data/checkpoints/`).
# Without `GMGAN_FAST` (`make lab-full`) every model trains for 5,000 steps of 64 images on the
# whole of MNIST.

# %%
# %matplotlib inline
import shutil
from pathlib import Path

import torch
import matplotlib.pyplot as plt
from IPython.display import display

import gmgan_lib
from gmgan_lib import nn as gnn, viz            # gnn and generate: for the exercises
from gmgan_lib.checkpoint import load_checkpoint
from gmgan_lib.models import build, count_parameters
from gmgan_lib.sampling import generate, load_generator, sample
from gmgan_lib.training import TrainConfig, train

P = gmgan_lib.profile()
print(P)
ROOT = Path(gmgan_lib.__file__).resolve().parents[1]
RUNS = ROOT / "runs" / "notebook04"
STEPS, BATCH = P.train_steps, P.batch_size
# Adam as in the committed runs of section 3 (section 2 says why; TrainConfig's own default
# is DCGAN's textbook 2e-4 with betas (0.5, 0.999)).
ADAM = dict(lr=4e-4, beta1=0.0, beta2=0.9)
print(f"each model trains {STEPS} steps of {BATCH} images, Adam with learning rate "
      f"{ADAM['lr']:g} and betas ({ADAM['beta1']:g}, {ADAM['beta2']:g})")

# %% [markdown]
# ## 1. Two generators, two discriminators
#
# **The baseline** is the textbook DCGAN (Radford et al. 2016) for $28\times28$ digits. Its
# generator maps the *latent vector* $z \sim \mathcal N(0, I_{100})$ (100 independent standard
# normal numbers) by a linear layer to 128 feature maps of $7\times7$ pixels, then doubles the
# resolution twice with $4\times4$ transposed convolutions of stride 2 (each input pixel paints a
# $4\times4$ patch of an output twice as large), with batch normalisation and ReLU in between.
# It ends in $\tanh$, so that pixels lie in $[-1, 1]$. Its discriminator halves the resolution
# twice with $4\times4$ convolutions of stride 2 and leaky ReLU, and a linear layer reads out one
# number, the *logit* $D(x)$: large for "real", very negative for "generated".
#
# **GM-GAN** (the default reading) keeps that skeleton layer for layer and changes two things.
# Every convolution becomes a **p4 group convolution** with four orientations: one learned
# filter, used turned by $0^\circ, 90^\circ, 180^\circ, 270^\circ$ (notebook 3). And every ReLU of
# the generator becomes **morphological PDE layers**: a dilation and an erosion on $M_2$, each the
# exact solution of a PDE with a learned metric (notebooks 1-2). The generator ends with a max
# over the orientations. There is **no ReLU** in GM-GAN's generator: dilations and erosions are
# its nonlinearity. The discriminator keeps the DCGAN's leaky ReLUs inside its group
# convolutions (`preset="hybrid-gd"` puts PDE layers there too). Its features turn with the
# image by quarter turns, and a last linear layer reads its whole $7\times7$ map, orientations
# included, to a logit.
#
# Why does that last layer read the orientations one by one, rather than taking their maximum,
# which would make the discriminator's score exactly *invariant* (the same for a digit and for
# the digit turned)? Because upright MNIST is not rotation invariant: a 6 turned by $180^\circ$
# is a 9. An invariant discriminator scores a digit and its quarter-turned copy alike, so nothing
# tells the generator which way up to draw. Here are 16 samples of a p4 GAN with such an
# invariant head (and plain ReLUs) after 4 CPU minutes, then 16 of GM-GAN with the linear head
# after the same 4 minutes:
#
# ![invariant head](../docs/img/experiments/p4-relu-4m.png)
#
# ![linear head](../docs/img/experiments/gm-linhead-4m.png)
#
# The invariant head's first row draws 7s, 4s and 9s lying on their side; the digit classifier
# of notebook 5 reads such images as other digits or as nothing, and their FID_MNIST (notebook
# 5's distance to real digits, lower is better) is 667 against 160 for the linear head. For
# rotated digits, where every orientation is equally right, `d_head="invariant"` is the right
# choice.
#
# *The GM-GAN paper (arXiv:2403.14897) does not publish its layers, widths or kernel sizes. The
# networks here are this course's reconstruction: every choice is a field of
# `gmgan_lib.models.GMGANConfig`, and [docs/experiments.md](../docs/experiments.md) shows the
# runs behind each one.*
#
# How many numbers does each network learn? Below, the parameter counts of the two models of
# this notebook and of three variants of GM-GAN that the course's experiments compare with it
# ([docs/architecture.md](../docs/architecture.md), "Two readings of GM-GAN"):
#
# - `gmgan`: GM-GAN as described above, the default;
# - `gmgan (pde)`: the *all-PDE* reading (`preset="pde"`): no spatial convolution but the lift,
#   every block a CDE layer (convection, dilation, erosion) in both networks, 8 orientations;
#   notebook 3 measured its discriminator (with the invariant head);
# - `gmgan-de`: GM-GAN with dilation and erosion only, no convection. The default `gmgan` has no
#   convection either, so this row counts exactly the same networks as the first; it differs
#   from `gmgan` only under a preset that uses convection, such as `pde`;
# - `pdecnn-r2`: the same skeleton without the rotations: plain convolutions with 4 times the
#   channels instead of p4 group convolutions, and dilation and erosion on the plane
#   $\mathbb R^2$ instead of $M_2$ (translation equivariance only);
# - `gan`: the DCGAN baseline.

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
# Where do GM-GAN's parameters go? A p4 group convolution from $C_{in}$ to $C_{out}$ *fields*
# (a field: one feature map at each of the 4 orientations) with $k\times k$ filters has
# $C_{out}\,C_{in}\cdot 4\cdot k^2$ weights: one $k\times k$ filter per output field, input field
# and input orientation, shared by the four output orientations. It makes $4C_{out}$ output maps
# from $4C_{in}$ input maps, as many as a DCGAN layer with 4 times the channels, with a quarter
# of that layer's weights. The morphological layers are *tiny*: per field, two metrics (the
# dilation's and the erosion's) of 3 numbers each, the weights along a stroke, across it and in
# angle of notebook 3. Most of the generator's weights are in the linear layer from the latent
# vector. (Exercise 1 asks you to count.)
#
# ## 2. Training
#
# One training step has two moves. First the discriminator sees a batch of real digits and a
# batch of the generator's images and is nudged to score the first high and the second low.
# Then the generator is nudged so that the discriminator scores its images higher. Each nudge is
# a gradient step on a loss. Write $x$ for a real image, $z$ for a latent vector, $G(z)$ for the
# image drawn from it, $D(\cdot)$ for the discriminator's logit, $\sigma(t) = 1/(1 + e^{-t})$
# for the logistic function that turns a logit into a probability of "real", and
# $\mathbb E_x$, $\mathbb E_z$ for the averages over the batch of real images and over the batch
# of latent vectors. Then
# $$\mathcal L_D = -\mathbb E_x \log \sigma(D(x)) - \mathbb E_z \log\big(1 - \sigma(D(G(z)))\big),
# \qquad \mathcal L_G = -\mathbb E_z \log \sigma(D(G(z))).$$
# $\mathcal L_D$ is the binary cross-entropy of a classifier of real against generated images
# (Goodfellow et al. 2014). $\mathcal L_G$ is the *non-saturating* generator loss: the generator
# makes $\sigma(D(G(z)))$ large, which still gives it a useful gradient when the discriminator
# rejects its images with confidence. If neither network can beat the other ($\sigma = 1/2$
# everywhere), $\mathcal L_D = 2\log 2 \approx 1.39$ and $\mathcal L_G = \log 2 \approx 0.69$;
# a discriminator loss that falls towards 0 while the generator's keeps growing means the
# discriminator has won, and the generator has little left to learn from.
#
# Both networks are updated by **Adam** with learning rate $4\cdot10^{-4}$ and betas
# $(\beta_1, \beta_2) = (0, 0.9)$ (the `ADAM` settings above). $\beta_1$ is how much of the past
# Adam keeps in its running average of the gradient (0: none, each step follows the current
# gradient); $\beta_2$ is the same for the average of the squared gradient, which sets each
# weight's step size. These are the settings of the committed runs of section 3 and of the
# equivariant-GAN papers: in a few CPU minutes they trained both models better than DCGAN's
# textbook $2\cdot10^{-4}$ and $(0.5, 0.999)$, which remain `TrainConfig`'s defaults
# ([docs/experiments.md](../docs/experiments.md), section 3). Other stabilisers (hinge loss, R1
# penalty, spectral norm, several discriminator steps per generator step) are options of
# `TrainConfig`, for every model alike. `train` writes a run directory with `config.json`, a
# `checkpoint.pt`, the losses in `metrics.csv` and sample grids; `python -m gmgan_lib train ...`
# does the same from a terminal, where every field of the architecture is a flag too
# (`--model.kernel-size 3 5 5`, `--model.d-head invariant`; `train --help` lists them all).
#
# **Watching it train.** `LiveTraining` redraws one picture in place every few seconds: both
# losses so far, and samples of the generator on a fixed set of latent vectors (the same $z$
# each time, so you see the same images improve). GM-GAN is drawn in blue and the DCGAN in
# orange, here and in every plot of notebooks 4 and 5 (`viz.MODEL_COLORS`); in the live picture
# the discriminator's loss is solid, the generator's dashed. **To stop a run**, press the stop
# button (Kernel → Interrupt): the run writes a checkpoint at the current step and returns
# normally; `train(config, out, resume=True)` continues it later from there, bit for bit.

# %% tags=["nbval-ignore-output"]
from gmgan_lib.live import LiveTraining


def run(model, dataset, label, **model_config):
    out = RUNS / f"{model}-{dataset}"
    shutil.rmtree(out, ignore_errors=True)           # a fresh run every time the cell runs
    config = TrainConfig(model=model, dataset=dataset, max_steps=STEPS, batch_size=BATCH,
                         data_fraction=P.data_fraction, device=P.device, log_every=1,
                         model_config=model_config, **ADAM)
    live = LiveTraining(every_seconds=3, color=viz.model_color(label))
    result = train(config, out, progress=False, verbose=False, on_log=live)
    stopped = " (stopped: checkpoint written, resume=True continues)" if result.interrupted else ""
    print(f"{label} on {dataset}: {result.step} steps in {result.seconds:.0f} s{stopped}, "
          f"run directory {out.relative_to(ROOT)}")
    return result

gm_run = run("gmgan", "mnist", "GM-GAN")

# %% tags=["nbval-ignore-output"]
gan_run = run("gan", "mnist", "DCGAN")

# %% tags=["nbval-check-output"]
for label, r in (("GM-GAN", gm_run), ("DCGAN", gan_run)):
    # what the run left in its directory (besides a grid per epoch, samples_epoch_XXX.png)
    files = sorted(p.name for p in r.out.iterdir() if not p.name.startswith((".", "samples_epoch")))
    print(f"{label} trained every step it was given: {r.step == STEPS}; "
          f"its run directory holds {', '.join(files)}")

# %% [markdown]
# **What the pictures show.** At the first steps both generators draw nearly the same flat grey
# for every $z$. Within a hundred steps the background darkens and bright blobs appear,
# different for each $z$. After 200 steps (fast mode) GM-GAN draws thick, broken strokes and the
# DCGAN bolder ones, a few of them already digit-like. Both are still far from digits: section 3
# shows what 5 minutes of training give.
#
# The losses below are the two runs side by side. In the first 50 steps the discriminator wins
# easily: its loss falls far below $2\log 2 \approx 1.39$ and the generator's climbs, because
# grey images are easy to tell from digits. As the generator's images improve the game evens
# out: by step 200 the discriminator's loss is back near 1.2 and the generator's has come down.

# %% tags=["nbval-ignore-output"]
viz.training_curves({"GM-GAN": gm_run.out / "metrics.csv", "DCGAN": gan_run.out / "metrics.csv"},
                    smooth=10)

# %% [markdown]
# ### Rotated MNIST
#
# In `rotmnist` every digit is turned by a fixed random angle in $[0^\circ, 360^\circ)$. This is
# where turning with the image should pay off: GM-GAN's group convolutions use every filter at
# four orientations at once, while a DCGAN must learn every orientation from data. Here is the
# same GM-GAN, trained the same way on rotated digits: its strokes now curl in every direction,
# as the turned training digits do.

# %% tags=["nbval-ignore-output"]
rot_run = run("gmgan", "rotmnist", "GM-GAN")

# %% [markdown]
# ## 3. Two trained generators
#
# Two generators trained for 5 minutes each, on the 2 CPU cores of the project's development
# machine, on the whole of MNIST with batches of 64 and the Adam settings above. In the same 5
# minutes GM-GAN made 4,604 steps and the DCGAN 6,023: a GM-GAN step costs about 1.3 times as
# much. They come with the course under `data/checkpoints/`, each with its training
# configuration and its `metrics.csv`, and notebook 5 measures them.

# %%
CHECKPOINTS = sorted((ROOT / "data" / "checkpoints").glob("*.pt"), reverse=True)   # GM-GAN first
assert CHECKPOINTS, f"no generator checkpoints in {ROOT / 'data' / 'checkpoints'}"
LABELS = {"gmgan": "GM-GAN", "gan": "DCGAN"}

def describe(path):
    state = load_checkpoint(path, require=("config", "generator"))
    c = state["config"]
    return f"{LABELS.get(c['model'], c['model'])} on {c['dataset']}, {state.get('step', '?'):,} steps"

for path in CHECKPOINTS:
    print(path.name, ":", describe(path))

# %% [markdown]
# Their losses (these runs logged every 10th step). After a first swing in which the
# discriminator wins, both settle: the discriminator's loss stays around 1, a little below
# $2\log 2$, while the generator's swings slowly between about 0.7 and 2.5 as first one network,
# then the other, gets ahead. Neither wins for good: that balance is what a GAN needs to keep
# learning.

# %% tags=["nbval-ignore-output"]
curves = {LABELS[load_checkpoint(p, require=("config",))["config"]["model"]]: p.with_suffix(".metrics.csv")
          for p in CHECKPOINTS if p.with_suffix(".metrics.csv").exists()}
viz.training_curves(curves, smooth=10)

# %% [markdown]
# And 64 samples of each. Both draw digits of every class; GM-GAN's strokes are thicker, and
# more of its images are no clear digit (notebook 5 puts numbers on the difference).

# %% tags=["nbval-ignore-output"]
n = len(CHECKPOINTS)
fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 5.0), squeeze=False, layout="constrained")
for ax, path in zip(axes[0], CHECKPOINTS):
    ax.imshow(viz.image_grid(sample(path, 64, seed=0), nrow=8), cmap="gray")
    model = load_checkpoint(path, require=("config",))["config"]["model"]
    ax.set_title(describe(path), fontsize=12, color=viz.model_color(model))
    ax.axis("off")
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
# the DCGAN layer with the same number of maps (16 and 32 fields of 4 orientations).

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
G = load_generator(ROOT / "data" / "checkpoints" / "gmgan-mnist-cpu.pt")
z0, z1 = torch.randn(2, G.latent_dim, generator=torch.Generator().manual_seed(3))
try:
    display(viz.plot_grid(interpolate(G, z0, z1, 8), nrow=8,
                          title="from G(z0) on the left to G(z1) on the right, along a straight line"))
except NotImplementedError:
    print("(write interpolate above to see the committed generator's path)")

# %% [markdown]
# Does the path pass through digits only, or through shapes that are no digit at all? Try other
# seeds for `z0` and `z1`.
#
# **Next:** notebook 5 measures what the eye judges here: FID on MNIST-classifier features, class
# KL, the MNIST score, precision and recall.
