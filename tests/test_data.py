"""gmgan_lib.data on the real raw files: contents, rotmnist geometry, subsets, failure paths.

The real-data tests read the repository's data/ folder (``make test`` prepares it from
GMGAN_DATA_MIRROR and Debian's dataset-fashion-mnist). The failure paths build small mirrors and
roots in tmp_path from real files, truncated or with a flipped byte.
"""
from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as TF
from torchvision.transforms import InterpolationMode

from gmgan_lib import data, rotation
from gmgan_lib.__main__ import main as cli

# Official MNIST facts (../shared/data/MNIST/SOURCE.md).
MNIST_TRAIN_FIRST = [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
MNIST_TEST_FIRST = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
MNIST_TRAIN_HIST = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


@pytest.fixture(scope="module")
def real_raw() -> Path:
    """The verified, decompressed MNIST files of the repository's data/ folder."""
    paths, _ = data.ensure_raw("mnist")
    return paths["train-images"].parent


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """An empty data root and an empty mirror; no Debian folder, no download."""
    root, mirror = tmp_path / "data", tmp_path / "mirror"
    mirror.mkdir()
    monkeypatch.setenv("GMGAN_DATA_ROOT", str(root))
    monkeypatch.setenv("GMGAN_DATA_MIRROR", str(mirror))
    monkeypatch.setenv("GMGAN_DATA_DOWNLOAD", "0")
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    yield root, mirror
    data.clear_cache()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob(".*.tmp")) if folder.exists() else []


# ------------------------------------------------------------------------------------------
# real contents


@pytest.mark.parametrize("split, n, first", [("train", 60000, MNIST_TRAIN_FIRST),
                                             ("test", 10000, MNIST_TEST_FIRST)])
def test_mnist_contents(split, n, first):
    images, labels = data.load_tensors("mnist", split)
    assert images.shape == (n, 1, 28, 28) and images.dtype == torch.float32
    assert labels.shape == (n,) and labels.dtype == torch.int64
    assert labels[:10].tolist() == first
    # uint8 v maps to v/127.5 - 1: both ends are reached, and every value is on that lattice.
    assert images.min() == -1.0 and images.max() == 1.0
    v = (images[:500] + 1) * 127.5
    assert torch.allclose(v, v.round(), atol=1e-4)
    if split == "train":
        assert torch.bincount(labels).tolist() == MNIST_TRAIN_HIST
        # background is black: the mean image is mostly -1, the corners exactly -1
        assert (images[:, 0, 0, 0] == -1).all() and images.mean() < -0.7


def test_get_dataset_wraps_the_same_tensors():
    ds = data.get_dataset("mnist", "test")
    images, labels = data.load_tensors("mnist", "test")
    assert isinstance(ds, torch.utils.data.Dataset) and len(ds) == 10000
    for i in (0, 1, 9999):
        x, y = ds[i]
        assert x.shape == (1, 28, 28) and x.dtype == torch.float32
        assert isinstance(y, int) and y == labels[i].item()
        assert torch.equal(x, images[i])
    batch_x, batch_y = next(iter(torch.utils.data.DataLoader(ds, batch_size=10)))
    assert batch_x.shape == (10, 1, 28, 28) and batch_y.tolist() == MNIST_TEST_FIRST


def test_returned_tensors_are_copies():
    a, _ = data.load_tensors("mnist", "test")
    a.fill_(0.0)
    b, _ = data.load_tensors("mnist", "test")
    assert b.min() == -1.0  # mutating one result never corrupts the cache


