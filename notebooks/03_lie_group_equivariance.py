# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 3. Lie-group equivariance: roto-translations, orientation scores, rotated kernels
#
# A convolution commutes with translations: shift the image and the feature map shifts with it
# (it is *equivariant* to translations). It does not commute with rotations unless its filters are
# constrained: turn a digit, and a filter that detects horizontal strokes now sees vertical ones.
# PDE-G-CNNs (and GM-GAN) get rotation equivariance *by construction*: they lift the image to a
# function of position and orientation, on the **roto-translation group**, and solve PDEs there
# whose coefficients are the same in every orientation's own frame (*left-invariant*).
#
# Outline
# 1. the group $SE(2)$ and the space of positions and orientations $M_2 = \mathbb{R}^2 \times S^1$;
# 2. lifting an image to an orientation score (with a viewer widget);
# 3. left-invariant metrics and the four distance approximations, the structuring-element explorer;
# 4. rotated kernel stacks;
# 5. equivariance measured, for layers and for a whole all-PDE GM-GAN discriminator: exact for
#    quarter turns, approximate at 45 degrees, where the pixel grid must be resampled; and why the
#    DCGAN's discriminator is not invariant (its free filters and weights, not its ReLUs, which
#    commute with every rotation);
# 6. exercises.

# %%
# %matplotlib inline
import math

import numpy as np
import torch

import gmgan_lib
from gmgan_lib import nn as gnn, viz
from gmgan_lib.data import load_tensors
from gmgan_lib.models import build
from gmgan_lib.nn import functional as F

P = gmgan_lib.profile()
print(P)
torch.manual_seed(0)
images, labels = load_tensors("mnist", "test")
digits = images[:8]


# %% [markdown]
# ## 1. The roto-translation group
#
# A **roto-translation** is a rigid motion of the plane: turn it by an angle $\theta$ about the
# origin, then shift it by $(x, y)$. The same three numbers describe a *pose*, a position with an
# orientation, like a small arrow drawn at $(x, y)$ pointing along $\theta$: the pose that the
# motion gives to the reference arrow at the origin pointing right. The roto-translations form the
# group $SE(2)$; an element $g = (x, y, \theta)$ rotates by $\theta$ and then translates by
# $(x, y)$, and doing $g_2$ first, then $g_1$, is the motion $g_1 g_2$ (composition and
# inverse, with $R_\theta$ the rotation by $\theta$):
# $$(x_1,y_1,\theta_1)\,(x_2,y_2,\theta_2) = \big((x_1,y_1) + R_{\theta_1}(x_2,y_2),\;\theta_1+\theta_2\big),
# \qquad (x,y,\theta)^{-1} = \big(-R_{-\theta}(x,y),\,-\theta\big).$$
# The motion that moves nothing, $e = (0, 0, 0)$, is the group's **identity**: $g\,e = e\,g = g$
# for every $g$, and the inverse $g^{-1}$ undoes $g$, $g\,g^{-1} = g^{-1}g = e$.
# The group acts on the poses, $M_2 = \mathbb{R}^2\times S^1$ (a position and an orientation,
# $S^1$ being the circle of angles): every pose is reached from the reference pose by exactly one
# motion, so $M_2$ can be identified with the group itself. At a point $(x, y, \theta)$ the
# **left-invariant frame** is
# $$\mathcal A_1 = \cos\theta\,\partial_x + \sin\theta\,\partial_y \;\text{(main)},\quad
#   \mathcal A_2 = -\sin\theta\,\partial_x + \cos\theta\,\partial_y \;\text{(lateral)},\quad
#   \mathcal A_3 = \partial_\theta \;\text{(angular)}:$$
# "forward", "sideways" and "turn", measured relative to the orientation at that point.
#
# Convention of `gmgan_lib`: $x$ points right, $y$ points **up** (against the row index), and
# orientation $o$ of $O_r$ is the angle $2\pi o/O_r$, counter-clockwise on screen. An M2 feature map
# has layout `[B, C, Or, H, W]`.

# %% tags=["nbval-check-output"]
def mul(a, b):
    x1, y1, t1 = a
    x2, y2, t2 = b
    return (x1 + math.cos(t1) * x2 - math.sin(t1) * y2, y1 + math.sin(t1) * x2 + math.cos(t1) * y2,
            t1 + t2)

def inv(g):
    x, y, t = g
    return (-math.cos(t) * x - math.sin(t) * y, math.sin(t) * x - math.cos(t) * y, -t)

