# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # GM-GAN explorers
#
# Three pictures from the course, each with its controls (`make explore` serves this page; the
# notebooks 01 and 03 explain what they show).

# %%
import gmgan_lib
from gmgan_lib import viz
from gmgan_lib.data import load_tensors

P = gmgan_lib.profile()
images, labels = load_tensors("mnist", "test")
digits = images[:16]                                # [16, 1, 28, 28], in [-1, 1]

# %% [markdown]
# ## Erosion, dilation, opening and closing of a digit
# A structuring element $k$ slides over the digit: the erosion keeps, at each pixel, the smallest
# value of $f(y) + k(x - y)$ over the neighbours $y$, the dilation the largest of $f(y) - k(x - y)$.
# `square` and `disk` are flat ($0$ inside, $+\infty$ outside: a min or max filter); `quadratic`
# is $|x|^2 / (2t)$; `power` is $\frac{t}{\beta}(|x|/t)^\beta$ with $\beta = 2\alpha/(2\alpha - 1)$,
# quadratic at $\alpha = 1$ and nearly flat as $\alpha$ nears $\tfrac12$. The sixth panel shows
# what the chosen operation changed, the last the element itself (notebook 01).

# %%
viz.make_morphology_widget(digits, labels[:16])

# %% [markdown]
# ## Orientation scores: a digit lifted to $\mathbb{R}^2 \times S^1$
# One panel per orientation $\theta$ of a line filter (red: a stroke along $\theta$), and the
# orientation that answers most at each pixel (notebook 03).

# %%
viz.make_orientation_score_widget(digits[:8], labels[:8])

# %% [markdown]
# ## The structuring element of a left-invariant metric on $M_2$
# The metric's three weights (`main`: along the orientation, `lateral`: across it, `angular`:
# turning), the time $t$ and $\alpha$ shape the kernel of dilation and erosion on the
# roto-translation group; `orientation` picks the output orientation $\theta$, in degrees. Dark is
# cheap: the dark part of each slice is where a neighbour can win (notebook 03).

# %%
viz.make_structuring_element_widget()