def test_fashion_mnist_contents():
    for split, n in (("train", 60000), ("test", 10000)):
        ds = data.get_dataset("fashion-mnist", split)
        images, labels = ds.images, ds.labels
        assert images.shape == (n, 1, 28, 28) and images.dtype == torch.float32
        assert images.min() == -1.0 and images.max() == 1.0
        # Fashion-MNIST is exactly balanced: n/10 of each of its 10 classes.
        assert torch.bincount(labels, minlength=10).tolist() == [n // 10] * 10
    assert len(ds.classes) == 10 and ds.classes[9] == "Ankle boot"
    # It is not MNIST: the first labels differ (Fashion-MNIST's train set starts 9 0 0 3).
    assert data.load_tensors("fashion-mnist", "train")[1][:4].tolist() == [9, 0, 0, 3]


# ------------------------------------------------------------------------------------------
# rotmnist


def test_rotation_angles_are_fixed_and_uniform():
    a, b = data.rotation_angles("train"), data.rotation_angles("train")
    t = data.rotation_angles("test")
    assert np.array_equal(a, b) and a.shape == (60000,) and t.shape == (10000,)
    assert a.min() >= 0.0 and a.max() < 360.0
    assert not np.allclose(a[:10000], t)  # each split has its own angles
    # uniform on [0, 360): mean 180, std 360/sqrt(12) ~ 103.9, 10 equal bins ~ 6000 each
    assert abs(a.mean() - 180) < 2 and abs(a.std() - 360 / 12 ** 0.5) < 1.5
    counts, _ = np.histogram(a, bins=10, range=(0, 360))
    assert np.all(np.abs(counts - 6000) < 5 * np.sqrt(6000))


def test_rotate_quarter_turn_is_exact_and_counter_clockwise():
    images, _ = data.load_tensors("mnist", "test", fraction=0.002)
    # a counter-clockwise quarter turn as displayed is torch.rot90 on (rows, cols)
    turned = rotation.rotate(images, np.full(len(images), 90.0))
    assert torch.allclose(turned, torch.rot90(images, 1, dims=(2, 3)), atol=1e-5)
    full = rotation.rotate(images, np.full(len(images), 360.0))
    assert torch.allclose(full, images, atol=1e-5)


def test_rotate_matches_torchvision():
    images, _ = data.load_tensors("mnist", "test", fraction=0.002)
    images = images.double()
    angles = np.linspace(3.0, 357.0, len(images))
    ours = rotation.rotate(images, angles)
    # torchvision's rotate, one image at a time, with background shifted to 0 for its padding
    ref = torch.stack([TF.rotate(x + 1, float(a), interpolation=InterpolationMode.BILINEAR,
                                 fill=0.0) - 1 for x, a in zip(images, angles)])
    assert torch.allclose(ours, ref, atol=1e-10)


def test_rotate_rejects_bad_shapes():
    with pytest.raises(ValueError, match="images must be"):
        rotation.rotate(torch.zeros(28, 28), [0.0])
    with pytest.raises(ValueError, match="degrees must have shape"):
        rotation.rotate(torch.zeros(2, 1, 28, 28), [0.0])


def _corr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a = a.flatten(1) - a.flatten(1).mean(1, keepdim=True)
    b = b.flatten(1) - b.flatten(1).mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))


def test_rotmnist_is_mnist_rotated_by_its_angles():
    plain, labels = data.load_tensors("mnist", "test")
    rot, rot_labels = data.load_tensors("rotmnist", "test")
    assert rot.shape == (10000, 1, 28, 28) and rot.dtype == torch.float32
    assert torch.equal(labels, rot_labels)
    assert rot.min() >= -1.0 and rot.max() <= 1.0
    assert torch.equal(rot, data.load_tensors("rotmnist", "test")[0])  # same images every call
    angles = data.rotation_angles("test")
    # Rotating back by the angle recovers the digit (up to two bilinear resamplings) ...
    back = rotation.rotate(rot, -angles)
    c_back = _corr(back, plain)
    assert c_back.median() > 0.9 and c_back.min() > 0.5
    # ... while the rotated digit itself, far from 0 degrees, does not look like the original.
    far = torch.from_numpy((angles > 60) & (angles < 300))
    assert _corr(rot, plain)[far].median() < 0.5
    # Ink is roughly preserved: bilinear resampling blurs but does not create or destroy mass.
    mass_plain, mass_rot = (plain + 1).sum((1, 2, 3)), (rot + 1).sum((1, 2, 3))
    ratio = mass_rot / mass_plain
    assert abs(ratio.median() - 1) < 0.03 and ratio.min() > 0.8 and ratio.max() < 1.2


def test_rotmnist_train_split():
    images, labels = data.load_tensors("rotmnist", "train", fraction=0.01)
    assert images.shape == (600, 1, 28, 28)
    assert torch.bincount(data.load_tensors("rotmnist", "train")[1]).tolist() == MNIST_TRAIN_HIST
    assert torch.equal(labels, data.load_tensors("mnist", "train", fraction=0.01)[1])


# ------------------------------------------------------------------------------------------
# subsets


def test_fraction_subsets_are_fixed_stratified_and_exact():
    full_x, full_y = data.load_tensors("mnist", "train")
    x, y = data.load_tensors("mnist", "train", fraction=0.05, seed=3)
    x2, y2 = data.load_tensors("mnist", "train", fraction=0.05, seed=3)
    assert x.shape == (3000, 1, 28, 28) and torch.equal(x, x2) and torch.equal(y, y2)
    idx = data.subset_indices(full_y, 0.05, seed=3)
    assert torch.equal(idx, idx.sort().values) and len(idx.unique()) == 3000
    assert torch.equal(x, full_x[idx]) and torch.equal(y, full_y[idx])
    # stratified: every class gets 5% of its members up to one sample
    expected = 0.05 * torch.tensor(MNIST_TRAIN_HIST, dtype=torch.float64)
    assert (torch.bincount(y, minlength=10) - expected).abs().max() <= 1
    other = data.subset_indices(full_y, 0.05, seed=4)
    assert not torch.equal(idx, other)  # another seed, another subset
    # The smallest subset that keeps every class: one image each.
    assert torch.bincount(full_y[data.subset_indices(full_y, 10 / 60000)]).tolist() == [1] * 10


