"""Faults provoked for real, not simulated: a disk that fills up (a small tmpfs) and SIGKILLs at
random moments of every command that writes a file.

What each command promises (docs/faults.md): a failure is one line and exit 1; a file is either
absent or complete, never half-written, and no temporary is left beside it (a SIGKILL may leave
one, which the next write of that file removes); a full disk keeps the previous checkpoint.

The disk tests need root and `mount` (a container as this project's CI runs in); elsewhere they
are skipped and say why.
"""
from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from gmgan_lib.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[1]
GENERATOR = REPO / "data" / "checkpoints" / "gan-mnist-cpu.pt"
# The smallest training that writes every kind of file: a few DCGAN steps on a few digits.
TINY_TRAIN = ["train", "--model", "gan", "--batch-size", "8", "--data-fraction", "0.002",
              "--device", "cpu", "--log-every", "1", "--no-epoch-files"]


def gmgan(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GMGAN_DEBUG": "0"}
    return subprocess.run([sys.executable, "-m", "gmgan_lib", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def errors(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error")]


def leftovers(folder: Path) -> list[str]:
    """Temporaries of an atomic write (``.<name>.XXXXXXXX.tmp``) left in ``folder``."""
    return sorted(p.name for p in folder.rglob("*.tmp"))


@contextlib.contextmanager
def small_disk(path: Path, kib: int):
    """A tmpfs of ``kib`` KiB mounted at ``path`` for the block (skips the test where one cannot
    be mounted)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'not root'})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(disk: Path, leave_kib: int) -> None:
    """Fill ``disk`` until about ``leave_kib`` KiB are free."""
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize - leave_kib * 1024
    if free > 0:
        (disk / "ballast").write_bytes(b"\0" * free)


needs_generator = pytest.mark.skipif(not GENERATOR.is_file(), reason="no committed generator")


# ------------------------------------------------------------------------------- disk full
@needs_generator
def test_sample_on_a_full_disk_is_one_line_and_leaves_nothing(tmp_path):
    with small_disk(tmp_path / "disk", 512) as disk:
        fill(disk, 8)                                     # a 64-sample grid needs ~40 KiB
        result = gmgan("sample", "--checkpoint", str(GENERATOR), "--out", str(disk / "grid.png"))
        assert result.returncode == 1, result.stderr
        assert errors(result) == [f"error: {disk / 'grid.png'}: No space left on device; free "
                                  f"some space on that disk, or write elsewhere (the previous "
                                  f"version of the file, if any, is kept)"]
        assert "Traceback" not in result.stderr
        assert sorted(p.name for p in disk.iterdir()) == ["ballast"]


@needs_generator
def test_evaluate_on_a_full_disk_is_one_line_and_leaves_no_report(tmp_path):
    with small_disk(tmp_path / "disk", 256) as disk:
        fill(disk, 0)
        result = gmgan("evaluate", "--checkpoint", str(GENERATOR), "--n", "100", "--seeds", "1",
                       "--out", str(disk / "eval"))
        assert result.returncode == 1, result.stderr
        assert len(errors(result)) == 1 and "No space left on device" in errors(result)[0]
        assert "Traceback" not in result.stderr
        assert not (disk / "eval" / "eval.json").exists() and leftovers(disk) == []


def test_a_disk_that_fills_during_training_keeps_the_last_checkpoint(tmp_path):
    """Room for one checkpoint and its run files, not for a second one beside it (an atomic
    write needs both while it renames): the run stops with one line, exit 1, and the first
    checkpoint loads, complete."""
    probe = gmgan(*TINY_TRAIN, "--max-steps", "1", "--checkpoint-every", "1",
                  "--out", str(tmp_path / "probe"))
    assert probe.returncode == 0, probe.stderr
    size_kib = (tmp_path / "probe" / "checkpoint.pt").stat().st_size // 1024
    with small_disk(tmp_path / "disk", int(size_kib * 1.5) + 64) as disk:
        result = gmgan(*TINY_TRAIN, "--max-steps", "3", "--checkpoint-every", "1",
                       "--out", str(disk / "run"))
        assert result.returncode == 1, result.stderr
        assert len(errors(result)) == 1 and "No space left on device" in errors(result)[0]
        assert "Traceback" not in result.stderr
        assert load_checkpoint(disk / "run" / "checkpoint.pt")["step"] == 1
        assert leftovers(disk) == []


# ------------------------------------------------------------------- SIGKILL at any moment
def killed_at_random(args: list[str], seconds: tuple[float, float], rng: random.Random) -> float:
    """Start ``python -m gmgan_lib *args`` and SIGKILL it after a random delay; the delay."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "gmgan_lib", *args], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    delay = rng.uniform(*seconds)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return delay


@needs_generator
def test_sample_killed_at_any_moment_leaves_a_whole_grid_or_none(tmp_path):
    rng = random.Random(0)
    out = tmp_path / "grid.png"
    started = time.perf_counter()
    complete = gmgan("sample", "--checkpoint", str(GENERATOR), "--n", "256", "--out", str(out))
    assert complete.returncode == 0, complete.stderr
    whole = out.read_bytes()
    span = time.perf_counter() - started
    for _ in range(4):
        out.unlink(missing_ok=True)
        killed_at_random(["sample", "--checkpoint", str(GENERATOR), "--n", "256",
                          "--out", str(out)], (0.3 * span, 1.1 * span), rng)
        if out.exists():                      # finished before the kill: the same grid, whole
            assert out.read_bytes() == whole
            with Image.open(out) as im:
                im.verify()
    # A killed write may leave its temporary; the next write of that file removes it.
    assert gmgan("sample", "--checkpoint", str(GENERATOR), "--n", "256",
                 "--out", str(out)).returncode == 0
    assert leftovers(tmp_path) == [] and out.read_bytes() == whole


@needs_generator
def test_evaluate_killed_at_any_moment_leaves_a_whole_report_or_none(tmp_path):
    rng = random.Random(1)
    args = ["evaluate", "--checkpoint", str(GENERATOR), "--n", "300", "--seeds", "1"]
    started = time.perf_counter()
    assert gmgan(*args, "--out", str(tmp_path / "whole")).returncode == 0
    span = time.perf_counter() - started
    for trial in range(3):
        out = tmp_path / f"killed-{trial}"
        killed_at_random([*args, "--out", str(out)], (0.3 * span, 1.1 * span), rng)
        report = out / "eval.json"
        if report.exists():
            assert "fid" in json.dumps(json.loads(report.read_text()))
        assert not [p for p in out.rglob("*") if p.is_file() and p.stat().st_size == 0]


def test_prepare_data_killed_at_any_moment_leaves_only_verified_files(tmp_path):
    """Each raw file appears under its name whole (md5-checked, then renamed into place) or not
    at all, so a SIGKILL at any moment leaves a folder that the next `prepare-data` completes
    without a complaint about a corrupted file."""
    mirror = REPO / "data"
    if not (mirror / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").is_file():
        pytest.skip("MNIST is not in data/ (make data)")
    import hashlib

    from gmgan_lib.data import RAW
    rng = random.Random(2)
    env = {**os.environ, "GMGAN_DATA_MIRROR": str(mirror), "GMGAN_DATA_DOWNLOAD": "0"}
    for trial in range(3):
        root = tmp_path / f"root-{trial}"
        env["GMGAN_DATA_ROOT"] = str(root)
        proc = subprocess.Popen([sys.executable, "-m", "gmgan_lib", "prepare-data", "--dataset",
                                 "mnist"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=rng.uniform(2.0, 8.0))
        proc.kill()
        proc.wait()
        expected = {rf.name: rf.md5 for rf in RAW["mnist"].files.values()}
        for path in (root / "MNIST" / "raw").glob("*") if (root / "MNIST").exists() else []:
            if path.name in expected:       # under its real name: whole
                assert hashlib.md5(path.read_bytes()).hexdigest() == expected[path.name]
        again = subprocess.run([sys.executable, "-m", "gmgan_lib", "prepare-data", "--dataset",
                                "mnist"], cwd=REPO, env=env, capture_output=True, text=True)
        assert again.returncode == 0 and "ok" in again.stdout, again.stderr
