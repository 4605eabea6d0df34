"""The training procedure and CLI: resume equivalence, faults (SIGKILL, SIGINT, NaN), bad input.

Runs are tiny (batch 8, a few dozen MNIST digits, a handful of steps) so the whole file stays
well under two minutes on two shared cores.
"""
import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import math

import pytest
import torch
from PIL import Image

from gmgan_lib.__main__ import main
from gmgan_lib.checkpoint import load_checkpoint
from gmgan_lib.sampling import export_generator, load_generator, sample
from gmgan_lib.training import NonFiniteLossError, TrainConfig, train
from gmgan_lib.training import loop as tr
from gmgan_lib.training.schedule import epoch_permutation
from gmgan_lib.training.step import discriminator_loss, gan_losses_step, generator_loss

REPO = Path(__file__).resolve().parents[1]
# 36 digits at batch 8: 4 steps per epoch, so short runs cross epoch boundaries.
FRACTION = 0.0006
SMALL = dict(batch_size=8, data_fraction=FRACTION, log_every=1, checkpoint_every=3)
TINY_GM = {"preset": "hybrid-tiny"}


def cfg(**kw) -> TrainConfig:
    return TrainConfig(**{"model": "gan", **SMALL, **kw})


def rows(run: Path) -> list[dict]:
    with open(run / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def assert_same_state(a: dict, b: dict) -> None:
    for key in ("generator", "discriminator"):
        assert a[key].keys() == b[key].keys()
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), f"{key}.{name}"
    for key in ("optimizer_g", "optimizer_d"):
        for pid, sa in a[key]["state"].items():
            for name, t in sa.items():
                assert torch.equal(t, b[key]["state"][pid][name]), f"{key}[{pid}].{name}"
    assert torch.equal(a["rng"][0]["cpu"], b["rng"][0]["cpu"])
    assert a["step"] == b["step"]


# ------------------------------------------------------------------------------ resume


