# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 1. Max-plus algebra: dilation and erosion as "linear" operators
#
# GM-GAN builds its generator from **morphological** operators, dilations and erosions: they take
# the place of the ReLUs of a classical GAN (notebook 4 shows the whole network). A dilation makes
# the bright parts of an image grow, an erosion makes them shrink. This first notebook shows that
# these are not ad-hoc nonlinearities: they are the *linear* operators of another algebra, the
# max-plus (or min-plus) semiring, in the same way that a convolution is a linear operator of
# ordinary $(+,\times)$ arithmetic.
#
# Outline
# 1. the max-plus and min-plus semirings, and matrix products in them;
# 2. erosion and dilation on $\mathbb{R}^2$ as min-plus / max-plus convolutions;
# 3. flat versus quadratic structuring elements;
# 4. opening and closing, and an explorer to try them on MNIST digits;
# 5. exercises (each with a check cell).
#
# Every notebook starts by reading the one switch of the course, `GMGAN_FAST`: with `GMGAN_FAST=1`
# everything runs on the CPU in minutes.

# %%
# %matplotlib inline
import numpy as np
import torch

import gmgan_lib
from gmgan_lib import viz
from gmgan_lib.data import load_tensors
from gmgan_lib.nn import functional as F

P = gmgan_lib.profile()
print(P)
torch.manual_seed(0);


# %% [markdown]
# ## 1. Two semirings
#
# Ordinary arithmetic has two operations, $+$ and $\times$. Keep their rules (both associative,
# the addition commutative, the multiplication distributing over the addition, a neutral element
# for each) but do without subtraction and division, and other pairs of operations qualify: such a
# pair, an "addition" $\oplus$ and a "multiplication" $\otimes$, is a *semiring*. Two of them
# matter here:
#
# | semiring | $a \oplus b$ | $a \otimes b$ | neutral for $\oplus$ | neutral for $\otimes$ |
# |---|---|---|---|---|
# | max-plus $\mathbb{R}\cup\{-\infty\}$ | $\max(a,b)$ | $a+b$ | $-\infty$ | $0$ |
# | min-plus $\mathbb{R}\cup\{+\infty\}$ | $\min(a,b)$ | $a+b$ | $+\infty$ | $0$ |
#
# They are mirror images: $\min(a,b) = -\max(-a,-b)$, so every min-plus statement has a max-plus twin
# obtained by $f \mapsto -f$.
#
# Replacing $(+,\times)$ by $(\min,+)$ in the matrix product gives the **min-plus product**
# $$(A \otimes B)_{ij} = \min_k \; A_{ik} + B_{kj}.$$
# It is associative, and it distributes over $\oplus=\min$. A classic use: if $A_{ij}$ is the
# length of the edge $i \to j$ of a graph ($+\infty$ if there is none, $0$ on the diagonal), then
# $A^{\otimes n}$ holds the lengths of the shortest paths with at most $n$ edges.

# %%
def minplus(A, B):
    # (A (x) B)[i, j] = min_k A[i, k] + B[k, j]: the matrix product of the min-plus semiring
    return (A[:, :, None] + B[None, :, :]).amin(dim=1)

inf = float("inf")
A = torch.tensor([[0.0, 4.0, 1.0, inf, inf],
                  [inf, 0.0, inf, 1.0, inf],
                  [inf, 2.0, 0.0, 5.0, inf],
                  [inf, inf, inf, 0.0, 3.0],
                  [1.0, inf, inf, inf, 0.0]], dtype=torch.float64)
D = A
for _ in range(3):          # A^(x)4: paths with at most 4 edges, enough for 5 nodes
    D = minplus(D, A)
print(D)

# %% [markdown]
# The result must agree with a well-kept shortest-path routine (SciPy's), and the semiring laws
# must hold.

# %% tags=["nbval-check-output"]
from scipy.sparse.csgraph import shortest_path

reference = shortest_path(np.where(np.isinf(A.numpy()), 0, A.numpy()), directed=True)
B, C = torch.rand(5, 5, dtype=torch.float64), torch.rand(5, 5, dtype=torch.float64)
print("shortest paths agree with scipy:", np.allclose(D.numpy(), reference))
print("associative:", torch.allclose(minplus(minplus(A, B), C), minplus(A, minplus(B, C))))
print("distributes over min:", torch.equal(minplus(A, torch.minimum(B, C)),
                                           torch.minimum(minplus(A, B), minplus(A, C))))

