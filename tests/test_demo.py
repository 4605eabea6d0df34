"""The `make demo` job, shrunk to two training steps: it writes what it promises."""
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from gmgan_lib.__main__ import main
from gmgan_lib.checkpoint import load_checkpoint
from gmgan_lib.demo import DEMO_MARK
from gmgan_lib.training import TrainConfig, train

REPO = Path(__file__).resolve().parents[1]
# Two training steps of the smallest GM-GAN on a few digits, no evaluation.
QUICK = ["--steps", "2", "--batch-size", "8", "--data-fraction", "0.002", "--eval-n", "0"]


def test_demo_writes_samples_and_metrics(tmp_path, capsys):
    out = tmp_path / "demo"
    out.mkdir()
    (out / DEMO_MARK).write_text("")                              # a folder of an older demo ...
    (out / "samples_epoch_007.png").write_bytes(b"stale")        # ... with one of its files
    (out / "notes.txt").write_text("mine")                        # not the demo's: kept
    rc = main(["demo", "--out", str(out), "--max-steps", "2", "--batch-size", "8",
               "--data-fraction", "0.002", "--eval-n", "0"])
    assert rc == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["train"]["steps"] == 2 and report["train"]["stopped_by"] == "done"
    assert report["metrics"] is None and report["what"] == "skipped (--eval-n 0)"
    ours, baseline = report["parameters"]["gmgan"], report["parameters"]["gan_baseline"]
    assert ours["total"] == ours["generator"] + ours["discriminator"] < baseline["total"]
    from gmgan_lib.models import resolve_config
    assert report["model_config"] == resolve_config("gmgan")        # the default GM-GAN
    assert report["floor"] is None
    with Image.open(out / "samples.png") as im:
        assert im.size == (242, 242)
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 2
    assert not (out / "samples_epoch_007.png").exists() and (out / "notes.txt").exists()
    assert "demo: wrote" in capsys.readouterr().out


def test_a_demo_folder_from_before_the_mark_is_still_started_over(tmp_path):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "metrics.json").write_text(json.dumps({"parameters": {"gan_baseline": {"total": 1}}}))
    (out / "samples.png").write_bytes(b"old")
    rc = main(["demo", "--out", str(out), "--max-steps", "1", "--batch-size", "8",
               "--data-fraction", "0.002", "--eval-n", "0"])
    assert rc == 0 and (out / DEMO_MARK).is_file() and (out / "samples.png").read_bytes() != b"old"


