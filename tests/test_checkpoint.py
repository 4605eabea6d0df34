"""Atomic checkpoint writes and safe loads (gmgan_lib.checkpoint)."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from gmgan_lib import checkpoint as ck
from gmgan_lib.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def state(i: int = 0) -> dict:
    return {"config": {"model": "gan", "i": i}, "generator": {"w": torch.full((3, 4), float(i))},
            "step": i, "rng": [{"cpu": torch.get_rng_state()}]}


def test_round_trip_is_exact(tmp_path):
    path = tmp_path / "c.pt"
    s = state(7)
    save_checkpoint(s, path)
    back = load_checkpoint(path)
    assert back["format"] == "gmgan-checkpoint" and back["version"] == 1
    assert back["config"] == s["config"] and back["step"] == 7
    assert torch.equal(back["generator"]["w"], s["generator"]["w"])
    assert torch.equal(back["rng"][0]["cpu"], s["rng"][0]["cpu"])
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]        # no temporary file left


def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    save_checkpoint(state(1), path)

    def die_midway(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(ck.torch, "save", die_midway)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(state(2), path)
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_a_failed_rename_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    save_checkpoint(state(1), path)
    monkeypatch.setattr(ck.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("killed")))
    with pytest.raises(OSError):
        save_checkpoint(state(2), path)
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


WRITER = textwrap.dedent("""
    import sys, torch
    from gmgan_lib.checkpoint import save_checkpoint
    path = sys.argv[1]
    i = 0
    while True:  # ever larger files, so a kill often lands inside a write
        i += 1
        save_checkpoint({"config": {"i": i}, "generator": {"w": torch.full((20000 + 997 * (i % 50),), float(i))},
                         "step": i}, path)
        print(i, flush=True)
