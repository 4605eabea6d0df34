# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 6. When does geometry pay? GM-GAN with little data
#
# Notebooks 4 and 5 trained GM-GAN and a classical GAN (the DCGAN) on all 60,000 digits and
# found them close. The GM-GAN paper promises more: a geometric prior should let a GAN learn
# from *less data*. This notebook asks when that can be true, and shows what this repository
# measured.
#
# Outline
# 1. what goes wrong with little data: a discriminator that memorises;
# 2. a prior that counts every image four times;
# 3. why an invariant discriminator needs a generator whose samples are turned at random;
# 4. augmentation, the other answer;
# 5. the measurements so far (the experiment is still running);
# 6. the committed generators, side by side;
# 7. exercise.
#
# Nothing is trained in this notebook: the runs took hours of CPU time, and their results and
# generators are committed. It measures samples against real digits (FID_MNIST, notebook 5) on
# $N$ images, 10,000 as in the results, or 1,000 in FAST mode (`GMGAN_FAST=1`), where its FIDs
# sit a few units higher than the committed ones.

# %%
# %matplotlib inline
import json
from pathlib import Path

import torch
from IPython.display import Markdown, display

import gmgan_lib
from gmgan_lib import data_efficiency as de, viz
from gmgan_lib.data import load_tensors, rotation_angles
from gmgan_lib.evaluation import evaluate_images
from gmgan_lib.models import build
from gmgan_lib.models.hybrid import quarter_turns_of, turn_by_quarters
from gmgan_lib.training.augment import diffaugment, random_rotation

P = gmgan_lib.profile()
ROOT = Path(gmgan_lib.__file__).resolve().parents[1]
RESULTS = json.loads((ROOT / "docs" / "results" / "data_efficiency.json").read_text())
COMMITTED = ROOT / "data" / "checkpoints" / "data-efficiency"
N = P.metric_n
rotated, labels = load_tensors("rotmnist", "train")
test_digits, _ = load_tensors("rotmnist", "test")
reference = test_digits[:N]        # FID_MNIST's real set: rotated test digits
print(f"N = {N:,} images per evaluation")

# %% [markdown]
# ## 1. A discriminator that memorises
#
# A GAN's discriminator $D$ is a classifier: it is shown real images and generated ones and
# learns to tell them apart; the generator $G$ learns from $D$'s mistakes. With 600 training
# images, one epoch is 9 steps of 64 images, and a run of 10,000 steps shows $D$ each image more
# than a thousand times. $D$ can then learn *these* 600 images rather than "what a digit looks
# like": it calls them real and any other digit, even a real one it has not seen, fake. Its
# gradient then asks $G$ to copy the training set, and training degrades.
#
# Two numbers along a run show when this happens. Take $D$'s logit (its score before the
# sigmoid; large means "real") on the training images and on real images it never saw (the
# test split):
#
# - the **gap** $= \overline{D(x_\text{train})} - \overline{D(x_\text{held out})}$ is about 0 while
#   $D$ judges digits, and grows as $D$ memorises;
# - $r_t = \mathbb E\left[\operatorname{sign} D(x_\text{train})\right]$ ($t$ for *training*) is the fraction of
#   training images $D$ calls real minus the fraction it calls fake, so it lies between $-1$ and
#   1: near 1 when $D$ calls every training image real, near 0 when it calls as many of them fake
#   as real, below 0 when it calls most of them fake. Adaptive
#   augmentation ([ADA, Karras et al., 2020](https://arxiv.org/abs/2006.06676)) steers by it: it augments more whenever $r_t$ rises
#   above 0.6.
#
# Both are measured on the training images as they are, without augmentation. Here they are
# along the committed runs on 600 rotated digits (seed 0; the grey line marks the budget of
# 10,000 steps, where section 5's table reads each run). The solid lines are GM-GAN (blue) and
# the DCGAN (orange) as they are; the dashed lines are the same models trained with DiffAugment
# and the dash-dotted line the DCGAN trained with random rotations, section 4's answers to little
# data, whose gap stays near 0 (in the left panel the dash-dotted line is hidden behind the
# dashed ones):

# %% tags=["nbval-ignore-output"]
de.overfitting_figure(RESULTS)

