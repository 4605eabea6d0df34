"""Where there is no Chromium the browser test skips and says how to get one, except in CI
(GMGAN_REQUIRE_BROWSER=1), where it fails: it may never pass by not running."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run_browser_test(**env) -> subprocess.CompletedProcess:
    # A PATH with no Chromium on it (the venv's own tools only).
    base = {k: v for k, v in os.environ.items() if k not in ("GMGAN_CHROMIUM", "PYTEST_ADDOPTS")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "tests/browser", "-q", "-p", "no:cacheprovider", "-rs",
         "-k", "explore"], cwd=REPO, capture_output=True, text=True,
        env={**base, "PATH": str(Path(sys.executable).parent), **env})


def test_no_chromium_skips_with_the_way_to_install_it():
    r = _run_browser_test(GMGAN_REQUIRE_BROWSER="0")
    assert r.returncode == 0 and "1 skipped" in r.stdout, r.stdout
    assert "apt-get install chromium" in r.stdout


def test_no_chromium_fails_where_the_browser_test_is_required():
    r = _run_browser_test(GMGAN_REQUIRE_BROWSER="1")
    assert r.returncode != 0 and "must run here" in r.stdout, r.stdout
