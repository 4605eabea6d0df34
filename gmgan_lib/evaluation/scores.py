"""Class-distribution KL, the MNIST score, and k-NN precision/recall.

All three read the outputs of the feature classifier (gmgan_lib.evaluation.classifier):
predicted classes / softmax probabilities ``[N, K]`` and penultimate features ``[N, D]``.

* ``class_kl``: KL(p_real(y) || p_gen(y)) between the histograms of *predicted* classes.
  It is 0 when the generator draws every class as often as the real data and grows when
  classes are missing (mode dropping). Empty bins would make it infinite, so both
  histograms are smoothed: ``p = (h / N + eps) / (1 + K eps)`` with ``eps = 1e-6``; the KL
  is then at most about ``log(1 / eps) = 13.8``.
* ``mnist_score``: the Inception-score analogue ``exp(E_x KL(p(y|x) || p(y)))`` with
  ``p(y) = E_x p(y|x)``, computed on all samples at once (one split). It lies in ``[1, K]``:
  high when each sample is classified confidently and the classes are balanced.
* ``precision_recall``: Kynkaanniemi et al. (2019), "Improved precision and recall metric
  for assessing generative models". Each real feature vector gets a ball whose radius is
  the distance to its k-th nearest real neighbour (k = 3); precision is the fraction of
  generated samples inside at least one real ball, recall the fraction of real samples
  inside at least one ball of the generated set (radii from generated neighbours).
"""
from __future__ import annotations

import torch
from torch import Tensor

EPS = 1e-6
K_NEAREST = 3


def class_histogram(pred: Tensor, num_classes: int = 10) -> Tensor:
    """Fractions of each class among predicted labels ``pred [N]`` (float64 ``[num_classes]``)."""
    if pred.ndim != 1 or pred.numel() == 0:
        raise ValueError(f"pred must be a non-empty 1-D tensor of class indices, got shape {list(pred.shape)}")
    if pred.min() < 0 or pred.max() >= num_classes:
        raise ValueError(f"pred must hold class indices in [0, {num_classes}), "
                         f"got values in [{int(pred.min())}, {int(pred.max())}]")
    return torch.bincount(pred.long().cpu(), minlength=num_classes).double() / pred.numel()


def class_kl(pred_real: Tensor, pred_fake: Tensor, num_classes: int = 10, eps: float = EPS) -> float:
    """KL(p_real(y) || p_gen(y)) between smoothed histograms of predicted classes (nats)."""
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    p = (class_histogram(pred_real, num_classes) + eps) / (1 + num_classes * eps)
    q = (class_histogram(pred_fake, num_classes) + eps) / (1 + num_classes * eps)
    return float((p * (p.log() - q.log())).sum())


def mnist_score(probs: Tensor) -> float:
    """``exp(E_x KL(p(y|x) || p(y)))`` of softmax probabilities ``probs [N, K]`` (rows sum to 1)."""
    if probs.ndim != 2 or probs.shape[0] < 1:
        raise ValueError(f"probs must have shape [N, K], got {list(probs.shape)}")
    p = probs.double()
    if (p < 0).any() or not torch.allclose(p.sum(1), torch.ones_like(p[:, 0]), atol=1e-6):
        raise ValueError("probs must be probabilities: non-negative rows that sum to 1")
    p_y = p.mean(0, keepdim=True)
    # xlogy gives 0 log 0 = 0 for classes a sample assigns no probability to.
    kl = (torch.xlogy(p, p) - torch.xlogy(p, p_y)).sum(1)
    return float(kl.mean().exp())


def knn_radii(features: Tensor, k: int = K_NEAREST, chunk_size: int = 1000) -> Tensor:
    """Distance of every row of ``features [N, D]`` to its k-th nearest *other* row ``[N]``.

    The distance matrix is built ``chunk_size`` rows at a time (N = 10,000 would need
    800 MB at once in float64). A row's distance to itself is 0 and is the smallest, so the
    k-th neighbour is the (k+1)-th smallest entry of its row.
    """
    if not 1 <= k < features.shape[0]:
        raise ValueError(f"k must be in [1, N-1] = [1, {features.shape[0] - 1}], got {k}")
    x = features.double()
    out = []
    for i in range(0, len(x), chunk_size):
        d = torch.cdist(x[i:i + chunk_size], x)
        out.append(d.kthvalue(k + 1, dim=1).values)
    return torch.cat(out)


def precision_recall(real: Tensor, fake: Tensor, k: int = K_NEAREST, chunk_size: int = 1000,
                     real_radii: Tensor | None = None) -> tuple[float, float]:
    """k-NN manifold precision and recall of ``fake [M, D]`` with respect to ``real [N, D]``.

    ``real_radii`` (from :func:`knn_radii`) may be passed to reuse them across calls.
    """
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"real and fake must be [N, D] and [M, D] with the same D, "
                         f"got {list(real.shape)} and {list(fake.shape)}")
    r, f = real.double(), fake.double()
    r_radii = knn_radii(r, k, chunk_size) if real_radii is None else real_radii.double()
    f_radii = knn_radii(f, k, chunk_size)
    in_real = torch.zeros(len(f), dtype=torch.bool)   # fake sample inside some real ball
    in_fake = torch.zeros(len(r), dtype=torch.bool)   # real sample inside some fake ball
    for i in range(0, len(f), chunk_size):
        d = torch.cdist(f[i:i + chunk_size], r)        # [chunk, N]
        in_real[i:i + chunk_size] = (d <= r_radii[None, :]).any(1)
        in_fake |= (d <= f_radii[i:i + chunk_size, None]).any(0)
    return float(in_real.double().mean()), float(in_fake.double().mean())
