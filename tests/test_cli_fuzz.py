"""Every sub-command driven with generated values for its flags (hypothesis).

Each call must end in one of three ways: refused with exit code 2 and one line of error (or
argparse's usage line and its one-line error), a failure with exit code 1 and one line, or
*reaching the work*: the point where a valid command would load data or sample, which the test
replaces by an exception of its own so that no example trains anything. Never a traceback, and
never a half-written file or a run directory left behind by a refused call (docs/faults.md).
"""
from __future__ import annotations

import contextlib
import io
import itertools
import os
import signal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gmgan_lib.__main__ import main

REPO = Path(__file__).resolve().parents[1]
CKPT = str(REPO / "data" / "checkpoints" / "gan-mnist-cpu.pt")


EXAMPLES = itertools.count()


class ReachedWork(BaseException):
    """Raised where the real work would start (BaseException: no CLI handler catches it)."""


@pytest.fixture
def no_work(monkeypatch):
    import gmgan_lib.data
    import gmgan_lib.evaluation.evaluate
    import gmgan_lib.sampling

    def reached(*a, **k):
        raise ReachedWork

    monkeypatch.setattr(gmgan_lib.data, "load_tensors", reached)
    monkeypatch.setattr(gmgan_lib.sampling, "sample", reached)
    monkeypatch.setattr(gmgan_lib.evaluation.evaluate, "evaluate_generator", reached)


NASTY = st.sampled_from(["", "0", "-1", "1", "3", "1e300", "-1e-300", "nan", "inf", "-inf",
                         "99999999999999999999", "10000000000", "4.5", "abc", "None", "[]",
                         "{}", "0x10", "\u00e9"])
NUMBERS = st.one_of(st.integers(-10**25, 10**25).map(str),
                    st.floats(allow_nan=True, allow_infinity=True).map(repr))
VALUES = st.one_of(NASTY, NUMBERS, st.text(max_size=6))
MODEL_CONFIGS = st.one_of(
    NASTY,
    st.dictionaries(st.sampled_from(["g_channels", "d_channels", "kernel_size", "alpha",
                                     "orientations", "preset", "d_head", "metric_init_scale",
                                     "g_width", "architecture", "convection"]),
                    st.one_of(st.integers(-10**20, 10**20), st.floats(allow_nan=False),
                              st.text(max_size=4), st.booleans(), st.none(),
                              st.lists(st.integers(-5, 10**9), max_size=5)),
                    max_size=3).map(lambda d: __import__("json").dumps(d)))

# The architecture's flags (issue 26): every field of both model configurations and the preset.
MODEL_FLAGS = ["preset", "architecture", "group", "orientations", "g-channels", "kernel-size",
               "alpha", "convection", "d-head", "d-pool", "lift-kernel", "g-random-turn",
               "metric-init-scale", "g-width", "d-batch-norm"]

FLAGS = {
    "train": ["--epochs", "--batch-size", "--latent-dim", "--max-steps", "--data-fraction",
              "--seed", "--checkpoint-every", "--log-every", "--lr", "--lr-d", "--beta1",
              "--beta2", "--r1", "--d-steps", "--max-minutes", "--loss", "--model", "--dataset",
              "--device", *[f"--model.{name}" for name in MODEL_FLAGS]],
    "sample": ["--n", "--seed", "--device"],
    "evaluate": ["--n", "--seeds", "--batch-size", "--device", "--dataset"],
    "train-classifier": ["--epochs", "--batch-size", "--lr", "--seed", "--threads",
                         "--max-degrees", "--dataset"],
    "demo": ["--minutes", "--steps", "--max-steps", "--batch-size", "--data-fraction",
             "--eval-n", "--seed", "--threads", "--lr",
             *[f"--model.{name}" for name in MODEL_FLAGS]],
}


def _outs(root: Path) -> dict[str, str]:
    blocker = root / "a-file"
    blocker.write_text("x")
    return {"fresh": str(root / "out"), "under-a-file": str(blocker / "out"), "empty": ""}


