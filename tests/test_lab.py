"""`make lab` / `make lab-full` / `make lab-edit` (scripts/lab.sh): a working copy, FAST by
default, no root by accident, and a server root that holds docs/ beside the notebooks (so that
`../docs/...` links and pictures resolve; tests/browser/test_links.py opens them in a browser).
JupyterLab itself is replaced by a stand-in that prints what it was given."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAB = REPO / "scripts" / "lab.sh"


@pytest.fixture
def fake_jupyter(tmp_path):
    script = tmp_path / "jupyter"
    script.write_text('#!/bin/sh\necho "GMGAN_FAST=$GMGAN_FAST ARGS=$*"\n')
    script.chmod(0o755)
    return script


def run(mode, tmp_path, fake_jupyter, **env):
    return subprocess.run(["bash", str(LAB), mode], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "JUPYTER": str(fake_jupyter),
                               "LAB_ROOT": str(tmp_path / "work"), **env})


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_lab_opens_a_working_copy_in_fast_mode_and_keeps_a_students_edits(tmp_path, fake_jupyter):
    root = {"ALLOW_ROOT": "1"} if os.geteuid() == 0 else {}
    work = tmp_path / "work"
    r = run("fast", tmp_path, fake_jupyter, **root)
    assert r.returncode == 0, r.stderr
    assert "GMGAN_FAST=1" in r.stdout and "FAST" in r.stdout
    # served from the folder that holds the copy and docs/, opened on the copy
    assert f"--ServerApp.root_dir={work} " in r.stdout
    assert "--FileContentsManager.preferred_dir=notebooks" in r.stdout
    copies = sorted(p.name for p in (work / "notebooks").glob("*.ipynb"))
    assert copies == sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb")) and copies
    assert files_under(work / "docs") == files_under(REPO / "docs")
    edited = work / "notebooks" / copies[0]
    edited.write_text("a student's answer")
    (work / "docs" / "method.md").write_text("stale")
    (work / "docs" / "removed.md").write_text("a page docs/ no longer has")
    r = run("full", tmp_path, fake_jupyter, **root)
    assert r.returncode == 0 and "GMGAN_FAST=0" in r.stdout
    assert edited.read_text() == "a student's answer"          # never overwritten
    # docs/ is the course's reference, copied afresh at every start
    assert files_under(work / "docs") == files_under(REPO / "docs")
    assert (work / "docs" / "method.md").read_bytes() == (REPO / "docs" / "method.md").read_bytes()


def test_lab_passes_its_options_on_to_jupyter(tmp_path, fake_jupyter):
    r = subprocess.run(["bash", str(LAB), "fast", "--port=8890", "--no-browser"],
                       capture_output=True, text=True, cwd=tmp_path,
                       env={**os.environ, "JUPYTER": str(fake_jupyter), "ALLOW_ROOT": "1",
                            "LAB_ROOT": str(tmp_path / "work")})
    assert r.returncode == 0, r.stderr
    assert r.stdout.rstrip().endswith("--port=8890 --no-browser")


@pytest.mark.skipif(os.geteuid() != 0, reason="the root check needs to run as root")
def test_lab_refuses_root_unless_asked(tmp_path, fake_jupyter):
    r = run("fast", tmp_path, fake_jupyter, ALLOW_ROOT="0")
    assert r.returncode == 2 and "ALLOW_ROOT=1" in r.stderr and "ARGS" not in r.stdout
    r = run("fast", tmp_path, fake_jupyter, ALLOW_ROOT="1")
    assert r.returncode == 0 and "--allow-root" in r.stdout


def test_lab_needs_a_mode(tmp_path, fake_jupyter):
    r = run("everything", tmp_path, fake_jupyter, ALLOW_ROOT="1")
    assert r.returncode == 2 and "usage" in r.stderr


def test_lab_edit_opens_the_course_itself(tmp_path, fake_jupyter):
    """Changing the course happens on notebooks/ (jupytext saves the twin with it), not a copy:
    the server's root is the repository (docs/ beside notebooks/), the file browser opens
    notebooks/."""
    r = run("edit", tmp_path, fake_jupyter, ALLOW_ROOT="1")
    assert r.returncode == 0, r.stderr
    assert "GMGAN_FAST=1" in r.stdout and "--ServerApp.root_dir=. " in r.stdout
    assert "--FileContentsManager.preferred_dir=notebooks" in r.stdout
    assert not (tmp_path / "work").exists()
