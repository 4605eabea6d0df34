"""The small feature classifier behind every metric of ``gmgan_lib.evaluation``.

Inception-v3 features need weights that are downloaded at run time, so this project
measures generated digits with a network it trains itself: a LeNet-like classifier per
dataset (``mnist``, ``rotmnist``, ``fashion-mnist``), a few hundred kilobytes, committed
under ``data/classifiers/`` with a sha256 manifest. Its penultimate layer (``features``,
128 numbers per image) is the feature space of FID_MNIST and of precision/recall; its
softmax is the p(y|x) of the class KL and of the MNIST score.

Two promises:

* **Deterministic training.** Given its seed (and the same torch version and number of
  threads, which fix the order of floating-point reductions on the CPU) training gives
  bit-identical weights: all randomness (initialisation, shuffling, augmentation, dropout)
  comes from seeded generators and ``torch.use_deterministic_algorithms`` is on.
* **Checked loading.** :func:`load_classifier` compares the file's sha256 with the manifest
  *before* unpickling anything, and then reads the very bytes it hashed with
  ``torch.load(weights_only=True)``. A metric computed with a different network is a
  different metric, so a mismatch is an error, never a warning.

Layout: images ``[B, 1, 28, 28]`` in ``[-1, 1]`` -> features ``[B, 128]`` -> logits ``[B, 10]``.
"""
from __future__ import annotations

import argparse
import io
import math
import time
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gmgan_lib import check_threads
from gmgan_lib.data import DATASETS
from gmgan_lib.files import (MANIFEST, atomic_write_bytes, ensure_writable_folder, read_manifest,
                             record_sha256, sha256_bytes)
from gmgan_lib.runtime import check_seed

# Largest random rotation of the augmentation, in degrees. rotmnist digits already come at
# every angle, so any rotation keeps an image inside the data distribution.
AUGMENT_DEGREES = {"mnist": 10.0, "rotmnist": 180.0, "fashion-mnist": 10.0}
# Epochs of the committed classifiers (the harder datasets need longer to converge).
DEFAULT_EPOCHS = {"mnist": 4, "rotmnist": 6, "fashion-mnist": 8}
FORMAT = "gmgan-classifier"
FORMAT_VERSION = 1
# data/classifiers/ of the repository this package lives in (the package is installed editable).
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "data" / "classifiers"


class ClassifierChecksumError(ValueError):
    """A classifier file whose sha256 is not the one recorded in the manifest."""


class LeNet(nn.Module):
    """A LeNet-5-like digit classifier: two conv+pool stages, one hidden layer, a linear head.

    ``features(x)`` is the hidden layer after its ReLU (``[B, feature_dim]``), the analogue of
    Inception's pool3 features; ``forward(x)`` returns the logits of the head on top of it.
    About 117k parameters (~0.47 MB in float32).
    """

    def __init__(self, feature_dim: int = 128, num_classes: int = 10, dropout: float = 0.25):
        super().__init__()
        self.num_features = feature_dim  # the name torchmetrics looks for on a feature module
        self.num_classes = num_classes
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # [B, 16, 14, 14]
            nn.Conv2d(16, 32, 5), nn.ReLU(), nn.MaxPool2d(2),            # [B, 32, 5, 5]
            nn.Flatten(), nn.Linear(32 * 5 * 5, feature_dim), nn.ReLU(),  # [B, feature_dim]
        )
        # Dropout only regularises training; in eval mode the head is a plain linear map.
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(feature_dim, num_classes))

    def features(self, x: Tensor) -> Tensor:
        """Penultimate-layer features ``[B, feature_dim]`` of images ``[B, 1, 28, 28]``."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        """Class logits ``[B, num_classes]``."""
        return self.head(self.body(x))


# ----------------------------------------------------------------------------- training

def augment(x: Tensor, generator: torch.Generator, max_shift: float = 2.0,
            max_degrees: float = 10.0) -> Tensor:
    """A random small affine move per image: shift by up to ``max_shift`` pixels, rotate by up
    to ``max_degrees``. The background of ``[-1, 1]`` images is -1, so we resample ``x + 1``
    with zero padding and subtract 1 again: pixels coming in from outside are background."""
    b, _, h, w = x.shape
    angle = (torch.rand(b, generator=generator) * 2 - 1) * math.radians(max_degrees)
    shift = (torch.rand(b, 2, generator=generator) * 2 - 1) * max_shift
    cos, sin = torch.cos(angle), torch.sin(angle)
    # affine_grid works in normalised coordinates [-1, 1]: one pixel is 2/size.
    theta = torch.stack([
        torch.stack([cos, -sin, shift[:, 0] * 2 / w], dim=1),
        torch.stack([sin, cos, shift[:, 1] * 2 / h], dim=1),
    ], dim=1).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1


@contextmanager
def _deterministic(threads: int | None):
    """Deterministic kernels and a fixed thread count for the duration of the block."""
    old_flag = torch.are_deterministic_algorithms_enabled()
    old_threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(old_flag)
        torch.set_num_threads(old_threads)


@torch.no_grad()
def accuracy(model: nn.Module, images: Tensor, labels: Tensor, batch_size: int = 1000) -> float:
    """Fraction of ``images`` whose arg-max logit is the label."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for i in range(0, len(images), batch_size):
        logits = model(images[i:i + batch_size].to(device))
        correct += (logits.argmax(1).cpu() == labels[i:i + batch_size]).sum().item()
    model.train(was_training)
    return correct / len(images)


