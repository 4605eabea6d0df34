"""Every picture and relative link of every notebook, as a student meets them in JupyterLab
(issue 27: notebook 04's pictures were 404s under `make lab`).

The server is started by scripts/lab.sh itself, in both of its layouts: `make lab` (the working
copy in work/notebooks/, docs/ copied beside it) and `make lab-edit` (the repository's
notebooks/), each on a copy of the course and docs/ in a temporary folder. For each notebook
the test opens it, waits for its markdown to be rendered (JupyterLab then rewrites every relative
path to a /files/ address of the server), and fails on a picture that did not load, a link whose
target the server does not have (404), or a /files/ request answered with an error; it clicks a
link to a docs/*.md page, which must open in JupyterLab. tests/test_notebook_links.py checks the
same targets in the repository without a browser (the static view).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "gmgan-browser-test"            # conftest's: the course_lab fixture starts with it
sys.path.insert(0, str(ROOT / "tests"))
import test_notebook_links as links  # noqa: E402  (the targets each notebook links to)

NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
APP = "window.jupyterapp"


def widget(path: str) -> str:
    """JavaScript for the open document ``path`` of the main area (or undefined). Looked up by
    path, not as shell.currentWidget, which follows the focus."""
    return f"[...{APP}.shell.widgets('main')].find(w => w.context?.path === '{path}')"


def rendered(page, path: str) -> dict:
    """The pictures and links of notebook ``path``'s rendered markdown, as the page has them."""
    return page.evaluate(f"""() => {{
        const node = {widget(path)}.content.node;
        const md = '.jp-MarkdownCell .jp-RenderedMarkdown';
        return {{
          images: [...node.querySelectorAll(md + ' img')].map(i => i.getAttribute('src')),
          links: [...node.querySelectorAll(md + ' a[href]')].map(a => a.getAttribute('href')),
        }};
    }}""")


def served(url: str) -> bool:
    """A resolved address on the lab's own server (not the web, not an anchor in the page)."""
    return "/files/" in url


def short(url: str) -> str:
    """An address without its query (JupyterLab appends an _xsrf token and a cache buster)."""
    return url.split("?")[0]


def status(page, url: str) -> int:
    return page.evaluate("async (u) => (await fetch(u, {credentials: 'same-origin'})).status",
                         url)


def open_notebook(page, name: str, expected: int) -> dict:
    """Open ``notebooks/name`` in the lab already on the page, and wait until the ``expected``
    relative pictures and links of its markdown are rendered and resolved to the server's
    /files/ addresses."""
    path = f"notebooks/{name}"
    # (not awaited, and nothing returned: the command resolves with the widget, no JSON value)
    page.evaluate(f"() => {{ {APP}.commands.execute('docmanager:open', {{path: '{path}'}}); }}")
    page.wait_for_function(f"{widget(path)}?.context.isReady"
                           f" && {widget(path)}.content.model.cells.length", timeout=120_000)
    deadline = time.monotonic() + 60
    while True:
        found = rendered(page, path)
        resolved = [u for u in found["images"] + found["links"] if served(u)]
        if len(resolved) >= expected or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def problems_of(page, name: str) -> list[str]:
    """What is broken in notebook ``name``'s pictures and links, as the lab on the page shows it."""
    expected = links.notebook_targets(ROOT / "notebooks" / name)
    found = open_notebook(page, name, len(expected))
    images = [u for u in found["images"] if served(u)]
    hrefs = [u for u in found["links"] if served(u)]
    if len(images) + len(hrefs) != len(expected):
        return [f"{name}: {len(expected)} relative pictures and links in the source "
                f"({expected}), {len(images) + len(hrefs)} rendered and resolved: {found}"]
    # The notebook's own panel: the tabs opened before stay open (closing a notebook whose
    # kernel is still starting makes JupyterLab report a "Disposed" error on the page).
    panel = page.locator("#" + page.evaluate(f"() => {widget(f'notebooks/{name}')}.id"))
    problems = []
    for src in images:
        image = panel.locator(f'img[src="{src}"]').first
        image.scroll_into_view_if_needed()
        page.wait_for_function("(i) => i.complete", arg=image.element_handle(), timeout=30_000)
        if not image.evaluate("(i) => i.naturalWidth") > 0:
            problems.append(f"{name}: the picture {short(src)} did not load "
                            f"(status {status(page, src)})")
    problems += [f"{name}: the link {short(href)} is broken (status {status(page, href)})"
                 for href in hrefs if status(page, href) != 200]
    # What a click does: a Markdown page of docs/ opens in JupyterLab, beside the notebook.
    pages = [h for h in hrefs if h.split("?")[0].endswith(".md")]
    if pages and not problems:
        target = pages[0].split("/files/", 1)[1].split("?")[0].split("#")[0]
        panel.locator(f'.jp-RenderedMarkdown a[href="{pages[0]}"]').first.click()
        page.wait_for_function(f"{widget(target)}?.context.isReady", timeout=30_000)
    return problems


def test_pictures_and_links_open_in_jupyterlab(page, course_lab):
    refused = []
    page.on("response", lambda r: refused.append(f"{r.status} {short(r.url)}")
            if r.status >= 400 and served(r.url) else None)
    # (?reset: a fresh workspace, not the tabs an earlier test of this server left open)
    page.goto(f"{course_lab.url}/lab?reset&token={TOKEN}")
    page.wait_for_function(f"{APP} && {APP}.commands.hasCommand('docmanager:open')",
                           timeout=120_000)
    page.evaluate(f"async () => {{ await {APP}.restored; }}")
    # Every notebook under `make lab` (also a rendered link that the source scan missed would
    # fail there); under `make lab-edit` only those with links (the rest render the same).
    names = [n for n in NOTEBOOKS if course_lab.mode == "fast"
             or links.notebook_targets(ROOT / "notebooks" / n)]
    problems = [p for name in names for p in problems_of(page, name)]
    assert problems == [] and refused == [], "\n".join(problems + refused)
    assert page.errors == []