# %% [markdown]
# ## 2. Erosion and dilation: min-plus and max-plus convolutions
#
# The idea first. Slide a small window over an image. At each pixel, the **erosion** writes the
# smallest value it sees through the window, the **dilation** the largest. On a white digit on a
# black background, strokes thinner than the window vanish under erosion and thicken under
# dilation. Here the window is a flat disk of size 3: the pixels at distance at most 1 from the
# centre, which on the 3x3 pixel grid is a plus (a pixel and its four neighbours). It slides over
# MNIST test digits, scaled to $[-1, 1]$ ($-1$ black, $1$ white); the opening and closing panels
# are section 4's, the last panel is the window itself.

# %%
images, labels = load_tensors("mnist", "test")
digits = images[:16]                        # [16, 1, 28, 28], float32 in [-1, 1]
print(digits.shape, labels[:16].tolist())
viz.plot_grid(digits, nrow=8, title="MNIST test digits")

# %% tags=["nbval-ignore-output"]
viz.erosion_dilation_panel(digits[0], kernel="disk", size=3)

# %% [markdown]
# A window is the simplest **structuring function** $k$: it says what a neighbour at offset $m$
# (a vector of pixels) must pay to be seen, $k(m) = 0$ inside the window and $k(m) = +\infty$
# outside (a neighbour at infinite price never wins a minimum). In general $k$ takes any values in
# $\mathbb{R}\cup\{+\infty\}$, and the erosion and dilation of an image $f$ at a point $x$ are
# $$\varepsilon f(x) = (k \,\square\, f)(x) = \inf_{y}\; f(y) + k(x-y), \qquad
#   \delta f(x) = (k \,\boxplus\, f)(x) = \sup_{y}\; f(y) - k(x-y) = -\big(k \,\square\, (-f)\big)(x),$$
# over all points $y$ of the plane (on pixels, $\inf$ and $\sup$ are a minimum and a maximum).
# Read $k \,\square\, f$ as "the min-plus convolution of $f$ with $k$" and $k \,\boxplus\, f$ as
# "the max-plus convolution". (The boxed plus $\boxplus$ is this course's sign for the dilation;
# the circled $\oplus$ keeps its one meaning, the semiring's addition.) Compare with an ordinary
# convolution $\sum_y f(y)\,k(x-y)$: in the erosion the sum became an infimum (the min-plus
# semiring's $\oplus = \min$), the product a sum (its $\otimes = +$). On the pixel
# grid `gmgan_lib` uses the correlation form
# `out[b,c,y,x] = min_{i,j} f[b,c,y+i-ph,x+j-pw] + kernel[c,i,j]` (`F.erosion_r2`; `ph, pw` are
# half the kernel's height and width), with samples outside the image never winning.
#
# An erosion is a min-plus *matrix-vector product*: with the Toeplitz matrix
# $K_{xy} = k(y-x)$ (the kernel's values laid along the diagonals; this is the grid's correlation
# form, and for a symmetric kernel such as the one below $k(y-x) = k(x-y)$) we have
# $\text{erosion}(f) = K \otimes f$. Let us check that on a 1-D signal (an image of height 1).

# %% tags=["nbval-check-output"]
n = 12
signal = torch.randn(1, 1, 1, n, dtype=torch.float64)        # [B, C, H, W] with H = 1
kernel = torch.tensor([[[2.0, 0.5, 0.0, 0.5, 2.0]]], dtype=torch.float64)   # [C, kH, kW]
offsets = torch.arange(n)[None, :] - torch.arange(n)[:, None]   # y - x
K = torch.full((n, n), inf, dtype=torch.float64)
inside = offsets.abs() <= 2
K[inside] = kernel[0, 0][(offsets + 2)[inside]]
as_matrix = minplus(K, signal[0, 0, 0][:, None])[:, 0]
print("erosion == min-plus matrix-vector product:",
      torch.allclose(F.erosion_r2(signal, kernel)[0, 0, 0], as_matrix))