rng = np.random.default_rng(0)
g, h, k = (tuple(rng.normal(size=3)) for _ in range(3))
print("associative:", np.allclose(mul(mul(g, h), k), mul(g, mul(h, k))))
print("g g^-1 = e:", np.allclose(mul(g, inv(g)), (0, 0, 0)), "| g^-1 g = e:", np.allclose(mul(inv(g), g), (0, 0, 0)))
print("not commutative:", not np.allclose(mul(g, h), mul(h, g)))

# %% [markdown]
# ## 2. Lifting: from an image to an orientation score
#
# The idea: look at the image through one small stroke detector, turned to each of $O_r$
# orientations in turn, and keep every answer. The result, an **orientation score**, is a stack of
# images, one per orientation $\theta$: the slice $\theta$ lights up where the image has a stroke
# running along $\theta$. Below, a digit seen through a fixed line detector (`viz.line_filter`, a
# zero-mean second derivative of an elongated Gaussian): the horizontal bar of the 7 answers at
# $0^\circ$ and $180^\circ$ (a line has no direction, so $\theta$ and $\theta + 180^\circ$ look
# alike), its slanted stroke near $60^\circ$, between the slices of $45^\circ$ and $90^\circ$. Red is a
# strong response, blue a negative one (the detector's flanks); the left column shows which
# orientation wins at each pixel.

# %% tags=["nbval-ignore-output"]
viz.orientation_score_panel(digits[0], orientations=8)

# %% [markdown]
# In formulas, a **lift** turns an image $f$ on $\mathbb{R}^2$ into a function on $M_2$ by
# correlating it ($\star$, a convolution without the flip of the filter) with rotated copies of
# one filter $\psi$:
# $$U_f(x, \theta) = \big(\psi_\theta \star f\big)(x), \qquad \psi_\theta(y) = \psi(R_{-\theta}\,y).$$
# In GM-GAN the filters are learned (`gnn.LiftM2`); the fixed line detector only makes the result
# easy to read. Rotating the image rotates each slice *and* moves it to another orientation: that
# is the action of the group on $M_2$.


# %% [markdown]
# A convention probe: bars at $0^\circ, 45^\circ, 90^\circ, 135^\circ$ (counter-clockwise) must
# win at orientations $0, 1, 2, 3$ of $O_r = 8$. (A line detector cannot tell $\theta$ from
# $\theta+\pi$, so orientation $o$ and $o+4$ tie; `argmax` picks the first.)

# %% tags=["nbval-check-output"]
def bar(angle_deg, size=29, half_length=9):
    r = np.arange(size) - size // 2
    y, x = np.meshgrid(-r, r, indexing="ij")          # y up
    a = math.radians(angle_deg)
    along, across = x * math.cos(a) + y * math.sin(a), -x * math.sin(a) + y * math.cos(a)
    return torch.tensor(np.where((abs(across) <= 0.5) & (abs(along) <= half_length), 1.0, -1.0))

print([int(viz.orientation_score(bar(a), 8)[:, 14, 14].argmax()) for a in (0, 45, 90, 135)])

# %% [markdown]
# ### The orientation-score viewer
# Pick an image (`image`: its position among the 8 test digits of this notebook, from 0; the
# title above it names its digit), the number of orientations (`Or`, $O_r$) and the `length` and
# `width` of the line filter (the standard deviations of its Gaussian along and across the line,
# in pixels).

# %% tags=["nbval-ignore-output"]
viz.make_orientation_score_widget(digits, labels[:8])

