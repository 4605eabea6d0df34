"""A real browser for the widget tests: Debian's Chromium driven by Playwright, against a
JupyterLab or Voila server started on 127.0.0.1 for the test.

Chromium comes from the system (`scripts/chromium.sh`, run by `make test-browser`, installs it
as root); Playwright's own browser download is not used. Where neither is found the tests skip
and say why, except under GMGAN_REQUIRE_BROWSER=1 (CI), where they fail instead.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Screenshots of a failing page land here (git-ignored), named after the test.
SCREENSHOTS = ROOT / "build" / "browser-test"
TOKEN = "gmgan-browser-test"


def chromium_path() -> str | None:
    for name in (os.environ.get("GMGAN_CHROMIUM"), "chromium", "chromium-browser"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _unavailable(reason: str):
    if os.environ.get("GMGAN_REQUIRE_BROWSER") == "1":
        pytest.fail(f"the browser test must run here (GMGAN_REQUIRE_BROWSER=1): {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    if path is None:
        _unavailable("no Chromium on PATH: `sudo apt-get install chromium` (or run "
                     "`make test-browser` as root), or point GMGAN_CHROMIUM at one")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed: `make setup`")
    with sync_playwright() as p:
        # --no-sandbox: Chromium's sandbox refuses to start as root (containers, CI).
        b = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield b
        b.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server process on 127.0.0.1:port, its log kept for the failure message."""

    def __init__(self, argv: list[str], port: int, cwd: Path, ready: str, log: Path,
                 env: dict[str, str] | None = None):
        self.port, self.log = port, log
        self.url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "GMGAN_FAST": "1", "JUPYTER_CONFIG_DIR": str(cwd / ".jupyter"),
               **(env or {})}
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log.open("w"),
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                urllib.request.urlopen(self.url + ready, timeout=2)
                return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"server not ready in 90 s:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def lab_settings(folder: Path) -> Path:
    """JupyterLab settings for a test: every cell in the DOM (no windowing, so a widget below
    the fold is there to find) and no news pop-up over the page."""
    settings = folder / ".jupyter" / "lab" / "user-settings" / "@jupyterlab"
    (settings / "notebook-extension").mkdir(parents=True)
    (settings / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        '{"windowingMode": "none"}')
    (settings / "apputils-extension").mkdir(parents=True)
    (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}')
    return settings.parent


@pytest.fixture
def workdir(tmp_path):
    """A copy of the notebooks, their text twins and the jupytext configuration, as a clone has
    them: nothing the test does (saving, checkpoints) reaches notebooks/."""
    shutil.copy(ROOT / "jupytext.toml", tmp_path / "jupytext.toml")
    for path in [*(ROOT / "notebooks").glob("*.ipynb"), *(ROOT / "notebooks").glob("*.py")]:
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


@pytest.fixture
def lab(workdir):
    port = free_port()
    settings = lab_settings(workdir)
    argv = [str(BIN / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
            f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={workdir}",
            f"--LabApp.user_settings_dir={settings}", "--LabApp.expose_app_in_browser=True",
            "--ServerApp.open_browser=False"]
    if os.geteuid() == 0:
        argv.append("--allow-root")
    server = Server(argv, port, workdir, f"/api/status?token={TOKEN}", workdir / "lab.log")
    server.token = TOKEN
    yield server
    server.stop()


@pytest.fixture(scope="module", params=["fast", "edit"], ids=["make-lab", "make-lab-edit"])
def course_lab(request, tmp_path_factory):
    """JupyterLab as scripts/lab.sh starts it (`make lab`: the working copy in work/, docs/
    copied beside it; `make lab-edit`: the repository, opened on notebooks/), on a copy of what
    the script reads, in a temporary folder. One server per layout for a module's tests (they
    only read)."""
    tmp_path = tmp_path_factory.mktemp(f"course-{request.param}")
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "lab.sh", repo / "scripts" / "lab.sh")
    shutil.copy(ROOT / "jupytext.toml", repo / "jupytext.toml")
    skip = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    shutil.copytree(ROOT / "notebooks", repo / "notebooks", ignore=skip)
    shutil.copytree(ROOT / "docs", repo / "docs", ignore=skip)
    port = free_port()
    settings = lab_settings(tmp_path)
    argv = ["bash", str(repo / "scripts" / "lab.sh"), request.param, "--no-browser",
            "--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={TOKEN}",
            f"--LabApp.user_settings_dir={settings}", "--LabApp.expose_app_in_browser=True"]
    server = Server(argv, port, tmp_path, f"/api/status?token={TOKEN}", tmp_path / "lab.log",
                    env={"JUPYTER": str(BIN / "jupyter"), "ALLOW_ROOT": "1"})
    server.mode = request.param
    yield server
    server.stop()


@pytest.fixture
def voila(workdir):
    """`make explore`'s server: Voila on the explorers page of the copy.

    Readiness is asked of a static file: every GET of the page starts a kernel that runs the
    whole notebook, so probing "/" ran a second copy of the page beside the browser's (one more
    per probe that timed out while the server started), on a 2-core machine."""
    port = free_port()
    server = Server([str(BIN / "voila"), "explorers.ipynb", "--no-browser",
                     "--Voila.ip=127.0.0.1", f"--port={port}"],
                    port, workdir, "/voila/static/voila.js", workdir / "voila.log")
    yield server
    server.stop()


@pytest.fixture
def page(browser, request):
    """A fresh page; page errors are collected, and a failing test leaves a screenshot."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    yield pg
    if getattr(request.node, "failed", False):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shot = SCREENSHOTS / f"{request.node.name}.png"
        pg.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the failing page: {shot}")
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        item.failed = True
