"""Offline datasets: ``"mnist"``, ``"rotmnist"`` and ``"fashion-mnist"``.

Every dataset is served two ways that can never disagree, because one is built on the other:

* :func:`load_tensors` returns a whole split as two tensors, images ``[N, 1, 28, 28]`` float32
  in ``[-1, 1]`` and labels ``[N]`` int64. Training keeps these on the GPU, and the metrics need
  whole arrays.
* :func:`get_dataset` wraps the same tensors in a ``torch.utils.data.Dataset`` of
  ``(image [1, 28, 28], label: int)`` pairs.

Where the raw files come from (see docs/data.md). For each of the four IDX files of a dataset:

1. the repository's ``data/<NAME>/raw/`` (``NAME`` is torchvision's folder name, ``MNIST`` or
   ``FashionMNIST``), holding the decompressed file or its ``.gz``;
2. a local mirror: ``$GMGAN_DATA_MIRROR/<NAME>/raw/``, and for Fashion-MNIST also Debian's
   ``/usr/share/datasets/fashion-mnist/`` (package ``dataset-fashion-mnist``). A file found
   there is decompressed, md5-checked and only then copied (atomically) into ``data/<NAME>/raw/``;
3. torchvision's download, when online (disable with ``GMGAN_DATA_DOWNLOAD=0``).

Checksums are those of the *decompressed* IDX content, the official files (docs/data.md says
where each value comes from). Unlike the ``.gz`` md5s (torchvision's lists), they do not change
when a mirror re-compresses the files, as Debian does for Fashion-MNIST.

``"rotmnist"`` is MNIST with digit ``i`` of a split rotated by ``rotation_angles(split)[i]``
degrees, drawn once from a fixed-seed generator, so every call and every machine sees the same
images.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import socket
import tempfile
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from gmgan_lib.files import atomic_write_bytes
from gmgan_lib.rotation import rotate

DATASETS = ("mnist", "rotmnist", "fashion-mnist")
SPLITS = ("train", "test")

# Class names, index = label.
CLASSES = {
    "mnist": tuple(str(d) for d in range(10)),
    "rotmnist": tuple(str(d) for d in range(10)),
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
}

# The Debian package `dataset-fashion-mnist` installs the four gz files directly in this folder.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@dataclass(frozen=True)
class RawFile:
    """One IDX file of a raw dataset: its name (without .gz), decompressed md5, expected shape."""

    name: str
    md5: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class RawDataset:
    """The raw files of one dataset, as torchvision lays them out in ``<root>/<folder>/raw/``."""

    folder: str
    files: dict[str, RawFile]  # key: "<split>-images" / "<split>-labels"

    def split_files(self, split: str) -> tuple[RawFile, RawFile]:
        return self.files[f"{split}-images"], self.files[f"{split}-labels"]


def _raw_files(md5s: dict[str, str]) -> dict[str, RawFile]:
    n = {"train": 60000, "t10k": 10000}
    out = {}
    for prefix, split in (("train", "train"), ("t10k", "test")):
        img, lab = f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"
        out[f"{split}-images"] = RawFile(img, md5s[img], (n[prefix], 28, 28))
        out[f"{split}-labels"] = RawFile(lab, md5s[lab], (n[prefix],))
    return out


# md5 of the decompressed files. MNIST: the official values (../shared/data/MNIST/SOURCE.md);
# the official .gz md5s are in torchvision.datasets.MNIST.resources. Fashion-MNIST: computed
# from Debian's files and identical to the `raw_data` list of torchvision-style loaders and the
# values zalandoresearch publishes for the uncompressed files.
RAW = {
    "mnist": RawDataset("MNIST", _raw_files({
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    })),
    "fashion-mnist": RawDataset("FashionMNIST", _raw_files({
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    })),
}
RAW["rotmnist"] = RAW["mnist"]  # rotmnist is computed from the MNIST files

# Seeds of the rotmnist angle generators, one per split. Changing them changes the dataset.
ROTATION_SEEDS = {"train": 20240321, "test": 20240322}


class DatasetNotFoundError(FileNotFoundError):
    """No source of a dataset's raw files could be found; the message lists every place looked at."""


