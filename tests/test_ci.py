"""CI runs exactly what the README tells a newcomer to run (issue 2)."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

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
    # ... and the browser test may not skip there
    assert "export GMGAN_REQUIRE_BROWSER=1" in cmds


def _make_would_run(target: str) -> list[str]:
    """The commands ``make TARGET`` would run here, in order (``make -n``: nothing is run)."""
    # Under `make test` this runs inside make: drop what the outer make passes down.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    done = subprocess.run(["make", "--no-print-directory", "-n", target], cwd=REPO, env=env,
                          capture_output=True, text=True, check=True)
    return [line.strip() for line in done.stdout.splitlines()
            if line.strip() and not line.startswith("make")]


def test_make_test_runs_lint_then_units_notebooks_and_browser_as_three_pytest_calls():
    cmds = _make_would_run("test")
    pytest_calls = [i for i, cmd in enumerate(cmds) if "-m pytest" in cmd]
    assert len(pytest_calls) == 3, cmds
    units, notebooks, browser = (cmds[i] for i in pytest_calls)
    assert " tests " in units + " " and "--nbval" not in units
    assert "--ignore=tests/browser" in units and " tests/browser " in browser + " "
    assert "--nbval-lax" in " ".join(cmds[pytest_calls[1]:pytest_calls[2]])
    assert any("chromium.sh" in cmd for cmd in cmds[pytest_calls[1]:pytest_calls[2]])
    lint = [i for i, cmd in enumerate(cmds) if "ruff check" in cmd]
    data = [i for i, cmd in enumerate(cmds) if "prepare-data" in cmd]
    assert lint and lint[0] < pytest_calls[0], "make test must lint before it tests"
    assert data and data[0] < pytest_calls[0], "make test must prepare the data first"
    lint = _make_would_run("lint")
    assert lint[-2].endswith("ruff check .") and "lint-imports" in lint[-1]   # code, then rooms


def test_readme_gives_the_two_commands():
    text = (REPO / "README.md").read_text()
    assert "make demo" in text and "make test" in text