# %% [markdown]
# ## 2. A prior that counts every image four times
#
# Rotated MNIST is a set of digits turned by random angles: turning the whole data set changes
# nothing about it. A discriminator built to be **invariant** to quarter turns,
# $D(\mathrm{rot}_{90^\circ} x) = D(x)$ exactly, gives the same verdict to an image and to its three
# turned copies. To it, the 600 training images are 2,400 images (each one's *orbit* under the
# group of four quarter turns): it can still memorise an image, but never tell it from its three
# quarter turns. The theory
# ([Chen, Katsoulakis, Rey-Bellet and Zhu, 2023](https://arxiv.org/abs/2305.13517)) says how much that is worth: for a
# group-invariant distribution, the number of samples needed falls by the size of the group,
# here 4.
#
# One training digit and its orbit:

# %% tags=["nbval-ignore-output"]
orbit = torch.cat([torch.rot90(rotated[:1], k, dims=(-2, -1)) for k in range(4)])
viz.plot_grid(orbit, nrow=4, title="a digit and its three quarter turns: one image to an invariant D")

# %% [markdown]
# ## 3. An invariant discriminator needs an invariant generator
#
# Invariance has a price. An invariant $D$ cannot see *in which* of the four orientations $G$
# draws a digit. A generator that draws every digit between 0° and 90° looks exactly like one
# that draws them at every angle, so nothing in training makes $G$ cover all four quarters.
#
# Here is that blind spot with real images. Take the rotated digits whose angle lies in
# $[0°, 90°)$, a quarter of the data, as a generator that covers only one quarter would draw
# them; then the same images, each turned by a random quarter turn. An invariant $D$ (GM-GAN's,
# with random weights: invariance is built in, not learnt) gives each image the same score in
# both sets:

# %%
angles = torch.as_tensor(rotation_angles("train"))
one_quarter = rotated[angles < 90][:N]
turns = torch.randint(0, 4, (len(one_quarter),), generator=torch.Generator().manual_seed(0))
all_quarters = turn_by_quarters(one_quarter, turns)
torch.manual_seed(0)
D = build("gmgan", preset="hybrid-invariant").discriminator.eval()
with torch.no_grad():
    difference = (D(one_quarter[:256]) - D(all_quarters[:256])).abs().max().item()
print(f"largest difference of D's scores on the two sets: {difference:.1e}")

# %% tags=["nbval-check-output"]
print("D scores every image and its turned copy alike:", difference < 1e-4)

# %% [markdown]
# But the two sets are not alike, and FID_MNIST (notebook 5) says so, measured against the
# rotated test digits:

# %%
one = evaluate_images(one_quarter, reference, "rotmnist")
every = evaluate_images(all_quarters, reference, "rotmnist")
display(Markdown(f"| set of {len(one_quarter):,} images | FID_MNIST |\n|---|---|\n"
                 f"| angles in [0°, 90°) only | {one['fid']:.1f} |\n"
                 f"| the same, each turned by a random quarter turn | {every['fid']:.1f} |"))

# %% tags=["nbval-check-output"]
print("covering one quarter of the angles is far worse:", one["fid"] > 3 * every["fid"])

# %% [markdown]
# A trained generator falls into the same blind spot. One of the runs of section 5 trained
# GM-GAN for 10,000 steps on 600 rotated digits against an invariant $D$ (one that pools its four
# orientations with the maximum, where the $D$ above takes their mean: both are exactly
# invariant), and its samples are drawn as $G$ makes them, never turned (section 5's table calls
# it "invariant D head (max), plain G"). Its generator is committed.
# Here are 24 of its samples as drawn (top three rows) and the same 24, each turned by a random
# quarter turn (bottom three rows):

# %% tags=["nbval-ignore-output"]
from gmgan_lib.sampling import sample

blind = sample(COMMITTED / "rotmnist-1pc-gm-invariant-max-noturn-seed0.pt", n=N, seed=0)
quarter = torch.randint(0, 4, (N,), generator=torch.Generator().manual_seed(0))
blind_turned = turn_by_quarters(blind, quarter)
viz.plot_grid(torch.cat([blind[:24], blind_turned[:24]]), nrow=8,
              title="a generator trained against an invariant D, never turned",
              row_labels=["as drawn"] * 3 + ["turned"] * 3)

# %% [markdown]
# Most of its digits lie on their sides: nothing in training asked $G$ for the other
# orientations, because $D$ cannot see them. FID_MNIST says how much that costs (on $N$ samples:
# in FAST mode 1,000, so a few units above section 5's table, which uses 10,000):