# %% [markdown]
# ## 3. Left-invariant metrics and four distance approximations
#
# The structuring elements of notebook 2 measured distances in the plane. On $M_2$ a distance must
# say how far apart two *poses* are, and the natural way is a car's: a **metric** gives the cost
# of each kind of motion, measured relative to where the car points. Driving forward (main),
# sliding sideways (lateral) and turning (angular) get the weights $w_1, w_2, w_3$; a path
# $\gamma$ of poses whose velocity $\dot\gamma$ has these three components in the frame of
# section 1 costs, per unit of time,
# $$\|\dot\gamma\| = \sqrt{w_1^2\,(\text{main})^2 + w_2^2\,(\text{lateral})^2 + w_3^2\,(\text{angular})^2}.$$
# Because the weights apply in each pose's own frame, the metric is *left-invariant*: turning and
# shifting a whole path does not change its cost. The **distance** $\rho(g)$ from the reference
# pose (the identity $e$) to a pose $g$ is the cost of the cheapest path between them. With
# $w_2 > w_1$ moving sideways is expensive: the distance ball is elongated along the orientation,
# and curved, because turning while moving forward is cheaper than sliding sideways. The
# morphological kernel on $M_2$ is the Hopf-Lax kernel of notebook 2 with $|x|$ replaced by this
# distance: $k(g) = \frac1\beta\rho(g)^\beta$ (at $t=1$).
#
# The exact distance has no closed form, so the library offers four estimates (`distance=`).
# They use the *half-angle coordinates* of $g = (x, y, \theta)$, its offset turned back by half
# its angle,
# $b_1 = x\cos\frac\theta2 + y\sin\frac\theta2$, $b_2 = -x\sin\frac\theta2 + y\cos\frac\theta2$,
# $b_3 = \theta$, and the *exponential coordinates* $c_{1,2} = b_{1,2}/\mathrm{sinc}\frac\theta2$,
# $c_3 = \theta$, with $\mathrm{sinc}\,u = \sin u / u$: $c = \log g$ is the velocity, constant in
# the moving frame, that reaches $g$ in unit time.
#
# | name | formula | what it is |
# |---|---|---|
# | `"logarithmic"` | $\rho_c = \sqrt{w_1^2c_1^2 + w_2^2c_2^2 + w_3^2c_3^2}$ | the cost of that constant-velocity path, $\lVert\log g\rVert$; lietorch's choice |
# | `"half_angle"` | $\rho_b = \sqrt{w_1^2b_1^2 + w_2^2b_2^2 + w_3^2b_3^2}$ | the same without the $\mathrm{sinc}$ factor |
# | `"sub_riemannian"` | $\rho_{sr} = \big((w_1^2b_1^2 + w_3^2b_3^2)^2 + \nu\, w_1^2w_3^2 b_2^2\big)^{1/4}$ | for sideways motion far dearer than the rest: a car reaches a spot a small distance $y$ to its side by manoeuvring (forward, turn, back), at a cost that grows like $\sqrt{y}$, not like $y$ |
# | `"combined"` | $\max\big(l,\ \min(\rho_{sr}, \rho_b)\big)$ | the smaller of the two estimates, never below the lower bound $l$ |
#
# Here $\nu$ is a constant (`F.SUB_RIEMANNIAN_NU`), and
# $l = \sqrt{\min(w_1, w_2)^2\,(x^2 + y^2) + w_3^2\,\theta^2}$ is a lower bound of the exact
# distance: no path moves its position at less than $\min(w_1, w_2)$ per pixel, nor turns at less
# than $w_3$ per radian. The last three estimates follow Bellaard et al. (2023); the value
# $\nu = 44$ has not been checked against that paper, and the first power in which $\nu$ enters
# $\rho_{sr}$ is this library's choice ([docs/method.md](../docs/method.md), section 1.5, gives
# the reasons). All four
# vanish at the identity and are symmetric, $\rho(g^{-1}) = \rho(g)$, as a distance from the
# identity must be.

# %% tags=["nbval-check-output"]
metric = torch.tensor([[1.0, 3.0, 0.8]], dtype=torch.float64)       # (main, lateral, angular)
pts = torch.tensor(np.random.default_rng(1).uniform(-3, 3, size=(3, 200)))
x, y, th = pts[0], pts[1], pts[2].remainder(2 * math.pi) - math.pi     # theta in [-pi, pi)
# the inverse element, (x, y, theta)^-1 = (-R_{-theta}(x, y), -theta)
xi, yi = -(torch.cos(th) * x + torch.sin(th) * y), -(-torch.sin(th) * x + torch.cos(th) * y)
zero = torch.zeros(1, dtype=torch.float64)
for d in F.DISTANCES:
    rho, rho_inv = F.distance_m2(metric, x, y, th, d), F.distance_m2(metric, xi, yi, -th, d)
    print(f"{d:15s} rho(e) = 0: {F.distance_m2(metric, zero, zero, zero, d).item() == 0.0}"
          f" | symmetric: {torch.allclose(rho, rho_inv)} | positive: {bool((rho > 0).all())}")

