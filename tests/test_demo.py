"""The `make demo` job, shrunk to two training steps: it writes what it promises."""
import json

from PIL import Image

from gmgan_lib.__main__ import main
from gmgan_lib.checkpoint import load_checkpoint


def test_demo_writes_samples_and_metrics(tmp_path, capsys):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "samples_epoch_007.png").write_bytes(b"stale")        # from an older demo run
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


def test_demo_rejects_bad_arguments(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "d"), "--minutes", "0"]) == 2
    assert "--minutes must be a positive number" in capsys.readouterr().err
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
