"""The run directory: one run per folder, metrics.csv truncated on resume, nothing for None;
nothing planted at the lock's name is written through."""
import os

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


# ------------------------------------------------------ issue 28: what is at the lock's name


TRAIN = ["train", "--model", "gan", "--batch-size", "8", "--data-fraction", "0.0006",
         "--max-steps", "2"]


@pytest.fixture
def no_data(monkeypatch):
    """Fail if anything loads data: these refusals come before any work."""
    import gmgan_lib.data

    def forbidden(*a, **k):
        raise AssertionError("data were loaded before the lock was checked")

    monkeypatch.setattr(gmgan_lib.data, "load_tensors", forbidden)


@pytest.mark.parametrize("dangling", [False, True])
def test_a_planted_lock_symlink_is_refused_and_never_written_through(tmp_path, capsys, no_data,
                                                                     dangling):
    # Issue 28, item 2: `ln -s victim R/.lock` made any run, even a refused one, truncate and
    # overwrite the victim (O_CREAT through a dangling link would even create it).
    from gmgan_lib.__main__ import main

    victim, out = tmp_path / "victim", tmp_path / "run"
    if not dangling:
        victim.write_text("someone else's file\n")
    out.mkdir()
    (out / ".lock").symlink_to(victim)
    for resume in ([], ["--resume"]):
        assert main([*TRAIN, "--out", str(out), *resume]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{out / '.lock'} is a symbolic link" in err
    assert victim.read_text() == "someone else's file\n" if not dangling else not victim.exists()
    assert (out / ".lock").is_symlink() and sorted(os.listdir(out)) == [".lock"]


@pytest.mark.parametrize("kind, said", [("directory", "a directory"), ("fifo", "a FIFO"),
                                        ("hard link", "a hard link")])
def test_a_directory_fifo_or_hard_link_at_the_lock_is_refused_with_one_line(
        tmp_path, capsys, no_data, kind, said):
    from gmgan_lib.__main__ import main

    out, victim = tmp_path / "run", tmp_path / "victim"
    out.mkdir()
    victim.write_text("someone else's file\n")
    {"directory": lambda p: p.mkdir(), "fifo": lambda p: os.mkfifo(p),
     "hard link": lambda p: os.link(victim, p)}[kind](out / ".lock")
    assert main([*TRAIN, "--out", str(out)]) == 2      # (a FIFO must not block the open either)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{out / '.lock'} is {said}" in err and "remove it, or choose another --out" in err
    assert victim.read_text() == "someone else's file\n"


def test_a_refused_claim_changes_no_byte_of_the_folder(tmp_path, one_process):
    # Issue 28, item 1: the refusal is decided with the lock held but before the lock's process
    # id is written or a stale temporary removed.
    files = {"checkpoint.pt": b"theirs", ".lock": b"4242\n", ".checkpoint.pt.x1.tmp": b"half"}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    with pytest.raises(ValueError, match="already holds a run"):
        with RunDirectory.claim(tmp_path, resume=False, dist=one_process):
            pass
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == files


def test_a_run_lock_nests_in_one_held_by_the_same_thread(tmp_path, one_process):
    # demo holds its folder for training, evaluation and report; train() locks it again inside.
    from gmgan_lib.training.rundir import run_lock

    seen = []
    with run_lock(tmp_path / "run", lambda out: seen.append("outer")):
        with RunDirectory.claim(tmp_path / "run", resume=False, dist=one_process) as run_dir:
            run_dir.start({"model": "gan"}, 0)
        assert (tmp_path / "run" / ".lock").read_text() == f"{os.getpid()}\n"
    assert seen == ["outer"]


# ------------------------------------------ issue 28: what stands at the names of a run's files


@pytest.mark.parametrize("name, make, said", [
    ("metrics.csv", lambda p: p.mkdir(), "a directory"),
    ("config.json", lambda p: os.mkfifo(p), "a FIFO")], ids=["directory", "fifo"])
def test_a_folder_or_fifo_at_a_run_files_name_is_refused_with_one_line(tmp_path, capsys, no_data,
                                                                       name, make, said):
    # Issue 28, item 9: a metrics.csv that is a directory ended in a traceback (IsADirectoryError
    # when the run read it); now refused with the lock held, before any data are loaded.
    from gmgan_lib.__main__ import main

    out = tmp_path / "run"
    out.mkdir()
    make(out / name)
    for resume in ([], ["--resume"]):
        assert main([*TRAIN, "--out", str(out), *resume]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{out / name} is {said}, not a file of a run" in err, err
    assert set(os.listdir(out)) <= {".lock", name}


def test_a_folder_named_like_a_stale_temporary_is_left_alone(tmp_path, one_process):
    # Issue 28, item 9: the clean-up of stale temporaries called unlink() on it
    # (IsADirectoryError, a traceback). Temporaries are files; a folder is not ours.
    out = tmp_path / "run"
    out.mkdir()
    (out / ".checkpoint.pt.abcdefgh.tmp").mkdir()
    (out / ".metrics.csv.abcdefgh.tmp").write_bytes(b"half")
    with RunDirectory.claim(out, resume=True, dist=one_process):
        pass
    assert (out / ".checkpoint.pt.abcdefgh.tmp").is_dir()
    assert not (out / ".metrics.csv.abcdefgh.tmp").exists()


def test_a_lock_file_that_cannot_be_opened_is_named_as_the_problem(tmp_path, capsys, no_data,
                                                                  monkeypatch):
    # Issue 28, item 11: a root-owned .lock gave "cannot create the run directory". The tests
    # run as root, whom file permissions do not stop: the open is made to fail as it would.
    import errno

    from gmgan_lib.__main__ import main

    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").write_text("")
    real_open = os.open

    def denied(path, flags, *args, **kwargs):
        if os.fspath(path).endswith(".lock"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)
    assert main([*TRAIN, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot create the run directory" not in err
    assert f"cannot open the lock file {out / '.lock'} (Permission denied)" in err


def test_sigterm_within_the_lock_raises_so_that_a_new_folder_is_removed(tmp_path, one_process):
    # Issue 28, item 11: SIGTERM during a run's set-up killed the process before any clean-up,
    # leaving a folder holding only .lock. Within the lock it raises (exit code 143 if nobody
    # catches it), and the new folder goes like on any other error. (In a subprocess in
    # tests/test_train.py; here the handler itself, which must not outlive the lock.)
    import signal

    from gmgan_lib.training.stopping import Terminated

    out = tmp_path / "new"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    with pytest.raises(Terminated) as stopped:
        with RunDirectory.claim(out, resume=False, dist=one_process):
            assert (out / ".lock").exists()
            signal.raise_signal(signal.SIGTERM)
    assert stopped.value.code == 143 and not out.exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
