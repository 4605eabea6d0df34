"""Evaluate generated images: ``evaluate_images`` and the ``evaluate`` command.

One pass of the feature classifier (gmgan_lib.evaluation.classifier) over each image set gives
features ``[N, 128]`` and class probabilities ``[N, 10]``; every metric is read from those:

    fid          FID_MNIST, Frechet distance of classifier features (fid.py)
    kl           KL(p_real(y) || p_gen(y)) of predicted-class histograms, eps = 1e-6 (scores.py)
    mnist_score  exp(E_x KL(p(y|x) || p(y))) of the generated set, at most 10 (scores.py)
    precision,   k-NN manifold precision and recall, k = 3 (scores.py)
    recall

The protocol (``python -m gmgan_lib evaluate --checkpoint PATH --n 10000 --seeds 3``) draws
N samples per seed, compares each draw with the test split, and reports mean and spread over
seeds next to the real-vs-real floor (test split against a train subset of the same N). FID
is biased upward for small N, so only N = 10,000 figures are fit for reported comparisons.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor

from gmgan_lib.files import atomic_write_text, ensure_writable_folder
from gmgan_lib.runtime import DEVICES, check_device, resolve_device
from gmgan_lib.evaluation.classifier import DATASETS, LeNet, load_classifier
from gmgan_lib.evaluation.fid import InceptionUnavailable, frechet_distance, inception_fid
from gmgan_lib.evaluation.scores import EPS, K_NEAREST, class_kl, knn_radii, mnist_score, precision_recall

METRICS = ("fid", "kl", "mnist_score", "precision", "recall")
REPORT_N = 10_000          # the N of every reported comparison
COV_FACTOR = 5             # warn when N < COV_FACTOR * feature dimension
RANGE_TOL = 1e-3           # images may overshoot [-1, 1] by this much (round-off of tanh, resampling)


def check_images(x, name: str = "images") -> Tensor:
    """Validate an image batch: a float tensor ``[N, 1, 28, 28]``, N >= 2, finite, in [-1, 1].

    Raises ValueError naming ``name`` and the expected form; returns ``x`` detached.
    """
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor [N, 1, 28, 28], got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor scaled to [-1, 1], got dtype {x.dtype}")
    if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
        raise ValueError(f"{name} must have shape [N, 1, 28, 28], got {list(x.shape)}")
    if x.shape[0] < 2:
        raise ValueError(f"{name} must hold at least 2 images (N >= 2), got N = {x.shape[0]}")
    x = x.detach()
    finite = torch.isfinite(x)
    if not finite.all():
        raise ValueError(f"{name} contains {int((~finite).sum())} NaN or infinite values")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1 - RANGE_TOL or hi > 1 + RANGE_TOL:
        raise ValueError(f"{name} must be scaled to [-1, 1], got values in [{lo:.4g}, {hi:.4g}] "
                         "(for uint8 pixels use x / 127.5 - 1)")
    return x


@dataclass
class ClassifierOutputs:
    """What the classifier says about one image set: features ``[N, D]`` and probabilities
    ``[N, K]`` (float64, on the CPU)."""

    features: Tensor
    probs: Tensor

    @property
    def pred(self) -> Tensor:
        return self.probs.argmax(1)

    def __len__(self) -> int:
        return len(self.features)


@torch.no_grad()
def classifier_outputs(images: Tensor, classifier: LeNet, batch_size: int = 500,
                       device: str | torch.device | None = None, name: str = "images") -> ClassifierOutputs:
    """Run ``classifier`` over ``images`` in batches (after :func:`check_images`)."""
    images = check_images(images, name)
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    device = torch.device(device) if device is not None else next(classifier.parameters()).device
    classifier = classifier.to(device).eval()
    feats, probs = [], []
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size].to(device, torch.float32)
        f = classifier.features(x)
        feats.append(f.double().cpu())
        probs.append(classifier.head(f).double().softmax(1).cpu())
    n, d = len(images), classifier.num_features
    if n < COV_FACTOR * d:
        warnings.warn(f"{name}: N = {n} is small for a covariance of {d} features "
                      f"(N < {COV_FACTOR} x {d}); FID_MNIST will be strongly biased", stacklevel=2)
    return ClassifierOutputs(torch.cat(feats), torch.cat(probs))


def metrics_from_outputs(fake: ClassifierOutputs, real: ClassifierOutputs, k: int = K_NEAREST,
                         eps: float = EPS, real_radii: Tensor | None = None) -> dict:
    """The five metrics of ``fake`` against ``real`` (``real_radii`` can be cached across calls)."""
    precision, recall = precision_recall(real.features, fake.features, k=k, real_radii=real_radii)
    return {
        "fid": frechet_distance(real.features, fake.features),
        "kl": class_kl(real.pred, fake.pred, num_classes=real.probs.shape[1], eps=eps),
        "mnist_score": mnist_score(fake.probs),
        "precision": precision,
        "recall": recall,
    }


def evaluate_images(fake: Tensor, real: Tensor, dataset: str = "mnist", batch_size: int = 500,
                    device: str | torch.device | None = None, *, k: int = K_NEAREST,
                    eps: float = EPS, classifier: LeNet | None = None,
                    inception: bool = False) -> dict:
    """FID_MNIST, class KL, MNIST score and precision/recall of ``fake`` against ``real``.

    Both are image tensors ``[N, 1, 28, 28]`` in ``[-1, 1]`` (they may differ in N). Returns a
    dict with ``fid, kl, mnist_score, precision, recall, n`` (generated samples), ``n_real``,
    ``k``, ``eps`` and the feature network (``feature_net``, ``feature_net_sha256``). With
    ``inception=True`` also ``fid_inception``: a number, or None with ``inception_skipped``
    saying why (no local weights; nothing is ever downloaded).
    """
    if classifier is None:
        classifier = load_classifier(dataset, device=device)
    fake_out = classifier_outputs(fake, classifier, batch_size, device, name="fake")
    real_out = classifier_outputs(real, classifier, batch_size, device, name="real")
    result = metrics_from_outputs(fake_out, real_out, k=k, eps=eps)
    result.update(n=len(fake_out), n_real=len(real_out), k=k, eps=eps,
                  feature_net=f"LeNet[{getattr(classifier, 'dataset', '?')}]",
                  feature_net_sha256=getattr(classifier, "sha256", None))
    if inception:
        try:
            result["fid_inception"] = inception_fid(fake, real, device=device)
        except InceptionUnavailable as why:
            result["fid_inception"], result["inception_skipped"] = None, str(why)
    return result


# ----------------------------------------------------------------------------- the protocol

def _mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for a single value: no spread is known)."""
    t = torch.tensor(values, dtype=torch.float64)
    return float(t.mean()), (float(t.std()) if len(values) > 1 else None)


