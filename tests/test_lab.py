"""`make lab` / `make lab-full` (scripts/lab.sh): a working copy, FAST by default, no root by
accident. JupyterLab itself is replaced by a stand-in that prints what it was given."""
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
                               "LAB_DIR": str(tmp_path / "work"), **env})


def test_lab_opens_a_working_copy_in_fast_mode_and_keeps_a_students_edits(tmp_path, fake_jupyter):
    root = {"ALLOW_ROOT": "1"} if os.geteuid() == 0 else {}
    work = tmp_path / "work"
    r = run("fast", tmp_path, fake_jupyter, **root)
    assert r.returncode == 0, r.stderr
    assert "GMGAN_FAST=1" in r.stdout and str(work) in r.stdout and "FAST" in r.stdout
    copies = sorted(p.name for p in work.glob("*.ipynb"))
    assert copies == sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb")) and copies
    edited = work / copies[0]
    edited.write_text("a student's answer")
    r = run("full", tmp_path, fake_jupyter, **root)
    assert r.returncode == 0 and "GMGAN_FAST=0" in r.stdout
    assert edited.read_text() == "a student's answer"          # never overwritten


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
    """Changing the course happens on notebooks/ (jupytext saves the twin with it), not a copy."""
    r = run("edit", tmp_path, fake_jupyter, ALLOW_ROOT="1")
    assert r.returncode == 0, r.stderr
    assert "GMGAN_FAST=1" in r.stdout and r.stdout.rstrip().endswith(" notebooks")
    assert not (tmp_path / "work").exists()