class DatasetCorruptError(ValueError):
    """A raw file is truncated or its content does not match the expected md5."""


# ----------------------------------------------------------------------------------------------
# where things are


def default_root() -> Path:
    """The repository's ``data/`` folder, or ``$GMGAN_DATA_ROOT`` when set."""
    env = os.environ.get("GMGAN_DATA_ROOT", "").strip()
    if env:
        _check_root(Path(env), "GMGAN_DATA_ROOT")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "data"


def _check_root(base: Path, given: str = "the data folder") -> None:
    """A data folder that exists must be a folder: a file there made the set-up fail later with
    a traceback (FileExistsError from the folder's creation)."""
    if os.path.lexists(base) and not base.is_dir():
        raise DatasetNotFoundError(f"{given} is {base}, which is not a folder; point it at the "
                                   f"folder that holds (or will hold) the datasets")


def _mirror_dirs(name: str) -> list[Path]:
    """The mirror folders that may hold the raw files of ``name``, in search order."""
    folder = RAW[name].folder
    dirs = []
    mirror = os.environ.get("GMGAN_DATA_MIRROR", "").strip()
    if mirror:
        dirs.append(Path(mirror) / folder / "raw")
    if folder == "FashionMNIST":
        dirs.append(DEBIAN_FASHION_MNIST)
    return dirs


