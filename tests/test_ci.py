"""CI runs exactly what the README tells a newcomer to run (issue 2)."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _commands(path: Path) -> list[str]:
    """The shell lines of a script, without comments, blank lines and the shebang."""
    lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line]


def test_ci_entry_runs_make_test_and_nothing_else_of_substance():
    run = REPO / ".ci" / "run"
    assert os.access(run, os.X_OK), ".ci/run must be executable"
    cmds = _commands(run)
    assert cmds[-1] == "make test"
    # everything before it is set-up: shell options, cd, exporting the data mirror
    for cmd in cmds[:-1]:
        assert re.match(r"^(set |cd |if .*export GMGAN_DATA_MIRROR=.*fi$|export )", cmd), cmd
    assert not any(word in " ".join(cmds) for word in ("pytest", "python", "pip "))


def test_make_test_runs_lint_then_units_and_notebooks_as_two_pytest_calls():
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^test:\s+lint test-unit test-notebooks\s*$", makefile, re.M)
    lint = re.search(r"^lint:.*\n((?:\t.*\n?)+)", makefile, re.M)
    assert lint and "ruff check" in lint.group(1), "make lint must run ruff"
    recipe = {}
    for target in ("test-unit", "test-notebooks"):
        body = re.search(rf"^{target}:.*\n((?:\t.*\n?)+)", makefile, re.M)
        assert body, f"Makefile has no recipe for {target}"
        recipe[target] = body.group(1)
        assert recipe[target].count("pytest") == 1
    assert " tests " in recipe["test-unit"] and "--nbval" in recipe["test-notebooks"]
    # both prepare the data first
    assert re.search(r"^test-unit:\s+data\b", makefile, re.M)
    assert re.search(r"^data:.*\n(?:\t.*\n)*\t.*prepare-data", makefile, re.M)


def test_readme_gives_the_two_commands():
    readme = REPO / "README.md"
    if not readme.exists():
        pytest.skip("README.md not written yet")
    text = readme.read_text()
    assert "make demo" in text and "make test" in text
