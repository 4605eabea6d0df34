"""FID_MNIST's Frechet distance: torchmetrics' formula against scipy.linalg.sqrtm, exact
identities of the formula, input checks, and the offline behaviour of the Inception option."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from gmgan_lib.evaluation.fid import InceptionUnavailable, find_inception_weights, frechet_distance, inception_fid


def scipy_frechet(a: np.ndarray, b: np.ndarray) -> float:
    """The textbook computation (as in pytorch-fid): sqrtm of the covariance product."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def gaussian(n: int, d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(d, d, generator=g, dtype=torch.float64) / d ** 0.5
    return torch.randn(n, d, generator=g, dtype=torch.float64) @ mix + torch.randn(d, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("d", [4, 32, 128])
def test_matches_scipy_sqrtm(d):
    a, b = gaussian(1500, d, 0), gaussian(1200, d, 1)
    ref = scipy_frechet(a.numpy(), b.numpy())
    assert ref > 0.1
    assert frechet_distance(a, b) == pytest.approx(ref, rel=1e-7, abs=1e-9)


def test_identical_inputs_give_zero():
    a = gaussian(1000, 64, 2)
    value = frechet_distance(a, a.clone())
    assert 0.0 <= value < 1e-9 * float(torch.cov(a.T).trace())


def test_translation_adds_squared_shift():
    # Shifting every feature vector by c leaves the covariance unchanged: FID = |c|^2 exactly.
    a = gaussian(800, 16, 3)
    c = torch.linspace(-1, 2, 16, dtype=torch.float64)
    assert frechet_distance(a, a + c) == pytest.approx(float(c @ c), rel=1e-9)


def test_scaling_identity():
    # b = s a: mean term |(1-s) mu|^2, trace term tr(S) + s^2 tr(S) - 2 s tr(S) = (1-s)^2 tr(S).
    a, s = gaussian(900, 8, 4), 1.7
    expected = (1 - s) ** 2 * (float(a.mean(0) @ a.mean(0)) + float(torch.cov(a.T).trace()))
    assert frechet_distance(a, s * a) == pytest.approx(expected, rel=1e-8)


def test_float32_input_is_computed_in_float64():
    a, b = gaussian(600, 16, 5), gaussian(600, 16, 6)
    assert frechet_distance(a.float(), b.float()) == pytest.approx(
        scipy_frechet(a.float().double().numpy(), b.float().double().numpy()), rel=1e-7)


@pytest.mark.parametrize("a, b, match", [
    (torch.zeros(10), torch.zeros(10, 3), "features_a must have shape"),
    (torch.zeros(1, 3), torch.zeros(10, 3), "at least 2 rows"),
    (torch.zeros(10, 3), torch.full((10, 3), float("nan")), "features_b contains NaN"),
    (torch.zeros(10, 3), torch.zeros(10, 4), "same dimension"),
    ([[0.0, 1.0]], torch.zeros(10, 2), "torch.Tensor"),
])
def test_bad_features_rejected(a, b, match):
    with pytest.raises(ValueError, match=match):
        frechet_distance(a, b)


def test_inception_missing_weights_file_is_named(monkeypatch, tmp_path):
    missing = tmp_path / "nope.pth"
    monkeypatch.setenv("GMGAN_INCEPTION_WEIGHTS", str(missing))
    with pytest.raises(InceptionUnavailable, match="nope.pth"):
        find_inception_weights()
    present = tmp_path / "w.pth"
    present.write_bytes(b"x")
    monkeypatch.setenv("GMGAN_INCEPTION_WEIGHTS", str(present))
    assert find_inception_weights() == present


def test_inception_without_weights_is_skipped_not_downloaded(monkeypatch, tmp_path):
    # No weights anywhere (empty hub dir) -> a clear reason, immediately, no network access.
    monkeypatch.delenv("GMGAN_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    x = torch.zeros(4, 1, 28, 28)
    with pytest.raises(InceptionUnavailable) as err:
        inception_fid(x, x)
    assert "torch-fidelity" in str(err.value) or "no local weights file" in str(err.value)
