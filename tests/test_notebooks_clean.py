"""The committed notebooks are clean: outputs from a real run, but normalised execution counts, no
widget state, a profile() call first, and marked cells for nbval (notebooks/README.md says why).

The notebooks themselves are executed by the second pytest call of ``make test`` (nbval);
this file only reads them, so it is fast.
"""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EXPECTED = ["01_max_plus_algebra.ipynb", "02_pde_semigroups.ipynb",
            "03_lie_group_equivariance.ipynb", "04_gmgan_training.ipynb",
            "05_evaluation_fid_kl.ipynb"]


def _strip_module():
    spec = importlib.util.spec_from_file_location("strip_notebooks",
                                                  ROOT / "scripts" / "strip_notebooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_course_is_complete():
    assert [p.name for p in NOTEBOOKS] == EXPECTED


@pytest.fixture(params=NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def notebook(request):
    nb = nbformat.read(request.param, as_version=4)
    nbformat.validate(nb)
    return nb


def _code(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_no_execution_counts_and_no_widget_state(notebook):
    """Committed notebooks keep their outputs but no execution counts and no widget state."""
    assert "widgets" not in notebook.metadata
    for cell in _code(notebook):
        assert cell.execution_count is None
        assert "execution" not in cell.metadata
        for out in cell.outputs:
            assert out.get("execution_count") is None
            assert "application/vnd.jupyter.widget-view+json" not in out.get("data", {})
    assert _strip_module().is_clean(notebook)


def test_nbval_copies_number_the_cells_with_outputs(notebook):
    """nbval needs a count on every cell with outputs: the copies made for it have one."""
    numbered = _strip_module().numbered_for_nbval(notebook)
    for position, cell in enumerate(_code(numbered), start=1):
        assert cell.execution_count == (position if cell.outputs else None)
        assert cell.source == _code(notebook)[position - 1].source
    assert notebook == _strip_module().strip_notebook(numbered)   # stripping undoes it


def test_committed_with_outputs_from_a_successful_run(notebook):
    code = _code(notebook)
    with_output = [c for c in code if c.outputs]
    assert len(with_output) >= len(code) // 3, "notebook looks unexecuted: run it, then strip it"
    for cell in code:
        for out in cell.outputs:
            assert out.output_type != "error", f"committed output holds an error:\n{cell.source}"


def test_first_code_cell_reads_the_profile(notebook):
    first = _code(notebook)[0].source
    assert "profile()" in first and "gmgan_lib" in first


def test_cells_are_marked_for_nbval(notebook):
    """Checked cells exist and carry outputs to compare; plots and widgets are ignored."""
    code = _code(notebook)
    checked = [c for c in code if c.source.lstrip().startswith("# NBVAL_CHECK_OUTPUT")]
    assert checked, "each notebook compares at least one mode-independent fact"
    for cell in checked:
        assert cell.outputs, f"a checked cell must have stored output:\n{cell.source}"
        assert not re.search(r"(plt\.|viz\.(plot|make)_|interact)", cell.source), (
            f"plots and widgets must not be compared:\n{cell.source}")
    for cell in code:
        if re.search(r"make_\w+_widget\(", cell.source):
            assert cell.source.lstrip().startswith("# NBVAL_IGNORE_OUTPUT"), cell.source


def test_strip_notebook_drops_counts_and_widget_state_keeps_outputs():
    strip = _strip_module()
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    cell = nbformat.v4.new_code_cell("1 + 1", execution_count=7)
    cell.metadata["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00"}
    cell.outputs = [
        nbformat.v4.new_output("execute_result", data={"text/plain": "2"}, execution_count=7),
        nbformat.v4.new_output("display_data", data={
            "text/plain": "interactive(children=(...))",
            "application/vnd.jupyter.widget-view+json": {"model_id": "abc", "version_major": 2,
                                                          "version_minor": 0}}),
        nbformat.v4.new_output("stream", name="stdout", text="hello\n"),
    ]
    silent = nbformat.v4.new_code_cell("x = 1", execution_count=9)
    nb.cells = [nbformat.v4.new_markdown_cell("# title"), silent, cell]
    assert not strip.is_clean(nb)
    out = strip.strip_notebook(nb)
    assert strip.is_clean(out) and not strip.is_clean(nb)  # a copy; the input is untouched
    assert "widgets" not in out.metadata
    assert out.cells[1].execution_count is None          # no outputs: no count
    c = out.cells[2]
    assert c.execution_count is None and "execution" not in c.metadata
    assert [o.output_type for o in c.outputs] == ["execute_result", "display_data", "stream"]
    assert c.outputs[0].data == {"text/plain": "2"} and c.outputs[0].execution_count is None
    assert c.outputs[1].data == {"text/plain": "interactive(children=(...))"}
    assert c.outputs[2].text == "hello\n"
    nbformat.validate(out)


def test_strip_script_check_mode(tmp_path, capsys):
    strip = _strip_module()
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x = 1", execution_count=5)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hi\n")]
    nb.cells = [cell]
    path = tmp_path / "a.ipynb"
    nbformat.write(nb, path)
    assert strip.main(["--check", str(path)]) == 1
    assert "needs stripping" in capsys.readouterr().out
    assert nbformat.read(path, as_version=4).cells[0].execution_count == 5  # check changes nothing
    assert strip.main([str(path)]) == 0
    assert strip.main(["--check", str(path)]) == 0
    assert nbformat.read(path, as_version=4).cells[0].execution_count is None
    assert strip.main(["--for-nbval", str(tmp_path / "nbval"), str(path)]) == 0
    assert nbformat.read(tmp_path / "nbval" / "a.ipynb", as_version=4).cells[0].execution_count == 1
    assert nbformat.read(path, as_version=4).cells[0].execution_count is None   # source untouched
    with pytest.raises(SystemExit):
        strip.main([str(tmp_path / "missing.ipynb")])


def test_notebooks_match_their_cell_sources():
    """scripts/notebook_cells/nbNN.py is the reviewable source of each notebook: the committed
    notebook must hold exactly those cells (rebuild with scripts/build_notebooks.py)."""
    spec = importlib.util.spec_from_file_location("build_notebooks",
                                                  ROOT / "scripts" / "build_notebooks.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    for key, name in build.NAMES.items():
        path = ROOT / "notebooks" / name
        if not path.exists():
            continue  # test_the_course_is_complete reports missing notebooks
        committed = nbformat.read(path, as_version=4)
        expected = build.build(key)
        assert [(c.cell_type, c.source) for c in committed.cells] == \
               [(c.cell_type, c.source) for c in expected.cells], (
            f"{name} differs from scripts/notebook_cells/nb{key}.py: "
            f"run `python scripts/build_notebooks.py {key} --execute`")