# %% [markdown]
# ### The structuring-element explorer
# Move $\alpha$, $t$, the three metric weights (`main`, `lateral`, `angular`: $w_1, w_2, w_3$),
# the distance estimate and the orientation $\theta$ (in degrees): the left panel is the kernel on
# $\mathbb{R}^2$ (weights $(w_x, w_y) = (\text{main}, \text{lateral})$), the others are the slices
# of the $M_2$ kernel of the chosen output orientation, one per angular offset $\Delta\theta$.
# Dark is cheap: the dark region of each slice is where a neighbour at that offset can win. Values
# above 2 are clipped: for images in $[-1, 1]$ they can never win.
#
# First two pictures with the explorer's starting values ($\alpha = 0.65$, $t = 1$, weights
# $(0.4, 1.0, 0.6)$, orientation $45^\circ$): the logarithmic estimate, then the sub-Riemannian
# one.

# %% tags=["nbval-ignore-output"]
viz.plot_structuring_element(alpha=0.65, metric=(0.4, 1.0, 0.6), distance="logarithmic", orientation=1)

# %% tags=["nbval-ignore-output"]
viz.plot_structuring_element(alpha=0.65, metric=(0.4, 1.0, 0.6), distance="sub_riemannian", orientation=1)

# %% [markdown]
# The left panels are the same (the distance estimate concerns $M_2$ only), and on $M_2$ the two
# estimates agree on the shape: a footprint along the orientation that turns with $\Delta\theta$.
# They differ in what a neighbour pays. The sub-Riemannian estimate charges less far from the
# centre, so its region below 2 is larger in every slice (more neighbours can win, sideways and at
# $\Delta\theta = \pm 90^\circ$ too), and more close to it, so its darkest core is smaller at
# $\Delta\theta = \pm 45^\circ$: that is the $\sqrt{y}$ cost of manoeuvring sideways, in the
# table above. Now try them yourself:

# %% tags=["nbval-ignore-output"]
viz.make_structuring_element_widget()

# %% [markdown]
# ## 4. Rotated kernel stacks
#
# An erosion on $M_2$ uses, for output orientation $\theta_o$, the kernel seen from the frame of
# $\theta_o$: the spatial offsets are rotated by $-\theta_o$ before the distance is evaluated. The
# result is a stack `[C, Or, kOr, kH, kW]`, one kernel per output orientation, computed
# analytically (no interpolation). The library computes $\cos$ and $\sin$ of quarter turns exactly,
# so the kernel of orientation $o + O_r/4$ is *bit for bit* the quarter-turned kernel of $o$.

# %% tags=["nbval-check-output"]
stack = F.morphological_kernel_m2(metric.float(), (5, 5, 5), orientations=8, alpha=0.65)
print("kernel stack:", tuple(stack.shape), "(C, Or, kOr, kH, kW)")
print("orientation 2 == rot90(orientation 0):", torch.equal(stack[:, 2], torch.rot90(stack[:, 0], 1, dims=(-2, -1))))
print("orientation 1 == rot90(orientation 0)?", torch.equal(stack[:, 1], torch.rot90(stack[:, 0], 1, dims=(-2, -1))),
      "(45 degrees is not a quarter turn)")

# %% [markdown]
# ## 5. Equivariance, measured
#
# A layer is equivariant when rotating its input rotates its output the same way, and no more:
# for a layer $L$ from $M_2$ to $M_2$, $L(\mathcal R f) = \mathcal R L(f)$, where $\mathcal R$
# rotates every slice *and* rolls the orientation axis (section 2). On the pixel grid only quarter
# turns map pixels to pixels, so only they can be exact: `gnn.rot90_m2` is
# `roll(rot90(y), Or/4, dims=orientation)`. Every module of `gmgan_lib.nn` has
# `check_equivariance(x)` returning $\max|L(\mathcal Rx) - \mathcal R L(x)|$. The layers below are
# the lift (`LiftM2`, section 2, with learned filters), the three PDE layers of notebook 2
# (`ConvectionM2`, `DilationM2`, `ErosionM2`), `CDELayerM2` (convection, dilation and erosion in
# a row, the PDE-G-CNN layer) and `MaxProjectM2` (the maximum over the orientations, back to
# $\mathbb{R}^2$).

# %% tags=["nbval-ignore-output"]
torch.manual_seed(0)
layers = {
    "LiftM2": gnn.LiftM2(1, 4, orientations=8, kernel_size=5),
    "ConvectionM2": gnn.ConvectionM2(4),
    "DilationM2": gnn.DilationM2(4),
    "ErosionM2": gnn.ErosionM2(4),
    "CDELayerM2": gnn.CDELayerM2(4, 4),
    "MaxProjectM2": gnn.MaxProjectM2(),
}
with torch.no_grad():                       # a non-trivial transport, not the identity init
    layers["ConvectionM2"].g0.copy_(torch.tensor([[1.5, -0.5, 0.3]]).repeat(4, 1))
    layers["CDELayerM2"].convection.g0.copy_(torch.tensor([[1.0, 0.7, -0.4]]).repeat(4, 1))