def _one_line_reason(err: Exception) -> str:
    """The reason of a failed download in one line. torchvision's message lists every mirror it
    tried over several lines, each with the same underlying error ("<urlopen error [Errno -2]
    Name or service not known>" when offline): the first line and the distinct reasons are kept."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    reasons = [line.strip("<>") for line in lines[1:] if line.startswith("<")]
    reasons = list(dict.fromkeys(reasons))               # distinct, in order
    head = lines[0].rstrip(":")
    return f"{type(err).__name__}: {head}" + (f": {'; '.join(reasons)}" if reasons else "")


def _download_enabled() -> bool:
    return os.environ.get("GMGAN_DATA_DOWNLOAD", "1").strip() != "0"


def _check_name(name: str) -> str:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset name {name!r}; expected one of {', '.join(DATASETS)}")
    return name


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return split


# ----------------------------------------------------------------------------------------------
# reading and verifying raw files


def _read_bytes(path: Path, expected: RawFile) -> bytes:
    """The decompressed content of ``path`` (a ``.gz`` or a plain IDX file), md5-verified.

    A truncated gzip stream, a corrupted byte or a wrong file all end here with one error that
    names the file and the md5 the content should have.
    """
    try:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:  # not PermissionError & co: those
        # already name the file and are not corruption
        raise DatasetCorruptError(
            f"{path}: cannot be read ({type(err).__name__}: {err}); the file is truncated or "
            f"corrupted. Expected decompressed content with md5 {expected.md5}. "
            f"Replace or delete it, then run `python -m gmgan_lib prepare-data`.") from err
    digest = hashlib.md5(data).hexdigest()
    if digest != expected.md5:
        raise DatasetCorruptError(
            f"{path}: md5 of the decompressed content is {digest}, expected {expected.md5} "
            f"({expected.name}); the file is corrupted or not the official one. "
            f"Replace or delete it, then run `python -m gmgan_lib prepare-data`.")
    return data


def _candidates(directory: Path, raw: RawFile) -> list[Path]:
    return [directory / raw.name, directory / f"{raw.name}.gz"]


def _download(name: str, tmpdir: Path) -> Path:
    """Fetch the raw files with torchvision into ``tmpdir``; returns the folder holding them."""
    import torchvision.datasets as tvd

    cls = {"MNIST": tvd.MNIST, "FashionMNIST": tvd.FashionMNIST}[RAW[name].folder]
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(30)  # offline machines must fail fast, not hang
    try:
        cls(root=str(tmpdir), download=True)
    finally:
        socket.setdefaulttimeout(old)
    return tmpdir / RAW[name].folder / "raw"


def ensure_raw(name: str, root: str | os.PathLike | None = None) -> tuple[dict[str, Path], str]:
    """Make sure ``<root>/<NAME>/raw/`` holds the verified, decompressed raw files of ``name``.

    Returns ``(paths, origin)``: ``paths`` maps ``"<split>-images"``/``"<split>-labels"`` to the
    decompressed IDX file (md5-verified), ``origin`` says in words where the files came from.
    Raises :class:`DatasetNotFoundError` naming every place looked at, or
    :class:`DatasetCorruptError` naming the bad file and its expected md5.
    """
    name = _check_name(name)
    raw = RAW[name]
    base = Path(root) if root is not None else default_root()
    _check_root(base)
    dest_dir = base / raw.folder / "raw"
    mirrors = _mirror_dirs(name)
    paths: dict[str, Path] = {}
    origins: list[str] = []
    missing: dict[str, RawFile] = {}

    def install(key: str, rf: RawFile, source: Path, origin: str) -> None:
        # Verify first, then write atomically: a bad source leaves nothing new in data/.
        atomic_write_bytes(dest_dir / rf.name, _read_bytes(source, rf))
        paths[key] = dest_dir / rf.name
        origins.append(origin)

    for key, rf in raw.files.items():
        if (dest_dir / rf.name).is_file():
            _read_bytes(dest_dir / rf.name, rf)  # a corrupted local copy is an error, never used
            paths[key] = dest_dir / rf.name
            origins.append(f"verified in {dest_dir}")
        elif (dest_dir / f"{rf.name}.gz").is_file():  # torchvision's layout keeps both
            install(key, rf, dest_dir / f"{rf.name}.gz", f"decompressed in {dest_dir}")
        else:
            source = next((p for d in mirrors for p in _candidates(d, rf) if p.is_file()), None)
            if source is None:
                missing[key] = rf
            else:
                install(key, rf, source, f"copied from {source.parent}")

    download_note = "torchvision download (disabled: GMGAN_DATA_DOWNLOAD=0)"
    if missing and _download_enabled():
        base.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".download-", dir=base) as tmp:
            try:
                got = _download(name, Path(tmp))
            except Exception as err:  # offline, proxy, server error: reported below, once
                download_note = f"torchvision download (failed: {_one_line_reason(err)})"
            else:
                download_note = "torchvision download (did not provide the files)"
                for key, rf in list(missing.items()):
                    source = next((p for p in _candidates(got, rf) if p.is_file()), None)
                    if source is not None:
                        install(key, rf, source, "downloaded with torchvision")
                        del missing[key]
    if missing:
        raise _not_found(name, list(missing.values()), [dest_dir, *mirrors], download_note)
    return paths, ", ".join(dict.fromkeys(origins))


def _not_found(name: str, missing: list[RawFile], looked_in: list[Path],
               download_note: str) -> DatasetNotFoundError:
    """The error of raw files found nowhere: every place looked at, and how to fix it."""
    raw, dest_dir = RAW[name], looked_in[0]
    looked = [str(d) for d in looked_in]
    if not os.environ.get("GMGAN_DATA_MIRROR", "").strip():
        looked.append("$GMGAN_DATA_MIRROR/<NAME>/raw (GMGAN_DATA_MIRROR is not set)")
    looked.append(download_note)
    fix = [f"set GMGAN_DATA_MIRROR to a folder holding {raw.folder}/raw/*.gz",
           f"or copy the files into {dest_dir}"]
    if raw.folder == "FashionMNIST":
        fix.insert(0, "run `sudo apt-get install dataset-fashion-mnist` "
                      f"(installs them in {DEBIAN_FASHION_MNIST})")
    names = ", ".join(rf.name for rf in missing)
    return DatasetNotFoundError(
        f"dataset {name!r}: raw file(s) {names} not found. Looked in: {'; '.join(looked)}. "
        f"To fix: {'; '.join(fix)}; then run `python -m gmgan_lib prepare-data`.")


def _parse_idx(path: Path, rf: RawFile) -> torch.Tensor:
    """Parse a decompressed IDX file with torchvision's MNIST reader and check its shape."""
    from torchvision.datasets.mnist import read_image_file, read_label_file

    x = read_image_file(str(path)) if len(rf.shape) == 3 else read_label_file(str(path))
    if tuple(x.shape) != rf.shape:
        raise DatasetCorruptError(f"{path}: shape {tuple(x.shape)}, expected {rf.shape}")
    return x