# %% [markdown]
# Being linear in the min-plus sense means that erosion $E$ commutes with $\min$ and with adding
# constants $a, b$ to whole images:
# $$E\big(\min(f_1 + a,\, f_2 + b)\big) = \min\big(E f_1 + a,\; E f_2 + b\big).$$
#
# Where does the ReLU fit in? $\mathrm{relu}(x) = \max(x, 0) = x \oplus 0$ is itself a max-plus
# expression, but a *pointwise* one: each pixel is compared with a constant, on its own. What
# morphology adds is the max (or min) over a **neighbourhood**, each neighbour shifted by a
# structuring function that a network can learn, as it learns the weights of a convolution: a
# dilation is a nonlinear *convolution*, where a ReLU is a nonlinear function of one number. Max
# pooling with stride 1 is the special case of a flat window that nobody learns.
#
# The linearity, checked on real digits:

# %% tags=["nbval-check-output"]
k = F.quadratic(5)                          # |x|^2 / 2, a [1, 5, 5] kernel (section 3)
f1, f2 = digits[:8], digits[8:]
lhs = F.erosion_r2(torch.minimum(f1 + 0.25, f2 - 0.5), k)
rhs = torch.minimum(F.erosion_r2(f1, k) + 0.25, F.erosion_r2(f2, k) - 0.5)
print("min-plus linear:", torch.allclose(lhs, rhs, atol=1e-6))
print("dilation == -erosion(-f):", torch.equal(F.dilation_r2(digits, k), -F.erosion_r2(-digits, k)))

# %% [markdown]
# ## 3. Flat and quadratic structuring elements
#
# A **flat** kernel is $0$ on a set $B$ and $+\infty$ outside: the erosion is then the minimum of
# $f$ over the window $B$ (a min filter) and the dilation the maximum (max pooling with stride 1),
# as in the picture of section 2. A **quadratic** kernel $k(x) = |x|^2/(2t)$, with a width $t > 0$,
# is "soft": far neighbours may still win, but they pay a price that grows with their distance.
#
# Between the two lies a family of **power** kernels, the ones GM-GAN uses,
# $$k(x) = \frac{t}{\beta}\Big(\frac{|x|}{t}\Big)^{\beta}, \qquad \beta = \frac{2\alpha}{2\alpha-1},
#   \qquad \alpha \in (\tfrac12, 1].$$
# For $\alpha = 1$, $\beta = 2$: the quadratic kernel. As $\alpha$ decreases towards $\tfrac12$,
# $\beta$ grows without bound, the kernel tends to $0$ inside the disk $|x| < t$ and to $+\infty$
# outside: the flat disk of radius $t$. Notebook 2 shows where this family comes from (each member
# solves a PDE, and $t$ is its time); the explorer of section 4 offers it as `power`, with
# sliders for $\alpha$ and $t$.
#
# All these kernels have $k(0)=0$ and $k\ge 0$, hence **erosion $\le f \le$ dilation**.

# %% tags=["nbval-check-output"]
square, disk, quad = F.flat_square(3), F.flat_disk(2), F.quadratic(5)
print("flat kernels:", square.shape, disk.shape, "disk:\n", disk[0])
min_filter = -torch.nn.functional.max_pool2d(-digits, 3, stride=1, padding=1)
print("flat 3x3 erosion == min filter:", torch.equal(F.erosion_r2(digits, square), min_filter))
for name, k in [("square", square), ("disk", disk), ("quadratic", quad)]:
    e, d = F.erosion_r2(digits, k), F.dilation_r2(digits, k)
    print(f"{name:9s} erosion <= f <= dilation:", bool((e <= digits).all() and (digits <= d).all()))

# %% tags=["nbval-ignore-output"]
viz.erosion_dilation_panel(digits[0], kernel="quadratic", size=5, t=2.0)


# %% [markdown]
# Compare with the flat disk of section 2, which takes the minimum (maximum) over the pixel and
# its four neighbours: thin strokes vanish under its erosion and thicken under its dilation. The
# quadratic kernel with $t = 2$ is soft: a neighbour one pixel away costs $1/4$, two pixels away
# $1$ (half the dynamic range of the image), so strokes shrink and grow gradually, through grey
# levels.
#
# ## 4. Opening and closing
#
# An **opening** is an erosion followed by a dilation, $\gamma = \delta \circ \varepsilon$: the
# erosion removes the bright details too small to hold the structuring element, and the dilation
# grows what survived back to its old size, so thin bright parts are gone for good and the rest
# is kept. A **closing** $\varphi = \varepsilon \circ \delta$ does the same to dark gaps: it fills
# them. Both come from one relation between erosion and dilation by the same symmetric kernel
# ($k(-x) = k(x)$): dilating an image $g$ stays below $f$ exactly when $g$ stays below the
# erosion of $f$,
# $$\delta g \le f \iff g \le \varepsilon f$$
# (an *adjunction*). From it follow, for every image $f$,
# $$\gamma f \le f \le \varphi f, \qquad \gamma\gamma f = \gamma f, \qquad \varphi\varphi f = \varphi f:$$
# an opening never brightens a pixel, a closing never darkens one, and doing either twice changes
# nothing more.

