"""scripts/reproduce.py: the table's runner lists, trains, keeps, resumes and refuses as documented."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "reproduce.py"


def reproduce(*args, check=True):
    result = subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_lists_the_whole_table(tmp_path):
    lines = reproduce("--list", "--out", tmp_path).stdout.splitlines()
    assert len(lines) == 2 * 2 * 2 * 3 + 4           # models x datasets x fractions x seeds + ablations
    assert all(line.startswith("new") for line in lines)
    names = {line.split()[-1] for line in lines}
    assert {"gmgan-mnist-seed0", "gan-rotmnist-10pc-seed2", "ablation-pde-in-both-mnist"} <= names


def test_a_damaged_checkpoint_is_named_and_left_alone(tmp_path):
    run = tmp_path / "gan-mnist-seed1"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(b"not a checkpoint")
    result = reproduce("--out", tmp_path, "--results", tmp_path / "r.json",
                       "--only", "gan-mnist-seed1", check=False)
    assert result.returncode == 1
    assert f"{run / 'checkpoint.pt'} fails its integrity check" in result.stderr
    assert (run / "checkpoint.pt").read_bytes() == b"not a checkpoint"
    assert "damaged" in reproduce("--list", "--out", tmp_path, "--only", "gan-mnist-seed1").stdout


def test_a_run_trains_is_collected_and_is_then_kept(tmp_path):
    results = tmp_path / "r.json"
    args = ("--out", tmp_path, "--results", results, "--only", "gan-mnist-seed0",
            "--minutes", "0.03", "--segment", "0.015", "--n", "200")
    reproduce(*args)
    row = json.loads(results.read_text())["gan-mnist-seed0"]
    assert row["model"] == "gan" and row["steps"] > 0 and 0 < row["seconds"] < 10
    assert row["parameters"] == {"generator": 771969, "discriminator": 138689}
    assert [p["minutes"] for p in row["curve"]] == sorted(p["minutes"] for p in row["curve"])
    assert len(row["curve"]) == 2                         # a snapshot per segment
    before = (tmp_path / "gan-mnist-seed0" / "checkpoint.pt").read_bytes()
    again = reproduce(*args)
    assert "done     gan-mnist-seed0 (kept; --force trains it again)" in again.stdout
    assert (tmp_path / "gan-mnist-seed0" / "checkpoint.pt").read_bytes() == before


def test_bad_arguments_are_refused_with_the_parameter_named(tmp_path):
    result = reproduce("--out", tmp_path, "--only", "nothing-*", check=False)
    assert result.returncode == 2 and "--only 'nothing-*' matches no run" in result.stderr
    result = reproduce("--out", tmp_path, "--minutes", "0", check=False)
    assert result.returncode == 2 and "--minutes must be a positive number" in result.stderr


def test_the_table_of_collected_results(tmp_path):
    row = {"model": "gan", "dataset": "mnist", "fraction": 1.0, "seed": 0, "model_config": {},
           "steps": 100, "seconds": 600.0, "parameters": {"generator": 10, "discriminator": 2},
           "metrics": {"fid": 80.0, "kl": 0.05, "mnist_score": 7.0, "precision": 0.4,
                       "recall": 0.8},
           "floor": {"per_seed": [{"fid": 1.99}]}, "curve": []}
    results = tmp_path / "r.json"
    results.write_text(json.dumps({"gan-mnist-seed0": row, "gan-mnist-seed1": {
        **row, "seed": 1, "steps": 120, "metrics": {**row["metrics"], "fid": 90.0}}}))
    table = reproduce("--table", "--results", results).stdout
    assert "| `gan-mnist` | mnist | all | 10 + 2 | 2 | 110 | 85.0 ± 7.1 |" in table


def test_the_curves_are_drawn(tmp_path):
    row = {"model": "gmgan", "dataset": "mnist", "fraction": 1.0, "seed": 0,
           "curve": [{"minutes": 2.0, "fid": 130.0}, {"minutes": 4.0, "fid": 100.0}]}
    results = tmp_path / "r.json"
    results.write_text(json.dumps({"gmgan-mnist-seed0": row,
                                   "gan-mnist-seed0": {**row, "model": "gan"}}))
    reproduce("--results", results, "--plot", tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    result = reproduce("--results", empty, "--plot", tmp_path / "no.png", check=False)
    assert result.returncode == 1 and "holds no curve yet" in result.stderr
    assert not (tmp_path / "no.png").exists()