def _summary(per_seed: list[dict]) -> dict:
    out = {}
    for m in METRICS:
        mean, std = _mean_std([r[m] for r in per_seed])
        out[m] = {"mean": mean, "std": std}
    return out


def _fmt(stat: dict, digits: int) -> str:
    std = "n/a" if stat["std"] is None else f"{stat['std']:.{digits}f}"
    return f"{stat['mean']:.{digits}f} ± {std}"


DIGITS = {"fid": 3, "kl": 4, "mnist_score": 3, "precision": 3, "recall": 3}


def markdown_rows(name: str, n: int, seeds: int, summary: dict, floor: dict) -> str:
    """The header, the model's row and the real-vs-real floor row of a markdown table."""
    head = "| model | N | seeds | FID_MNIST | KL | MNIST score | precision | recall |"
    rule = "|" + "---|" * 8

    def row(label: str, stats: dict) -> str:
        cells = " | ".join(_fmt(stats[m], DIGITS[m]) for m in METRICS)
        return f"| {label} | {n} | {seeds} | {cells} |"

    return "\n".join([head, rule, row(name, summary), row("floor: real test vs train", floor)])


def _versions() -> dict:
    import numpy
    import scipy
    import torchmetrics

    import gmgan_lib
    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchmetrics": torchmetrics.__version__, "numpy": numpy.__version__,
            "scipy": scipy.__version__, "gmgan_lib": gmgan_lib.__version__}


class Evaluation(NamedTuple):
    """What :func:`evaluate_generator` measured: one metric dict per seed for the generator and
    for the floor, the feature classifier used, and the size of the real (test) set."""
    per_seed: list[dict]
    floor: list[dict]
    classifier: LeNet
    n_real: int


