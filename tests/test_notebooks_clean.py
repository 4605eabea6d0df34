"""The committed notebooks: each paired with its text twin, clean, executed, tagged for nbval.

A notebook is edited in JupyterLab (or through its twin, notebooks/NN_*.py, in an editor) and
brought together with `make sync` (jupytext, then nbstripout); notebooks/README.md says how.
The notebooks themselves are executed by the second pytest call of ``make test`` (nbval); this
file only reads them, except for the last test, which edits a copy as JupyterLab would and runs
`make sync` on it.
"""
from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))   # the course
PAGES = [ROOT / "notebooks" / "explorers.ipynb"]    # make explore's page, executed by Voila
EXPECTED = ["01_max_plus_algebra", "02_pde_semigroups", "03_lie_group_equivariance",
            "04_gmgan_training", "05_evaluation_fid_kl", "06_where_geometry_pays"]
NBSTRIPOUT = Path(sys.executable).with_name("nbstripout")
FIX = "run `make sync`"


def twin_of(path: Path) -> Path:
    return path.with_suffix(".py")


def pairing_problems(folder: Path) -> list[str]:
    """Every notebook has its twin and every twin its notebook."""
    notebooks = {p.stem for p in folder.glob("*.ipynb")}
    twins = {p.stem for p in folder.glob("*.py")}
    return ([f"{folder / n}.ipynb has no text twin {n}.py: {FIX}" for n in sorted(notebooks - twins)]
            + [f"{folder / n}.py has no notebook {n}.ipynb: `jupytext --to ipynb {n}.py`, then "
               f"`make notebooks`" for n in sorted(twins - notebooks)])


def sync_problems(path: Path) -> list[str]:
    """The twin holds exactly the notebook's cells (jupytext reads it back)."""
    if not twin_of(path).exists():
        return []   # pairing_problems says so
    nb, twin = nbformat.read(path, as_version=4), jupytext.read(twin_of(path))
    # the tags too: nbval reads its markers there (`# %% tags=[...]` in the twin)
    ours = [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in nb.cells]
    theirs = [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in twin.cells]
    if ours == theirs:
        return []
    first = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b),
                 min(len(ours), len(theirs)))
    return [f"{path.name} and its twin {twin_of(path).name} differ (first at cell {first}: "
            f"{len(ours)} cells against {len(theirs)}): {FIX}"]