# %%
drawn = evaluate_images(blind, reference, "rotmnist")
turned = evaluate_images(blind_turned, reference, "rotmnist")
display(Markdown(f"| {N:,} samples of the generator | FID_MNIST | recall |\n|---|---|---|\n"
                 f"| as drawn | {drawn['fid']:.1f} | {drawn['recall']:.2f} |\n"
                 f"| each turned by a random quarter turn | {turned['fid']:.1f} "
                 f"| {turned['recall']:.2f} |"))

# %% tags=["nbval-check-output"]
print("the same samples, turned at random, are far closer to the data:",
      turned["fid"] < 0.7 * drawn["fid"])

# %% [markdown]
# The repair costs nothing: make $G$'s *distribution* invariant by construction. GM-GAN's
# invariant configuration (the preset `hybrid-invariant`) turns each sample by a uniformly random
# quarter turn $k$. If $k$ is uniform on $\{0, 1, 2, 3\}$ and independent of the image
# $x = G(z)$, then so is $k + 1$ modulo 4, so $\mathrm{rot}^k x$ and $\mathrm{rot}^{k+1} x$ have
# the same distribution, whatever $G$ has learnt: turning a sample by one more quarter turn does
# not change what $G$ draws. And $D$ cannot see the turn, so it changes nothing that $D$ tells
# $G$.
#
# Where does $k$ come from? A sample must stay a function of its noise $z$ (the same seed, the
# same images), so $k$ is read off $z$ itself. Each of its 100 numbers is stored as a 32-bit
# float, whose last bits are the least significant digits of the number. The last two bits of a
# number, read as a binary number, are a value from 0 to 3; $k$ is the sum of these values over
# the 100 numbers, modulo 4. Those bits are uniform, and they are invisible to a smooth network: changing
# them moves $G$'s output by about $10^{-7}$, so for $G$ the turn is an independent coin with four
# faces. The turns of 10,000 noise vectors:

# %%
counts = torch.bincount(quarter_turns_of(torch.randn(10_000, 100)), minlength=4)
print("quarter turns 0, 1, 2, 3 drawn", counts.tolist(), "times")

# %% [markdown]
# ## 4. Augmentation, the other answer
#
# A plain GAN's answer to little data is **augmentation**: transform every image $D$ sees,
# real or generated, in both updates, so that $D$ never sees the same image twice. DiffAugment
# ([Zhao et al., 2020](https://arxiv.org/abs/2006.10738)) moves each image by up to 1/8 of its side and blanks out a square of half
# its side; since the transformations are differentiable, $G$ learns through them. Turning each
# image by a random angle is the "augment instead of building in" version of the rotation prior.
# One digit under eight draws of each:

# %% tags=["nbval-ignore-output"]
torch.manual_seed(1)
digit = rotated[:1].expand(8, -1, -1, -1)
viz.plot_grid(torch.cat([diffaugment(digit), random_rotation(digit)]), nrow=8,
              title="DiffAugment (top) and random rotations (bottom) of one digit")

# %% [markdown]
# Augmentation and a built-in prior differ. An augmented $D$ has to *learn* from examples to
# treat transformed images alike, with its own weights and only approximately; an invariant $D$
# does so exactly from the first step. And augmentation must match the data: on upright MNIST,
# random rotations make $D$ unable to tell an upright 6 from a turned 9, and $G$ is no longer
# asked to draw digits upright.
#
# ## 5. The measurements
#
# **This experiment is still running.** Its plan was fixed before the first run: five models,
# each trained for the same 10,000 steps with the same optimiser and loss, three training seeds
# each, in three data settings: 600 rotated digits (1 % of rotated MNIST), 6,000 (10 %) and 600
# upright MNIST digits; and, as the reference with all the data there is, the 60,000 rotated
# digits. Beside them, four **ablation rows** (seed 0, 600 rotated digits) change GM-GAN's
# prior, the preset `hybrid-invariant` (invariant head with the mean, turning $G$), in one or two
# places each, as their names say. Its discriminator ends in a *head* that turns its last feature maps,
# one per orientation, into one score. The default *linear* head is one linear layer over all of
# them, with its own weights for each orientation, so it sees orientations and is not invariant.
# An *invariant* head scores each of the four orientations alike, $s_1, \dots, s_4$, and pools
# the four scores with a function that does not care about their order: their mean (the choice
# of `hybrid-invariant`), their maximum, or *logsumexp*, $\log \frac14 \sum_i e^{s_i}$, a soft maximum
# that lies between the two. And $G$ is either *plain* or turns each sample by a random quarter
# turn (section 3). The five models are GM-GAN with its prior used on both sides (on upright
# MNIST the default GM-GAN), GM-GAN with DiffAugment, and the DCGAN alone, with DiffAugment and
# with random rotations. Each run is added to the results file when it finishes, and the table
# and the figure below are recomputed from that file every time this notebook runs. So they
# show **the runs finished so far**, not the answer. How far the plan has got:

# %% tags=["nbval-ignore-output"]
PLAN = [("rotmnist", 600), ("rotmnist", 6_000), ("rotmnist", 60_000), ("mnist", 600)]
for dataset, images in PLAN:
    done = sum(r["row"] in de.MODELS and (r["dataset"], r["images"]) == (dataset, images)
               for r in RESULTS.values())
    print(f"{de.setting_label(dataset, images):>21}: {done} of {3 * len(de.MODELS)} runs finished")

# %% [markdown]
# The table has a row for each data setting and model with at least one finished run; its
# `seeds` column says how many of the three seeds that row rests on. Each number is the mean over
# those seeds ± their standard deviation (a row of one seed has no spread: the number stands
# alone). FID_MNIST and the class KL are better when lower, the MNIST score, precision and recall
# when higher; the last two columns are section 1's overfitting signals at 10,000 steps. One
# run's FID_MNIST moves by a few units from one snapshot to the next (a snapshot every 2,000
# steps), so beside its value at 10,000 steps stands the mean of the snapshots of the second
# half of training, at 6,000, 8,000 and 10,000 steps ("FID_MNIST, second half").
# ([docs/results.md](../docs/results.md), "Where geometry pays", says how each number was made.)

# %% tags=["nbval-ignore-output"]
display(Markdown(de.markdown_table(RESULTS)))

# %% [markdown]
# **Reading the last two columns.** A gap far above 0 together with $r_t$ about 1 is a
# discriminator that calls every one of its training images real and gives real digits it never
# saw lower scores: it has memorised its training set. An $r_t$ well below 1 says that $D$ is not
# sure of its training images: near 0 it calls as many of them fake as real, and by this signal
# it has not learnt them at all. Augmentation is meant to produce exactly that: $D$ never sees a
# training image twice in the same form, so it cannot learn the images themselves. In the runs
# finished so far, the rows with DiffAugment have a far smaller gap than the same model without
# it, and an $r_t$ below 1. One snapshot's $r_t$ is a noisy reading, though: along the seed-0
# runs of section 1 it jumps between snapshots for the runs with DiffAugment, so read it
# together with the gap. And $r_t$ can be negative while the gap is large (the row "invariant D
# head (max), random turn in G"): $r_t$ only says on which side of 0 $D$'s
# scores of its training images fall, and where 0 lies drifts with what $G$ draws at the moment;
# the gap compares training images with unseen ones on the same scale. A large gap with any
# $r_t$ is a discriminator that has memorised.

# %% tags=["nbval-ignore-output"]
de.figure(RESULTS)

# %% [markdown]
# **How to read the figure.** Top: each model's FID_MNIST at 10,000 steps (the mean over its
# finished seeds, with a bar of ± one standard deviation where there are two or more) against the
# number of training images, one panel per data set. The models' points of one setting stand side
# by side around its tick, so that their bars do not hide one another. Each model is a line
# through the settings where it has finished runs (a model with runs in one setting only is a
# point), and a model that needs less data loses less (its FID_MNIST rises less) as its line
# goes left, towards fewer images. A panel without any finished run says so.
#
# Bottom, along the seed-0 runs with 600 rotated digits: FID_MNIST (left) and the
# discriminator's overfitting gap (right). The grey line marks the budget, 10,000 steps, where
# the table reads every run; the curves of GM-GAN and the DCGAN without augmentation go on to
# 12,000 steps because those two runs were trained further to choose that budget
# ([docs/results.md](../docs/results.md), "The budget, from two curves").
#
# Three questions to ask of them: does GM-GAN's invariant discriminator memorise more slowly than
# the DCGAN's (its gap grows less steeply)? Does that make its samples better (its FID_MNIST
# lower) at the same number of steps? And is a difference between two models larger than the
# spread between the seeds of each (the ± of the table)? In the runs finished so far the answer
# to the first is yes: GM-GAN's gap stays below the DCGAN's at every snapshot of seed 0, and at
# 10,000 steps for every seed (the table's gap column). But compare the ablation rows: GM-GAN's
# default discriminator, whose linear head sees orientations and is not invariant, memorises
# about as slowly. So far, the slow memorising comes with GM-GAN's discriminator (it has 3.5
# times fewer parameters than the DCGAN's), not with invariance. For the other two questions,
# compare rows whose `seeds` column reads 3, and take a row of fewer seeds as provisional.
#
# The project answers the third question with one rule, the same for every pair of rows. Write
# each row as its mean $m$ ± its standard deviation $s$ over the seeds. GM-GAN is **ahead** of a
# baseline when the two intervals $[m - s, m + s]$ do not overlap and GM-GAN's is the lower
# one, that is when $m_{\text{baseline}} - m_{\text{GM}} > s_{\text{baseline}} + s_{\text{GM}}$;
# **behind** in the mirror case; **level** when the intervals overlap. A row of one seed has no
# $s$, so the rule gives no reading for it (**one seed**). The table applies the rule to every
# GM-GAN row and every baseline of the same data, at 10,000 steps and again over the second half
# of training; in brackets, the baseline's FID_MNIST minus GM-GAN's, positive when GM-GAN is
# ahead. A difference counts only where both readings find it (the last column); where one finds
# it and the other does not, the pair is **unsettled**. With three seeds this is a way of reading
# the spread, not a statistical test.