@pytest.mark.parametrize("model, model_config", [("gan", {}), ("gmgan", TINY_GM)], ids=["gan", "gmgan"])
def test_n_steps_straight_equal_half_then_resume(tmp_path, model, model_config):
    n = 10  # crosses two epoch ends (4 steps each) and resumes mid-epoch
    straight, split = tmp_path / "straight", tmp_path / "split"
    train(cfg(model=model, model_config=model_config, max_steps=n), straight)
    first = train(cfg(model=model, model_config=model_config, max_steps=n // 2), split)
    assert first.step == n // 2
    second = train(cfg(model=model, model_config=model_config, max_steps=n), split, resume=True)
    assert second.step == n
    assert_same_state(load_checkpoint(straight / "checkpoint.pt"), load_checkpoint(split / "checkpoint.pt"))
    a, b = rows(straight), rows(split)
    assert [r["step"] for r in b] == [str(s) for s in range(1, n + 1)]
    assert [(r["step"], r["epoch"], r["loss_d"], r["loss_g"]) for r in a] == \
           [(r["step"], r["epoch"], r["loss_d"], r["loss_g"]) for r in b]
    assert [r["epoch"] for r in a] == ["1"] * 4 + ["2"] * 4 + ["3"] * 2


@pytest.mark.parametrize("options", [
    dict(loss="hinge", spectral_norm=True, beta1=0.0, beta2=0.9, lr_d=4e-4),
    dict(loss="relativistic", d_steps=2), dict(r1=1.0), dict(augment="diffaugment", r1=1.0),
    dict(augment="rotate", loss="relativistic")],
    ids=["hinge-sn", "relativistic-2d", "r1", "diffaugment-r1", "rotate-relativistic"])
def test_stabilisers_train_and_resume_bit_for_bit(tmp_path, options):
    n = 6
    straight, split = tmp_path / "straight", tmp_path / "split"
    train(cfg(max_steps=n, **options), straight, verbose=False)
    train(cfg(max_steps=n // 2, **options), split, verbose=False)
    train(cfg(max_steps=n, **options), split, resume=True, verbose=False)
    a, b = load_checkpoint(straight / "checkpoint.pt"), load_checkpoint(split / "checkpoint.pt")
    assert_same_state(a, b)
    assert all(math.isfinite(float(r["loss_d"])) for r in rows(straight))


def test_no_epoch_files_writes_fewer_files_and_trains_the_same_run(tmp_path):
    train(cfg(max_steps=10), tmp_path / "every", verbose=False)
    train(cfg(max_steps=10, no_epoch_files=True), tmp_path / "few", verbose=False)
    assert len(list((tmp_path / "every").glob("samples_epoch_*.png"))) == 2
    assert not list((tmp_path / "few").glob("samples_epoch_*.png"))
    assert_same_state(load_checkpoint(tmp_path / "every" / "checkpoint.pt"),
                      load_checkpoint(tmp_path / "few" / "checkpoint.pt"))
    # Not an identity field: a run may be resumed with or without it.
    train(cfg(max_steps=12), tmp_path / "few", resume=True, verbose=False)


def test_two_d_steps_take_two_real_batches_per_step(tmp_path, monkeypatch):
    seen = []
    original = tr.gan_losses_step

    def recording(G, D, opt_g, opt_d, reals, *args):
        seen.append([r.sum().item() for r in reals])
        return original(G, D, opt_g, opt_d, reals, *args)

    monkeypatch.setattr(tr, "gan_losses_step", recording)
    result = train(cfg(max_steps=3, d_steps=2), None, verbose=False)
    assert result.step == 3 and all(len(s) == 2 for s in seen)
    # 36 digits, batch 8, two batches a step: 2 steps per epoch, and no batch used twice in one.
    assert len({seen[0][0], seen[0][1], seen[1][0], seen[1][1]}) == 4


def test_generator_update_freezes_and_restores_the_discriminator():
    # D's weights are frozen during G's backward (their gradients would be discarded): after a
    # step every D weight requires grad again, and D's .grad holds the D update's gradient only.
    import copy
    from gmgan_lib.models import build
    torch.manual_seed(0)
    G, D = build("gan", latent_dim=8, g_width=8, d_width=4)
    G0, D0 = copy.deepcopy(G), copy.deepcopy(D)
    opt_g, opt_d = (torch.optim.Adam(m.parameters(), lr=1e-3) for m in (G, D))
    real = torch.rand(4, 1, 28, 28) * 2 - 1
    torch.manual_seed(1)
    gan_losses_step(G, D, opt_g, opt_d, real, 8)
    assert all(p.requires_grad for p in D.parameters())
    torch.manual_seed(1)                        # the same noise, D's loss by hand on the copies
    fake = G0(torch.randn(4, 8))
    discriminator_loss("bce", D0(real), D0(fake.detach())).backward()
    for p, p0 in zip(D.parameters(), D0.parameters()):
        torch.testing.assert_close(p.grad, p0.grad)


def test_losses_are_the_textbook_formulas():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    sp = torch.nn.functional.softplus
    assert torch.allclose(discriminator_loss("bce", real, fake), sp(-real).mean() + sp(fake).mean())
    assert torch.allclose(discriminator_loss("hinge", real, fake),
                          torch.relu(1 - real).mean() + torch.relu(1 + fake).mean())
    assert torch.allclose(generator_loss("hinge", fake), -fake.mean())
    rr, rf = real - fake.mean(), fake - real.mean()
    assert torch.allclose(discriminator_loss("relativistic", real, fake), sp(-rr).mean() + sp(rf).mean())
    assert torch.allclose(generator_loss("relativistic", fake, real), sp(-rf).mean() + sp(rr).mean())


def test_r1_is_refused_for_a_discriminator_with_pde_layers(no_work, tmp_path):
    # R1 needs the second derivative of D; the min-plus node has none. Refused before any work,
    # naming the option and the way out.
    with pytest.raises(ValueError, match=r"r1 needs the second derivative.*d_activation='lrelu'"):
        train(cfg(model="gmgan", model_config=TINY_GM, r1=0.1), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_run_directory_contents(tmp_path):
    out = tmp_path / "run"
    result = train(cfg(max_steps=9, model_config={"g_width": 16, "d_width": 8}), out)
    assert result.stopped_by == "done" and result.step == 9 and result.epoch == 3
    assert sorted(p.name for p in out.iterdir()) == [
        ".lock", "checkpoint.pt", "config.json", "metrics.csv", "samples.png",
        "samples_epoch_001.png", "samples_epoch_002.png"]
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "gan" and config["steps_per_epoch"] == 4 and config["total_steps"] == 9
    assert config["parameters"]["total"] == result.parameters["total"]
    assert (out / "metrics.csv").read_text().splitlines()[0] == "step,epoch,loss_d,loss_g,seconds"
    seconds = [float(r["seconds"]) for r in rows(out)]
    assert seconds == sorted(seconds) and seconds[0] > 0
    with Image.open(out / "samples.png") as im:     # 64 fixed-noise samples, 8 per row
        assert im.size == (8 * 30 + 2, 8 * 30 + 2)
    ck = load_checkpoint(out / "checkpoint.pt")
    assert ck["step"] == 9 and ck["fixed_noise"].shape == (64, 100)


def test_dry_run_writes_nothing(tmp_path):
    out = tmp_path / "never"
    result = train(cfg(), out, dry_run=True)
    assert result.step == 1 and not out.exists()


def test_resume_of_a_different_run_is_refused(tmp_path):
    out = tmp_path / "run"
    train(cfg(max_steps=2), out)
    with pytest.raises(ValueError, match=r"belongs to a different run: batch_size=8 \(now 4\)"):
        train(cfg(max_steps=4, batch_size=4), out, resume=True)
    # The loss and the regularisers define the run too.
    for change, shown in [({"loss": "hinge"}, "loss='bce' (now 'hinge')"),
                          ({"r1": 0.1}, "r1=0.0 (now 0.1)"), ({"d_steps": 2}, "d_steps=1 (now 2)"),
                          ({"lr_d": 4e-4}, "lr_d=None (now 0.0004)"),
                          ({"spectral_norm": True}, "spectral_norm=False (now True)"),
                          ({"augment": "diffaugment"}, "augment='none' (now 'diffaugment')")]:
        with pytest.raises(ValueError, match=re.escape(shown)):
            train(cfg(max_steps=4, **change), out, resume=True)
    with pytest.raises(ValueError, match="already holds a run.*pass --resume"):
        train(cfg(max_steps=4), out)


def test_a_run_saved_before_d_head_existed_resumes_as_the_invariant_head(tmp_path):
    # Checkpoints written before the field existed carry a resolved config without it; their
    # D was the invariant one, so that is the value they are resumed (and compared) with.
    from gmgan_lib.checkpoint import save_checkpoint
    out = tmp_path / "run"
    old = {**TINY_GM, "d_head": "invariant"}
    train(cfg(model="gmgan", model_config=old, max_steps=2), out, verbose=False)
    state = load_checkpoint(out / "checkpoint.pt", require=("config", "generator", "discriminator"))
    del state["config"]["model_config"]["d_head"]
    save_checkpoint(state, out / "checkpoint.pt")
    with pytest.raises(ValueError, match=re.escape("'d_head': 'invariant'")):   # the saved side
        train(cfg(model="gmgan", model_config=TINY_GM, max_steps=3), out, resume=True)
    result = train(cfg(model="gmgan", model_config=old, max_steps=3), out, resume=True,
                   verbose=False)
    assert result.step == 3


# ------------------------------------------------------------------------------ faults


def cli(*args: str, **kw) -> subprocess.Popen:
    # The same thread count as this process: bit-equal results need the same reduction order.
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads()), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "gmgan_lib", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def wait_for_rows(run: Path, n: int, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if (run / "metrics.csv").exists() and len(rows(run)) >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"no {n} rows in {timeout} s")


TRAIN_ARGS = ("train", "--model", "gan", "--batch-size", "8", "--data-fraction", str(FRACTION),
              "--log-every", "1", "--checkpoint-every", "3", "--max-steps", "100000")


def test_sigkill_then_resume_loses_nothing_and_equals_a_straight_run(tmp_path):
    run = tmp_path / "killed"
    proc = cli(*TRAIN_ARGS, "--out", str(run))
    try:
        wait_for_rows(run, 5, proc)
    finally:
        proc.kill()
        proc.communicate(timeout=60)
    killed_at = load_checkpoint(run / "checkpoint.pt")["step"]   # the last complete checkpoint
    assert killed_at >= 3 and (killed_at % 3 == 0 or killed_at % 4 == 0)  # checkpoint steps
    target = killed_at + 5
    train(cfg(max_steps=target), run, resume=True, verbose=False)
    assert [int(r["step"]) for r in rows(run)] == list(range(1, target + 1))
    train(cfg(max_steps=target), tmp_path / "straight", verbose=False)
    assert_same_state(load_checkpoint(run / "checkpoint.pt"),
                      load_checkpoint(tmp_path / "straight" / "checkpoint.pt"))


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_sigint_or_sigterm_writes_a_checkpoint_and_exits_cleanly(tmp_path, sig, code):
    # SIGTERM is what cluster schedulers send before they kill a job: handled like Ctrl-C.
    run = tmp_path / "interrupted"
    proc = cli(*TRAIN_ARGS, "--out", str(run))
    try:
        wait_for_rows(run, 3, proc)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert f"interrupted by {signal.Signals(sig).name}" in out
    assert "Traceback" not in err
    step = load_checkpoint(run / "checkpoint.pt")["step"]
    assert step == int(rows(run)[-1]["step"])          # every logged step is in the checkpoint
    assert (run / "samples.png").exists()


def test_nan_loss_stops_the_run_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    original = tr.gan_losses_step
    calls = {"n": 0}

    def poisoned(generator, discriminator, *args):
        calls["n"] += 1
        if calls["n"] == 5:   # a real divergence: the generator's weights become NaN
            with torch.no_grad():
                next(generator.parameters()).fill_(float("nan"))
        return original(generator, discriminator, *args)

    monkeypatch.setattr(tr, "gan_losses_step", poisoned)
    out = tmp_path / "run"
    # Checkpoints at step 3 (checkpoint_every) and 4 (end of epoch 1); step 5 goes bad.
    with pytest.raises(NonFiniteLossError, match=r"at step 5; .*last good checkpoint \(step 4\)"):
        train(cfg(max_steps=20, checkpoint_every=3), out, verbose=False)
    ck = load_checkpoint(out / "checkpoint.pt")
    assert ck["step"] == 4
    assert all(torch.isfinite(t).all() for t in ck["generator"].values() if t.is_floating_point())
    assert int(rows(out)[-1]["step"]) == 4     # no row for the bad step

    calls["n"] = 0
    rc = main(["train", "--model", "gan", "--batch-size", "8", "--data-fraction", str(FRACTION),
               "--max-steps", "20", "--out", str(tmp_path / "cli")])
    assert rc == 1


def test_weights_made_non_finite_by_the_last_update_are_never_checkpointed(tmp_path, monkeypatch):
    # Review finding: step k's loss is computed before its update, so a finite loss can come
    # with weights that the update just made NaN; such weights must not become "the last good
    # checkpoint".
    original = tr.gan_losses_step
    calls = {"n": 0}

    def update_then_poison(generator, discriminator, *args):
        losses = original(generator, discriminator, *args)
        calls["n"] += 1
        if calls["n"] == 3:                    # step 3 is a checkpoint step (checkpoint_every=3)
            with torch.no_grad():
                next(generator.parameters()).fill_(float("nan"))
        return losses

    monkeypatch.setattr(tr, "gan_losses_step", update_then_poison)
    out = tmp_path / "run"
    with pytest.raises(NonFiniteLossError, match=r"at step 4; the run stopped; no checkpoint was written"):
        train(cfg(max_steps=20, checkpoint_every=3, log_every=10), out, verbose=False)
    assert not (out / "checkpoint.pt").exists()


def test_a_diverging_gm_gan_is_reported_as_a_nan_not_as_a_bad_argument(tmp_path, capsys):
    # Issue 16, item 2: with --lr 1e30 the PDE layers meet NaN weights before any loss is NaN
    # and used to stop with "metric must have non-negative, non-NaN entries" (exit code 2).
    rc = main(["train", "--model", "gmgan", "--model-config", '{"preset": "hybrid-tiny"}',
               "--batch-size", "8", "--data-fraction", str(FRACTION), "--max-steps", "12",
               "--checkpoint-every", "1", "--lr", "1e30", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "loss became NaN or infinite at step" in err and "Traceback" not in err
    assert "metric must" not in err
    ck = load_checkpoint(tmp_path / "run" / "checkpoint.pt")   # the last good one, finite
    assert all(torch.isfinite(t).all() for t in ck["generator"].values() if t.is_floating_point())


def test_a_second_training_into_a_running_runs_directory_is_refused(tmp_path):
    # Issue 16, item 3. The lock is an flock on OUT/.lock: held here as the running process
    # would hold it (flock locks belong to an open file, so this process conflicts with itself).
    import fcntl

    out = tmp_path / "run"
    train(cfg(max_steps=2), out, verbose=False)
    before = (out / "metrics.csv").read_text()
    with open(out / ".lock", "r+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("4242\n")
        held.flush()
        for resume in (False, True):
            with pytest.raises(ValueError, match=rf"{re.escape(str(out))} is in use by a "
                                                 r"running training \(process 4242\)"):
                train(cfg(max_steps=4, seed=1), out, resume=resume, verbose=False)
    assert (out / "metrics.csv").read_text() == before          # nothing of the run was touched
    # The lock died with its holder: the file left behind does not block a resume. Temporary
    # files of a write killed half-way are cleaned up, nothing else.
    (out / ".checkpoint.pt.abc123.tmp").write_bytes(b"half")
    (out / ".mine.tmp").write_text("not ours")
    assert train(cfg(max_steps=4), out, resume=True, verbose=False).step == 4
    assert not (out / ".checkpoint.pt.abc123.tmp").exists() and (out / ".mine.tmp").exists()


def test_a_refused_run_leaves_no_directory_behind(tmp_path, capsys):
    out = tmp_path / "new"
    with pytest.raises(ValueError, match="larger than the"):
        train(cfg(batch_size=4096, max_steps=2), out, verbose=False)
    assert not out.exists()
    # Issue 16: --lr 1e300 left config.json and a header-only metrics.csv (and a traceback):
    # it is now refused before any work, as Adam cannot apply it in float32 ...
    diverge = ["train", "--model", "gan", "--batch-size", "8", "--data-fraction", str(FRACTION),
               "--max-steps", "8", "--log-every", "1", "--out", str(out)]
    assert main([*diverge, "--lr", "1e300"]) == 2
    assert "lr must be in (0.0, 3.40282" in capsys.readouterr().err and not out.exists()
    # ... and a new run that diverges before its first checkpoint removes what it created ...
    assert main([*diverge, "--lr", "1e30"]) == 1
    assert "NaN or infinite at step" in capsys.readouterr().err
    assert not out.exists()
    # ... but never a directory it did not create.
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main([*diverge, "--lr", "1e30"]) == 1
    assert (out / "notes.txt").read_text() == "mine"


# ------------------------------------------------------------------------------ bad input


@pytest.fixture
def no_work(monkeypatch):
    """Fail if anything loads data: bad arguments must be rejected before any work."""
    import gmgan_lib.data

    def forbidden(*a, **k):
        raise AssertionError("data were loaded before the arguments were checked")

    monkeypatch.setattr(gmgan_lib.data, "load_tensors", forbidden)


@pytest.mark.parametrize("args, message", [
    (["--batch-size", "0"], "batch_size must be a positive integer, got 0"),
    (["--epochs", "-1"], "epochs must be a positive integer, got -1"),
    (["--data-fraction", "0"], r"data_fraction must be in \(0, 1\], got 0.0"),
    (["--data-fraction", "1.5"], r"data_fraction must be in \(0, 1\], got 1.5"),
    (["--max-steps", "0"], "max_steps must be a positive integer"),
    (["--checkpoint-every", "0"], "checkpoint_every must be a positive integer"),
    (["--latent-dim", "0"], "latent_dim must be a positive integer"),
    (["--seed", "-3"], r"seed must be an integer in \[0, "),
    (["--model-config", "{oops"], "--model-config must be a JSON object"),
    (["--model-config", '{"orientations": 6}'], r"orientations must be a multiple of 4 in \[4, 64\], got 6"),
    (["--max-minutes", "0"], "--max-minutes must be a positive number"),
    (["--lr-d", "0"], r"lr_d must be in \(0.0, 3.40282[0-9.e+]*\) or None, got 0.0"),
    (["--beta1", "1"], r"beta1 must be in \[0.0, 1.0\), got 1.0"),
    (["--beta2", "0"], r"beta2 must be in \(0.0, 1.0\), got 0.0"),
    (["--r1", "-1"], r"r1 must be a finite number >= 0 \(0: no penalty\), got -1.0"),
    (["--r1", "inf"], r"r1 must be a finite number >= 0"),
    (["--d-steps", "0"], "d_steps must be a positive integer, got 0"),
    # Issue 16: values that overflowed or exhausted memory, with a traceback.
    (["--latent-dim", "99999999999999999999"], "latent_dim must be at most 65,536"),
    (["--latent-dim", "10000000000"], "latent_dim must be at most 65,536"),
    (["--seed", "99999999999999999999"], r"seed must be an integer in \[0, "),
    (["--max-steps", "99999999999999999999"], "max_steps must be at most"),
])
def test_cli_rejects_bad_values_before_any_work(tmp_path, capsys, no_work, args, message):
    out = tmp_path / "run"
    rc = main(["train", "--out", str(out), *args])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("error: ") and "Traceback" not in err
    import re
    assert re.search(message, err), err
    assert not out.exists()


@pytest.mark.parametrize("flag, value", [("--model", "vae"), ("--dataset", "cifar10"),
                                         ("--device", "tpu")])
def test_cli_rejects_unknown_choices_naming_the_valid_ones(tmp_path, capsys, no_work, flag, value):
    with pytest.raises(SystemExit) as info:
        main(["train", "--out", str(tmp_path / "run"), flag, value])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"invalid choice: '{value}'" in err and "choose from" in err


def test_api_rejects_unknown_names_naming_the_valid_ones(no_work, tmp_path):
    with pytest.raises(ValueError, match="loss must be one of bce, hinge, relativistic; got 'wgan'"):
        train(TrainConfig(loss="wgan"), tmp_path)
    with pytest.raises(ValueError, match="spectral_norm must be True or False"):
        train(TrainConfig(spectral_norm="yes"), tmp_path)
    with pytest.raises(ValueError, match="model must be one of gmgan, gan, gmgan-de, pdecnn-r2"):
        train(TrainConfig(model="vae"), tmp_path)
    with pytest.raises(ValueError, match="dataset must be one of mnist, rotmnist, fashion-mnist"):
        train(TrainConfig(dataset="cifar10"), tmp_path)


def test_out_that_is_a_file_is_rejected(tmp_path, capsys, no_work):
    f = tmp_path / "file.txt"
    f.write_text("x")
    assert main(["train", "--out", str(f)]) == 2
    assert "out must be a directory" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_sample_and_train_reject_bad_outputs_and_sizes_before_any_work(tmp_path, capsys):
    # Issue 16: tracebacks after the work, or a run written into the current directory.
    ckpt = REPO / "data" / "checkpoints" / "gan-mnist-cpu.pt"
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for argv, message in [
            (["sample", "--checkpoint", str(ckpt), "--out", str(blocker / "g.png")],
             "--out: cannot create the folder"),
            (["sample", "--checkpoint", str(ckpt), "--n", "99999999999999999999",
              "--out", str(tmp_path / "g.png")], "--n must be in [1, 100,000]"),
            (["sample", "--checkpoint", str(ckpt), "--seed", "99999999999999999999",
              "--out", str(tmp_path / "g.png")], "--seed must be an integer in [0, "),
            (["train", "--model", "gan", "--out", ""], "got an empty string"),
            (["train", "--model", "gan", "--out", str(blocker / "run")],
             "cannot create the run directory")]:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)
    assert not (tmp_path / "g.png").exists() and not Path("checkpoint.pt").exists()


def test_a_crafted_checkpoint_whose_config_is_a_string_is_a_one_line_error(tmp_path, capsys):
    from gmgan_lib.checkpoint import save_checkpoint
    out = tmp_path / "run"
    train(cfg(max_steps=2), out, verbose=False)
    state = load_checkpoint(out / "checkpoint.pt")
    save_checkpoint({**state, "config": "model=gan"}, out / "checkpoint.pt")
    rc = main(["train", "--model", "gan", "--batch-size", "8", "--data-fraction", str(FRACTION),
               "--out", str(out), "--resume"])
    err = capsys.readouterr().err
    assert rc == 2 and "its config must be a dict" in err and "Traceback" not in err


def test_cuda_without_a_gpu_is_rejected(tmp_path, capsys, no_work):
    assert main(["train", "--out", str(tmp_path / "r"), "--device", "cuda"]) == 2
    assert "no CUDA device is available" in capsys.readouterr().err


def test_a_batch_larger_than_the_data_is_explained(tmp_path):
    with pytest.raises(ValueError, match="batch_size 64 is larger than the 36 training images"):
        train(cfg(batch_size=64), tmp_path / "r")


def test_resume_from_a_corrupt_checkpoint_is_a_one_line_cli_error(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"\x00garbage")
    rc = main(["train", "--model", "gan", "--out", str(out), "--resume"])
    err = capsys.readouterr().err
    assert rc == 2 and "checkpoint.pt: not a readable gmgan checkpoint" in err
    assert err.count("\n") == 1


# ------------------------------------------------------------------------------ sampling


def test_generator_only_checkpoints_load_and_sample_deterministically(tmp_path, capsys):
    result = train(cfg(max_steps=2, model="gmgan", model_config=TINY_GM), tmp_path / "run",
                   verbose=False)
    small = export_generator(tmp_path / "run" / "checkpoint.pt", tmp_path / "g.pt")
    assert "discriminator" not in load_checkpoint(small)
    assert small.stat().st_size < (tmp_path / "run" / "checkpoint.pt").stat().st_size
    G = load_generator(small)
    assert not G.training
    for name, t in result.generator.state_dict().items():
        assert torch.equal(G.state_dict()[name], t)
    a, b = sample(small, n=5, seed=3), sample(G, n=5, seed=3)
    assert a.shape == (5, 1, 28, 28) and torch.equal(a, b)
    assert not torch.equal(a, sample(G, n=5, seed=4))

    assert main(["sample", "--checkpoint", str(small), "--n", "10", "--out", str(tmp_path / "grid.png")]) == 0
    with Image.open(tmp_path / "grid.png") as im:
        assert im.size == (4 * 30 + 2, 3 * 30 + 2)   # ceil(sqrt(10)) = 4 per row, 3 rows
    assert main(["sample", "--checkpoint", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "x.png")]) == 2
    assert "nope.pt: no such checkpoint file" in capsys.readouterr().err


def test_epoch_permutations_depend_only_on_seed_and_epoch():
    a = epoch_permutation(100, seed=1, epoch=2)
    assert torch.equal(a, epoch_permutation(100, seed=1, epoch=2))
    assert not torch.equal(a, epoch_permutation(100, seed=1, epoch=3))
    assert sorted(a.tolist()) == list(range(100))
    shards = [a[r::2] for r in range(2)]       # what two DDP ranks draw: disjoint, covering
    assert set(shards[0].tolist()).isdisjoint(shards[1].tolist())
    assert sorted(torch.cat(shards).tolist()) == list(range(100))


def test_progress_bar_and_resume_without_a_checkpoint(tmp_path, capsys):
    # --resume on an empty directory starts a new run (so a preemptible job can always pass it).
    result = train(cfg(max_steps=3), tmp_path / "run", resume=True, progress=True)
    assert result.step == 3
    captured = capsys.readouterr()
    assert "no checkpoint in" in captured.out
    assert "3/3" in captured.err                     # tqdm's bar went to stderr
    assert [r["step"] for r in rows(tmp_path / "run")] == ["1", "2", "3"]


@pytest.mark.parametrize("name, model", [("gan-mnist-cpu.pt", "gan"), ("gmgan-mnist-cpu.pt", "gmgan")])
def test_committed_generator_checkpoints_load_and_sample(name, model):
    path = REPO / "data" / "checkpoints" / name
    state = load_checkpoint(path)            # also checks data/checkpoints/SHA256SUMS
    assert state["config"]["model"] == model and "discriminator" not in state
    images = sample(path, n=4, seed=0)
    assert images.shape == (4, 1, 28, 28) and images.abs().max() <= 1
    # A trained generator paints MNIST's black background: most pixels are near -1.
    assert (images < -0.8).float().mean() > 0.5


@pytest.mark.parametrize("name, recorded_score, classes", [("gmgan-mnist-cpu.pt", 6.58, 10),
                                                           ("gan-mnist-cpu.pt", 7.10, 10)])
def test_committed_generators_draw_what_their_readme_says(name, recorded_score, classes):
    # data/checkpoints/README.md records, at N = 10,000: GM-GAN's MNIST score 6.58, the DCGAN's
    # 7.10. At N = 2,000 (another sample of the same generator) the score must agree within
    # 0.4, and the classifier must name several classes: digit-like samples of many kinds, not
    # one image (a collapsed generator scores 1.0 with one class).
    from gmgan_lib.evaluation import classifier_outputs, load_classifier, mnist_score

    out = classifier_outputs(sample(REPO / "data" / "checkpoints" / name, n=2000, seed=1),
                             load_classifier("mnist"))
    assert abs(mnist_score(out.probs) - recorded_score) < 0.4
    shares = torch.bincount(out.pred, minlength=10).float() / len(out.pred)
    assert int((shares > 0.02).sum()) >= classes, shares



def test_images_with_nan_are_refused_as_bad_input(tmp_path):
    # A NaN inside a training step is reported as divergence; that is only right if the images
    # given to train() were finite, so they are checked first.
    images = torch.zeros(64, 1, 28, 28)
    images[5, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="images must be finite"):
        train(cfg(max_steps=1), tmp_path / "run", images=images, verbose=False)
    assert not (tmp_path / "run").exists()


def test_every_config_field_has_a_flag_with_the_fields_default_and_help():
    # Issue 15, item 4: the command line is derived from TrainConfig, so a new field gets its
    # flag (and must say what it means), and the defaults cannot drift apart.
    import argparse
    import dataclasses

    from gmgan_lib.training.cli import add_train_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    args = parser.parse_args(["--out", "somewhere"])
    for f in dataclasses.fields(TrainConfig):
        if f.metadata.get("cli", True) is False:
            continue
        assert f.metadata["help"], f.name
        assert getattr(args, f.name) == f.default, f.name
    assert config_from_args(args) == TrainConfig()
    args = parser.parse_args(["--out", "x", "--spectral-norm", "--lr-d", "1e-3", "--max-minutes", "2"])
    config = config_from_args(args)
    assert config.spectral_norm is True and config.lr_d == 1e-3 and config.max_seconds == 120.0


def test_a_run_resolves_its_architecture_once(tmp_path, monkeypatch):
    # Issue 26: from the overrides to the networks, the model's configuration is built and
    # checked once (it was built three times per run, and its dict re-checked in between).
    from gmgan_lib.models import GMGANConfig

    built = []
    original = GMGANConfig.__post_init__
    monkeypatch.setattr(GMGANConfig, "__post_init__", lambda self: (built.append(1), original(self)))
    train(cfg(model="gmgan", model_config={**TINY_GM, "alpha": 0.7}, max_steps=2), tmp_path / "run",
          verbose=False)
    assert len(built) == 1
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["model_config"]
    assert saved["alpha"] == 0.7 and saved["kernel_size"] == [3, 3, 3]    # JSON as before


# ------------------------------------------------------------------------------ issue 28
# Crafted checkpoints under --resume (item 10) and one line for every failure (items 9, 11).

SMALL_NET = {"g_width": 16, "d_width": 8}
SMALL_ARGS = ["train", "--model", "gan", "--batch-size", "8", "--data-fraction", str(FRACTION),
              "--model-config", json.dumps(SMALL_NET)]
COMMITTED = REPO / "data" / "checkpoints" / "gan-mnist-cpu.pt"


@pytest.fixture(scope="module")
def a_checkpoint() -> dict:
    """What a run of SMALL_ARGS writes after a step (built, not trained: no data needed)."""
    from gmgan_lib.training.state import RunState, rng_state

    run = RunState.new(cfg(model_config=SMALL_NET).resolved(), torch.device("cpu"))
    run.step = 1
    return run.state_dict([rng_state(torch.device("cpu"))], epoch=1)


def _nan_generator(state: dict) -> None:
    next(t for t in state["generator"].values() if t.is_floating_point()).fill_(float("nan"))


CRAFTED = {   # the list: six tracebacks, a step accepted, NaN weights called "last good"
    "rng=[]": (lambda s: s.update(rng=[]), "field rng must be a list of 1 to"),
    "rng of the wrong size": (lambda s: s["rng"][0].update(cpu=torch.zeros(100, dtype=torch.uint8)),
                              "field rng[0]['cpu'] must be torch's random-number state"),
    "rng='abc'": (lambda s: s.update(rng="abc"), "field rng must be a list"),
    "no fixed_noise": (lambda s: s.pop("fixed_noise"), "field fixed_noise must be a float32 "
                                                       "tensor of shape [64, 100]"),
    "step=-50": (lambda s: s.update(step=-50), "field step must be an integer in "
                                               "[0, 1,000,000,000], got -50"),
    "lr='abc'": (lambda s: s["optimizer_g"]["param_groups"][0].update(lr="abc"),
                 "field optimizer_g.param_groups[0].lr must be a number"),
    "step=10**18": (lambda s: s.update(step=10**18), "field step must be an integer in"),
    "NaN generator": (_nan_generator, "holds NaN or infinite values: the checkpoint is damaged"),
}


@pytest.mark.parametrize("case", list(CRAFTED))
def test_crafted_checkpoints_under_resume_are_one_line_errors_before_any_work(
        case, a_checkpoint, tmp_path, capsys, no_work):
    import copy

    from gmgan_lib.checkpoint import save_checkpoint

    spoil, message = CRAFTED[case]
    state = copy.deepcopy(a_checkpoint)
    spoil(state)
    out = tmp_path / "run"
    save_checkpoint(state, out / "checkpoint.pt")
    before = (out / "checkpoint.pt").read_bytes()
    rc = main([*SMALL_ARGS, "--max-steps", "3", "--out", str(out), "--resume"])
    printed = capsys.readouterr()
    assert rc == 2, printed.err
    assert printed.err.startswith("error: ") and printed.err.count("\n") == 1, printed.err
    assert message in printed.err and str(out / "checkpoint.pt") in printed.err, printed.err
    assert "resumed" not in printed.out and "last good checkpoint" not in printed.err
    assert (out / "checkpoint.pt").read_bytes() == before      # (no_work: no data were loaded)


def _disk_full(*args, **kwargs):
    import errno

    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_in_train_is_one_line_naming_the_file(tmp_path, capsys, monkeypatch):
    # Issue 28, item 9: 47 lines of traceback. Exit code 1 (a failure of the machine); the new
    # run had no checkpoint yet, so its folder is gone.
    # The disk fills while the checkpoint's bytes are written (the checkpoint is serialised in
    # memory first; tests/test_faults.py fills a real tmpfs).
    import gmgan_lib.checkpoint
    from gmgan_lib.files import atomic_write

    monkeypatch.setattr(gmgan_lib.checkpoint, "atomic_write",
                        lambda path, write: atomic_write(path, _disk_full))
    out = tmp_path / "run"
    rc = main([*SMALL_ARGS, "--max-steps", "1", "--checkpoint-every", "1", "--out", str(out)])
    lines = capsys.readouterr().err.strip().splitlines()   # (tqdm's bar, then the error)
    assert rc == 1 and "Traceback" not in str(lines), lines
    assert lines[-1].startswith(f"error: {out / 'checkpoint.pt'}: No space left on device; "
                                f"free some space") and len(lines[-1]) < 300, lines
    assert not out.exists()


SIGNAL_IN_SET_UP = """
import os, signal, sys, time
import gmgan_lib.data

def load_tensors(*args, **kwargs):      # the signal arrives while the data are loading
    os.kill(os.getpid(), getattr(signal, sys.argv[1]))
    time.sleep(60)                      # (SIGTERM's default action kills the process here)
    raise AssertionError("the signal was ignored")

gmgan_lib.data.load_tensors = load_tensors
# As a terminal starts a command: a job started in the background by a non-interactive shell
# (nohup, `&` in a script) inherits SIGINT ignored, and Python then installs no handler.
signal.signal(signal.SIGINT, signal.default_int_handler)
from gmgan_lib.__main__ import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("sig, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_during_the_set_up_is_one_line_and_leaves_no_folder(tmp_path, sig, code):
    # Issue 28: SIGINT during the set-up gave 70 lines of traceback; SIGTERM killed the process
    # and left a folder holding only .lock.
    script = tmp_path / "signal_in_set_up.py"
    script.write_text(SIGNAL_IN_SET_UP)
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, str(script), sig, *SMALL_ARGS, "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.count("\n") == 1 and f"error: interrupted by {sig}" in proc.stderr
    assert not out.exists()


def test_a_path_too_long_and_a_deep_model_config_are_one_line_errors(tmp_path, capsys, no_work):
    # Issue 28, item 9: ENAMETOOLONG and RecursionError (json, 5,000 levels) were tracebacks.
    deep = '{"g_channels": ' + "[" * 5000 + "]" * 5000 + "}"
    shallower = '{"g_channels": ' + "[" * 500 + "]" * 500 + "}"   # json reads it; still refused
    for args, message in [(["--out", str(tmp_path / ("r" * 300))], "File name too long"),
                          (["--model-config", deep, "--out", str(tmp_path / "a")],
                           "--model-config is nested too deeply"),
                          (["--model-config", shallower, "--out", str(tmp_path / "b")],
                           "--model-config is nested too deeply")]:
        rc = main([*SMALL_ARGS[:-2], *args])
        err = capsys.readouterr().err
        assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1, err[:300]
        assert message in err and len(err) < 400, err[:300]
    assert list(tmp_path.iterdir()) == []


def test_a_data_root_that_is_a_file_is_one_line_naming_it(tmp_path, capsys, monkeypatch):
    # Issue 28, item 9: FileExistsError from the data folder's creation, with a traceback.
    root = tmp_path / "not-a-folder"
    root.write_text("x")
    monkeypatch.setenv("GMGAN_DATA_ROOT", str(root))
    monkeypatch.setenv("GMGAN_DATA_DOWNLOAD", "1")    # (refused before any download is tried)
    monkeypatch.delenv("GMGAN_DATA_MIRROR", raising=False)
    rc = main([*SMALL_ARGS, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1, err
    assert f"GMGAN_DATA_ROOT is {root}, which is not a folder" in err
    assert not (tmp_path / "run").exists()


def test_sample_writes_a_legal_250_character_name_and_refuses_a_longer_one(tmp_path, capsys):
    # Issue 28, item 9: the temporary's name (".NAME.XXXXXXXX.tmp") exceeded 255 bytes, so a
    # legal name could never be written.
    out = tmp_path / ("g" * 246 + ".png")
    assert main(["sample", "--checkpoint", str(COMMITTED), "--n", "4", "--out", str(out)]) == 0
    assert [p.name for p in tmp_path.iterdir()] == [out.name]
    capsys.readouterr()
    rc = main(["sample", "--checkpoint", str(COMMITTED), "--n", "4",
               "--out", str(tmp_path / ("g" * 300 + ".png"))])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "File name too long; choose a shorter" in err


def test_disk_full_in_sample_is_one_line_naming_the_file(tmp_path, capsys, monkeypatch):
    from PIL import Image

    monkeypatch.setattr(Image.Image, "save", _disk_full)     # the grid's PNG encoder writing
    out = tmp_path / "grid.png"
    rc = main(["sample", "--checkpoint", str(COMMITTED), "--n", "4", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1, err
    assert f"error: {out}: No space left on device" in err
    assert list(tmp_path.iterdir()) == []          # no temporary left either


def test_the_next_sample_removes_the_temporary_a_killed_sample_left(tmp_path):
    # Issue 28, item 11: a killed `sample` left a multi-MB temporary that nothing removed. The
    # next write of the same file removes the temporaries of that file whose writer is dead
    # (tests/test_files.py kills a real writer); not a young one, nor another file's.
    old = time.time() - 3600
    stale, young = tmp_path / ".grid.png.k1lled00.tmp", tmp_path / ".grid.png.y0ung000.tmp"
    other = tmp_path / ".other.png.k1lled00.tmp"
    for path in (stale, young, other):
        path.write_bytes(b"\0" * 1000)
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    assert main(["sample", "--checkpoint", str(COMMITTED), "--n", "4",
                 "--out", str(tmp_path / "grid.png")]) == 0
    assert not stale.exists() and young.exists() and other.exists()
