#!/usr/bin/env python
"""What `make sync` and `make test-notebooks` need beyond jupytext and nbstripout.

Committed notebooks keep their outputs but no execution counts and no widget state. nbstripout
(`--keep-output`) removes the counts and the saved widget state; two things it cannot do:

    python scripts/notebook_outputs.py drop-widget-views notebooks/*.ipynb
        ipywidgets' view outputs name a model (a random id) whose state is not kept: drop the
        view and keep its text fallback (what a static page shows anyway).
    python scripts/notebook_outputs.py number DIR notebooks/*.ipynb
        nbval refuses a reference cell that has outputs but no count ("Unrun reference cell has
        outputs"), so `make test-notebooks` runs it on copies in DIR where every code cell with
        outputs is numbered by its position; the committed notebooks are only read.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def without_widget_views(nb) -> bool:
    """Drop widget views from ``nb``'s outputs (in place); True if anything changed."""
    changed = False
    for cell in nb.cells:
        kept = []
        for out in cell.get("outputs", []):
            if WIDGET_VIEW in out.get("data", {}):
                out.data.pop(WIDGET_VIEW)
                changed = True
                if not out.data:
                    continue
            kept.append(out)
        if "outputs" in cell:
            cell.outputs = kept
    return changed


def numbered(nb):
    """Give every code cell with outputs (and its execute_result) its position as a count."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    for position, cell in enumerate(code, start=1):
        cell.execution_count = position if cell.outputs else None
        for out in cell.outputs:
            if "execution_count" in out:
                out.execution_count = cell.execution_count
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    drop = sub.add_parser("drop-widget-views", help="remove widget views, in place")
    drop.add_argument("notebooks", nargs="+", type=Path)
    number = sub.add_parser("number", help="write copies numbered for nbval into DIR")
    number.add_argument("dir", type=Path)
    number.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    for path in args.notebooks:
        if path.suffix != ".ipynb" or not path.is_file():
            parser.error(f"notebooks must be existing .ipynb files, got {str(path)!r}")
    if args.command == "number":
        args.dir.mkdir(parents=True, exist_ok=True)
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        if args.command == "number":
            nbformat.write(numbered(nb), args.dir / path.name)
        elif without_widget_views(nb):
            tmp = path.with_name(f".{path.name}.tmp")
            nbformat.write(nb, tmp)
            tmp.replace(path)          # atomic: never a half-written notebook
    return 0


if __name__ == "__main__":
    sys.exit(main())