# %% tags=["nbval-ignore-output"]
display(Markdown(de.comparison_table(RESULTS)))

# %% [markdown]
# [docs/results.md](../docs/results.md), "Where geometry pays", gives the project's current
# reading, with the runs it rests on.

# %% [markdown]
# ## 6. The committed generators, side by side
#
# The generators of every model trained on the 600 rotated digits (seed 0) are committed. The
# same 64 noise vectors for each:

# %% tags=["nbval-ignore-output"]
generators = {de.LABELS[row]: COMMITTED / f"rotmnist-1pc-{row}-seed0.pt" for row in de.MODELS
              if (COMMITTED / f"rotmnist-1pc-{row}-seed0.pt").exists()}
de.samples_figure(generators)

# %% [markdown]
# Look for two things. Does a grid repeat a few shapes? A generator that draws few distinct
# images has a low recall in the table (the DCGAN with random rotations is the clearest case).
# And are the strokes clean? Speckles around the strokes are something FID_MNIST notices too.

# %% [markdown]
# ## 7. Exercise
#
# As in the other notebooks: complete the function under the statement, then run its check,
# which calls it on fresh random inputs; `exercises.solution("06.1")` shows one solution.

# %%
from gmgan_lib import exercises

# %% [markdown]
# **Exercise 1 (turn each image by its own number of quarter turns).** Write
# `turn_each(images, turns)` yourself, with `torch.rot90` (not with section 3's
# `turn_by_quarters`, which is the answer):
# `images` is a batch of square images $[B, C, H, H]$ (a tensor), `turns` a tensor of $B$ whole
# numbers in $\{0, 1, 2, 3\}$; return the batch in which image $b$ is turned by `turns[b]`
# quarter turns counter-clockwise as displayed (the way `viz.plot_grid` shows it), every image
# independently. This is what GM-GAN's invariant generator does to its samples. The check draws
# fresh images and turns at every run.

# %%
# Exercise 1: your code here
def turn_each(images, turns):
    raise NotImplementedError("your code here")


# %% tags=["nbval-check-output"]
exercises.check("06.1", turn_each)

# %% [markdown]
# ## What this course has shown
#
# Dilations and erosions are the linear operators of the max-plus and min-plus algebras
# (notebook 1) and the exact solutions of Hamilton-Jacobi PDEs (notebook 2); on the group of
# shifts and turns they become layers that turn with the image (notebook 3); built into a GAN
# they replace the generator's ReLUs (notebook 4), and notebook 5 measured what such a GAN draws.
# This notebook asked where a geometric prior should pay: with little data, where an invariant
# discriminator memorises more slowly, provided the generator's samples are turned at random.
# So far, slower memorising has not made GM-GAN's samples better than the plain DCGAN's: the
# table of section 5 says where it is ahead and where it is level.
#
# **Where to go next.** [docs/results.md](../docs/results.md), "Where geometry pays", has the
# table with every run finished so far and the project's reading of it; its other
# sections give the comparison of GM-GAN and the DCGAN at CPU scale, claim by claim of the
# paper. [docs/architecture.md](../docs/architecture.md) describes the networks layer by layer.
# The repository's `README.md` (its front page) says how to train and evaluate the models
# yourself, from a terminal.
