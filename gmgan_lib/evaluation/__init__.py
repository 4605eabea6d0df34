"""Evaluation of generated digits that runs anywhere, offline.

Every metric reads one small feature classifier per dataset (``load_classifier``), whose
weights are committed under ``data/classifiers/`` and checked by sha256:

* ``frechet_distance``: FID_MNIST, the Frechet distance of classifier features (never
  comparable with Inception FID);
* ``class_kl``: KL between real and generated predicted-class histograms (mode dropping);
* ``mnist_score``: the Inception-score analogue, at most 10;
* ``precision_recall``: k-NN manifold precision and recall (Kynkaanniemi et al. 2019, k = 3);
* ``evaluate_images``: all of them at once for two image tensors ``[N, 1, 28, 28]`` in ``[-1, 1]``.

Definitions, hashes and the protocol: docs/evaluation.md.
"""
from gmgan_lib.evaluation.classifier import ClassifierChecksumError, LeNet, load_classifier
from gmgan_lib.evaluation.evaluate import check_images, classifier_outputs, evaluate_images
from gmgan_lib.evaluation.fid import InceptionUnavailable, frechet_distance, inception_fid
from gmgan_lib.evaluation.scores import class_kl, knn_radii, mnist_score, precision_recall

__all__ = [
    "ClassifierChecksumError", "InceptionUnavailable", "LeNet", "check_images", "class_kl",
    "classifier_outputs", "evaluate_images", "frechet_distance", "inception_fid", "knn_radii",
    "load_classifier", "mnist_score", "precision_recall",
]
