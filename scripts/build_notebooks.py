#!/usr/bin/env python
"""Write the course notebooks from the cells below, and optionally execute them.

The cells live here as plain Python strings so that a change to a notebook is a readable diff.
The notebooks themselves (notebooks/NN_*.ipynb) are committed *with* outputs from a real run
in FAST mode, stripped of execution counts and widget state:

    python scripts/build_notebooks.py              # write every notebook (outputs empty)
    python scripts/build_notebooks.py 02 --execute # write, execute in FAST mode, strip

``--execute`` runs the kernel in ``notebooks/`` with ``GMGAN_FAST=1`` (nbclient, the same
machinery as ``jupyter nbconvert --execute``) and then applies scripts/strip_notebooks.py.
The cells themselves are in scripts/notebook_cells/NN.py, one module per notebook, each
exposing ``CELLS``: a list of ("md" | "code", source) pairs.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
CELL_DIR = Path(__file__).resolve().parent / "notebook_cells"
NAMES = {
    "01": "01_max_plus_algebra.ipynb",
    "02": "02_pde_semigroups.ipynb",
    "03": "03_lie_group_equivariance.ipynb",
    "04": "04_gmgan_training.ipynb",
    "05": "05_evaluation_fid_kl.ipynb",
}
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def build(key: str) -> nbformat.NotebookNode:
    """The notebook ``key`` ("01".."05") from its cell module, without outputs."""
    cells = _load(CELL_DIR / f"nb{key}.py").CELLS
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.metadata["language_info"] = {"name": "python"}
    for kind, source in cells:
        source = source.strip("\n")
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(source))
        elif kind == "code":
            nb.cells.append(nbformat.v4.new_code_cell(source))
        else:
            raise ValueError(f"cell kind must be 'md' or 'code', got {kind!r}")
    for i, cell in enumerate(nb.cells):  # stable ids: diffs stay small between builds
        cell["id"] = f"c{key}-{i:03d}"
    nbformat.validate(nb)
    return nb


def execute(nb: nbformat.NotebookNode, timeout: int = 600, allow_errors: bool = False
            ) -> nbformat.NotebookNode:
    """Run every cell in FAST mode, in notebooks/ (as nbval does), and return the result."""
    from nbclient import NotebookClient

    os.environ["GMGAN_FAST"] = "1"
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    client.execute()
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("keys", nargs="*", default=list(NAMES), help=f"any of {list(NAMES)}")
    parser.add_argument("--execute", action="store_true", help="run in FAST mode, then strip")
    parser.add_argument("--allow-errors", action="store_true",
                        help="keep going past failing cells (for drafting; never commit the result)")
    args = parser.parse_args(argv)
    strip = _load(Path(__file__).resolve().parent / "strip_notebooks.py")
    for key in args.keys:
        if key not in NAMES:
            parser.error(f"keys must be among {list(NAMES)}, got {key!r}")
        nb = build(key)
        if args.execute:
            start = time.perf_counter()
            nb = execute(nb, allow_errors=args.allow_errors)
            print(f"{NAMES[key]}: executed in {time.perf_counter() - start:.1f} s")
        nb = strip.strip_notebook(nb)
        path = NOTEBOOK_DIR / NAMES[key]
        tmp = path.with_name(f".{path.name}.tmp")
        nbformat.write(nb, tmp)
        tmp.replace(path)
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
