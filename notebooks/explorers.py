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
digits = load_tensors("mnist", "test")[0][:16]    # [16, 1, 28, 28], in [-1, 1]

# %% [markdown]
# ## Erosion, dilation, opening and closing of a digit
# A structuring element (flat square or disk, or the quadratic and power kernels of a
# Hamilton-Jacobi PDE) slides over the digit; the last panel draws the element itself.

# %%
viz.make_morphology_widget(digits)

# %% [markdown]
# ## Orientation scores: a digit lifted to $\mathbb{R}^2 \times S^1$
# One panel per orientation of a line filter, and the orientation that answers most at each pixel.

# %%
viz.make_orientation_score_widget(digits[:8])

# %% [markdown]
# ## The structuring element of a left-invariant metric on $M_2$
# The metric's three weights (along the line, across it, in angle), the time $t$ and $\alpha$
# shape the kernel of dilation and erosion on the roto-translation group.

# %%
viz.make_structuring_element_widget()
