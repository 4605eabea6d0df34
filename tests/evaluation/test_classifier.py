"""The feature classifiers: deterministic training, sha256-checked loading, the committed
weights (accuracy, size, manifest) and the augmentation's geometry."""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess

import pytest
import torch

from gmgan_lib.data import load_tensors
from gmgan_lib.evaluation.classifier import (AUGMENT_DEGREES, DATASETS, DEFAULT_DIR, DEFAULT_EPOCHS, MANIFEST,
                                          ClassifierChecksumError, LeNet, accuracy,
                                          add_train_classifier_arguments, augment, load_classifier,
                                          read_manifest, save_classifier, train_classifier)

COMMITTED = [d for d in DATASETS if (DEFAULT_DIR / f"{d}.pt").is_file()]


@pytest.fixture(scope="module")
def small_mnist():
    return load_tensors("mnist", "train", fraction=0.01, seed=0)   # 600 digits


def _train_few(images, labels, seed):
    return train_classifier(images, labels, epochs=1, batch_size=64, seed=seed, max_steps=4, threads=1)


def test_training_is_deterministic(small_mnist):
    a, b = _train_few(*small_mnist, seed=0), _train_few(*small_mnist, seed=0)
    c = _train_few(*small_mnist, seed=1)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    # Training must not leave the global switches changed.
    assert not torch.are_deterministic_algorithms_enabled()


def test_training_rejects_bad_shapes(small_mnist):
    x, y = small_mnist
    with pytest.raises(ValueError, match=r"images must have shape \[N, 1, 28, 28\]"):
        train_classifier(x[:, 0], y)
    with pytest.raises(ValueError, match="labels must have shape"):
        train_classifier(x, y[:-1])
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        train_classifier(x, y, epochs=0)


def test_augment_keeps_background_and_identity():
    g = torch.Generator().manual_seed(0)
    blank = -torch.ones(8, 1, 28, 28)
    assert torch.equal(augment(blank, g), blank)   # pixels entering from outside are background
    x = torch.rand(4, 1, 28, 28, generator=g) * 2 - 1
    torch.testing.assert_close(augment(x, g, max_shift=0.0, max_degrees=0.0), x, atol=1e-5, rtol=0)
    # A (sub-pixel) translation redistributes each pixel bilinearly with weights summing to 1:
    # the ink of an interior blob is conserved and its centre of mass moves by at most 2 px.
    blob = -torch.ones(6, 1, 28, 28)
    blob[:, :, 10:18, 11:16] = 1
    moved = augment(blob, torch.Generator().manual_seed(1), max_shift=2.0, max_degrees=0.0)
    torch.testing.assert_close((moved + 1).sum((1, 2, 3)), (blob + 1).sum((1, 2, 3)), rtol=1e-5, atol=0)
    coords = torch.arange(28.0)
    centre = lambda im: torch.stack([((im + 1).sum(3) * coords).sum((1, 2)),
                                     ((im + 1).sum(2) * coords).sum((1, 2))], 1) / (im + 1).sum((1, 2, 3))[:, None]
    shift = centre(moved) - centre(blob)
    assert (shift.abs() <= 2.0 + 1e-4).all() and (shift.abs() > 1e-3).any()


def test_save_load_round_trip(tmp_path, small_mnist):
    model = _train_few(*small_mnist, seed=0)
    digest = save_classifier(model, "mnist", tmp_path, test_accuracy=0.5)
    assert read_manifest(tmp_path) == {"mnist.pt": digest}
    assert hashlib.sha256((tmp_path / "mnist.pt").read_bytes()).hexdigest() == digest
    loaded = load_classifier("mnist", tmp_path)
    assert not loaded.training and loaded.sha256 == digest and loaded.test_accuracy == 0.5
    x = small_mnist[0][:16]
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    # No temporary files are left behind by the atomic writes.
    assert sorted(p.name for p in tmp_path.iterdir()) == [MANIFEST, "mnist.pt"]


@pytest.fixture
def committed_copy(tmp_path):
    assert "mnist" in COMMITTED, f"{DEFAULT_DIR / 'mnist.pt'} is missing from the repository"
    for name in ("mnist.pt", MANIFEST):
        shutil.copy(DEFAULT_DIR / name, tmp_path / name)
    return tmp_path


def test_tampered_file_is_rejected_with_names_and_hash(committed_copy):
    path = committed_copy / "mnist.pt"
    expected = read_manifest(committed_copy)["mnist.pt"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ClassifierChecksumError) as err:
        load_classifier("mnist", committed_copy)
    assert str(path) in str(err.value) and expected in str(err.value)
    path.write_bytes(bytes(data[:1000]))   # truncated
    with pytest.raises(ClassifierChecksumError, match=expected):
        load_classifier("mnist", committed_copy)


def _crafted(folder, blob_or_bytes):
    """Replace mnist.pt with crafted content and re-hash the manifest to match it: the checksum
    passes, so only the loader's own checks stand between the file and the user."""
    import io

    from gmgan_lib.files import manifest_line, sha256_bytes
    if isinstance(blob_or_bytes, bytes):
        data = blob_or_bytes
    else:
        buffer = io.BytesIO()
        torch.save(blob_or_bytes, buffer)
        data = buffer.getvalue()
    (folder / "mnist.pt").write_bytes(data)
    (folder / MANIFEST).write_text(manifest_line("mnist.pt", sha256_bytes(data)))