""")


def test_sigkill_during_a_save_loop_always_leaves_a_complete_checkpoint(tmp_path):
    path = tmp_path / "c.pt"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    for trial in range(3):
        proc = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE,
                                text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        try:
            first = proc.stdout.readline()           # at least one complete save
            assert first.strip(), "writer printed nothing"
            time.sleep(0.05 + 0.07 * trial)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        s = load_checkpoint(path)                    # never torn
        i = s["step"]
        assert i >= 1 and s["config"]["i"] == i
        w = s["generator"]["w"]
        assert w.numel() == 20000 + 997 * (i % 50) and bool((w == float(i)).all())


def test_truncated_corrupted_and_foreign_files_give_one_line_errors_naming_the_file(tmp_path):
    good = tmp_path / "good.pt"
    save_checkpoint(state(3), good)
    data = good.read_bytes()

    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    corrupted = tmp_path / "corrupted.pt"
    corrupted.write_bytes(data[:200] + bytes(b ^ 0xFF for b in data[200:600]) + data[600:])
    text = tmp_path / "notes.pt"
    text.write_text("hello\n")
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    future = tmp_path / "future.pt"
    torch.save({"format": "gmgan-checkpoint", "version": 99, "config": {}, "generator": {}}, future)
    for path, match in [(truncated, "not a readable gmgan checkpoint"),
                        (corrupted, "not a readable gmgan checkpoint|fails its CRC-32"),
                        (text, "not a readable gmgan checkpoint"),
                        (foreign, "not a gmgan checkpoint"),
                        (future, "version 99 is not supported"),
                        (tmp_path / "missing.pt", "no such checkpoint file")]:
        with pytest.raises(CheckpointError, match=match) as info:
            load_checkpoint(path)
        message = str(info.value)
        assert message.startswith(str(path)) and "\n" not in message


class Evil:
    def __reduce__(self):
        return (os.system, (f"touch {EVIL_MARK}",))


EVIL_MARK = None


def test_a_checkpoint_can_never_run_code(tmp_path):
    global EVIL_MARK
    EVIL_MARK = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": "gmgan-checkpoint", "version": 1, "config": Evil(), "generator": {}},
               path)
    with pytest.raises(CheckpointError, match="evil.pt: not a readable gmgan checkpoint"):
        load_checkpoint(path)
    assert not EVIL_MARK.exists()


def test_missing_keys_are_named(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint({"config": {}}, path)
    with pytest.raises(CheckpointError, match="lacks generator"):
        load_checkpoint(path)


def test_save_rejects_a_non_dict(tmp_path):
    with pytest.raises(ValueError, match="state must be a dict"):
        save_checkpoint([1, 2], tmp_path / "c.pt")


def test_a_sha256_manifest_beside_the_file_is_enforced(tmp_path):
    import hashlib

    path, other = tmp_path / "g.pt", tmp_path / "unlisted.pt"
    save_checkpoint(state(1), path)
    save_checkpoint(state(2), other)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    (tmp_path / "SHA256SUMS").write_text(f"{digest}  g.pt\n")
    assert load_checkpoint(path)["step"] == 1
    assert load_checkpoint(other)["step"] == 2          # not listed: not checked
    save_checkpoint(state(3), path)                      # a valid checkpoint, but not the listed one
    with pytest.raises(CheckpointError, match=r"g.pt: sha256 [0-9a-f]{64} does not match " + digest):
        load_checkpoint(path)


@pytest.mark.parametrize("name, line", [
    ("my ckpt.pt", "{digest}  my ckpt.pt"),          # a space in the name (sha256sum's output)
    ("my ckpt.pt", "{digest} *my ckpt.pt"),          # ... in binary mode
    ("g.pt", "{digest} *g.pt"),
    ("back\\slash.pt", "\\{digest}  back\\\\slash.pt"),   # an escaped name
])
def test_the_manifest_is_enforced_in_sha256sums_exact_format(tmp_path, name, line):
    # Issue 28, item 3: the line of "my ckpt.pt" was split on its space and skipped, so
    # tampered weights loaded with exit 0.
    import hashlib

    path = tmp_path / name
    save_checkpoint(state(1), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    (tmp_path / "SHA256SUMS").write_text(line.format(digest=digest) + "\n")
    assert load_checkpoint(path)["step"] == 1
    save_checkpoint(state(3), path)                      # a valid checkpoint, but not the listed one
    with pytest.raises(CheckpointError, match=r"sha256 [0-9a-f]{64} does not match " + digest):
        load_checkpoint(path)


def test_a_manifest_that_cannot_be_read_refuses_the_file(tmp_path):
    # A line the reader cannot parse might be the one that lists the file: never skipped.
    path = tmp_path / "g.pt"
    save_checkpoint(state(1), path)
    (tmp_path / "SHA256SUMS").write_text("not a manifest line\n")
    with pytest.raises(CheckpointError, match=r"g.pt: cannot be checked against .*SHA256SUMS:1"):
        load_checkpoint(path)


def test_files_get_ordinary_permissions(tmp_path):
    # mkstemp creates 0600 files; a checkpoint or a run's metrics should be readable as usual.
    path = tmp_path / "c.pt"
    save_checkpoint(state(1), path)
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def _flip_a_byte_inside_the_largest_tensor(path):
    """Flip one byte in the middle of the stored data of the archive's largest member (a
    tensor's storage), as a failing disk or a bad copy would."""
    import zipfile

    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = max(archive.infolist(), key=lambda i: i.file_size)
    assert info.compress_type == zipfile.ZIP_STORED        # torch.save stores, uncompressed
    name_len = int.from_bytes(data[info.header_offset + 26:info.header_offset + 28], "little")
    extra_len = int.from_bytes(data[info.header_offset + 28:info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    data[start + info.file_size // 2] ^= 0x01
    path.write_bytes(bytes(data))
    return info.filename


def test_a_flipped_byte_inside_a_tensor_is_an_error_naming_the_file(tmp_path):
    # Issue 16, item 1: torch.load does not check the archive's CRCs, so this used to load
    # silently with one altered weight.
    path = tmp_path / "checkpoint.pt"
    save_checkpoint({"config": {}, "generator": {"w": torch.randn(1000)}}, path)
    member = _flip_a_byte_inside_the_largest_tensor(path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    message = str(err.value)
    assert str(path) in message and "CRC-32" in message and member in message
    assert "\n" not in message


def test_a_damaged_training_checkpoint_stops_sample_evaluate_and_resume(tmp_path, capsys):
    from gmgan_lib.__main__ import main
    from gmgan_lib.training import TrainConfig, train

    run = tmp_path / "run"
    train(TrainConfig(model="gan", batch_size=8, data_fraction=0.0006, max_steps=2,
                      model_config={"g_width": 8, "d_width": 4}), run, verbose=False)
    _flip_a_byte_inside_the_largest_tensor(run / "checkpoint.pt")
    for argv in (["sample", "--checkpoint", str(run / "checkpoint.pt"), "--out", str(tmp_path / "g.png")],
                 ["evaluate", "--checkpoint", str(run / "checkpoint.pt"), "--n", "100",
                  "--out", str(tmp_path / "eval")],
                 ["train", "--model", "gan", "--model-config", '{"g_width": 8, "d_width": 4}',
                  "--batch-size", "8", "--data-fraction", "0.0006", "--max-steps", "4",
                  "--out", str(run), "--resume"]):
        assert main(argv) != 0, argv
        err = capsys.readouterr().err
        assert "CRC-32" in err and "Traceback" not in err, (argv, err)
    assert not (tmp_path / "g.png").exists() and not (tmp_path / "eval").exists()


def test_a_checkpoint_declaring_huge_widths_beside_small_weights_is_refused_before_building(tmp_path):
    """Issue 28: a crafted 1 MB file whose configuration says 4,096 fields drove `sample` to
    9 GB before it refused; the shapes are now compared on the meta device first."""
    import resource

    from gmgan_lib.checkpoint import CheckpointError, save_checkpoint
    from gmgan_lib.sampling import load_generator
    from gmgan_lib.training import TrainConfig, train

    result = train(TrainConfig(model="gmgan", batch_size=8, data_fraction=0.0006, max_steps=1,
                               model_config={"preset": "hybrid-tiny"}), None, verbose=False)
    state = {"config": {"model": "gmgan", "latent_dim": 100,
                        "model_config": {"preset": "hybrid-tiny", "g_channels": [4096, 4096]}},
             "generator": result.generator.state_dict()}
    save_checkpoint(state, tmp_path / "crafted.pt")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CheckpointError, match=r"crafted.pt: cannot rebuild its generator .*has "
                                              r"shape .* the configuration declares"):
        load_generator(tmp_path / "crafted.pt")
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before     # KiB
    assert grown < 500_000          # the 4,096-field network (several GB) was never allocated
