# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 2. PDE semigroups: Hamilton-Jacobi equations, Hopf-Lax kernels, convection
#
# Notebook 1 treated erosion and dilation as operators of the min-plus algebra. Here they appear as
# the **exact solvers of partial differential equations** (PDEs): equations that say how an image
# changes in time. That is the idea of PDE-G-CNNs (PDE-based group-equivariant CNNs, Smets et al.,
# 2023) and of GM-GAN: a layer does not learn an arbitrary filter, it solves a PDE for a fixed
# time, and only the PDE's few coefficients are learned (a metric, which says how far a step in
# each direction counts, and a transport vector, which says where the image moves).
#
# Outline
# 1. the Hamilton-Jacobi equations whose solutions are erosions and dilations;
# 2. the Hopf-Lax kernels and the role of $\alpha$: from quadratic to flat;
# 3. the semigroup property $E_s E_t = E_{t+s}$, checked numerically with an error bound;
# 4. convection: the PDE of transport, solved by resampling;
# 5. exercises.

# %%
# %matplotlib inline
import math

import numpy as np
import torch
import matplotlib.pyplot as plt

import gmgan_lib
from gmgan_lib import viz
from gmgan_lib.data import load_tensors
from gmgan_lib.nn import functional as F

P = gmgan_lib.profile()
print(P)
images, labels = load_tensors("mnist", "test")
digits = images[:16].double()      # float64: the identities below are checked to 1e-12

# %% [markdown]
# ## 1. Erosion and dilation solve Hamilton-Jacobi equations
#
# Think of the grey levels of an image as the height of a landscape, and let the landscape evolve
# in time $t$. Under the **dilation** equation below, every point rises at a speed set only by the
# steepness of the slope there: flat regions stay where they are, slopes move, and bright regions
# spread out into the dark background like an advancing front. Under the **erosion** equation the
# landscape sinks instead, and bright regions shrink. Here is a 1-D profile with two bright bumps,
# at four times (in pixel units, with the kernel of $\alpha = 1$ of section 2).

# %% tags=["nbval-ignore-output"]
xs = np.arange(200.0)
profile = torch.tensor(-1 + 1.6 * np.exp(-((xs - 75) / 14) ** 2)
                       + 1.2 * np.exp(-((xs - 130) / 9) ** 2))[None, None, None]   # [1, 1, 1, 200]

def row_kernel(t, size=401):
    # the alpha = 1 kernel |x|^2 / (2t) along one row: [1, 1, size], wide enough for 200 pixels
    return F.quadratic(size, t=t, dtype=torch.float64)[:, size // 2:size // 2 + 1, :]

fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True)
for ax, name, op in [(axes[0], "dilation", F.dilation_r2), (axes[1], "erosion", F.erosion_r2)]:
    for t, colour in zip((0, 100, 400, 1600), ("k", "tab:blue", "tab:orange", "tab:red")):
        W = profile if t == 0 else op(profile, row_kernel(t))
        ax.plot(xs, W[0, 0, 0], color=colour, label=f"t = {t}")
    ax.set_title(name, fontsize=11)
    ax.set_xlabel("x (pixels)", fontsize=10)
