# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 5. Evaluating generative models: FID_MNIST, class KL, MNIST score, precision and recall
#
# How good is a generator? The eye is a poor judge of variety: a generator that draws only
# perfect 1s looks great, page after page. So we measure, and every measure has a catch. This
# notebook defines the metrics of `gmgan_lib.evaluation`, checks that they react as they should to
# real, noisy, blurred and one-class data, and then compares the two generators of notebook 4.
#
# Outline
# 1. the feature network: a digit classifier that every metric reads;
# 2. FID_MNIST, class KL, MNIST score, precision and recall, and what real digits score;
# 3. sanity curves: the metrics must get worse as noise or blur grows;
# 4. mode dropping: a generator that only draws 1s;
# 5. GM-GAN against the DCGAN, one table and one chart;
# 6. exercises.
#
# Every metric compares $N$ generated images with $N$ real ones. In fast mode (`make lab`,
# `GMGAN_FAST=1`) $N$ = `profile().metric_n` = 1,000; the course's reported figures use
# $N = 10{,}000$ and three seeds (`python -m gmgan_lib evaluate --checkpoint PATH --n 10000
# --seeds 3`). With the smaller $N$ the numbers below are a quick look, not results: FID in
# particular comes out larger for small $N$ (section 2).

# %%
# %matplotlib inline
from pathlib import Path

import numpy as np
import torch
from IPython.display import Markdown, display
from torchvision.transforms.functional import gaussian_blur

import gmgan_lib
from gmgan_lib import viz
from gmgan_lib.checkpoint import load_checkpoint
from gmgan_lib.data import load_tensors
from gmgan_lib.evaluation import (classifier_outputs, evaluate_images, load_classifier)
from gmgan_lib.sampling import sample

P = gmgan_lib.profile()
print(P)
N = P.metric_n
ROOT = Path(gmgan_lib.__file__).resolve().parents[1]
test_images, test_labels = load_tensors("mnist", "test")
train_images, _ = load_tensors("mnist", "train")
g = torch.Generator().manual_seed(0)
real = test_images[torch.randperm(len(test_images), generator=g)[:N]]       # the reference set
other = train_images[torch.randperm(len(train_images), generator=g)[:N]]    # real, but different

# %% [markdown]
# ## 1. The feature network
#
# Comparing images pixel by pixel says little: a digit shifted by one pixel is as good a digit,
# yet far away in pixels. So the metrics compare what a **digit classifier** sees in the
# images. The course uses a small LeNet (a convolutional network) trained once on MNIST and
# committed under `data/classifiers/` (checked by its sha256 checksum when loaded). For an image
# $x$ it gives two things: $\phi(x)$, the 128 numbers of its last hidden layer (the *features*),
# and $p(y\mid x)$, its probability that $x$ shows digit $y \in \{0, \dots, 9\}$.
#
# The usual FID reads the features of Inception-v3, a large ImageNet classifier whose weights
# would have to be downloaded; this course runs offline. FID on our LeNet's features, which we
# call **FID_MNIST**, is therefore *not comparable* with published (Inception) FIDs, nor with FID
# on another classifier: always name the feature network next to a number.

# %% tags=["nbval-ignore-output"]
classifier = load_classifier("mnist")
out = classifier_outputs(test_images[:2000], classifier)
accuracy = (out.pred == test_labels[:2000]).double().mean().item()
print("feature network: LeNet[mnist], sha256", classifier.sha256[:16], "...")
print(f"accuracy on 2000 test digits: {accuracy:.4f} (it names real digits almost always right)")

# %% tags=["nbval-check-output"]
print("features", tuple(out.features.shape), "| probabilities", tuple(out.probs.shape))
print("accuracy on 2000 test digits >= 0.99:", accuracy >= 0.99)