def evaluate_generator(generator, dataset: str, n: int, seeds: int = 1, batch_size: int = 500,
                       device="cpu", inception: bool = False, notes: list | None = None,
                       verbose: bool = False) -> Evaluation:
    """The project's protocol (docs/evaluation.md) for a generator: per seed ``s``, ``n``
    samples from noise seeded with ``s`` against the test split, and the real-vs-real floor
    (``n`` random train images, seed ``10000 + s``) against the same test split.

    Raises ValueError, before any sampling, if ``n`` exceeds the train split (the floor needs
    ``n`` train images).
    """
    from gmgan_lib.data import load_tensors
    from gmgan_lib.sampling import sample

    x_test, _ = load_tensors(dataset, split="test")
    x_train, _ = load_tensors(dataset, split="train")
    if n > len(x_train):
        raise ValueError(f"--n must be at most {len(x_train)} (the train split, for the floor), "
                         f"got {n}")
    classifier = load_classifier(dataset, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore" if n >= REPORT_N else "default")
        real = classifier_outputs(x_test, classifier, batch_size, device, name="test split")
        real_radii = knn_radii(real.features)
        per_seed, floor = [], []
        for seed in range(seeds):
            # z ~ N(0, I) drawn on the CPU from `seed`: the same images on every device.
            fake = sample(generator, n=n, seed=seed)
            fake_out = classifier_outputs(fake, classifier, batch_size, device, name="generated")
            r = {"seed": seed, **metrics_from_outputs(fake_out, real, real_radii=real_radii)}
            if inception:
                try:
                    r["fid_inception"] = inception_fid(fake, x_test, device=device)
                except InceptionUnavailable as why:
                    if seed == 0:
                        print(f"skipped: Inception-v3 FID because {why}")
                        if notes is not None:
                            notes.append(f"Inception-v3 FID skipped: {why}")
            per_seed.append(r)
            # The floor: n real train digits, a fresh random subset per seed. (The classifier was
            # trained on them, which may favour them slightly over unseen digits.)
            g = torch.Generator().manual_seed(10_000 + seed)
            subset = x_train[torch.randperm(len(x_train), generator=g)[:n]]
            sub_out = classifier_outputs(subset, classifier, batch_size, device, name="train subset")
            floor.append({"seed": seed, **metrics_from_outputs(sub_out, real, real_radii=real_radii)})
            if verbose:
                print(f"seed {seed}: " + ", ".join(f"{m} {r[m]:.4f}" for m in METRICS)
                      + "  | floor: " + ", ".join(f"{m} {floor[-1][m]:.4f}" for m in METRICS),
                      flush=True)
    return Evaluation(per_seed, floor, classifier, len(x_test))


def add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="generator checkpoint (gmgan-checkpoint)")
    p.add_argument("--n", type=int, default=REPORT_N, help="samples per seed (default 10000)")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds 0..S-1 (default 3)")
    p.add_argument("--dataset", default=None, choices=DATASETS,
                   help="whose classifier and test split (default: the checkpoint's dataset)")
    p.add_argument("--out", default=None,
                   help="folder for eval.json (default: eval-<checkpoint name> beside the "
                        "checkpoint, so that two checkpoints of one folder keep their own "
                        "reports; runs/eval/<checkpoint name> for a committed checkpoint, in "
                        "a folder with a SHA256SUMS manifest)")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--device", default="auto", choices=DEVICES,
                   help="auto: CUDA when there is one, else the CPU (default: %(default)s)")
    p.add_argument("--inception", action="store_true",
                   help="also Inception-v3 FID, if its weights file is present locally")


def run_evaluate(args: argparse.Namespace) -> int:
    """CLI entry: 0 when done; 2 with a one-line message for bad arguments, a missing or
    unreadable checkpoint, or a classifier file that fails its checksum."""
    from gmgan_lib.checkpoint import CheckpointError

    try:
        return _evaluate(args)
    except (ValueError, FileNotFoundError, CheckpointError) as err:
        from gmgan_lib import cli_error
        return cli_error(err, 2)
    except OSError as err:        # disk full while writing the report
        from gmgan_lib import cli_os_error
        return cli_os_error(err)


MAX_N = 100_000    # samples per seed: the k-NN distance matrices grow as n x n_real
MAX_SEEDS = 100


def _default_out(ckpt: Path) -> Path:
    """``eval-<name>`` beside the checkpoint (one report folder per checkpoint), except in a
    folder of committed files (a SHA256SUMS manifest there), which an evaluation must not write
    into: ``runs/eval/<name>`` then."""
    if (ckpt.parent / "SHA256SUMS").is_file():
        return Path("runs") / "eval" / ckpt.stem
    return ckpt.parent / f"eval-{ckpt.stem}"