axes[0].set_ylabel("W(x, t)", fontsize=10)
axes[1].legend(fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown]
# Two things to see. The fronts move, outwards under dilation and inwards under erosion. And
# **kinks** (corners) appear: where the two spreading bumps meet, and at the top of a shrinking
# bump. At a kink the slope jumps, so the derivative that the equation speaks of does not exist
# there.
#
# Now the equations. Fix a shape parameter $\alpha \in (\tfrac12, 1]$. Starting from an image $U$,
# the evolving image $W(x, t)$ solves
# $$\partial_t W = -\tfrac{1}{2\alpha}\,\|\nabla W\|^{2\alpha} \quad\text{(erosion)}, \qquad
#   \partial_t W = +\tfrac{1}{2\alpha}\,\|\nabla W\|^{2\alpha} \quad\text{(dilation)}, \qquad
#   W(\cdot, 0) = U ,$$
# where $\nabla W$ is the gradient in $x$ and $\|\nabla W\|$ the steepness. The speed is a function
# of the slope $p = \nabla W$ alone, $H(p) = \tfrac{1}{2\alpha}|p|^{2\alpha}$, the **Hamiltonian**
# of the equation; it is convex.
#
# Because of the kinks, no differentiable $W$ solves these equations for all times, so "solution"
# needs a weaker meaning. The standard one: add a little blurring to the equation, a term
# $\mu\,\Delta W$ (a *viscosity* $\mu > 0$, as in a fluid; $\Delta$ is the Laplacian, the sum of
# the second derivatives), which keeps the solution smooth, and let $\mu \to 0$. For equations
# such as these the limit exists and is unique; it is the **viscosity solution** (the theory is
# due to Crandall and Lions, 1983), and it is the one drawn above, kinks included.
#
# For a convex $H$ the viscosity solution has a closed form. Think of $L(v)$ as the cost of
# travelling at velocity $v$ for one unit of time. It is obtained from $H$ by the Legendre
# transform, $L(v) = \sup_p\, \big(p \cdot v - H(p)\big)$, and here it is
# $L(v) = \tfrac1\beta |v|^\beta$, the **Lagrangian**, with the conjugate exponent
# $$\frac{1}{2\alpha} + \frac{1}{\beta} = 1 \quad\Longleftrightarrow\quad \beta = \frac{2\alpha}{2\alpha - 1}.$$
# The **Hopf-Lax formula** says: the eroded value at $x$ after time $t$ is the best trade-off, over
# all starting points $y$, between the starting value $U(y)$ and the cost of travelling from $y$
# to $x$ in time $t$ (at the constant velocity $(x-y)/t$):
# $$W(x, t) = \inf_y \Big[\, U(y) + t\,L\Big(\frac{x-y}{t}\Big) \Big] = (k_t \,\square\, U)(x),
#   \qquad k_t(x) = t\,L\Big(\frac{x}{t}\Big) = \frac{t}{\beta}\Big(\frac{|x|}{t}\Big)^{\beta}.$$
# So the solution operator of the erosion PDE *is* an erosion by the kernel $k_t$ (notebook 1's
# min-plus convolution $\square$), and the dilation PDE is solved by the dilation
# $k_t \,\boxplus\, U = -\big(k_t \,\square\, (-U)\big)$ (notebook 1's max-plus convolution
# $\boxplus$). No finite differences: the network applies the closed form.

# %% tags=["nbval-check-output"]
for alpha in (1.0, 0.65, 0.55):    # alpha = 0.75 is left out: exercise 1 asks for its beta
    print(f"alpha = {alpha:4}:  beta = {F.beta_of_alpha(alpha):.4f}")

# %% [markdown]
# ## 2. From quadratic to flat: the role of $\alpha$
#
# * $\alpha = 1$: $\beta = 2$ and $k_t(x) = |x|^2/(2t)$, the quadratic kernel of notebook 1;
# * $\alpha = 0.65$ (the default of lietorch, the reference implementation of PDE-G-CNNs, and of
#   GM-GAN's layers): $\beta = 13/3$;
# * $\alpha \to \tfrac12$: $\beta \to \infty$ and $(|x|/t)^\beta \to 0$ inside the ball $|x| < t$,
#   $\to \infty$ outside: the **flat** disk of radius $t$, i.e. min/max pooling. The PDE becomes
#   $\partial_t W = \pm |\nabla W|$ (fronts move at unit speed), the classical flat morphology.
#
# The library keeps $\alpha \in [0.55, 1]$: near $\tfrac12$ the kernel values (and their gradients)
# explode. Below, the kernel along one row, for $t = 3$.