# ----------------------------------------------------------------------------------------------
# rotmnist


def rotation_angles(split: str) -> np.ndarray:
    """The rotmnist angles of a split, in degrees, uniform in [0, 360), float64 ``[N]``.

    Drawn once from ``np.random.default_rng(ROTATION_SEEDS[split])``, so they are the same on
    every call and every machine. Digit ``i`` of the split is rotated by ``angles[i]``.
    """
    n = RAW["mnist"].split_files(_check_split(split))[1].shape[0]
    return np.random.default_rng(ROTATION_SEEDS[split]).uniform(0.0, 360.0, n)


# ----------------------------------------------------------------------------------------------
# tensors and datasets


# The caches hold what is costly to rebuild and cheap to keep: the raw uint8 images (47 MB for
# 60k, four times less than float32) and the rotated rotmnist images (float32: they are not
# integers any more). load_tensors converts on the way out, which also makes its results copies.


@cache
def _raw_split(name: str, split: str, root: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A whole split as read from the verified files: uint8 images [N, 28, 28], int64 labels [N]."""
    paths, _ = ensure_raw(name, root)
    img_rf, lab_rf = RAW[name].split_files(split)
    images = _parse_idx(paths[f"{split}-images"], img_rf)
    labels = _parse_idx(paths[f"{split}-labels"], lab_rf)
    return images, labels.to(torch.int64)


def _to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 28, 28] -> float32 [N, 1, 28, 28] in [-1, 1] (v -> v / 127.5 - 1), a new tensor."""
    return images.unsqueeze(1).to(torch.float32).div_(127.5).sub_(1.0)


@cache
def _rotated_split(split: str, root: str) -> torch.Tensor:
    """The rotmnist images of a split, float32 [N, 1, 28, 28] in [-1, 1]."""
    raw, _ = _raw_split("mnist", split, root)
    angles = rotation_angles(split)
    step = 10000  # bounded temporaries; each image is rotated independently of the batch
    rotated = torch.cat([rotate(_to_float(raw[i:i + step]), angles[i:i + step])
                         for i in range(0, len(raw), step)])
    return rotated.clamp_(-1.0, 1.0)  # bilinear weights sum to 1: clamp only removes rounding


def subset_indices(labels: torch.Tensor, fraction: float, seed: int = 0) -> torch.Tensor:
    """A fixed, class-stratified subset of ``round(fraction * N)`` indices (at least 1), ascending.

    Deterministic given ``seed``. Each class gets ``fraction`` of its members up to one sample:
    after a seeded shuffle, the k-th member of a class of size n_c gets the key (k + 1/2) / n_c,
    and the smallest keys win, so classes are drawn in proportion.
    """
    if not (isinstance(fraction, (int, float)) and 0.0 < fraction <= 1.0):
        raise ValueError(f"fraction must be a number in (0, 1], got {fraction!r}")
    n = len(labels)
    take = max(1, int(round(fraction * n)))
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    lab = labels.cpu().numpy()[perm]
    key = np.empty(n)
    for c in np.unique(lab):
        members = np.flatnonzero(lab == c)
        key[members] = (np.arange(len(members)) + 0.5) / len(members)
    chosen = perm[np.argsort(key, kind="stable")[:take]]
    empty = sorted(set(np.unique(lab).tolist()) - set(labels.cpu().numpy()[chosen].tolist()))
    if empty:
        smallest = max(np.bincount(lab)[np.unique(lab)].min(), 1)
        raise ValueError(f"data fraction {fraction} keeps {take:,} of {n:,} images and leaves "
                         f"class(es) {', '.join(map(str, empty))} without an image; use at "
                         f"least {1 / smallest:.6f} (one image of the smallest class)")
    return torch.from_numpy(np.sort(chosen))


def load_tensors(name: str, split: str = "train", root: str | os.PathLike | None = None,
                 fraction: float = 1.0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A whole split (or a fixed subset) as ``(images, labels)``.

    images: float32 ``[N, 1, 28, 28]`` in ``[-1, 1]``; labels: int64 ``[N]``. With
    ``fraction < 1`` a class-stratified subset of ``round(fraction * N)`` samples, the same one
    on every call with the same ``seed`` (see :func:`subset_indices`). The decoded split is cached
    in memory; the returned tensors are fresh copies, safe to modify.
    """
    name, split = _check_name(name), _check_split(split)
    key = str(Path(root) if root is not None else default_root())
    raw, labels = _raw_split("mnist" if name == "rotmnist" else name, split, key)
    idx = None if fraction == 1.0 else subset_indices(labels, fraction, seed)
    if name == "rotmnist":
        rotated = _rotated_split(split, key)
        images = rotated.clone() if idx is None else rotated[idx]
    else:
        images = _to_float(raw if idx is None else raw[idx])
    return images, (labels.clone() if idx is None else labels[idx])


class TensorPairDataset(Dataset):
    """``(image [1, 28, 28] float32 in [-1, 1], label int)`` pairs over two tensors."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, name: str, split: str):
        if len(images) != len(labels):
            raise ValueError(f"images ({len(images)}) and labels ({len(labels)}) differ in length")
        self.images, self.labels = images, labels
        self.name, self.split = name, split
        self.classes = CLASSES[name]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.images[i], int(self.labels[i])

    def __repr__(self) -> str:
        return f"TensorPairDataset(name={self.name!r}, split={self.split!r}, n={len(self)})"


def get_dataset(name: str, split: str = "train", root: str | os.PathLike | None = None
                ) -> TensorPairDataset:
    """The dataset ``name`` (one of :data:`DATASETS`) as a ``torch.utils.data.Dataset`` of
    ``(image float32 [1, 28, 28] in [-1, 1], label int)``; a thin wrapper over :func:`load_tensors`."""
    images, labels = load_tensors(name, split, root)
    return TensorPairDataset(images, labels, name, split)


def clear_cache() -> None:
    """Forget the decoded splits (e.g. after replacing files under ``data/``)."""
    _raw_split.cache_clear()
    _rotated_split.cache_clear()


# ----------------------------------------------------------------------------------------------
# the `prepare-data` command


def add_prepare_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=None,
                        help="datasets to check/copy (default: all; then a missing "
                             "fashion-mnist is only a warning)")
    parser.add_argument("--root", default=None,
                        help="data folder (default: the repository's data/, or $GMGAN_DATA_ROOT)")


def run_prepare_data(args: argparse.Namespace) -> int:
    """Check or copy the raw files of each dataset, one line each; non-zero exit on failure.

    A missing Fashion-MNIST is a warning when all datasets are asked for (MNIST-only jobs don't
    need it); a missing MNIST, a corrupted file, or a dataset named explicitly is a failure.
    """
    explicit = args.datasets is not None
    status = 0
    checked: dict[str, str] = {}  # folder -> origin: rotmnist reuses the MNIST check
    for name in args.datasets or DATASETS:
        try:
            folder = RAW[name].folder
            if folder not in checked:
                checked[folder] = ensure_raw(name, args.root)[1]
            origin = checked[folder]
            note = " (rotated on load from the MNIST files)" if name == "rotmnist" else ""
            print(f"ok       {name}: {origin}{note}")
        except DatasetNotFoundError as err:
            if name == "fashion-mnist" and not explicit:
                print(f"warning  {name}: {err}")
            else:
                print(f"FAILED   {name}: {err}")
                status = 1
        except DatasetCorruptError as err:
            print(f"FAILED   {name}: {err}")
            status = 1
    return status