def train_classifier(images: Tensor, labels: Tensor, *, epochs: int = 4, batch_size: int = 128,
                     lr: float = 2e-3, seed: int = 0, augmentation: bool = True,
                     max_degrees: float = 10.0,
                     threads: int | None = 1, max_steps: int | None = None,
                     log_every: int = 0) -> LeNet:
    """Train a :class:`LeNet` on ``images [N, 1, 28, 28]`` in ``[-1, 1]`` and ``labels [N]``.

    Adam with a cosine learning-rate decay to zero, on the CPU. Everything random is drawn
    from generators seeded with ``seed``, so two calls with the same arguments (same torch,
    same ``threads``) return identical weights. ``max_steps`` stops early (used by tests).
    """
    if images.ndim != 4 or images.shape[1:] != (1, 28, 28):
        raise ValueError(f"images must have shape [N, 1, 28, 28], got {list(images.shape)}")
    if labels.shape != (images.shape[0],):
        raise ValueError(f"labels must have shape [N] = [{images.shape[0]}], got {list(labels.shape)}")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if int(value) < 1:
            raise ValueError(f"{name} must be a positive integer, got {value}")
    with _deterministic(threads):
        torch.manual_seed(seed)  # initialisation and dropout
        model = LeNet()
        model.train()
        shuffle = torch.Generator().manual_seed(seed + 1)
        jitter = torch.Generator().manual_seed(seed + 2)
        steps_per_epoch = math.ceil(len(images) / batch_size)
        total = epochs * steps_per_epoch if max_steps is None else min(max_steps, epochs * steps_per_epoch)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
        step, t0 = 0, time.time()
        while step < total:
            order = torch.randperm(len(images), generator=shuffle)
            for i in range(0, len(images), batch_size):
                idx = order[i:i + batch_size]
                x, y = images[idx], labels[idx]
                if augmentation:
                    x = augment(x, jitter, max_degrees=max_degrees)
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                if log_every and step % log_every == 0:
                    print(f"step {step}/{total}  loss {loss.item():.4f}  {time.time() - t0:.0f}s", flush=True)
                if step >= total:
                    break
    model.eval()
    return model


# ----------------------------------------------------------------------------- files

