"""The Frechet distance between Gaussians fitted to two sets of features.

    FID = ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))

with ``mu`` the feature means and ``S`` the unbiased (N - 1) covariances. With the features
of our MNIST classifier this is **FID_MNIST**; with Inception-v3 pool3 features it would
be the usual FID. The two are different numbers on different scales and must never be
compared with each other (see docs/evaluation.md).

The statistics and the formula come from torchmetrics' ``FrechetInceptionDistance``, which
accepts any feature network (here: the identity on features we have already computed,
so one classifier pass serves every metric). It evaluates the trace of the matrix square
root as the sum of square roots of the eigenvalues of ``S_a S_b`` (in float64), which
tests/evaluation/test_fid.py checks against ``scipy.linalg.sqrtm``.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn


class _PrecomputedFeatures(nn.Module):
    """The identity, dressed as a torchmetrics feature network of dimension ``d``."""

    def __init__(self, d: int):
        super().__init__()
        self.num_features = d

    def forward(self, x: Tensor) -> Tensor:
        return x


def _check_features(x, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape [N, D], got {type(x).__name__}")
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape [N, D], got {list(x.shape)}")
    if x.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 rows for a covariance, got {x.shape[0]}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x.detach().to(torch.float64)


def frechet_distance(features_a: Tensor, features_b: Tensor) -> float:
    """Frechet distance between Gaussians fitted to ``features_a [N, D]`` and ``features_b [M, D]``.

    Computed in float64. A Frechet distance is a squared distance, so round-off below zero
    (identical inputs give about -1e-13 .. 1e-13) is reported as 0.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance

    a = _check_features(features_a, "features_a")
    b = _check_features(features_b, "features_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"features_a and features_b must have the same dimension D, "
                         f"got {a.shape[1]} and {b.shape[1]}")
    metric = FrechetInceptionDistance(feature=_PrecomputedFeatures(a.shape[1]))
    metric.update(a.cpu(), real=True)
    metric.update(b.cpu(), real=False)
    return max(float(metric.compute()), 0.0)


# ----------------------------------------------------------------------------- Inception-v3

class InceptionUnavailable(RuntimeError):
    """Inception-v3 FID cannot run here; the message says why."""


INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's file name


def find_inception_weights() -> Path:
    """The local Inception-v3 (FID) weights file, or :class:`InceptionUnavailable`.

    Looked for, in this order: the file named by ``GMGAN_INCEPTION_WEIGHTS``; torch-fidelity's
    file in torch hub's cache (``<torch.hub.get_dir()>/checkpoints/``). Nothing is downloaded:
    offline, a download would hang or fail long after the other metrics are done.
    """
    env = os.environ.get("GMGAN_INCEPTION_WEIGHTS")
    if env:
        path = Path(env)
        if not path.is_file():
            raise InceptionUnavailable(f"GMGAN_INCEPTION_WEIGHTS={env} is not a file")
        return path
    path = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE
    if path.is_file():
        return path
    raise InceptionUnavailable(
        f"no local weights file: set GMGAN_INCEPTION_WEIGHTS to torch-fidelity's {INCEPTION_FILE} "
        f"or place it at {path} (this project never downloads it)")


def inception_fid(fake: Tensor, real: Tensor, batch_size: int = 100,
                  device: str | torch.device | None = None) -> float:
    """Inception-v3 FID (torch-fidelity's 'inception-v3-compat' network through torchmetrics)
    of gray images ``[N, 1, 28, 28]`` in ``[-1, 1]``, replicated to 3 channels as uint8 and
    resized to 299x299 by the network. Raises :class:`InceptionUnavailable` when torch-fidelity
    or the weights file is missing."""
    from torchmetrics.utilities.imports import _TORCH_FIDELITY_AVAILABLE

    if not _TORCH_FIDELITY_AVAILABLE:
        raise InceptionUnavailable("the package torch-fidelity is not installed")
    weights = find_inception_weights()
    from torchmetrics.image.fid import FrechetInceptionDistance

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        metric = FrechetInceptionDistance(feature=2048, feature_extractor_weights_path=str(weights))
    metric = metric.to(device or "cpu")

    def to_uint8(x: Tensor) -> Tensor:
        return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).repeat(1, 3, 1, 1)

    for images, is_real in ((real, True), (fake, False)):
        for i in range(0, len(images), batch_size):
            metric.update(to_uint8(images[i:i + batch_size]).to(device or "cpu"), real=is_real)
    return max(float(metric.compute()), 0.0)