m2_input = layers["LiftM2"](digits[:4]).detach()          # a real orientation score [4, 4, 8, 28, 28]
inputs = {name: (digits[:4] if name == "LiftM2" else m2_input) for name in layers}
errors_90 = {name: layer.check_equivariance(inputs[name]) for name, layer in layers.items()}
for name, err in errors_90.items():
    print(f"{name:13s} quarter-turn error {err:.1e}")
print("(float32 round-off is about 1e-7: every layer commutes with quarter turns)")

# %% tags=["nbval-check-output"]
print("every layer's quarter-turn error < 1e-5:", all(err < 1e-5 for err in errors_90.values()))

# %% [markdown]
# At $45^\circ$ the grid must be resampled (bilinear interpolation between pixels), so the error is
# not zero. It is measured as a relative $L^2$ error,
# $\|L(\mathcal Rx) - \mathcal R L(x)\| / \|\mathcal R L(x)\|$ over a central disk (the corners are
# cut off by the rotation), on smooth input (a blurred digit). The chart keeps the two on their
# own axes: quarter turns on a log scale against $10^{-5}$, 45-degree turns on a linear scale
# against 0.25, a bound that every layer meets *with smooth filters and smooth inputs* (there
# resampling alone costs about 0.05, and a 2-pixel shift, which is not equivariant, measures
# 0.42). Here the lifting layer keeps its random, unsmoothed 5x5 initial filters: its
# 45-degree error is well above the line, and the CDE layer, fed with its output, inherits part of
# it. Pixel-level detail does not survive a resampled rotation; that is why the 45-degree error is
# a measurement that depends on the input, not a property of the layer alone.

# %% tags=["nbval-ignore-output"]
blur = torch.nn.functional.avg_pool2d(digits[:4], 3, stride=1, padding=1)
smooth_m2 = layers["LiftM2"](blur).detach()
errors_45 = {}
for name, layer in layers.items():
    errors_45[name] = gnn.rotation_error_45(layer, blur if name == "LiftM2" else smooth_m2)
    print(f"{name:13s} 45-degree error (relative) {errors_45[name]:.3f}")
viz.equivariance_charts(errors_90, errors_45, tolerance_90=1e-5, tolerance_45=0.25)

# %% [markdown]
# ### A whole discriminator
#
# The discriminator measured here is **not** GM-GAN's default one. The default `gmgan`
# discriminator (notebook 4) is built from p4 group convolutions with leaky ReLUs, and its last
# Linear layer sees orientation, on purpose. Here we build the *all-PDE* variant,
# `build("gmgan", preset="pde", d_head="invariant")`, because it is made of nothing but the
# layers measured above: a lift, three CDE layers with pooling between them, a max-projection
# over the orientations, then a global mean and a Linear layer that reads only the channels. So
# it shows what a network made entirely of PDE layers inherits from them. Every piece commutes
# with quarter turns (the $2\times2$ pooling too: on an even-sized grid a quarter turn maps
# $2\times2$ blocks onto $2\times2$ blocks), so its output is **invariant**,
# $D(\mathrm{rot}\,x) = D(x)$, whatever its weights. An invariant discriminator is the right one
# for rotation-invariant data such as rotated MNIST. On upright MNIST it is a handicap, since it
# cannot tell a 7 from a 7 lying on its side: that is why the default `gmgan` keeps equivariant
# features and lets its last Linear layer see orientation (notebook 4 shows what an invariant head
# did to the samples).
#
# The DCGAN's discriminator (convolutions, leaky ReLUs, a last Linear layer) is not invariant, and
# its ReLUs are not the reason: a ReLU acts on each pixel alone, so it commutes with every
# rotation (the last check below). Nor, here, are its strides: a quarter turn maps the sampling
# grid of its stride-2 layers on $28 \times 28$ images onto itself. The reason is its free
# weights: its filters are not rotated copies of one another, and its Linear layer weighs each
# position of the last feature map separately, so nothing ties its answer for a turned digit to
# its answer for the original. We compare the change of the output under a quarter turn with the
# spread of the outputs over different digits.

# %%
torch.manual_seed(0)
batch = images[:64]
def invariance(D, rotate):
    D.eval()
    with torch.no_grad():
        out, out_rot = D(batch), D(rotate(batch))
    return ((out_rot - out).abs().max() / (out.max() - out.min())).item()