def _run(argv: list[str]) -> tuple[str, int | None, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            return "rc", main(argv), err.getvalue()
        except SystemExit as stop:      # argparse refusing a value
            return "argparse", int(stop.code or 0), err.getvalue()
        except ReachedWork:
            return "work", None, err.getvalue()


@pytest.mark.parametrize("command", list(FLAGS))
@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_every_flag_value_gives_an_exit_code_and_one_line(command, data, no_work, tmp_path,
                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)          # a stray relative write would land here, and be seen
    root = Path(tmp_path) / f"ex{next(EXAMPLES)}"     # a fresh folder per example
    root.mkdir()
    before = set(Path(tmp_path).iterdir())
    flags = data.draw(st.lists(st.sampled_from(FLAGS[command]), unique=True, max_size=4))
    argv = [command]
    for flag in flags:
        argv += [flag, data.draw(VALUES)]
    if command in ("train", "demo"):
        if data.draw(st.booleans()):
            argv += ["--model-config", data.draw(MODEL_CONFIGS)]
        argv += ["--out", data.draw(st.sampled_from(list(_outs(root).values())))]
    elif command in ("sample", "evaluate"):
        argv += ["--checkpoint", CKPT]
        target = data.draw(st.sampled_from(list(_outs(root).values())))
        argv += ["--out", target + (".png" if command == "sample" and target else "")]
    else:
        argv += ["--out", str(root / "classifiers")]
    how, code, err = _run(argv)
    assert "Traceback" not in err, (argv, err)
    if how == "argparse":
        assert code == 2 and "error:" in err.strip().splitlines()[-1], (argv, err)
    elif how == "rc":
        assert code in (0, 1, 2), (argv, code, err)
        if code:
            lines = err.strip().splitlines()
            errors = [line for line in lines if line.startswith("error: ")]
            assert len(errors) == 1 and lines[-1] == errors[0], (argv, err)
    # No half-written file, and nothing a refused call created outside its own folder.
    assert not list(Path(tmp_path).rglob(".*.tmp")), argv
    assert set(Path(tmp_path).iterdir()) == before, argv
    if how != "work":          # refused: no run directory (not even a config.json) left behind
        assert not (root / "out").exists(), (argv, list((root / "out").iterdir()))


def test_gmgan_debug_shows_the_traceback_instead(monkeypatch, capsys, tmp_path):
    # For whoever wants the traceback behind a one-line error: GMGAN_DEBUG=1 re-raises it.
    argv = ["train", "--out", str(tmp_path / "run"), "--batch-size", "0"]
    assert main(argv) == 2 and "batch_size must be a positive integer" in capsys.readouterr().err
    monkeypatch.setenv("GMGAN_DEBUG", "1")
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        main(argv)


@pytest.mark.parametrize("signum, code, word", [(signal.SIGTERM, 143, "SIGTERM"),
                                                (signal.SIGINT, 130, "SIGINT")])
def test_every_command_answers_a_signal_with_one_line_and_the_shells_code(
        tmp_path, monkeypatch, capsys, signum, code, word):
    """A signal in the middle of a write (here: `sample`'s grid) leaves no file, half or whole,
    and no temporary; the command says which signal in one line and exits 128 + its number."""
    import gmgan_lib.sampling
    from gmgan_lib.files import atomic_write

    target = tmp_path / "grid.png"

    def killed_mid_write(args):
        def write(f):
            f.write(b"half a grid")
            os.kill(os.getpid(), signum)     # delivered here, in the main thread
            f.write(b"never")
        atomic_write(target, write)
        return 0

    monkeypatch.setattr(gmgan_lib.sampling, "run_sample", killed_mid_write)
    # As in a terminal: a job that a script starts in the background inherits SIGINT ignored.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        rc = main(["sample", "--checkpoint", "x.pt", "--out", str(target)])
    finally:
        signal.signal(signal.SIGINT, previous)
    assert rc == code
    err = capsys.readouterr().err
    assert err == f"error: sample: {'stopped by' if code == 143 else 'interrupted by'} {word}\n"
    assert os.listdir(tmp_path) == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL     # the handler is given back


@pytest.mark.parametrize("unreadable", ["data/MNIST/raw/t10k-labels-idx1-ubyte",
                                        "data/classifiers/mnist.pt",
                                        "data/classifiers/SHA256SUMS",
                                        "data/checkpoints/SHA256SUMS"])
def test_an_input_file_that_cannot_be_read_is_one_line_naming_it(
        unreadable, tmp_path, monkeypatch, capsys):
    """As a user without read permission meets them (root reads everything, so the denial is
    simulated where Python opens the file): the MNIST test labels, the classifier, either
    manifest. One line that names the file, no traceback, exit 1 (the machine's set-up)."""
    import builtins
    import io

    import gmgan_lib.data
    gmgan_lib.data.clear_cache()       # an earlier test's decoded split would spare the read
    repo = Path(__file__).resolve().parents[1]
    target = (repo / unreadable).resolve()
    if not target.exists():
        pytest.skip(f"{unreadable} is not here (make data)")
    real_open = io.open

    def denied(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and Path(os.fspath(file)).resolve() == target:
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", denied)
    monkeypatch.setattr(io, "open", denied)
    monkeypatch.chdir(repo)
    rc = main(["evaluate", "--checkpoint", "data/checkpoints/gan-mnist-cpu.pt", "--n", "10",
               "--seeds", "1", "--out", str(tmp_path / "eval")])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert rc in (1, 2) and len(err) == 1, err
    assert Path(unreadable).name in err[0] and "Permission denied" in err[0]
    assert "Traceback" not in err[0]