@pytest.mark.parametrize("fraction, kept", [(1e-9, "1 of 60,000"), (6 / 60000, "6 of 60,000")])
def test_a_fraction_that_leaves_a_class_empty_is_refused_with_the_numbers(fraction, kept):
    with pytest.raises(ValueError, match=rf"data fraction .* keeps {kept} images and leaves "
                                         rf"class\(es\) .* without an image; use at least 0.000184"):
        data.load_tensors("mnist", "train", fraction=fraction)


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5, "half", float("nan")])
def test_bad_fraction(fraction):
    with pytest.raises(ValueError, match="fraction"):
        data.load_tensors("mnist", "test", fraction=fraction)


def test_bad_name_and_split():
    with pytest.raises(ValueError, match="mnist, rotmnist, fashion-mnist"):
        data.get_dataset("cifar10")
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        data.load_tensors("mnist", "validation")
    with pytest.raises(ValueError, match="split"):
        data.rotation_angles("val")


# ------------------------------------------------------------------------------------------
# where files come from, and what happens when they are bad or missing


def test_copy_from_mirror_then_verified_locally(isolated, real_raw):
    root, mirror = isolated
    src = mirror / "MNIST" / "raw"
    src.mkdir(parents=True)
    for f in real_raw.iterdir():  # a mirror may hold decompressed files or .gz
        if "labels" in f.name:
            (src / f"{f.name}.gz").write_bytes(gzip.compress(f.read_bytes()))
        else:
            (src / f.name).symlink_to(f)
    paths, origin = data.ensure_raw("mnist")
    assert origin == f"copied from {src}"
    dest = root / "MNIST" / "raw"
    assert sorted(p.name for p in dest.iterdir()) == sorted(f.name for f in real_raw.iterdir())
    assert all(p.parent == dest and not p.is_symlink() for p in paths.values())
    _, origin = data.ensure_raw("mnist")
    assert origin == f"verified in {dest}"
    images, labels = data.load_tensors("mnist", "test")
    assert labels[:10].tolist() == MNIST_TEST_FIRST and images.shape == (10000, 1, 28, 28)


def test_missing_everywhere_names_every_place(isolated, tmp_path, monkeypatch):
    root, mirror = isolated
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.get_dataset("fashion-mnist")
    msg = str(err.value)
    for place in (root / "FashionMNIST" / "raw", mirror / "FashionMNIST" / "raw",
                  tmp_path / "no-debian", "GMGAN_DATA_DOWNLOAD=0"):
        assert str(place) in msg
    assert "apt-get install dataset-fashion-mnist" in msg and "GMGAN_DATA_MIRROR" in msg
    assert isinstance(err.value, FileNotFoundError)
    # without a mirror variable the message says it is unset
    monkeypatch.delenv("GMGAN_DATA_MIRROR")
    with pytest.raises(data.DatasetNotFoundError, match="GMGAN_DATA_MIRROR is not set"):
        data.load_tensors("mnist", "test")
    assert not (root / "MNIST" / "raw").exists() or not any((root / "MNIST" / "raw").iterdir())


def test_failed_download_is_reported(isolated, monkeypatch):
    monkeypatch.setenv("GMGAN_DATA_DOWNLOAD", "1")

    def offline(name, tmpdir):
        raise OSError("Name or service not known")

    monkeypatch.setattr(data, "_download", offline)
    with pytest.raises(data.DatasetNotFoundError, match="download .failed: OSError: Name or serv"):
        data.ensure_raw("mnist")


def test_torchvisions_offline_message_becomes_one_line(isolated, monkeypatch):
    monkeypatch.setenv("GMGAN_DATA_DOWNLOAD", "1")

    def offline(name, tmpdir):      # torchvision's message, as it reads offline
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\n"
                           "Tried https://ossci-datasets.s3.amazonaws.com/mnist/, got:\n"
                           "<urlopen error [Errno -2] Name or service not known>\n"
                           "Tried http://yann.lecun.com/exdb/mnist/, got:\n"
                           "<urlopen error [Errno -2] Name or service not known>\n")

    monkeypatch.setattr(data, "_download", offline)
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.ensure_raw("mnist")
    message = str(err.value)
    assert "\n" not in message
    assert ("download (failed: RuntimeError: Error downloading train-images-idx3-ubyte.gz: "
            "urlopen error [Errno -2] Name or service not known)") in message


