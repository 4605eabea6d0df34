"""The run directory: one run per folder, metrics.csv truncated on resume, nothing for None."""
import pytest
import torch

from gmgan_lib.training.config import TrainConfig
from gmgan_lib.training.rundir import CSV_HEADER, RunDirectory, check_same_run, truncate_metrics


def test_rows_after_the_checkpoint_and_torn_rows_are_dropped(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text(f"{CSV_HEADER}\n10,1,1.0,2.0,3.0\n20,1,1.0,2.0,6.0\n30,2,1.0,2.0,9.0\n"
                    f"x,torn\n40,2,1.0,2.0")
    truncate_metrics(path, 20)
    assert path.read_text() == f"{CSV_HEADER}\n10,1,1.0,2.0,3.0\n20,1,1.0,2.0,6.0\n"


def test_a_metrics_file_of_another_format_is_refused_naming_it(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,loss\n1,2\n")
    with pytest.raises(ValueError, match="metrics.csv: unexpected header 'epoch,loss'"):
        truncate_metrics(path, 5)
    assert path.read_text() == "epoch,loss\n1,2\n"     # lost nothing


def test_a_new_run_never_writes_over_another_runs_checkpoint(tmp_path, one_process):
    (tmp_path / "checkpoint.pt").write_bytes(b"theirs")
    with pytest.raises(ValueError, match="already holds a run .* pass --resume"):
        with RunDirectory.claim(tmp_path, resume=False, dist=one_process):
            pass
    assert (tmp_path / "checkpoint.pt").read_bytes() == b"theirs"
    with RunDirectory.claim(tmp_path, resume=True, dist=one_process) as run_dir:
        assert run_dir.resumable()


def test_a_run_that_fails_before_its_first_checkpoint_leaves_no_folder(tmp_path, one_process):
    out = tmp_path / "new"
    with pytest.raises(RuntimeError):
        with RunDirectory.claim(out, resume=False, dist=one_process) as run_dir:
            run_dir.start({"model": "gan"}, 0)
            run_dir.log(1, 1, 0.5, 0.5, 1.0)
            raise RuntimeError("a fault")
    assert not out.exists()


def test_rows_reach_the_disk_as_they_are_logged(tmp_path, one_process):
    with RunDirectory.claim(tmp_path / "run", resume=False, dist=one_process) as run_dir:
        run_dir.start({"model": "gan"}, 0)
        run_dir.log(3, 1, 0.25, 1.5, 2.0)
        text = (tmp_path / "run" / "metrics.csv").read_text()   # before the file is closed
        assert text == f"{CSV_HEADER}\n3,1,0.250000,1.500000,2.000\n"


def test_a_run_directory_of_none_writes_nothing(tmp_path, one_process, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with RunDirectory.claim(None, resume=False, dist=one_process) as run_dir:
        run_dir.start({"model": "gan"}, 0)
        run_dir.log(1, 1, 0.5, 0.5, 1.0)
        run_dir.save_samples(torch.nn.Identity(), torch.zeros(1, 1, 28, 28), "samples.png")
        run_dir.save_checkpoint({"step": 1})
        assert not run_dir.writes and run_dir.checkpoint is None
    assert list(tmp_path.iterdir()) == []


def test_resuming_another_run_names_every_field_that_differs(tmp_path):
    saved = TrainConfig(model="gan", seed=1, lr=1e-3).to_dict()
    check_same_run(saved, TrainConfig(model="gan", seed=1, lr=1e-3, epochs=7), tmp_path)  # same run
    with pytest.raises(ValueError, match=r"seed=1 \(now 2\); lr=0.001 \(now 0.0002\)"):
        check_same_run(saved, TrainConfig(model="gan", seed=2), tmp_path)