def test_a_crafted_classifier_with_a_rehashed_manifest_is_one_clear_error(committed_copy):
    good = torch.load(committed_copy / "mnist.pt", weights_only=True)
    cases = {
        "not a zip": (b"\x80\x04K\x01." * 10, "cannot be read as a"),
        "a huge width": ({**good, "feature_dim": 10**9}, r"feature_dim must be a whole number in \[1, 4096\]"),
        "no classes": ({**good, "num_classes": 0}, r"num_classes must be a whole number"),
        "a float width": ({**good, "feature_dim": 128.0}, r"feature_dim must be a whole number"),
        "wrong shapes": ({**good, "feature_dim": 64}, "do not fit the LeNet it declares"),
        "no weights": ({**good, "state_dict": [1, 2]}, "do not fit the LeNet it declares"),
        "a missing key": ({**good, "state_dict": {}}, "do not fit the LeNet it declares"),
    }
    for content, message in cases.values():
        _crafted(committed_copy, content)
        with pytest.raises(ValueError, match=message):
            load_classifier("mnist", committed_copy)
    # the same bytes re-hashed load as before: the checks refuse nothing that is right
    _crafted(committed_copy, {**good, "test_accuracy": "0.99"})
    assert load_classifier("mnist", committed_copy).test_accuracy is None


def test_missing_manifest_entry_file_or_dataset(committed_copy):
    (committed_copy / MANIFEST).write_text("")
    with pytest.raises(ValueError, match="has no sha256 for mnist.pt"):
        load_classifier("mnist", committed_copy)
    (committed_copy / MANIFEST).write_text("not a manifest line\n")
    with pytest.raises(ValueError, match="expected '<sha256>  <file>'"):
        load_classifier("mnist", committed_copy)
    with pytest.raises(FileNotFoundError, match="train-classifier --dataset rotmnist"):
        load_classifier("rotmnist", committed_copy)
    with pytest.raises(ValueError, match="mnist, rotmnist, fashion-mnist"):
        load_classifier("cifar10")


@pytest.mark.skipif(not COMMITTED, reason="no classifier weights committed yet")
def test_manifest_is_sha256sum_compatible():
    if shutil.which("sha256sum") is None:
        pytest.skip("sha256sum is not installed")
    res = subprocess.run(["sha256sum", "--check", "--strict", MANIFEST], cwd=DEFAULT_DIR,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert set(read_manifest(DEFAULT_DIR)) == {f"{d}.pt" for d in COMMITTED}


@pytest.mark.parametrize("dataset", COMMITTED)
def test_committed_classifier(dataset):
    model = load_classifier(dataset)
    assert isinstance(model, LeNet) and not model.training
    assert not any(p.requires_grad for p in model.parameters())
    assert (DEFAULT_DIR / f"{dataset}.pt").stat().st_size < 1_000_000
    x, y = load_tensors(dataset, "test")
    with torch.no_grad():
        feats = model.features(x[:64])
        assert feats.shape == (64, model.num_features) and (feats >= 0).all()   # after a ReLU
        torch.testing.assert_close(model(x[:64]), model.head(feats))
    # The accuracy stored in the file is the one measured now, on the full test split.
    acc = accuracy(model, x, y)
    assert acc == model.test_accuracy
    floor = {"mnist": 0.99, "rotmnist": 0.93, "fashion-mnist": 0.90}[dataset]
    assert acc >= floor


@pytest.mark.parametrize("dataset", COMMITTED)
def test_committed_file_is_what_the_plain_command_trains(dataset):
    # `train-classifier --dataset D` with its defaults must be the recipe of the committed file,
    # so changing a default without retraining is caught here.
    parser = argparse.ArgumentParser()
    add_train_classifier_arguments(parser)
    args = parser.parse_args(["--dataset", dataset])
    saved = torch.load(DEFAULT_DIR / f"{dataset}.pt", weights_only=True)["train_config"]
    assert saved == {"epochs": DEFAULT_EPOCHS[dataset], "batch_size": args.batch_size, "lr": args.lr,
                     "seed": args.seed, "threads": args.threads, "augmentation": not args.no_augment,
                     "max_degrees": AUGMENT_DEGREES[dataset], "max_shift": 2.0, "optimizer": "adam+cosine"}


@pytest.mark.parametrize("args, message", [
    (["--epochs", "0"], "--epochs must be a positive integer"),
    (["--batch-size", "0"], "--batch-size must be a positive integer"),
    (["--threads", "0"], "--threads must be a positive integer"),
    # Issue 28, item 7: 100000 threads ended in a segmentation fault; the bound is the CPU count.
    (["--threads", "100000"], f"--threads must be a positive integer at most {os.cpu_count()} "),
    (["--lr", "-1"], "--lr must be a positive finite number"),
    (["--seed", "99999999999999999999"], "--seed must be an integer in"),
    ([], "pass --overwrite to replace it"),         # the committed data/classifiers/mnist.pt
    (["--out", str(DEFAULT_DIR / "mnist.pt" / "sub")], "--out: cannot create the folder"),
])
def test_train_classifier_rejects_bad_flags_and_never_overwrites_a_committed_file(
        args, message, capsys, monkeypatch):
    # Issue 16: these used to train (or fail with a traceback); --threads 0 even retrained and
    # replaced the committed feature network behind every documented FID.
    import gmgan_lib.data
    from gmgan_lib.__main__ import main

    def forbidden(*a, **k):
        raise AssertionError("data were loaded before the arguments were checked")

    monkeypatch.setattr(gmgan_lib.data, "load_tensors", forbidden)
    before = (DEFAULT_DIR / "mnist.pt").read_bytes()
    assert main(["train-classifier", "--dataset", "mnist", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert (DEFAULT_DIR / "mnist.pt").read_bytes() == before