# %% tags=["nbval-check-output"]
def opening(f, k):
    return F.dilation_r2(F.erosion_r2(f, k), k)

def closing(f, k):
    return F.erosion_r2(F.dilation_r2(f, k), k)

for name, k in [("disk", disk), ("quadratic", quad)]:
    o, c = opening(digits, k), closing(digits, k)
    print(f"{name:9s} opening <= f <= closing:", bool((o <= digits).all() and (digits <= c).all()),
          "| opening twice = once:", torch.allclose(opening(o, k), o, atol=1e-6),
          "| closing twice = once:", torch.allclose(closing(c, k), c, atol=1e-6))

# %% [markdown]
# ### The digit explorer
#
# Pick an image (`image`: its position among the 16 test digits above, from 0; the figure's title
# names its digit), a structuring element (`kernel`: flat `square` or `disk`, `quadratic`, or
# `power`, section 3), its `size` in pixels, and an operation (`op`). The sixth panel shows what
# the operation changed, $\mathrm{op}(f) - f$ (red: brighter, blue: darker), and the last one the
# structuring element itself. `alpha` ($\alpha$) and `t` are greyed out when the element ignores
# them: a flat square or disk reads neither, the quadratic reads only `t`. The widget needs a
# running kernel; on a static page it shows nothing, and the figures above show the same panels.

# %% tags=["nbval-ignore-output"]
viz.make_morphology_widget(digits, labels[:16])

# %% [markdown]
# ## 5. Exercises
#
# Each exercise asks for a function. Complete the cell under the statement (replace the
# `raise NotImplementedError`), then run the check cell below it: it calls your function on
# inputs drawn afresh each time (random sizes and values), so only a general answer passes, and
# it says `correct`, or `not yet` with a hint about what to look at. `exercises.solution("01.1")`
# shows one solution, if you want to compare (try first).

# %%
from gmgan_lib import exercises

# %% [markdown]
# **Exercise 1.** Eroding by a flat $a \times a$ square and then by a flat $b \times b$ square is
# eroding once by a flat square: which one? Write `equivalent_size(a, b)` (odd $a$, $b$), the side
# of that square (an `int`). *Hint:* erosion by $B_1$ then $B_2$ is erosion by their Minkowski sum
# $B_1 + B_2 = \{\,b_1 + b_2 : b_1 \in B_1,\ b_2 \in B_2\,\}$, every sum of one offset of each.

# %%
# Exercise 1: your code here
def equivalent_size(a, b):
    raise NotImplementedError("your code here")


# %% tags=["nbval-check-output"]
exercises.check("01.1", equivalent_size)

# %% [markdown]
# **Exercise 2.** Erosion is *translation-equivariant*. Write `shift(f)` that moves an image
# `[B, 1, H, W]` 3 pixels to the right, filling with the background $-1$. The check verifies your
# shift and that eroding then shifting equals shifting then eroding away from the borders (the
# shift empties 3 columns on the left, and the kernel reaches 2 pixels).

# %%
# Exercise 2: your code here
def shift(f):
    raise NotImplementedError("your code here")


# %% tags=["nbval-check-output"]
exercises.check("01.2", shift)

# %% [markdown]
# **Exercise 3.** In the max-plus semiring, what is the "identity matrix" $I$ with $I \otimes x = x$
# for every vector $x$? Write `maxplus_identity(n)`, returning it as an `n x n` float64 tensor
# (infinite entries are allowed: `float("inf")` and `-float("inf")` are floats); the check
# multiplies it, in the max-plus sense, with random vectors.

# %%
# Exercise 3: your code here
def maxplus_identity(n):
    raise NotImplementedError("your code here")


# %% tags=["nbval-check-output"]
exercises.check("01.3", maxplus_identity)

# %% [markdown]
# **Next:** notebook 2 shows where the quadratic kernel comes from: it is the exact (viscosity)
# solution of a Hamilton-Jacobi PDE, and the time $t$ of that PDE adds up,
# $E_t E_s = E_{t+s}$.