quarter = lambda x: gnn.rot90_r2(x)
eighth = lambda x: gnn.rotate_r2(x, math.pi / 4)
d_gm = build("gmgan", preset="pde", d_head="invariant").discriminator   # all-PDE, Or = 8
d_cnn = build("gan").discriminator
invariance_table = {name: (invariance(D, quarter), invariance(D, eighth))
                    for name, D in [("all-PDE GM-GAN D", d_gm), ("DCGAN D", d_cnn)]}

# %% tags=["nbval-ignore-output"]
for name, (q, e) in invariance_table.items():
    print(f"{name}: relative change of D under 90 deg = {q:.2e}, under 45 deg = {e:.3f}")
print("(the all-PDE GM-GAN D does not move under a quarter turn; the DCGAN's moves by a visible fraction)")

# %% tags=["nbval-check-output"]
print("all-PDE GM-GAN discriminator invariant to quarter turns (relative change < 1e-5):",
      invariance_table["all-PDE GM-GAN D"][0] < 1e-5)
print("DCGAN discriminator changes by more than 1% of its spread:", invariance_table["DCGAN D"][0] > 1e-2)
print("ReLU commutes with rotations:", torch.equal(torch.relu(gnn.rot90_r2(batch)), gnn.rot90_r2(torch.relu(batch))))

# %% [markdown]
# Read the 45-degree column with care. With $O_r = 8$ a $45^\circ$ rotation is a symmetry of the
# *continuous* model, but on the grid every layer resamples: a random $5\times5$ lifting filter
# rotated by $45^\circ$ with bilinear interpolation is a rather different filter, which is why the
# lift has by far the largest $45^\circ$ error above, and the error then propagates through the
# network. Exact invariance is guaranteed for quarter turns only; at $45^\circ$ the GM-GAN
# discriminator is approximately equivariant at best, and an untrained one not even that.
#
# Both networks here are untrained (random initialisation); invariance of the GM-GAN discriminator
# holds for *every* value of its parameters, which is the point of building it from equivariant
# layers. A trained DCGAN can learn approximate invariance from rotated data, at the price of
# capacity and data.
#
# ## 6. Exercises
#
# As in notebook 1: complete the function under each statement, then run its check, which calls
# it on fresh random inputs; `exercises.solution("03.1")` shows one solution.

# %%
from gmgan_lib import exercises

# %% [markdown]
# **Exercise 1.** Rotating the image by $k$ quarter turns rotates its orientation score and moves
# it along the orientation axis: `lift(rot90(x, k)) == roll(rot90(lift(x), k), s, dims=2)`. Write
# `orientation_roll(orientations, k)`, the roll $s$ (an `int`) for $O_r$ orientations (try the
# lift above with a few values of $s$ if you are unsure). The check builds lifting layers with 4
# to 16 orientations.

# %%
# Exercise 1: your code here
def orientation_roll(orientations, k):
    raise NotImplementedError("your code here")


# %% tags=["nbval-check-output"]
exercises.check("03.1", orientation_roll)

# %% [markdown]
# **Exercise 2.** A half turn is two quarter turns. Write `half_turn_error(layer, x)`: the
# equivariance error of an M2 layer under a rotation $\mathcal R$ by $180^\circ$ on input `x`,
# $\max|L(\mathcal R x) - \mathcal R L(x)|$ as in section 5, returned as a Python float. The
# check runs it on a fresh CDE layer, which must measure below $10^{-5}$, and on a layer that is
# not equivariant at all, which must not.

# %%
# Exercise 2: your code here
def half_turn_error(layer, x):
    raise NotImplementedError("your code here")


# %% tags=["nbval-check-output"]
exercises.check("03.2", half_turn_error)

# %% [markdown]
# **Exercise 3.** With $O_r = 6$ orientations, a quarter turn is not a whole number of orientation
# steps. What does `gnn.rot90_m2` do with a `[1, 1, 6, 5, 5]` tensor? Write
# `error_type_of(action)`: call `action()` and return the type of the exception it raises, or
# `None`. The check asks it about `rot90_m2` with several numbers of orientations.

# %%
# Exercise 3: your code here
def error_type_of(action):
    raise NotImplementedError("your code here")


# %% tags=["nbval-check-output"]
exercises.check("03.3", error_type_of)

# %% [markdown]
# **Next:** notebook 4 builds GM-GAN from these layers and trains it next to the DCGAN baseline.
