"""Editing the course in JupyterLab (notebooks/README.md, "Editing a notebook"): a change typed
into a notebook and saved reaches its text twin (jupytext, configured by jupytext.toml), and
after `make sync` every notebook check of the project passes."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
import test_notebooks_clean as checks  # noqa: E402  (the project's notebook checks)

NAME = "02_pde_semigroups"
SENTENCE = "A sentence typed in JupyterLab by a teacher."


def test_a_change_saved_in_jupyterlab_reaches_the_twin_and_passes_the_checks(page, lab, workdir):
    twin = workdir / f"{NAME}.py"
    before = twin.stat().st_mtime
    page.goto(f"{lab.url}/lab/tree/{NAME}.ipynb?token={lab.token}")
    app = "window.jupyterapp"
    page.wait_for_function(f"{app} && {app}.shell.currentWidget?.context?.isReady"
                           f" && {app}.shell.currentWidget.content.model.cells.length",
                           timeout=120_000)
    # (editing before the document's context is ready makes JupyterLab refuse the save as
    # "read-only": wait for it, as a person does by waiting for the page)
    # type into the first markdown cell, as a teacher would, then save (Ctrl+S)
    page.evaluate(f"""() => {{
        const cell = {app}.shell.currentWidget.content.model.cells.get(0);
        cell.sharedModel.setSource(cell.sharedModel.getSource() + "\\n\\n{SENTENCE}");
    }}""")
    # (not awaited: a save that opens a dialog must fail this test, not hang it)
    page.evaluate(f"() => {{ {app}.commands.execute('docmanager:save'); }}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (twin.stat().st_mtime == before
                                           or SENTENCE not in twin.read_text()):
        time.sleep(0.2)
    assert SENTENCE in twin.read_text(), "saving in JupyterLab did not update the text twin"
    assert SENTENCE in (workdir / f"{NAME}.ipynb").read_text()
    assert page.errors == []

    env = {k: v for k, v in os.environ.items() if k != "MAKEFLAGS"}
    r = subprocess.run(["make", "--no-print-directory", "-s", "sync", f"NOTEBOOKS={workdir}"],
                       cwd=ROOT, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    path = workdir / f"{NAME}.ipynb"
    assert (checks.sync_problems(path) + checks.strip_problems([path])
            + checks.execution_problems(path)) == []
