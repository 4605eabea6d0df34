#!/usr/bin/env python
"""Strip notebooks for commit: keep the outputs, drop what changes from run to run.

nbstripout-style, but the outputs stay (the course is meant to read well on a code host):

- execution counts go (``None``), in the cells and in their ``execute_result`` outputs, so a
  notebook's diff shows only what changed in its sources and outputs;
- saved widget state (``metadata.widgets``, hundreds of kilobytes of random model ids) goes;
- widget-view outputs keep only their ``text/plain`` fallback (the view's model id is random
  and points to the state removed above);
- per-cell execution timestamps (``metadata.execution``, written by nbclient) go.

Usage::

    python scripts/strip_notebooks.py notebooks/*.ipynb           # rewrite in place
    python scripts/strip_notebooks.py --check notebooks/*.ipynb   # exit 1 if any is not clean
    python scripts/strip_notebooks.py --for-nbval build/nbval notebooks/*.ipynb

The last form is for testing. nbval refuses a reference cell that has outputs but no execution
count ("Unrun reference cell has outputs") and never compares an unrun cell, so ``make
test-notebooks`` runs nbval on throw-away copies in which every cell with outputs is numbered
by its position among the code cells; the committed notebooks stay count-free.

As a git pre-commit hook (``.git/hooks/pre-commit``, executable)::

    #!/bin/sh
    files=$(git diff --cached --name-only --diff-filter=ACM -- '*.ipynb')
    [ -z "$files" ] || .venv/bin/python scripts/strip_notebooks.py --check $files

or, with the pre-commit framework, a ``repo: local`` hook whose entry is this script
(``language: system``, ``files: \\.ipynb$``). ``tests/test_notebooks_clean.py`` runs the same
check, so a notebook committed without stripping fails the tests.
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import nbformat

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def strip_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Return a stripped copy of ``nb`` (outputs kept, run-dependent fields removed or normalised)."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.outputs:
            data = out.get("data")
            if data is not None and WIDGET_VIEW in data:
                data.pop(WIDGET_VIEW)
                if not data:  # nothing left to show: drop the output
                    continue
            if "execution_count" in out:
                out.execution_count = None
            kept.append(out)
        cell.outputs = kept
        cell.execution_count = None
    return nb


def numbered_for_nbval(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of a stripped notebook in which every code cell with outputs has a count (its
    position among the code cells), so that nbval treats it as a run reference cell."""
    nb = copy.deepcopy(nb)
    position = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        position += 1
        cell.execution_count = position if cell.outputs else None
        for out in cell.outputs:
            if "execution_count" in out:
                out.execution_count = cell.execution_count
    return nb


def is_clean(nb: nbformat.NotebookNode) -> bool:
    """True when stripping would change nothing."""
    return strip_notebook(nb) == nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path, help="notebook files (.ipynb)")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 and name the notebooks that need stripping")
    parser.add_argument("--for-nbval", type=Path, metavar="DIR",
                        help="write count-numbered copies for nbval into DIR (the sources are "
                             "only read)")
    args = parser.parse_args(argv)
    if args.for_nbval is not None:
        args.for_nbval.mkdir(parents=True, exist_ok=True)
        for path in args.notebooks:
            if path.suffix != ".ipynb" or not path.is_file():
                parser.error(f"notebooks must be existing .ipynb files, got {str(path)!r}")
            nbformat.write(numbered_for_nbval(nbformat.read(path, as_version=4)),
                           args.for_nbval / path.name)
        return 0
    dirty = []
    for path in args.notebooks:
        if path.suffix != ".ipynb" or not path.is_file():
            parser.error(f"notebooks must be existing .ipynb files, got {str(path)!r}")
        nb = nbformat.read(path, as_version=4)
        if is_clean(nb):
            continue
        dirty.append(path)
        if not args.check:
            nbformat.validate(stripped := strip_notebook(nb))
            tmp = path.with_name(f".{path.name}.tmp")
            nbformat.write(stripped, tmp)
            tmp.replace(path)  # atomic: never a half-written notebook
    for path in dirty:
        print(f"{'needs stripping' if args.check else 'stripped'}: {path}")
    return 1 if (args.check and dirty) else 0


if __name__ == "__main__":
    sys.exit(main())
