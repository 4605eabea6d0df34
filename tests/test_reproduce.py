"""scripts/reproduce.py: the table's runner lists, trains, keeps, resumes and refuses as documented."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gmgan_lib.checkpoint import load_checkpoint

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

    # Its final generator exported (named by model, dataset, fraction, seed; in the manifest),
    # then drawn in the sample grids.
    exported = tmp_path / "exported"
    assert "1 generators exported" in reproduce("--out", tmp_path, "--export", exported).stdout
    generator = exported / "gan-mnist-all-seed0.pt"
    listed = dict(line.split()[::-1] for line in (exported / "SHA256SUMS").read_text().splitlines())
    assert listed == {generator.name: hashlib.sha256(generator.read_bytes()).hexdigest()}
    state = load_checkpoint(generator)
    assert "discriminator" not in state and state["step"] == row["steps"]
    reproduce("--export", exported, "--grids", tmp_path / "grids.png")
    assert (tmp_path / "grids.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


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


COMMITTED = REPO / "data" / "checkpoints" / "cpu-table"
RESULTS = REPO / "docs" / "results" / "cpu_table.json"


@pytest.mark.parametrize("run, dataset", [("gmgan-rotmnist-seed0", "rotmnist")])
def test_a_committed_generator_reevaluates_as_recorded(run, dataset):
    """The table's numbers come from the committed generators: evaluated again exactly as
    recorded (N = 10,000, noise seed 0), the same figures within float round-off."""
    from gmgan_lib.evaluation.evaluate import evaluate_generator
    from gmgan_lib.sampling import load_generator

    recorded = json.loads(RESULTS.read_text())[run]["metrics"]
    name = run.replace("-seed", "-all-seed") + ".pt"
    result = evaluate_generator(load_generator(COMMITTED / name), dataset, n=10_000)
    measured = result.per_seed[0]
    assert measured["fid"] == pytest.approx(recorded["fid"], rel=1e-3)
    assert measured["kl"] == pytest.approx(recorded["kl"], rel=1e-3, abs=1e-4)
    assert measured["mnist_score"] == pytest.approx(recorded["mnist_score"], rel=1e-3)
    assert abs(measured["precision"] - recorded["precision"]) <= 0.002
    assert abs(measured["recall"] - recorded["recall"]) <= 0.002


# ------------------------------------------------------------------ the part "data-efficiency"


def efficiency(*args, check=True):
    return reproduce("--part", "data-efficiency", *args, check=check)


def test_the_data_efficiency_part_lists_its_runs_most_telling_first(tmp_path):
    # (--results: a file of its own, so that the committed results mark no run as done here)
    listed = efficiency("--list", "--out", tmp_path, "--results", tmp_path / "none.json").stdout
    names = [line.split()[-1] for line in listed.splitlines()]
    assert len(names) == 4 * 5 * 3 + 4        # settings (and 100 %) x models x seeds + ablations
    assert names[:5] == [f"rotmnist-1pc-{m}-seed0" for m in
                         ("gm", "gm-diffaug", "gan", "gan-diffaug", "gan-rotate")]
    assert {"mnist-1pc-gan-rotate-seed2", "rotmnist-10pc-gm-seed1", "rotmnist-all-gan-seed0",
            "rotmnist-1pc-gm-invariant-max-noturn-seed0"} <= set(names)
    picked = efficiency("--list", "--out", tmp_path, "--results", tmp_path / "none.json", "--only",
                        "rotmnist-1pc-gm-seed0,mnist-1pc-gan-seed1").stdout.split()
    assert picked == ["new", "rotmnist-1pc-gm-seed0", "new", "mnist-1pc-gan-seed1"]


@pytest.mark.parametrize("args, message", [
    (("--steps", "0"), "--steps must be a positive integer"),
    (("--steps", "10", "--horizon", "5"), "--horizon must be at least --steps"),
    (("--only", "nothing-*"), "matches no run"),
])
def test_the_data_efficiency_part_refuses_bad_arguments(tmp_path, args, message):
    result = efficiency("--out", tmp_path, *args, check=False)
    assert result.returncode == 2 and message in result.stderr


def test_an_unknown_part_is_refused_naming_the_parts():
    result = reproduce("--part", "everything", check=False)
    assert result.returncode == 2
    assert "--part must be one of cpu-table, data-efficiency; got 'everything'" in result.stderr


def test_a_data_efficiency_run_is_evaluated_along_collected_and_never_trained_again(tmp_path):
    results, out = tmp_path / "r.json", tmp_path / "runs"
    args = ("--out", out, "--results", results, "--only", "mnist-1pc-gan-diffaug-seed0",
            "--steps", "4", "--segment", "2", "--n", "200")
    efficiency(*args)
    row = json.loads(results.read_text())["mnist-1pc-gan-diffaug-seed0"]
    assert (row["model"], row["augment"], row["images"], row["steps"]) == ("gan", "diffaugment", 600, 4)
    assert [p["steps"] for p in row["curve"]] == [2, 4]            # a snapshot per segment
    assert all({"fid", "gap", "r_t", "d_train", "d_held_out"} <= set(p) for p in row["curve"])
    assert row["metrics"]["fid"] == row["curve"][-1]["fid"]
    table = efficiency("--table", "--results", results).stdout
    assert "| 600 upright digits | DCGAN + DiffAugment | 1 |" in table
    # An earlier session's runs are gone but collected: they count as done.
    import shutil

    shutil.rmtree(out)
    assert efficiency("--list", *args).stdout.split() == ["done", "mnist-1pc-gan-diffaug-seed0"]
    assert "0 finished runs" not in efficiency(*args).stdout and not (out / "mnist-1pc-gan-diffaug-seed0").exists()


def test_a_damaged_data_efficiency_run_is_named_and_the_others_go_on(tmp_path):
    run = tmp_path / "rotmnist-1pc-gm-seed0"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(b"not a checkpoint")
    result = efficiency("--out", tmp_path, "--results", tmp_path / "r.json",
                        "--only", "rotmnist-1pc-gm-seed0", check=False)
    assert result.returncode == 1
    assert f"{run / 'checkpoint.pt'} fails its integrity check" in result.stderr
    assert (run / "checkpoint.pt").read_bytes() == b"not a checkpoint"
    assert efficiency("--list", "--out", tmp_path, "--only", "rotmnist-1pc-gm-seed0").stdout.split() \
        == ["damaged", "rotmnist-1pc-gm-seed0"]


def test_the_data_efficiency_generators_are_exported_with_their_sha256_and_drawn(tmp_path):
    from gmgan_lib.sampling import load_generator
    from gmgan_lib.training import TrainConfig, train

    snapshots = tmp_path / "runs" / "rotmnist-1pc-gan-seed0" / "snapshots"
    snapshots.mkdir(parents=True)
    train(TrainConfig(model="gan", dataset="rotmnist", data_fraction=0.01, max_steps=2,
                      model_config={"g_width": 8, "d_width": 8}), tmp_path / "run", verbose=False)
    (snapshots / "0000002.pt").write_bytes((tmp_path / "run" / "checkpoint.pt").read_bytes())
    exported = tmp_path / "exported"
    assert "1 generators exported" in efficiency("--out", tmp_path / "runs", "--steps", "2",
                                                 "--export", exported).stdout
    digest = hashlib.sha256((exported / "rotmnist-1pc-gan-seed0.pt").read_bytes()).hexdigest()
    assert f"{digest}  rotmnist-1pc-gan-seed0.pt" in (exported / "SHA256SUMS").read_text()
    assert "discriminator" not in load_checkpoint(exported / "rotmnist-1pc-gan-seed0.pt")
    assert load_generator(exported / "rotmnist-1pc-gan-seed0.pt").latent_dim == 100
    efficiency("--export", exported, "--grids", tmp_path / "grids.png")
    assert (tmp_path / "grids.png").stat().st_size > 1000


DATA_EFFICIENCY = REPO / "data" / "checkpoints" / "data-efficiency"


@pytest.mark.parametrize("run", ["rotmnist-1pc-gm-seed0"])
def test_a_committed_data_efficiency_generator_reevaluates_as_recorded(run):
    """The data-efficiency table's figures come from the committed generators (600 rotated
    digits, seed 0, at the budget): evaluated again at N = 10,000, noise seed 0, as recorded."""
    from gmgan_lib.evaluation.evaluate import evaluate_generator
    from gmgan_lib.sampling import load_generator

    recorded = json.loads((REPO / "docs" / "results" / "data_efficiency.json").read_text())[run]
    measured = evaluate_generator(load_generator(DATA_EFFICIENCY / f"{run}.pt"), "rotmnist",
                                  n=10_000).per_seed[0]
    assert load_checkpoint(DATA_EFFICIENCY / f"{run}.pt")["step"] == recorded["steps"]
    for key in ("fid", "mnist_score"):
        assert measured[key] == pytest.approx(recorded["metrics"][key], rel=1e-3)
    assert measured["kl"] == pytest.approx(recorded["metrics"]["kl"], rel=1e-3, abs=1e-4)
    assert abs(measured["recall"] - recorded["metrics"]["recall"]) <= 0.002


def test_every_committed_data_efficiency_generator_is_listed_and_recorded():
    from gmgan_lib.models import resolve_config

    rows = json.loads((REPO / "docs" / "results" / "data_efficiency.json").read_text())
    listed = (DATA_EFFICIENCY / "SHA256SUMS").read_text()
    for path in sorted(DATA_EFFICIENCY.glob("*.pt")):
        assert f"  {path.name}\n" in listed
        assert rows[path.stem]["dataset"] == "rotmnist" and rows[path.stem]["images"] == 600
        config, row = load_checkpoint(path)["config"], rows[path.stem]
        assert (config["model"], config["augment"]) == (row["model"], row["augment"])
        assert config["model_config"] == resolve_config(row["model"], **row["model_config"])


def test_the_data_efficiency_verdict_is_printed_and_written_into_a_page(tmp_path):
    from gmgan_lib.data_efficiency import END_MARK, GENERATED, begin_mark

    results = tmp_path / "r.json"
    fids = {("gm", 0): 50.0, ("gm", 1): 52.0, ("gan", 0): 60.0, ("gan", 1): 62.0}
    results.write_text(json.dumps({
        f"{row}-{seed}": {"row": row, "seed": seed, "dataset": "rotmnist", "images": 600,
                          "steps": 10, "metrics": {"fid": fid, "kl": 0.1, "mnist_score": 4.0,
                                                   "precision": 0.5, "recall": 0.5},
                          "curve": [{"steps": 10, "fid": fid, "gap": 1.0, "r_t": 1.0}]}
        for (row, seed), fid in fids.items()}))
    printed = efficiency("--results", results, "--verdict").stdout
    assert "| 600 rotated digits | GM-GAN | DCGAN | 51.0 ± 1.4 against 61.0 ± 1.4 (+10.0) | ahead" \
        in printed
    assert "| DCGAN | 61.0 ± 1.4 (2) |" in printed                      # what less data costs
    page, front = tmp_path / "page.md", tmp_path / "front.md"
    page.write_text("".join(f"{begin_mark(n)}\n{END_MARK}\n" for n in GENERATED) + "kept\n")
    front.write_text(f"intro\n{begin_mark('summary')}\n{END_MARK}\n")     # one table only
    efficiency("--results", results, "--update-doc", page, front)
    assert "(+10.0) | ahead" in page.read_text() and page.read_text().endswith("kept\n")
    assert "| 600 rotated digits | 51.0 ± 1.4 (2) |" in front.read_text()
    filled = page.read_text()
    bad = tmp_path / "bad.md"
    bad.write_text("no marks here\n")
    page.write_text(filled.replace("51.0", "99.9"))                   # stale: would be rewritten
    result = efficiency("--results", results, "--update-doc", page, bad, check=False)
    assert result.returncode == 2 and str(bad) in result.stderr and "mark" in result.stderr
    assert bad.read_text() == "no marks here\n"                      # nothing written,
    assert "99.9" in page.read_text()                                 # not even the good page
    result = efficiency("--results", tmp_path / "none.json", "--update-doc", page, check=False)
    assert result.returncode == 1 and "holds no finished run" in result.stderr