def save_classifier(model: LeNet, dataset: str, directory: Path | str = DEFAULT_DIR, **meta) -> str:
    """Write ``<directory>/<dataset>.pt`` atomically and record its sha256 in the manifest.

    The file holds plain tensors, numbers and strings only (loadable with weights_only=True).
    Returns the sha256.
    """
    _check_dataset(dataset)
    directory = Path(directory)
    blob = {
        "format": FORMAT, "version": FORMAT_VERSION, "dataset": dataset, "arch": "lenet",
        "feature_dim": model.num_features, "num_classes": model.num_classes,
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "torch_version": str(torch.__version__), **meta,
    }
    buf = io.BytesIO()
    torch.save(blob, buf)
    data = buf.getvalue()
    torch.load(io.BytesIO(data), weights_only=True)  # fail now, not at the first load_classifier
    digest = sha256_bytes(data)
    atomic_write_bytes(directory / f"{dataset}.pt", data)
    record_sha256(directory, f"{dataset}.pt", digest)
    return digest


def _check_dataset(dataset: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}; got {dataset!r}")


# Bounds on what a classifier file may declare: the committed ones have 128 features and 10
# classes; a crafted file must not make the loader allocate gigabytes.
MAX_FEATURES, MAX_CLASSES = 4096, 1000


def _decode(data: bytes, path: Path) -> LeNet:
    """The LeNet stored in ``data`` (the bytes that were hashed, not the file read again: it
    could change in between), or a ValueError naming ``path`` and what is wrong."""
    try:
        blob = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:     # an unpickling error, a truncated zip, a forbidden global
        raise ValueError(f"{path} cannot be read as a {FORMAT} file "
                         f"({type(err).__name__}: {str(err).strip().splitlines()[0][:200]})"
                         ) from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT or blob.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path} is not a {FORMAT} file of version {FORMAT_VERSION}")
    sizes = {"feature_dim": MAX_FEATURES, "num_classes": MAX_CLASSES}
    for key, most in sizes.items():
        value = blob.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
            raise ValueError(f"{path}: {key} must be a whole number in [1, {most}], got {value!r}")
    model = LeNet(feature_dim=blob["feature_dim"], num_classes=blob["num_classes"])
    state = blob.get("state_dict")
    try:
        if not isinstance(state, dict):
            raise TypeError(f"state_dict is a {type(state).__name__}, not a dict")
        model.load_state_dict(state)
    except (RuntimeError, TypeError, KeyError) as err:
        raise ValueError(f"{path}: its weights do not fit the LeNet it declares "
                         f"({str(err).strip().splitlines()[0][:200]})") from None
    accuracy = blob.get("test_accuracy")      # shown in reports only: a number or nothing
    model.test_accuracy = (float(accuracy) if isinstance(accuracy, (int, float))
                           and not isinstance(accuracy, bool) else None)
    return model


def load_classifier(dataset: str = "mnist", directory: Path | str | None = None,
                    device: str | torch.device | None = None) -> LeNet:
    """The committed feature classifier of ``dataset``, checked and in eval mode.

    The file's sha256 must match ``SHA256SUMS`` in the same folder (default
    ``data/classifiers/``); otherwise :class:`ClassifierChecksumError` names the file and
    both hashes. The returned model carries ``.dataset``, ``.sha256`` and ``.test_accuracy``.
    """
    _check_dataset(dataset)
    directory = Path(directory) if directory is not None else DEFAULT_DIR
    path = directory / f"{dataset}.pt"
    if not path.is_file():
        raise FileNotFoundError(
            f"classifier weights {path} are missing; train them with "
            f"`python -m gmgan_lib train-classifier --dataset {dataset}`")
    expected = read_manifest(directory).get(path.name)
    if expected is None:
        raise ValueError(f"{directory / MANIFEST} has no sha256 for {path.name}")
    data = path.read_bytes()
    actual = sha256_bytes(data)
    if actual != expected:
        raise ClassifierChecksumError(
            f"classifier file {path} has sha256 {actual}, expected {expected} (from "
            f"{directory / MANIFEST}): the file is corrupted or was replaced; restore it "
            f"(git checkout) or retrain it with `python -m gmgan_lib train-classifier --dataset {dataset}`")
    # A file that matches its manifest can still be crafted (the manifest re-hashed beside it):
    # everything it declares is checked before use, and what cannot be decoded is one error.
    model = _decode(data, path)
    model.dataset = dataset
    model.sha256 = actual
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model.to(device) if device is not None else model