# %% [markdown]
# ## 2. The metrics
#
# Picture the features of the real digits as a cloud of points in 128 dimensions, and those of
# the generated images as a second cloud. A good generator's cloud lies on the real one and
# covers all of it. Each metric looks at the two clouds in its own way. Write $\mu_r, \Sigma_r$
# for the mean vector and the covariance matrix of the real features, $\mu_g, \Sigma_g$ for
# those of the generated ones.
#
# * **FID_MNIST** (the Fréchet inception distance of Heusel et al. 2017, on our features): fit a
#   Gaussian to each cloud and measure how far apart the two Gaussians are,
#   $$\mathrm{FID} = \lVert\mu_r - \mu_g\rVert^2 + \mathrm{Tr}\big(\Sigma_r + \Sigma_g - 2(\Sigma_r\Sigma_g)^{1/2}\big),$$
#   where $\mathrm{Tr}$ is the trace (the sum of the diagonal) and $(\cdot)^{1/2}$ the matrix
#   square root. The first term compares the centres of the clouds, the second their spreads.
#   **Lower is better**; 0 only for identical Gaussians. Estimated from $N$ samples it comes out
#   too large, the more so the smaller $N$, and the covariances cannot be estimated at all
#   unless $N$ is well above the 128 features.
# * **class KL**: let the classifier name the digit of every image and count how often each digit
#   occurs, among the real images ($p_{real}(y)$) and among the generated ones ($p_{gen}(y)$).
#   Then $\mathrm{KL}(p_{real}\Vert p_{gen}) = \sum_y p_{real}(y) \log \frac{p_{real}(y)}{p_{gen}(y)}$,
#   the Kullback-Leibler divergence (after adding a small $\epsilon$ to every probability and
#   renormalising, so that no digit has probability 0). **Lower is better**: 0 when every digit is as frequent as in real
#   data, large when the generator leaves some digits out ("drops modes").
# * **MNIST score** (the MNIST analogue of the Inception score):
#   $\exp\big(\mathbb E_x\, \mathrm{KL}(p(y\mid x)\,\Vert\,p(y))\big)$, where $\mathbb E_x$ is the
#   average over the generated images $x$ and $p(y) = \mathbb E_x\, p(y\mid x)$ the classifier's
#   average answer. It is large when each image is confidently one digit ($p(y\mid x)$ sharp) and
#   all digits occur ($p(y)$ flat). **Higher is better**, at most 10 (the number of digits).
# * **precision and recall** (Kynkäänniemi et al. 2019): around every real feature draw a ball
#   reaching to its $k$-th nearest real neighbour ($k = 3$); the union of the balls is the real
#   cloud's *shape*. **Precision** is the fraction of generated features inside it (are the
#   images realistic?), **recall** the fraction of real features inside the same construction
#   made from the generated cloud (is all of the real data covered?). **Higher is better** for
#   both, at most 1.
#
# First the **floor**: real test digits against other real digits (from the training set), same
# $N$. That is what a perfect generator would score at this $N$; no generator can be expected to
# beat it.

# %%
floor = evaluate_images(other, real, classifier=classifier)
display(Markdown(viz.metrics_table({f"real vs real (N={N})": floor})))

# %% tags=["nbval-check-output"]
print("real digits: MNIST score > 9:", floor["mnist_score"] > 9)
print("real digits: class KL < 0.01:", floor["kl"] < 0.01)
print("real digits: precision and recall > 0.8:", floor["precision"] > 0.8 and floor["recall"] > 0.8)
print("N used:", floor["n"] == N)

# %% [markdown]
# ## 3. Sanity curves: noise and blur
#
# A metric worth its name must get worse, steadily, as the images get worse. We corrupt the
# *real* digits in two ways and measure them against the clean reference set:
# * **noise**: add to every pixel an independent Gaussian number of standard deviation
#   $\sigma$ (the *noise level*; pixel values lie in $[-1, 1]$), then clip back to $[-1, 1]$;
# * **blur**: smooth the image with a Gaussian of standard deviation $\sigma$ pixels.
#
# First the corrupted digits, one row per level, then FID_MNIST against the level.

# %%
noise_levels = [0.0, 0.1, 0.2, 0.4, 0.8]
blur_levels = [0.0, 0.5, 1.0, 1.5, 2.0]

