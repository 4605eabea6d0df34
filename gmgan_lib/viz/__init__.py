"""Pictures for the notebooks: plain functions behind every figure and widget.

One module per kind of picture: :mod:`~gmgan_lib.viz.grids` (image grids, drawn or written),
:mod:`~gmgan_lib.viz.morphology` (structuring elements, erosion and dilation of a digit),
:mod:`~gmgan_lib.viz.orientation` (orientation scores), :mod:`~gmgan_lib.viz.charts` (training
curves, model colours, equivariance and evaluation charts). ``from gmgan_lib import viz`` gives
all of them by name.

Every function here takes tensors or numbers and returns a :class:`matplotlib.figure.Figure`
(and, where a test or a student wants the numbers, the numpy arrays that were drawn). The
widgets of the notebooks are thin: a ``make_*_widget()`` function wires sliders and dropdowns
to one of these plain functions, so the work of every callback is unit-tested with several
parameter values (a headless notebook run never moves a slider).

Figures are built with ``matplotlib.figure.Figure`` rather than ``pyplot``: they are not kept
in pyplot's global registry (no leak when a test draws hundreds of them). A notebook with the
inline backend active (``%matplotlib inline``, the first line of every course notebook) shows
one when it is the last expression of a cell.

Layouts (docs/architecture.md): images ``[B, C, H, W]`` in ``[-1, 1]``; M2 maps
``[B, C, Or, H, W]``; R2 kernels ``[C, kH, kW]``; M2 kernel stacks ``[C, Or, kOr, kH, kW]``.
"""
from gmgan_lib.viz.charts import (METRIC_BETTER, MODEL_COLORS, OTHER_COLORS, cpu_minute_curves,
                                  equivariance_charts, metrics_bar_chart, metrics_table,
                                  model_color, read_metrics_csv, sanity_curves, training_curves)
from gmgan_lib.viz.grids import image_grid, plot_grid, save_grid
from gmgan_lib.viz.morphology import (erosion_dilation_panel, make_morphology_widget,
                                      make_structuring_element_widget, morphology_arrays,
                                      orientation_options, plot_structuring_element,
                                      structuring_element_arrays)
from gmgan_lib.viz.orientation import (line_filter, make_orientation_score_widget,
                                       orientation_score, orientation_score_panel)

__all__ = [
    "image_grid", "plot_grid", "save_grid",
    "structuring_element_arrays", "plot_structuring_element", "make_structuring_element_widget",
    "morphology_arrays", "erosion_dilation_panel", "make_morphology_widget", "orientation_options",
    "line_filter", "orientation_score", "orientation_score_panel",
    "make_orientation_score_widget",
    "training_curves", "read_metrics_csv", "equivariance_charts",
    "metrics_table", "metrics_bar_chart", "sanity_curves", "cpu_minute_curves",
    "MODEL_COLORS", "OTHER_COLORS", "model_color", "METRIC_BETTER",
]