# ----------------------------------------------------------------------------- CLI

def add_train_classifier_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="mnist", choices=DATASETS)
    p.add_argument("--epochs", type=int, default=None,
                   help="default: 4 for mnist, 6 for rotmnist, 8 for fashion-mnist")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads (at most the CPU count); part of what makes training "
                        "bit-reproducible")
    p.add_argument("--no-augment", action="store_true", help="no random shifts/rotations")
    p.add_argument("--max-degrees", type=float, default=None,
                   help="largest random rotation (default: 180 for rotmnist, 10 otherwise)")
    p.add_argument("--out", default=str(DEFAULT_DIR),
                   help="folder for <dataset>.pt and SHA256SUMS (default: data/classifiers)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a classifier already recorded in --out's SHA256SUMS (the "
                        "committed ones are behind every FID in the docs: refused without this)")


def run_train_classifier(args: argparse.Namespace) -> int:
    try:
        _check_train_classifier_arguments(args)
    except ValueError as err:
        from gmgan_lib import cli_error
        return cli_error(err, 2)
    return _train_classifier_cli(args)


def _check_train_classifier_arguments(args: argparse.Namespace) -> None:
    """Every flag of ``train-classifier``, before any data is loaded (one-line errors)."""
    for flag, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size)):
        if value is not None and not 1 <= value <= 10**6:
            raise ValueError(f"{flag} must be a positive integer (at most 1,000,000), got {value}")
    check_threads(args.threads)     # at most the CPU count (100000 crashed torch's thread pool)
    if not (0 < args.lr < math.inf):
        raise ValueError(f"--lr must be a positive finite number, got {args.lr}")
    check_seed(args.seed, "--seed")
    if args.max_degrees is not None and not 0 <= args.max_degrees <= 180:
        raise ValueError(f"--max-degrees must be in [0, 180], got {args.max_degrees}")
    target = Path(args.out) / f"{args.dataset}.pt"
    out = ensure_writable_folder(args.out)      # where the file goes, before minutes of training
    recorded = (out / MANIFEST).is_file() and target.name in read_manifest(out)
    if recorded and not args.overwrite:
        raise ValueError(f"{target} is recorded in {Path(args.out) / MANIFEST} (a committed "
                         f"feature network behind the documented metrics); pass --overwrite to "
                         f"replace it, or choose another --out")


def _train_classifier_cli(args: argparse.Namespace) -> int:
    from gmgan_lib.data import load_tensors

    x_train, y_train = load_tensors(args.dataset, split="train")
    x_test, y_test = load_tensors(args.dataset, split="test")
    max_degrees = AUGMENT_DEGREES[args.dataset] if args.max_degrees is None else args.max_degrees
    epochs = DEFAULT_EPOCHS[args.dataset] if args.epochs is None else args.epochs
    print(f"training the {args.dataset} classifier on {len(x_train)} images "
          f"({epochs} epochs, batch {args.batch_size}, seed {args.seed}, {args.threads} threads)")
    t0 = time.time()
    model = train_classifier(x_train, y_train, epochs=epochs, batch_size=args.batch_size,
                             lr=args.lr, seed=args.seed, augmentation=not args.no_augment,
                             max_degrees=max_degrees, threads=args.threads, log_every=200)
    seconds = time.time() - t0
    acc = accuracy(model, x_test, y_test)
    digest = save_classifier(
        model, args.dataset, args.out, test_accuracy=acc,
        train_config={"epochs": epochs, "batch_size": args.batch_size, "lr": args.lr,
                      "seed": args.seed, "threads": args.threads,
                      "augmentation": not args.no_augment, "max_degrees": max_degrees,
                      "max_shift": 2.0, "optimizer": "adam+cosine"})
    print(f"test accuracy {acc:.4f} ({len(x_test)} images), trained in {seconds:.0f}s")
    print(f"wrote {Path(args.out) / (args.dataset + '.pt')}  sha256 {digest}")
    return 0