def test_demo_rejects_bad_arguments(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "d"), "--minutes", "0"]) == 2
    assert "--minutes must be a positive number" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path / "d"), "--steps", "0"]) == 2
    assert "--steps must be a positive whole number, got 0" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path / "d"), "--eval-n", "5"]) == 2
    assert "--eval-n must be 0 (skip) or in [10, 60000]" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path / "d"), "--batch-size", "0"]) == 2
    assert "batch_size must be a positive integer" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path / "d"), "--lr", "-1"]) == 2
    assert "lr" in capsys.readouterr().err
    # Found by tests/test_cli_fuzz.py: a JSON value that is not an object, an empty --out.
    assert main(["demo", "--out", str(tmp_path / "d"), "--model-config", "0"]) == 2
    assert "--model-config must be a JSON object" in capsys.readouterr().err
    assert main(["demo", "--out", ""]) == 2
    assert "--out must name a run directory" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_demo_restores_the_thread_count(tmp_path):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert main(["demo", "--out", str(tmp_path / "d"), "--max-steps", "1", "--batch-size", "8",
                     "--data-fraction", "0.002", "--eval-n", "0", "--threads", "1"]) == 0
        assert json.loads((tmp_path / "d" / "metrics.json").read_text())["train"]["torch_threads"] == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder``, byte for byte (the lock file included)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_refused_demo_leaves_another_runs_folder_byte_for_byte(tmp_path, capsys):
    # Issue 28, item 1: demo removed checkpoint.pt, config.json and metrics.csv of the folder
    # it was pointed at before it took the lock (then refused, or trained over them).
    out = tmp_path / "run"
    train(TrainConfig(model="gan", batch_size=8, data_fraction=0.0006, max_steps=2, log_every=1,
                      checkpoint_every=3), out, verbose=False)           # a finished `train` run
    before = _snapshot(out)
    assert {"checkpoint.pt", "config.json", "metrics.csv", ".lock"} <= set(before)
    assert main(["demo", "--out", str(out), *QUICK]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(out) in err and "choose another --out" in err
    assert _snapshot(out) == before

    # A running demo's folder (marked as a demo's, its lock held as that process holds it):
    # refused by the lock, before anything is removed.
    (out / DEMO_MARK).write_text("")
    before = _snapshot(out)
    with open(out / ".lock", "r+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert main(["demo", "--out", str(out), *QUICK]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is in use by a running training" in err
    assert _snapshot(out) == before


def test_demo_refuses_more_threads_than_the_machine_has(tmp_path, capsys):
    # Issue 28, item 7: --threads 100000 ended in a segmentation fault (exit 139).
    out = tmp_path / "d"
    assert main(["demo", "--out", str(out), "--threads", "100000"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--threads" in err and f"at most {os.cpu_count()}" in err
    assert not out.exists()


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_demo_answers_sigint_and_sigterm_like_train(tmp_path, sig, code):
    # Issue 28, item 6: demo answered SIGTERM with 130 (train: 143), after evaluating all its
    # samples first. Now: the checkpoint, no evaluation, the shell's code for the signal.
    out = tmp_path / "demo"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "gmgan_lib", "demo", "--out", str(out),
                             "--max-steps", "100000", "--batch-size", "8", "--data-fraction",
                             "0.0006", "--eval-n", "10", "--threads", "1", "--model-config",
                             '{"preset": "hybrid-tiny"}'],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.time() + 90
        while not ((out / "metrics.csv").exists()   # a logged row: the training loop is running
                   and len((out / "metrics.csv").read_text().splitlines()) >= 2):
            assert proc.poll() is None and time.time() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(sig)
        stdout, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert "Traceback" not in err and f"interrupted by {signal.Signals(sig).name}" in stdout
    assert "evaluating" not in stdout                                     # stopped quickly
    report = json.loads((out / "metrics.json").read_text())
    assert report["what"] == f"skipped (interrupted by {signal.Signals(sig).name})"
    assert load_checkpoint(out / "checkpoint.pt")["step"] == report["train"]["steps"]


def test_the_demo_is_a_number_of_steps_not_a_time(tmp_path, monkeypatch):
    """Every machine draws the same digits: by default the demo trains DEMO_STEPS steps and no
    time budget can stop it earlier; --minutes is there for whoever asks for one."""
    import gmgan_lib.demo as demo

    seen = {}

    def fake_train(config, out):          # record the configuration the demo would train
        seen["config"] = config
        raise ValueError("stop here")

    monkeypatch.setattr(demo, "train", fake_train)
    assert main(["demo", "--out", str(tmp_path / "a")]) == 2
    assert seen["config"].max_steps == demo.DEMO_STEPS == 4600
    assert seen["config"].max_seconds is None
    assert main(["demo", "--out", str(tmp_path / "b"), "--minutes", "2.5", "--max-steps", "7"]) == 2
    assert seen["config"].max_steps == 7 and seen["config"].max_seconds == 150.0


def test_the_console_line_tells_the_time_left():
    from types import SimpleNamespace

    from gmgan_lib.training.report import Report

    report = SimpleNamespace(initial=100, started=time.perf_counter() - 30.0, total=1100)
    # 100 steps in 30 s: 900 steps are 270 s, 4:30.
    assert Report.eta(report, 200).endswith("about 4:30 left")
    assert Report.eta(report, 100) == "" and Report.eta(report, 1100) == ""