def _outputs_module():
    spec = importlib.util.spec_from_file_location("notebook_outputs",
                                                  ROOT / "scripts" / "notebook_outputs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def strip_problems(paths: list[Path]) -> list[str]:
    """`make sync` would change nothing: nbstripout (outputs kept) finds no execution count,
    widget state, timestamp or stray cell id, and no widget view is left."""
    r = subprocess.run([str(NBSTRIPOUT), "--verify", "--keep-output", *map(str, paths)],
                       capture_output=True, text=True)
    problems = [] if r.returncode == 0 else [
        f"{line.split()[-1]} carries execution counts, widget state or metadata the project "
        f"does not keep (nbstripout: {line.strip()}): {FIX}"
        for line in r.stdout.splitlines() if line.strip()] or [r.stdout + r.stderr]
    views = _outputs_module().without_widget_views
    problems += [f"{path} carries widget views whose state is not kept: {FIX}"
                 for path in paths if views(nbformat.read(path, as_version=4))]
    return problems


def execution_problems(path: Path) -> list[str]:
    """Outputs from one successful run: no error output, most cells executed."""
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    problems = []
    if sum(bool(c.outputs) for c in code) < len(code) // 3:
        problems.append(f"{path.name} looks unexecuted: run `make notebooks`")
    for i, cell in enumerate(code):
        if any(out.output_type == "error" for out in cell.outputs):
            problems.append(f"{path.name}, code cell {i}: the stored output is an error")
    return problems


def test_the_course_is_complete_and_paired():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED
    assert pairing_problems(ROOT / "notebooks") == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_twin_in_sync_and_executed(path):
    assert sync_problems(path) + execution_problems(path) == []


def test_the_explorers_page_is_paired_too():
    assert [p.exists() for p in PAGES] == [True] and sync_problems(PAGES[0]) == []


def test_notebooks_carry_no_counts_widget_state_or_metadata_noise():
    assert strip_problems(NOTEBOOKS + PAGES) == []
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            assert cell.get("execution_count") is None, path.name
            assert all(out.get("execution_count") is None for out in cell.get("outputs", []))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_nbval_copies_number_the_cells_with_outputs(path):
    """nbval needs a count on every cell with outputs: the copies made for it have one, and
    nothing else changes."""
    nb = nbformat.read(path, as_version=4)
    numbered = _outputs_module().numbered(copy.deepcopy(nb))
    code, original = ([c for c in n.cells if c.cell_type == "code"] for n in (numbered, nb))
    for position, (cell, source) in enumerate(zip(code, original), start=1):
        assert cell.execution_count == (position if cell.outputs else None)
        assert cell.source == source.source and len(cell.outputs) == len(source.outputs)


@pytest.fixture(params=NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def notebook(request):
    nb = nbformat.read(request.param, as_version=4)
    nbformat.validate(nb)
    return nb


def _code(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_first_code_cell_reads_the_profile(notebook):
    first = _code(notebook)[0].source
    assert "profile()" in first and "gmgan_lib" in first


def test_no_absolute_path_of_the_machine_that_ran_it(notebook):
    text = json.dumps([c.get("outputs", []) for c in notebook.cells])
    assert not re.search(r"/(work|root|home|tmp)/[\w.-]+/", text)


def _tags(cell) -> list[str]:
    return cell.metadata.get("tags", [])


def test_cells_are_marked_for_nbval(notebook):
    """Checked cells exist and carry outputs to compare; plots and widgets are ignored. The
    markers are cell tags (`nbval-check-output`, `nbval-ignore-output`), out of the student's
    way; nbval would still honour a `# NBVAL_...` comment, but the lesson must not show one."""
    code = _code(notebook)
    checked = [c for c in code if "nbval-check-output" in _tags(c)]
    assert checked, "each notebook compares at least one mode-independent fact"
    for cell in code:
        assert "NBVAL_" not in cell.source, f"a marker comment in the lesson: tag the cell:\n" \
                                            f"{cell.source}"
        assert not {"nbval-check-output", "nbval-ignore-output"} <= set(_tags(cell)), cell.source
    for cell in checked:
        assert cell.outputs, f"a checked cell must have stored output:\n{cell.source}"
        assert not re.search(r"(plt\.|viz\.(plot|make)_|interact)", cell.source), (
            f"plots and widgets must not be compared:\n{cell.source}")
    for cell in code:
        if re.search(r"make_\w+_widget\(", cell.source):
            assert "nbval-ignore-output" in _tags(cell), cell.source


def test_the_lesson_carries_no_test_scaffolding(notebook):
    """How CI runs the notebooks is notebooks/README.md's business, not the learner's: no
    paragraph about CI or nbval, no linter pragma."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            assert not re.search(r"\bCI\b|nbval|NBVAL", cell.source), cell.source
        assert "# noqa" not in cell.source, cell.source


# --- bad input: each check names the file and the command that fixes it ----------------------

def _copy_course(tmp_path: Path) -> Path:
    """The notebooks, their twins and the jupytext configuration, as a fresh clone has them."""
    shutil.copy(ROOT / "jupytext.toml", tmp_path / "jupytext.toml")
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for path in NOTEBOOKS + PAGES:
        shutil.copy(path, folder / path.name)
        shutil.copy(twin_of(path), folder / twin_of(path).name)
    return folder


def _save_as_jupyterlab_would(path: Path, nb) -> None:
    """JupyterLab writes the .ipynb only (without jupytext's extension), with its own metadata:
    a widget state, a scrolled flag, a fresh random cell id; the file is the newest."""
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nbformat.write(nb, path)
    later = twin_of(path).stat().st_mtime + 5
    os.utime(path, (later, later))


def test_checks_name_the_file_and_the_fix(tmp_path):
    folder = _copy_course(tmp_path)
    path = folder / NOTEBOOKS[0].name
    nb = nbformat.read(path, as_version=4)
    edited = copy.deepcopy(nb)
    edited.cells.append(nbformat.v4.new_markdown_cell("A new paragraph."))
    _save_as_jupyterlab_would(path, edited)
    (problem,) = sync_problems(path)
    assert path.name in problem and twin_of(path).name in problem and "make sync" in problem
    (problem,) = strip_problems([path])
    assert str(path) in problem and "widget state" in problem and "make sync" in problem
    twin_of(folder / NOTEBOOKS[1].name).unlink()
    (problem,) = pairing_problems(folder)
    assert NOTEBOOKS[1].name in problem and "make sync" in problem
    code = next(c for c in nb.cells if c.cell_type == "code" and c.outputs)
    code.execution_count = 7
    nbformat.write(nb, path)
    (problem,) = strip_problems([path])
    assert "execution counts" in problem and "make sync" in problem
    code.execution_count = None
    code.outputs.append(nbformat.v4.new_output("display_data", data={
        "text/plain": "interactive(...)", _outputs_module().WIDGET_VIEW: {"model_id": "abc"}}))
    nbformat.write(nb, path)
    (problem,) = strip_problems([path])
    assert str(path) in problem and "widget views" in problem and "make sync" in problem


def test_an_edit_saved_in_jupyterlab_passes_after_make_sync(tmp_path):
    """The editing path of notebooks/README.md: change the .ipynb only, run `make sync`, and
    the twin follows, the checks pass, and the outputs stay."""
    folder = _copy_course(tmp_path)
    path = folder / NOTEBOOKS[1].name
    nb = nbformat.read(path, as_version=4)
    first_md = next(c for c in nb.cells if c.cell_type == "markdown")
    first_md.source += "\n\nA sentence a teacher added in JupyterLab."
    cell = nbformat.v4.new_code_cell("x = 2 + 2\nx", execution_count=99)   # JupyterLab counts
    cell.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "4"},
                                           execution_count=99)]
    cell.metadata["scrolled"] = True
    nb.cells.insert(3, cell)
    outputs_before = sum(len(c.get("outputs", [])) for c in nb.cells)
    _save_as_jupyterlab_would(path, nb)
    assert sync_problems(path) and strip_problems([path])          # the checks see the edit

    r = subprocess.run(["make", "--no-print-directory", "-s", "sync", f"NOTEBOOKS={folder}"],
                       cwd=ROOT, capture_output=True, text=True,
                       env={k: v for k, v in os.environ.items() if k != "MAKEFLAGS"})
    assert r.returncode == 0, r.stdout + r.stderr
    twin = twin_of(path).read_text()
    assert "A sentence a teacher added in JupyterLab." in twin and "x = 2 + 2" in twin
    assert (pairing_problems(folder) + sync_problems(path) + strip_problems([path])
            + execution_problems(path)) == []
    synced = nbformat.read(path, as_version=4)
    assert sum(len(c.get("outputs", [])) for c in synced.cells) == outputs_before
    assert "widgets" not in synced.metadata and "scrolled" not in synced.cells[3].metadata
    # the other notebooks were not touched by the sync
    for other in NOTEBOOKS[2:] + PAGES:
        assert (folder / other.name).read_bytes() == other.read_bytes()