def _check_arguments(args: argparse.Namespace) -> None:
    """Every argument of ``evaluate``, checked before any work (one line naming the flag)."""
    least = K_NEAREST + 1     # k-NN precision/recall need k neighbours besides each sample
    if not least <= args.n <= MAX_N:
        raise ValueError(f"--n must be in [{least}, {MAX_N:,}] (the k-NN metrics need at least "
                         f"k + 1 = {least} samples), got {args.n}")
    if not 1 <= args.seeds <= MAX_SEEDS:
        raise ValueError(f"--seeds must be in [1, {MAX_SEEDS}], got {args.seeds}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be a positive integer, got {args.batch_size}")
    check_device(args.device, "--device")
    if args.out is not None and not str(args.out).strip():
        raise ValueError("--out must name a folder, got an empty string")


def _evaluate(args: argparse.Namespace) -> int:
    from gmgan_lib.checkpoint import load_checkpoint, read_checkpoint_bytes
    from gmgan_lib.sampling import generator_from_state

    _check_arguments(args)     # ... and where the report will go, below: before any work
    ckpt = Path(args.checkpoint)
    device = resolve_device(args.device)
    # One read: the generator evaluated, its config and the sha256 in the report all come from
    # the same version of a file that a running training may replace at any moment.
    data = read_checkpoint_bytes(ckpt)
    state = load_checkpoint(ckpt, require=("config", "generator"), data=data)
    generator = generator_from_state(state, ckpt, device=device)
    config = state["config"]
    trained_on = config.get("dataset", "mnist")
    dataset = args.dataset or trained_on
    out_dir = Path(args.out) if args.out else _default_out(ckpt)
    # Checked, not created: the report's write creates it, so a failed evaluation (a missing
    # classifier, an interrupt) leaves no empty eval-<name>/ behind.
    ensure_writable_folder(out_dir, create=False)
    notes = []
    if dataset != trained_on:
        notes.append(f"the generator was trained on {trained_on!r} and is evaluated against "
                     f"{dataset!r}")
        print(f"WARNING: {notes[-1]}", file=sys.stderr)
    if args.n < REPORT_N:
        notes.append(f"N = {args.n} < {REPORT_N}: FID_MNIST is biased upward at small N; these "
                     "figures are not for reported comparisons")
        print(f"WARNING: {notes[-1]}", file=sys.stderr)

    per_seed, floor, classifier, n_real = evaluate_generator(
        generator, dataset, args.n, args.seeds, batch_size=args.batch_size, device=device,
        inception=args.inception, notes=notes, verbose=True)

    summary, floor_summary = _summary(per_seed), _summary(floor)
    name = config.get("model", ckpt.stem)
    report = {
        "format": "gmgan-eval", "version": 1,
        "checkpoint": str(ckpt), "checkpoint_sha256": hashlib.sha256(data).hexdigest(),
        "model": name, "dataset": dataset, "trained_on": trained_on, "n": args.n, "n_real": n_real, "seeds": args.seeds,
        "metric_names": {"fid": "FID_MNIST (classifier features, not Inception)", "kl":
                         "KL(p_real(y) || p_gen(y)), predicted classes", "mnist_score":
                         "exp(E KL(p(y|x) || p(y)))", "precision": "k-NN precision", "recall": "k-NN recall"},
        "k": K_NEAREST, "eps": EPS,
        "classifier": {"name": f"LeNet[{dataset}]", "sha256": classifier.sha256,
                       "test_accuracy": classifier.test_accuracy},
        "per_seed": per_seed, "mean_std": summary,
        "floor": {"description": f"test split vs {args.n} random train images (seed 10000 + s)",
                  "per_seed": floor, "mean_std": floor_summary},
        "notes": notes, "versions": _versions(),
    }
    # json refuses NaN by design here: a NaN metric is a bug we want to see, not to store.
    atomic_write_text(out_dir / "eval.json", json.dumps(report, indent=2, allow_nan=False) + "\n")
    print(markdown_rows(f"{name} [{dataset}]", args.n, args.seeds, summary, floor_summary))
    print(f"wrote {out_dir / 'eval.json'}  (feature net LeNet[{dataset}] sha256 {classifier.sha256[:12]}...)")
    return 0