def noisy(x, s):
    return (x + s * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(-1, 1)

def blurred(x, s):
    return x if s == 0 else gaussian_blur(x, kernel_size=9, sigma=s)

# %% tags=["nbval-ignore-output"]
viz.plot_grid(torch.cat([noisy(other[:8], s) for s in noise_levels] +
                        [blurred(other[:8], s) for s in blur_levels]), nrow=8,
              row_labels=[f"noise σ = {s:g}" for s in noise_levels]
                         + [f"blur σ = {s:g} px" for s in blur_levels],
              title="the same 8 digits, corrupted more and more")

# %%
curves = {"noise": [evaluate_images(noisy(other, s), real, classifier=classifier) for s in noise_levels],
          "blur": [evaluate_images(blurred(other, s), real, classifier=classifier) for s in blur_levels]}
fid_curves = {k: [r["fid"] for r in v] for k, v in curves.items()}

# %% tags=["nbval-ignore-output"]
viz.sanity_curves({"noise": noise_levels, "blur": blur_levels}, fid_curves,
                  xlabels={"noise": "noise level σ (pixel values in [-1, 1])",
                           "blur": "blur σ (pixels)"})

# %% [markdown]
# Both curves rise steadily from the floor: FID_MNIST passes the test. Note how differently the
# two corruptions count: noise of $\sigma = 0.2$, plainly visible above, costs less than a blur
# of $\sigma = 1$ pixel: the classifier's features change less with scattered specks than with
# strokes that lose their edges.

# %% tags=["nbval-check-output"]
for kind, fids in fid_curves.items():
    print(f"FID_MNIST grows with {kind}:", all(a < b for a, b in zip(fids, fids[1:])))

# %% [markdown]
# ## 4. Mode dropping
#
# A "generator" that only ever draws the digit 1 (here: real 1s) makes perfect-looking images.
# FID_MNIST and class KL see through it; precision (are the images realistic?) does not, recall
# (is all of the real data covered?) does.

# %%
ones = test_images[test_labels == 1][:N]
only_ones = evaluate_images(ones, real, classifier=classifier)
display(Markdown(viz.metrics_table({"real vs real": floor, "only 1s": only_ones})))

# %% tags=["nbval-check-output"]
print("class KL of the one-class generator > 1:", only_ones["kl"] > 1)
print("its recall collapses below half the floor's:", only_ones["recall"] < 0.5 * floor["recall"])
print("its FID_MNIST is over 10x the floor:", only_ones["fid"] > 10 * floor["fid"])

# %% [markdown]
# ## 5. GM-GAN against GAN
#
# The two generators of notebook 4 (5 CPU minutes of training each), $N$ samples each, against
# the same reference set, next to the floor. GM-GAN is blue and the DCGAN orange, as in
# notebook 4; the grey bar is real data. One seed and a small $N$ in fast mode: a quick look.
# The same two generators measured with $N = 10{,}000$ are in
# [docs/results.md](../docs/results.md), section "Five CPU minutes, the default models".

# %%
CHECKPOINTS = sorted((ROOT / "data" / "checkpoints").glob("*.pt"), reverse=True)   # GM-GAN first
assert CHECKPOINTS, f"no generator checkpoints in {ROOT / 'data' / 'checkpoints'}"
LABELS = {"gmgan": "GM-GAN", "gan": "DCGAN"}
results = {"real vs real": floor}
for path in CHECKPOINTS:
    config = load_checkpoint(path, require=("config", "generator"))["config"]
    if config["dataset"] != "mnist":
        continue                                  # compared with MNIST test digits only
    fake = sample(path, N, seed=0)
    results[LABELS.get(config["model"], path.stem)] = evaluate_images(fake, real, classifier=classifier)

# %% tags=["nbval-ignore-output"]
print(f"FID_MNIST on LeNet[mnist] features (sha256 {classifier.sha256[:12]}...), N = {N}, one seed")
display(Markdown(viz.metrics_table(results)))
viz.metrics_bar_chart(results)

# %% tags=["nbval-check-output"]
print("GM-GAN and the DCGAN evaluated:", {"GM-GAN", "DCGAN"} <= set(results))
print("every row: N samples, finite metrics, MNIST score in [1, 10]:",
      all(r["n"] == N and 1 <= r["mnist_score"] <= 10
          and all(np.isfinite(r[k]) for k in ("fid", "kl", "mnist_score", "precision", "recall"))
          for r in results.values()))

# %% [markdown]
# **What the numbers say.** Both generators are far from the floor on every metric, and the
# DCGAN is ahead of GM-GAN on FID_MNIST, class KL and the MNIST score after the same 5 CPU
# minutes (notebook 4: GM-GAN's steps cost 1.3 times as much, so it made fewer of them). Their
# recall is a little below the floor's: both cover most of the real digits. Their precision is
# far below it: many of their images lie outside the real cloud, as the broken strokes of
# notebook 4 suggest.
#
# **Read precision and recall together, never precision alone.** Precision asks only: *is each
# generated image inside the real cloud's shape?* A generator that draws a few similar, simple
# strokes can land most of them where real digits crowd together (thin 1s and 7s): high
# precision, tiny recall. The one-class "generator" of section 4 had the floor's precision, and
# a generator that collapsed to one grey image for every $z$ scored precision 1.0 and recall 0
# ([docs/experiments.md](../docs/experiments.md), section 2).
#
# For scale, the GM-GAN paper reports FID 0.93 (GM-GAN) against 15.55 (GAN) on MNIST, and KL 0.95
# against 1.07, without saying which features, which $N$ or which distributions; those numbers
# cannot be compared with the ones above. Published *Inception* FIDs on MNIST for well-tuned GANs
# (Lucic et al. 2018, best over large searches) are around 6.7-9.8 for NS GAN, WGAN, LSGAN, DRAGAN
# and MM GAN.
#
# ## 6. Exercises
#
# As in notebook 1: complete the function under each statement, then run its check, which calls
# it on fresh random inputs; `exercises.solution("05.1")` shows one solution.

# %%
from gmgan_lib import exercises

# %% [markdown]
# **Exercise 1.** Write `fid_from_features(fa, fb)`: the Frechet distance of the Gaussians fitted
# to two feature arrays `fa [N, D]` and `fb [M, D]` (numpy), *by hand* with the formula above,
# returned as a float. The covariances are the unbiased ones (dividing by $N - 1$, as `np.cov`
# does). The check compares it with the library on fresh random features; the cell after it then
# computes FID_MNIST of `other` against `real` with your function.
#
# *Hint:* you need only the trace of $(\Sigma_r\Sigma_g)^{1/2}$. The product of two covariance
# matrices is similar to a positive semi-definite matrix, so its eigenvalues are real and
# non-negative, and the trace of its square root is the sum of their square roots (more robust
# than `scipy.linalg.sqrtm` when some features are constant and the covariances singular).

# %%
# Exercise 1: your code here
def fid_from_features(fa, fb):
    raise NotImplementedError("your code here")


# %% tags=["nbval-check-output"]
exercises.check("05.1", fid_from_features)

# %% tags=["nbval-ignore-output"]
try:
    fa = classifier_outputs(real, classifier).features.numpy()
    fb = classifier_outputs(other, classifier).features.numpy()
    print(f"FID_MNIST by hand {fid_from_features(fa, fb):.4f}, library {floor['fid']:.4f}")
except NotImplementedError:
    print("(write fid_from_features above to compare it with the library on real features)")

# %% [markdown]
# **Exercise 2.** Write `class_kl(pred_real, pred_gen, eps=1e-6)`: from two tensors of predicted
# classes (integers 0-9), return $\mathrm{KL}(p_{real}\Vert p_{gen})$ as a float, in three steps:
# 1. the histogram of each tensor as probabilities: 10 bins (a class that never occurs is a bin
#    of 0), each count divided by the number of predictions;
# 2. smoothing, so that no bin is 0: add $\epsilon$ to every bin, then renormalise to sum 1;
# 3. $\mathrm{KL}(p\Vert q) = \sum_y p(y) \log \frac{p(y)}{q(y)}$ (natural logarithm), with
#    $p = p_{real}$, $q = p_{gen}$.
#
# Which generator of this notebook has the largest class KL, and why?

# %%
# Exercise 2: your code here
def class_kl(pred_real, pred_gen, eps=1e-6):
    raise NotImplementedError("your code here")


# %% tags=["nbval-check-output"]
exercises.check("05.2", class_kl)

# %% [markdown]
# **Next:** notebook 6 asks when GM-GAN's geometry should pay: with little data, where a
# discriminator starts to memorise its training images. It uses these metrics, and measures how
# fast each discriminator memorises.
