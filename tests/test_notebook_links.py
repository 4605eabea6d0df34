"""The notebooks' pictures and links resolve, where a reader meets them (issue 27).

A notebook points into the repository with paths relative to notebooks/ (`../docs/img/...`).
Read from the repository (a code host's static view, `make lab-edit`) such a path must name a
file of the repository; read from `make lab`'s working copy (scripts/lab.sh copies the notebooks
into work/notebooks/ and docs/ into work/docs/) it must name a file that the copy has. This file
checks both without a browser; tests/browser/test_links.py opens them in JupyterLab. `make
explore`'s page (Voila) has no relative link at all.
"""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))       # the course and make explore's page
# Markdown images and links, ![alt](target "title") and [text](target), and HTML src/href.
_MARKDOWN = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HTML = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


def local_targets(source: str) -> list[str]:
    """The relative targets of the links and pictures in a markdown text (no web addresses,
    no anchors inside the page), as written, without their #fragment."""
    found = []
    for target in _MARKDOWN.findall(source) + _HTML.findall(source):
        parts = urlsplit(target)
        if parts.scheme or parts.netloc or target.startswith(("#", "/")):
            continue                    # a web address, an anchor in the page, a server path
        found.append(unquote(parts.path))
    return found


def notebook_targets(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [t for cell in nb.cells if cell.cell_type == "markdown"
            for t in local_targets(cell.source)]


def in_lab_copy(repo_path: str) -> bool:
    """Whether `make lab`'s working copy holds this file of the repository (scripts/lab.sh:
    notebooks/*.ipynb into work/notebooks/, docs/ into work/docs/)."""
    first, _, rest = repo_path.partition("/")
    return first == "docs" or (first == "notebooks" and "/" not in rest
                               and rest.endswith(".ipynb"))


def test_the_parser_finds_what_a_renderer_would():
    text = ('![a](../docs/img/x.png) [b](../docs/a%20b.md#part) [web](https://example.org) '
            '[here](#section) <img src="pic.png"> [t](../docs/c.md "title")')
    assert local_targets(text) == ["../docs/img/x.png", "../docs/a b.md", "../docs/c.md",
                                   "pic.png"]


def test_the_course_links_into_docs():
    """The pictures of notebook 04 and its links to docs/experiments.md: what the browser test
    opens (if they went, that test would check nothing)."""
    targets = notebook_targets(ROOT / "notebooks" / "04_gmgan_training.ipynb")
    assert "../docs/img/experiments/p4-relu-4m.png" in targets
    assert "../docs/experiments.md" in targets


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_link_and_picture_resolves_in_the_repository_and_in_the_lab_copy(path):
    problems = []
    for target in notebook_targets(path):
        resolved = (path.parent / target).resolve()
        if not resolved.is_relative_to(ROOT) or not resolved.is_file():
            problems.append(f"{target}: no such file in the repository (static view, "
                            "make lab-edit)")
            continue
        repo_path = resolved.relative_to(ROOT).as_posix()
        if not in_lab_copy(repo_path):
            problems.append(f"{target}: make lab's working copy has no {repo_path} "
                            "(scripts/lab.sh copies notebooks/*.ipynb and docs/ only)")
    assert problems == [], f"{path.name}:\n" + "\n".join(problems)


def test_make_explore_page_has_no_relative_link():
    """`make explore` serves notebooks/explorers.ipynb with Voila at the server's root ("/"),
    where `../docs/...` would resolve to /docs/..., which Voila does not serve: its page keeps to
    text and widgets (tests/browser/test_widgets.py opens it)."""
    assert notebook_targets(ROOT / "notebooks" / "explorers.ipynb") == []