# %% tags=["nbval-ignore-output"]
size, t = 15, 3.0
x = np.arange(size) - size // 2
fig, ax = plt.subplots(figsize=(8, 3.2), layout="constrained")
for alpha in (1.0, 0.65, 0.6, 0.55):
    k = F.power(size, alpha, t=t, dtype=torch.float64)[0, size // 2]
    ax.plot(x, k, "o-", ms=3, label=f"α = {alpha} (β = {F.beta_of_alpha(alpha):.3g})")
ax.axvspan(-t, t, color="grey", alpha=0.15, label="flat disk |x| ≤ t")
ax.set_ylim(0, 4); ax.set_xlabel("x (pixels)", fontsize=10); ax.set_ylabel("k_t(x)", fontsize=10)
ax.set_title(f"the kernel along one row, t = {t:g}", fontsize=11)
ax.legend(fontsize=9, loc="center left", bbox_to_anchor=(1.02, 0.5))   # beside the curves
plt.show()

# %% tags=["nbval-check-output"]
# The library's kernel is the Hopf-Lax formula, and alpha = 0.55 is nearly flat.
size, t = 15, 3.0
r = torch.arange(size, dtype=torch.float64) - size // 2
radius = torch.sqrt(r[:, None] ** 2 + r[None, :] ** 2)
for alpha in (1.0, 0.65):
    beta = F.beta_of_alpha(alpha)
    formula = (t / beta) * (radius / t) ** beta
    print(f"alpha={alpha}: kernel == (t/beta)(|x|/t)^beta:",
          torch.allclose(F.power(size, alpha, t=t, dtype=torch.float64)[0], formula))
k55 = F.power(size, 0.55, t=t, dtype=torch.float64)[0]
print("alpha=0.55: k < 0.1 inside |x| <= 0.75 t:", bool((k55[radius <= 0.75 * t] < 0.1).all()),
      "| k > 2 outside |x| >= 1.25 t:", bool((k55[radius >= 1.25 * t] > 2).all()))

# %% [markdown]
# The kernels need not be round. A **metric** says how far a step counts in each direction: with
# horizontal steps cheaper than vertical ones, the distance $\rho(x)$ from the centre replaces
# $|x|$ and the structuring element becomes an ellipse, elongated along the cheap direction (in
# notebook 3 these metrics live on the roto-translation group and turn with each orientation).
# The time $t$ is redundant with a global scale of the metric (see Exercise 2), which is why the
# layers keep $t = 1$ and learn the metric.
#
# Dilating a digit by $k_t$ for growing $t$ shows the PDE's evolution: the bright strokes grow,
# smoothly for $\alpha = 1$, with the flat look of max pooling for $\alpha = 0.55$.

# %% tags=["nbval-ignore-output"]
times = (0.5, 1.0, 2.0, 4.0)
fig, axes = plt.subplots(2, len(times) + 1, figsize=(9, 4))
for row, alpha in enumerate((1.0, 0.55)):
    axes[row, 0].imshow(digits[1, 0], cmap="gray", vmin=-1, vmax=1)
    axes[row, 0].set_title("U" if row == 0 else "", fontsize=10)
    axes[row, 0].set_ylabel(f"α = {alpha}", fontsize=10)
    for j, t in enumerate(times):
        W = F.dilation_r2(digits[1:2], F.power(11, alpha, t=t, dtype=torch.float64))
        axes[row, j + 1].imshow(W[0, 0], cmap="gray", vmin=-1, vmax=1)
        axes[row, j + 1].set_title(f"t = {t}", fontsize=10)
for ax in axes.flat:
    ax.set_xticks([]); ax.set_yticks([])
plt.show()


# %% [markdown]
# ## 3. The semigroup property, and what the grid does to it
#
# A PDE does not remember how its solution got where it is: running it for time $t$, stopping,
# and running it again for time $s$ from there must give what running it for $t + s$ gives. For
# the erosion $E_t$ (the solution operator at time $t$, $E_t U = k_t \,\square\, U$) this is the
# kernel identity $k_t \,\square\, k_s = k_{t+s}$, and the solution operators form a
# **semigroup**:
# $$E_s E_t = E_{t+s}.$$
# On the pixel grid the intermediate point of the infimum is restricted to pixels, so the identity
# becomes a pair of inequalities we can prove and then measure. Write $k_t \,\square_{\mathbb Z^2}\, k_s$
# for the infimal convolution over grid points, and
# $$\eta = \max\big\{\, (k_t \,\square_{\mathbb Z^2}\, k_s)(m) - k_{t+s}(m) \;:\; k_{t+s}(m) \le 2 \,\big\},$$
# the largest amount by which the grid's two-step kernel exceeds the one-step kernel, over the
# offsets $m$ that can matter. Then, for images with values in $[-1, 1]$ (and far enough from the
# image border),
# $$0 \;\le\; E_s E_t f - E_{t+s} f \;\le\; \eta .$$
# *Proof.* $E_sE_tf(x) = \min_m f(x+m) + (k_t \,\square_{\mathbb Z^2}\, k_s)(m)$, and an infimum over
# grid points is never below the infimum over the plane: that is the left inequality. For the
# right one let $m^*$ win $E_{t+s}f(x)$; since $m = 0$ is a candidate,
# $k_{t+s}(m^*) \le f(x) - f(x+m^*) \le 2$, and
# $E_sE_tf(x) \le f(x+m^*) + k_{t+s}(m^*) + \eta = E_{t+s}f(x) + \eta$. $\blacksquare$
#
# We compute $k_t \,\square_{\mathbb Z^2}\, k_s$ with the library itself: it is the erosion of the
# image "$k_t$" (placed on a canvas of $+\infty$, here $10^6$) by $k_s$.

# %%
def semigroup_gap(alpha, t, s, size=9):
    # eta: the largest excess of the grid inf-convolution over k_{t+s}, where k_{t+s} <= 2
    big = 2 * size - 1                                   # k_t [] k_s lives on this window
    kt, ks = (F.power(size, alpha, t=v, dtype=torch.float64) for v in (t, s))
    kts = F.power(big, alpha, t=t + s, dtype=torch.float64)[0]
    canvas = torch.full((1, 1, big, big), 1e6, dtype=torch.float64)
    c = size // 2
    canvas[0, 0, c:c + size, c:c + size] = kt[0]
    grid_infconv = F.erosion_r2(canvas, ks)[0, 0]
    return (grid_infconv - kts)[kts <= 2].max().item()

def semigroup_error(f, alpha, t, s, size=9):
    # E_s E_t f - E_{t+s} f on a canvas of background (-1) wide enough that no border is reached
    pad = 2 * size
    g = torch.nn.functional.pad(f, (pad,) * 4, value=-1.0)
    kt, ks = (F.power(size, alpha, t=v, dtype=torch.float64) for v in (t, s))
    kts = F.power(2 * size - 1, alpha, t=t + s, dtype=torch.float64)
    two_steps = F.erosion_r2(F.erosion_r2(g, kt), ks)
    one_step = F.erosion_r2(g, kts)
    return (two_steps - one_step)[..., pad:-pad, pad:-pad]


# %% tags=["nbval-ignore-output"]
cases = [(1.0, 1.0, 2.0), (0.65, 1.0, 2.0), (0.65, 2.0, 2.0), (0.75, 1.0, 1.0)]
errors = {case: semigroup_error(digits, *case) for case in cases}
gaps = {case: semigroup_gap(*case) for case in cases}
for (alpha, t, s), err in errors.items():
    print(f"alpha={alpha}, t={t}, s={s}: eta = {gaps[alpha, t, s]:.4f}, "
          f"largest measured error {err.max().item():.4f}, mean {err.mean().item():.2e}")

# %% tags=["nbval-check-output"]
print("0 <= E_s E_t f - E_(t+s) f <= eta in every case:",
      all(bool(err.min() >= -1e-12 and err.max() <= gaps[case] + 1e-12)
          for case, err in errors.items()))

# %% [markdown]
# Every measured error lies between $0$ and $\eta$, as proved. The bound is tight (for
# $\alpha=1$ the measured maximum reaches $\eta = 1/6$), and the mean error is tiny: most
# pixels sit in flat background or on plateaus where the grid restriction costs nothing. With a
# semigroup, one layer with time $t+s$ can replace two layers; in a network it is the metric (not
# $t$) that is learned, so depth buys other things: different metrics per layer, and the channel
# mixing between them.
#
# ## 4. Convection: transport along a vector field
#
# The third PDE of a PDE-G-CNN layer moves the image without changing its values, as a current
# carries a dye: the transport equation $\partial_t W + c \cdot \nabla W = 0$, with a constant
# velocity $c$. Its exact solution after unit time is a shift by $c$: $W(x) = U(x - c)$.
#
# In a PDE-G-CNN the image has first been lifted to an **orientation score**: a stack of $O_r$
# images, one per orientation $\theta = 2\pi o / O_r$ ($o = 0, \dots, O_r - 1$), each lighting up
# the strokes of the image that run along its $\theta$ (notebook 3 builds them). There the
# velocity is *left-invariant*: it is given once, as $g_0 = (x_0, y_0, \theta_0)$, in each
# slice's own frame, so "$x_0$ pixels forward" means to the right on the slice $\theta = 0$ and
# up on the slice $\theta = 90^\circ$. Below, a digit's orientation score (top row) and the same
# score transported by $g_0 = (5, 0, 0)$, five pixels forward (bottom row): every slice moves
# *along its own orientation*.

# %% tags=["nbval-ignore-output"]
score = viz.orientation_score(digits[0, 0], orientations=8)[None, None]    # [1, 1, 8, 28, 28]
moved = F.convection_m2(score, torch.tensor([[5.0, 0.0, 0.0]], dtype=torch.float64))
vmax = score.abs().max().item()
fig, axes = plt.subplots(2, 8, figsize=(10, 3.1), layout="constrained")
for o in range(8):
    for row, m in enumerate((score, moved)):
        shown = axes[row, o].imshow(m[0, 0, o], cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        axes[row, o].set_xticks([]); axes[row, o].set_yticks([])
    axes[0, o].set_title(f"θ = {45 * o}°", fontsize=10)
axes[0, 0].set_ylabel("U", fontsize=10); axes[1, 0].set_ylabel("moved", fontsize=10)
bar = fig.colorbar(shown, ax=axes, shrink=0.85)
bar.set_label("response U(x, θ)", fontsize=10)
plt.show()

# %% [markdown]
# In formulas: on the slice $\theta$ the spatial shift is the vector $(x_0, y_0)$ **rotated by
# the orientation** (by $\theta - \theta_0$, the orientation the slice's content comes from), and
# the orientation axis is shifted cyclically by $\theta_0$:
# $$W(x, \theta) = U\big(x - R_{\theta-\theta_0}(x_0, y_0),\; \theta - \theta_0\big),
#   \qquad g_0 = (x_0, y_0, \theta_0),$$
# where $R_\varphi$ is the rotation by the angle $\varphi$. `F.convection_m2(f, g0)` computes
# this with trilinear interpolation (periodic in $\theta$, zero outside the image). For integer
# shifts and angles that are multiples of $2\pi/O_r$ the interpolation is exact.

# %% tags=["nbval-check-output"]
torch.manual_seed(0)
f = torch.randn(1, 1, 4, 9, 9, dtype=torch.float64)       # [B, C, Or, H, W], Or = 4
g0 = torch.tensor([[2.0, 0.0, 0.0]], dtype=torch.float64)  # 2 pixels along the orientation
out = F.convection_m2(f, g0)
right = torch.zeros(9, 9, dtype=torch.float64); right[:, 2:] = f[0, 0, 0, :, :-2]
up = torch.zeros(9, 9, dtype=torch.float64); up[:-2, :] = f[0, 0, 1, 2:, :]   # y points up
print("orientation 0 (0 deg) moves right by 2:", torch.allclose(out[0, 0, 0], right, atol=1e-12))
print("orientation 1 (90 deg) moves up by 2:  ", torch.allclose(out[0, 0, 1], up, atol=1e-12))
turn = torch.tensor([[0.0, 0.0, 2 * math.pi / 4]], dtype=torch.float64)
print("theta0 = 2 pi / Or rolls the orientations by one:",
      torch.allclose(F.convection_m2(f, turn), torch.roll(f, 1, dims=2), atol=1e-12))


# %% [markdown]
# Transports compose like group elements: transporting by $g_0$ and then by $g_1$ is transporting
# by the group product $g_0 g_1$, where
# $(x_1, y_1, \theta_1)(x_2, y_2, \theta_2) = \big((x_1, y_1) + R_{\theta_1}(x_2, y_2),\; \theta_1 + \theta_2\big)$.
# The order matters: the group is not commutative.

# %% tags=["nbval-check-output"]
def group_product(a, b):
    x1, y1, t1 = a
    x2, y2, t2 = b
    return (x1 + math.cos(t1) * x2 - math.sin(t1) * y2, y1 + math.sin(t1) * x2 + math.cos(t1) * y2,
            t1 + t2)

def as_g0(g):
    return torch.tensor([g], dtype=torch.float64)

ga, gb = (2.0, 0.0, 0.0), (0.0, 0.0, math.pi / 2)
twice = F.convection_m2(F.convection_m2(f, as_g0(ga)), as_g0(gb))
print("convection(g_b) o convection(g_a) == convection(g_a g_b):",
      torch.allclose(twice, F.convection_m2(f, as_g0(group_product(ga, gb))), atol=1e-12))
print("... and != convection(g_b g_a):",
      not torch.allclose(twice, F.convection_m2(f, as_g0(group_product(gb, ga))), atol=1e-3))

# %% [markdown]
# ## 5. Exercises
#
# As in notebook 1: complete the function under each statement, then run its check, which calls
# it on fresh random inputs; `exercises.solution("02.1")` shows one solution.

# %%
from gmgan_lib import exercises

# %% [markdown]
# **Exercise 1.** Write `beta_of(alpha)`, the exponent $\beta$ conjugate to $2\alpha$ (by the
# formula, not by calling the library), and `hopf_lax(r, alpha, t)`, the value of the Hopf-Lax
# kernel $k_t$ at distance $r$. What is $\beta$ for $\alpha = 0.75$? The check compares both with
# the library (`F.beta_of_alpha`, `F.power`) for random $\alpha$ and $t$.

# %%
# Exercise 1: your code here
def beta_of(alpha):
    raise NotImplementedError("your code here")

def hopf_lax(r, alpha, t):
    raise NotImplementedError("your code here")


# %% tags=["nbval-check-output"]
exercises.check("02.1", beta_of, hopf_lax)

# %% [markdown]
# **Exercise 2 (time is a metric scale).** Show that $k_t(x) = k_1(x / \sigma)$ for some
# $\sigma(t, \alpha)$, and write `sigma_of(t, alpha)`. The check builds the metric kernel
# `F.morphological_kernel_r2` with weights $w_x = w_y = 1/\sigma$ at $t = 1$ and compares it with
# `F.power(7, alpha, t=t)` for random $\alpha$ and $t$.
#
# *Hint:* $k_t(x) = \tfrac1\beta |x|^\beta t^{1-\beta}$ and $(\beta - 1)/\beta = 1/(2\alpha)$.

# %%
# Exercise 2: your code here
def sigma_of(t, alpha):
    raise NotImplementedError("your code here")


# %% tags=["nbval-check-output"]
exercises.check("02.2", sigma_of)

# %% [markdown]
# **Exercise 3.** Dilations form a semigroup too. Using `semigroup_error` as a model, write
# `dilation_semigroup_difference(f, alpha, t, s)`, the difference $D_sD_tf - D_{t+s}f$ away from
# the border (dilation is the mirror image of erosion: $D f = -E(-f)$, or use `F.dilation_r2`),
# computed as `semigroup_error` computes its difference: float64 kernels of size 9 for $t$ and
# $s$ and $2 \cdot 9 - 1$ for $t + s$, the image padded by 18 pixels of background $-1$, the
# result cut back to the image's shape. The check also verifies the bound
# $D_sD_tf \le D_{t+s}f$ that the proof above gives for it.

# %%
# Exercise 3: your code here
def dilation_semigroup_difference(f, alpha, t, s):
    raise NotImplementedError("your code here")


# %% tags=["nbval-check-output"]
exercises.check("02.3", dilation_semigroup_difference)

# %% [markdown]
# **Next:** notebook 3 moves from the plane to the roto-translation group, where these kernels
# become rotated stacks and the layers become exactly equivariant to quarter turns.
