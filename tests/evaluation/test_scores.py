"""Class KL, MNIST score and k-NN precision/recall on synthetic inputs with known answers,
and against brute-force / library references."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.stats
import torch

from gmgan_lib.evaluation.scores import EPS, class_histogram, class_kl, knn_radii, mnist_score, precision_recall


# ----------------------------------------------------------------------------- class KL

def test_class_kl_zero_for_same_histogram():
    a = torch.arange(10).repeat(30)
    b = a[torch.randperm(len(a), generator=torch.Generator().manual_seed(0))]
    assert class_kl(a, b) == 0.0


def test_class_kl_matches_scipy_entropy_of_smoothed_histograms():
    g = torch.Generator().manual_seed(1)
    real = torch.randint(0, 10, (500,), generator=g)
    fake = torch.randint(0, 4, (300,), generator=g)   # classes 4..9 dropped
    smooth = lambda pred: (np.bincount(pred.numpy(), minlength=10) / len(pred) + EPS) / (1 + 10 * EPS)
    ref = scipy.stats.entropy(smooth(real), smooth(fake))
    assert class_kl(real, fake) == pytest.approx(ref, rel=1e-12)
    # Asymmetric on purpose: KL(real || gen) punishes missing classes far more than extra ones.
    assert class_kl(real, fake) > 5 * class_kl(fake, real)


def test_class_kl_single_class_generator_is_large_and_bounded():
    real = torch.arange(10).repeat(100)
    fake = torch.full((1000,), 3)
    kl = class_kl(real, fake)
    # 0.9 * log(0.1 / eps) + 0.1 * log(0.1)  (up to the renormalisation by 1 + 10 eps)
    assert kl == pytest.approx(0.9 * math.log(0.1 / EPS) + 0.1 * math.log(0.1), rel=1e-4)
    assert kl < math.log(1 / EPS)


def test_class_histogram_rejects_bad_labels():
    with pytest.raises(ValueError, match="class indices in"):
        class_histogram(torch.tensor([0, 10]), 10)
    with pytest.raises(ValueError, match="1-D"):
        class_histogram(torch.zeros(2, 2, dtype=torch.long), 10)
    with pytest.raises(ValueError, match="eps must be > 0"):
        class_kl(torch.tensor([0]), torch.tensor([1]), eps=0.0)


# ----------------------------------------------------------------------------- MNIST score

def test_mnist_score_extremes():
    one_hot_balanced = torch.eye(10).repeat(7, 1)
    assert mnist_score(one_hot_balanced) == pytest.approx(10.0, rel=1e-12)
    one_hot_single = torch.eye(10)[[3] * 50]
    assert mnist_score(one_hot_single) == pytest.approx(1.0, rel=1e-12)
    uniform = torch.full((40, 10), 0.1)
    assert mnist_score(uniform) == pytest.approx(1.0, rel=1e-12)


def test_mnist_score_between_1_and_k_and_matches_torchmetrics():
    from torchmetrics.image.inception import InceptionScore

    g = torch.Generator().manual_seed(2)
    logits = 3 * torch.randn(400, 10, generator=g, dtype=torch.float64)
    ours = mnist_score(logits.softmax(1))
    assert 1.0 <= ours <= 10.0
    # torchmetrics' IS with one split is the same formula (it permutes with the global RNG,
    # which we restore so the test leaves no trace).
    state = torch.random.get_rng_state()
    with pytest.warns(UserWarning):
        metric = InceptionScore(feature=torch.nn.Identity(), splits=1)
    metric.update(logits)
    with warnings.catch_warnings():  # the std over a single split is undefined
        warnings.simplefilter("ignore", UserWarning)
        theirs = float(metric.compute()[0])
    torch.random.set_rng_state(state)
    assert ours == pytest.approx(theirs, rel=1e-10)


def test_mnist_score_rejects_non_probabilities():
    with pytest.raises(ValueError, match="probabilities"):
        mnist_score(torch.randn(5, 10))
    with pytest.raises(ValueError, match=r"\[N, K\]"):
        mnist_score(torch.ones(10))


# ----------------------------------------------------------------------------- precision / recall

def brute_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    d = torch.cdist(x.double(), x.double())
    d.fill_diagonal_(float("inf"))          # exclude self explicitly
    return d.sort(1).values[:, k - 1]


def brute_precision_recall(real, fake, k):
    rr, fr = brute_radii(real, k), brute_radii(fake, k)
    d = torch.cdist(fake.double(), real.double())
    precision = (d <= rr[None]).any(1).double().mean()
    recall = (d.T <= fr[None]).any(1).double().mean()
    return float(precision), float(recall)


def test_knn_radii_match_brute_force_with_chunks():
    x = torch.randn(53, 5, generator=torch.Generator().manual_seed(3))
    for k in (1, 3, 7):
        torch.testing.assert_close(knn_radii(x, k, chunk_size=10), brute_radii(x, k))
    with pytest.raises(ValueError, match="k must be in"):
        knn_radii(x, 53)


def test_precision_recall_match_brute_force_with_chunks():
    g = torch.Generator().manual_seed(4)
    real = torch.randn(120, 6, generator=g)
    fake = 0.6 * torch.randn(90, 6, generator=g) + 0.8   # narrower and shifted
    got = precision_recall(real, fake, k=3, chunk_size=17)
    assert got == brute_precision_recall(real, fake, 3)
    assert 0.0 < got[1] < 1.0


def test_precision_recall_identical_and_disjoint_sets():
    x = torch.randn(100, 4, generator=torch.Generator().manual_seed(5))
    assert precision_recall(x, x.clone()) == (1.0, 1.0)
    assert precision_recall(x, x + 100.0) == (0.0, 0.0)


def test_collapsed_generator_has_high_precision_low_recall():
    # All samples near one real point: they lie inside the real manifold (precision ~1) but
    # cover almost none of it (recall ~0), the signature of mode collapse.
    real = torch.randn(300, 3, generator=torch.Generator().manual_seed(6))
    fake = real[:1] + 1e-3 * torch.randn(200, 3, generator=torch.Generator().manual_seed(7))
    precision, recall = precision_recall(real, fake)
    assert precision == 1.0
    assert recall < 0.05