def test_download_result_is_verified_and_installed(isolated, monkeypatch, real_raw):
    root, _ = isolated
    monkeypatch.setenv("GMGAN_DATA_DOWNLOAD", "1")

    def fake_download(name, tmpdir):  # what torchvision leaves behind: gz + extracted files
        raw = tmpdir / "MNIST" / "raw"
        shutil.copytree(real_raw, raw)
        return raw

    monkeypatch.setattr(data, "_download", fake_download)
    paths, origin = data.ensure_raw("mnist")
    assert origin == "downloaded with torchvision"
    assert paths["test-labels"] == root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    assert [p.name for p in root.iterdir()] == ["MNIST"]  # the temp download folder is gone


def _gz(real_raw: Path, name: str) -> bytes:
    return gzip.compress((real_raw / name).read_bytes(), compresslevel=1)


def _expect_corrupt(bad: Path, expected_md5: str, root: Path) -> None:
    """The error names the bad file and the expected md5; data/ gets neither it nor a temp file."""
    with pytest.raises(data.DatasetCorruptError) as err:
        data.ensure_raw("mnist")
    msg = str(err.value)
    assert str(bad) in msg and expected_md5 in msg and "prepare-data" in msg
    dest = root / "MNIST" / "raw"
    assert not (dest / bad.name.removesuffix(".gz")).exists()
    assert _leftovers(dest) == []


def test_truncated_gz_in_mirror(isolated, real_raw):
    root, mirror = isolated
    blob = _gz(real_raw, "t10k-labels-idx1-ubyte")
    bad = mirror / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(blob[: len(blob) // 2])
    _expect_corrupt(bad, data.RAW["mnist"].files["test-labels"].md5, root)


def test_flipped_byte_in_mirror_gz(isolated, real_raw):
    root, mirror = isolated
    blob = bytearray(_gz(real_raw, "t10k-images-idx3-ubyte"))
    blob[len(blob) // 2] ^= 0xFF  # breaks the deflate stream or its CRC
    bad = mirror / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(bytes(blob))
    _expect_corrupt(bad, data.RAW["mnist"].files["test-images"].md5, root)


def test_wrong_file_in_mirror(isolated, real_raw):
    """A well-formed file with the wrong content (train labels under the test name): md5 catches it."""
    root, mirror = isolated
    bad = mirror / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    bad.parent.mkdir(parents=True)
    bad.write_bytes((real_raw / "train-labels-idx1-ubyte").read_bytes())
    _expect_corrupt(bad, data.RAW["mnist"].files["test-labels"].md5, root)


def test_flipped_byte_in_local_copy(isolated, real_raw):
    root, _ = isolated
    dest = root / "MNIST" / "raw"
    dest.mkdir(parents=True)
    blob = bytearray((real_raw / "t10k-labels-idx1-ubyte").read_bytes())
    blob[100] = (blob[100] + 1) % 10  # a valid-looking label, silently wrong: md5 catches it
    bad = dest / "t10k-labels-idx1-ubyte"
    bad.write_bytes(bytes(blob))
    with pytest.raises(data.DatasetCorruptError, match=data.RAW["mnist"].files["test-labels"].md5):
        data.load_tensors("mnist", "test")
    assert bad.read_bytes() == bytes(blob)  # reported, not silently replaced


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    dest = tmp_path / "raw" / "file"

    def crash(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(data.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        data.atomic_write_bytes(dest, b"x" * 1000)
    assert list((tmp_path / "raw").iterdir()) == []


# ------------------------------------------------------------------------------------------
# the prepare-data command


def test_prepare_data_on_the_prepared_repo(capsys):
    assert cli(["prepare-data"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in out] == [["ok", "mnist:"], ["ok", "rotmnist:"],
                                                  ["ok", "fashion-mnist:"]]


def test_prepare_data_missing_fashion_is_a_warning_unless_asked(isolated, real_raw, capsys):
    root, mirror = isolated
    (mirror / "MNIST").mkdir()
    (mirror / "MNIST" / "raw").symlink_to(real_raw)
    assert cli(["prepare-data"]) == 0
    out = capsys.readouterr().out
    assert "ok       mnist: copied from" in out and "warning  fashion-mnist:" in out
    assert cli(["prepare-data", "--datasets", "fashion-mnist"]) == 1
    assert "FAILED   fashion-mnist:" in capsys.readouterr().out


def test_prepare_data_missing_mnist_fails(isolated, capsys):
    assert cli(["prepare-data"]) == 1
    out = capsys.readouterr().out
    assert "FAILED   mnist:" in out and "FAILED   rotmnist:" in out
