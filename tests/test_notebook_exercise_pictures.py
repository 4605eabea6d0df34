"""A solved exercise shows its picture (issue 27).

After exercise 04.2 notebook 04 draws a path of the committed GM-GAN's generator with the
student's ``interpolate``. The cell is run here as the notebook has it (its source, read from
the committed notebook), once with a solution and once with the unsolved stub: the first must
display a figure of the path, the second must say what to do and display nothing.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import torch
from matplotlib.figure import Figure

import gmgan_lib
from gmgan_lib import viz
from gmgan_lib.exercises.solutions import interpolate as solved_interpolate
from gmgan_lib.sampling import load_generator

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "04_gmgan_training.ipynb"


def _path_cell() -> str:
    cells = [c.source for c in nbformat.read(NOTEBOOK, as_version=4).cells
             if c.cell_type == "code" and "interpolate(G, z0, z1, 8)" in c.source]
    assert len(cells) == 1, "notebook 04 draws the committed generator's path in one cell"
    return cells[0]


def _unsolved(G, z0, z1, steps):
    raise NotImplementedError("your code here")


def _run(interpolate, monkeypatch) -> list:
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kwargs: shown.append(obj))
    namespace = {"ROOT": Path(gmgan_lib.__file__).resolve().parents[1], "torch": torch,
                 "viz": viz, "load_generator": load_generator, "interpolate": interpolate,
                 "display": IPython.display.display}
    exec(_path_cell(), namespace)
    return shown


def test_a_solved_interpolation_shows_the_path(monkeypatch, capsys):
    shown = _run(solved_interpolate, monkeypatch)
    assert len(shown) == 1 and isinstance(shown[0], Figure)
    grid = shown[0].axes[0].images[0].get_array()
    assert grid.shape == (28 + 4, 8 * 30 + 2)            # one row of 8 images, padding 2
    assert np.ptp(np.asarray(grid)) > 0.5                # digits, not a blank picture
    assert "write interpolate" not in capsys.readouterr().out


def test_an_unsolved_interpolation_says_what_to_do(monkeypatch, capsys):
    assert _run(_unsolved, monkeypatch) == []
    assert "write interpolate above" in capsys.readouterr().out

