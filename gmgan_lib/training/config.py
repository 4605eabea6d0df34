"""What defines a training run: :class:`TrainConfig`, and the limits of its values.

The configuration is data: one dataclass whose fields carry their help strings,
from which ``python -m gmgan_lib train``'s flags are derived
(:func:`gmgan_lib.training.cli.add_train_arguments`). :meth:`TrainConfig.resolved` validates it once, at
the public boundary (``train()``), and fills in the complete architecture dict that checkpoints
store.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

import torch

from gmgan_lib.data import DATASETS
from gmgan_lib.models import (MODEL_NAMES, build, check_double_backward, check_memory,
                              resolve_config)
from gmgan_lib.runtime import DEVICES, check_device, check_seed
from gmgan_lib.training.augment import AUGMENTATIONS

# Fields that define *what* is trained: a resumed run must repeat them exactly. The others
# (epochs, max_steps, device, checkpoint/log cadence, time budget) may change between sessions.
IDENTITY_FIELDS = ("model", "dataset", "batch_size", "latent_dim", "data_fraction", "seed",
                   "lr", "lr_d", "beta1", "beta2", "loss", "r1", "d_steps", "spectral_norm",
                   "model_config", "augment")
LOSSES = ("bce", "hinge", "relativistic")
# Upper bounds that keep a bad value from overflowing or exhausting memory (one-line errors
# instead of tracebacks): counts of steps, epochs, batch elements; the latent size (a Linear
# from it must fit in memory). (Seeds: gmgan_lib.runtime.MAX_SEED.)
MAX_COUNT = 10**9
MAX_LATENT_DIM = 65_536


# An architecture's fields are numbers, strings and lists of them: two levels, a few more for
# whatever a future field needs. Deeper JSON is refused before it is parsed further.
MAX_MODEL_CONFIG_DEPTH = 8


def _depth(value: Any) -> int:
    """How deeply ``value`` (parsed JSON) nests lists and objects; without recursion, since
    recursion is what a deep value would exhaust."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            todo.extend((x, depth + 1) for x in (item.values() if isinstance(item, dict) else item))
    return deepest


def model_config_from_json(text: str, flag: str = "--model-config") -> dict[str, Any]:
    """The architecture overrides given as ``flag``: a JSON object nested at most
    :data:`MAX_MODEL_CONFIG_DEPTH` deep, else a ValueError naming ``flag``. (Nested a few
    thousand deep, JSON made ``json.loads`` itself raise RecursionError, and a value just under
    that limit would exhaust the stack later, where it is compared, copied or printed.)"""
    shown = text if len(text) <= 80 else text[:77] + "..."
    too_deep = ValueError(f"{flag} is nested too deeply (at most {MAX_MODEL_CONFIG_DEPTH} levels "
                          f"of objects and lists), got {shown!r}")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{flag} must be a JSON object, got {shown!r} ({err})") from None
    except RecursionError:     # deeper than json (the interpreter's stack) can follow
        raise too_deep from None
    if _depth(value) > MAX_MODEL_CONFIG_DEPTH:
        raise too_deep
    if not isinstance(value, dict):
        raise ValueError(f"{flag} must be a JSON object, got {shown!r}")
    return value


def _option(default: Any, help: str, **cli: Any) -> Any:
    """A :class:`TrainConfig` field whose command-line flag is derived from it: ``--NAME`` with
    this default and help string (``cli``: ``type`` for optional fields, ``choices``; ``cli=False``
    for a field the command line sets otherwise)."""
    return field(default=default, metadata={"help": help, **cli})


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved as ``config.json`` and in checkpoints).

    Each field's help string is the documentation of its ``python -m gmgan_lib train`` flag,
    which :func:`gmgan_lib.training.cli.add_train_arguments` derives from the field."""

    model: str = _option("gmgan", "the GAN", choices=MODEL_NAMES)
    dataset: str = _option("mnist", "training data", choices=DATASETS)
    epochs: int = _option(200, "passes over the training data")
    batch_size: int = _option(64, "images per step, per process")
    latent_dim: int = _option(100, "dimension of the generator's noise")
    max_steps: int | None = _option(None, "total optimizer steps of the run, resumed ones "
                                          "included", type=int)
    data_fraction: float = _option(1.0, "train on a fixed class-stratified subset, in (0, 1]")
    seed: int = _option(0, "training seed")
    device: str = _option("auto", "where to train", choices=DEVICES)
    checkpoint_every: int = _option(1000, "steps between checkpoints; one is also written at "
                                          "every epoch end, at the end and on Ctrl-C")
    log_every: int = _option(10, "steps between metrics.csv rows")
    no_epoch_files: bool = _option(False, "no checkpoint and no sample grid at the end of every "
                                          "epoch (for a few hundred images, whose epochs are a "
                                          "few steps); checkpoints still every checkpoint_every")
    lr: float = _option(2e-4, "Adam learning rate of G, and of D unless --lr-d")
    lr_d: float | None = _option(None, "Adam learning rate of D (default: --lr)", type=float)
    beta1: float = _option(0.5, "Adam beta1 of both networks")
    beta2: float = _option(0.999, "Adam beta2 of both networks")
    loss: str = _option("bce", "GAN loss: non-saturating BCE, hinge, relativistic average",
                        choices=LOSSES)
    r1: float = _option(0.0, "weight gamma of the R1 penalty (gamma/2) E|grad D(x)|^2 on real "
                             "images (0: off)")
    d_steps: int = _option(1, "D updates per G update, each on its own real batch")
    spectral_norm: bool = _option(False, "spectral norm on every weight of D")
    augment: str = _option("none", "augment every image D sees, real and fake, in both updates: "
                                   "DiffAugment's translation and cutout, or a random rotation",
                           choices=AUGMENTATIONS)
    max_seconds: float | None = _option(None, "wall-clock budget of this session", cli=False)
    model_config: dict[str, Any] = field(default_factory=dict, metadata={"cli": False})

    def validate(self) -> None:
        """Reject bad values with a ValueError naming the parameter and the valid values (the
        configuration itself is not changed: :meth:`resolved` gives the completed copy)."""
        self._validate()

    def _validate(self) -> dict[str, Any]:
        """:meth:`validate`, returning the complete architecture dict it resolved."""
        def positive_int(name: str, value: Any, allow_none: bool = False,
                         most: int = MAX_COUNT) -> None:
            if allow_none and value is None:
                return
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
            if value > most:
                raise ValueError(f"{name} must be at most {most:,}, got {value!r}")

        if self.model not in MODEL_NAMES:
            raise ValueError(f"model must be one of {', '.join(MODEL_NAMES)}; got {self.model!r}")
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {', '.join(DATASETS)}; got {self.dataset!r}")
        check_device(self.device)
        positive_int("epochs", self.epochs)
        positive_int("batch_size", self.batch_size)
        positive_int("latent_dim", self.latent_dim, most=MAX_LATENT_DIM)
        positive_int("max_steps", self.max_steps, allow_none=True)
        positive_int("checkpoint_every", self.checkpoint_every)
        positive_int("log_every", self.log_every)
        check_seed(self.seed)
        if (isinstance(self.data_fraction, bool) or not isinstance(self.data_fraction, (int, float))
                or not 0.0 < self.data_fraction <= 1.0):
            raise ValueError(f"data_fraction must be a number in (0, 1], got {self.data_fraction!r}")
        def number_in(name: str, value: Any, low: float, high: float, low_open: bool) -> None:
            ok = (not isinstance(value, bool) and isinstance(value, (int, float))
                  and (value > low if low_open else value >= low) and value < high)
            if not ok:
                raise ValueError(f"{name} must be in {'(' if low_open else '['}{low}, {high}), "
                                 f"got {value!r}")

        # Above float32's largest number Adam cannot even apply the step.
        largest = float(torch.finfo(torch.float32).max)
        number_in("lr", self.lr, 0.0, largest, True)
        if self.lr_d is not None:
            number_in("lr_d", self.lr_d, 0.0, largest, True)
        number_in("beta1", self.beta1, 0.0, 1.0, False)    # 0 is the equivariant-GAN papers' choice
        number_in("beta2", self.beta2, 0.0, 1.0, True)
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}; got {self.loss!r}")
        if (isinstance(self.r1, bool) or not isinstance(self.r1, (int, float))
                or not (0.0 <= self.r1 < math.inf)):
            raise ValueError(f"r1 must be a finite number >= 0 (0: no penalty), got {self.r1!r}")
        positive_int("d_steps", self.d_steps)
        if self.augment not in AUGMENTATIONS:
            raise ValueError(f"augment must be one of {', '.join(AUGMENTATIONS)}; "
                             f"got {self.augment!r}")
        if not isinstance(self.no_epoch_files, bool):
            raise ValueError(f"no_epoch_files must be True or False, got {self.no_epoch_files!r}")
        if not isinstance(self.spectral_norm, bool):
            raise ValueError(f"spectral_norm must be True or False, got {self.spectral_norm!r}")
        if self.max_seconds is not None and not (isinstance(self.max_seconds, (int, float))
                                                 and self.max_seconds > 0):
            raise ValueError(f"max_seconds must be a positive number or None, got {self.max_seconds!r}")
        if not isinstance(self.model_config, dict):
            raise ValueError(f"model_config must be a dict of architecture fields, got "
                             f"{type(self.model_config).__name__}")
        # Resolving validates every architecture field (and fills in the defaults).
        model_config = resolve_config(self.model, **self.model_config)
        check_memory(self.model, self.latent_dim, model_config, training=True)
        if self.r1 > 0:   # R1 differentiates D twice: refuse layers without a second derivative
            with torch.device("meta"):   # the layers' types are enough: allocate no weight
                discriminator = build(self.model, self.latent_dim, **model_config).discriminator
            check_double_backward(discriminator, "r1")
        return model_config

    def resolved(self) -> TrainConfig:
        """A validated copy whose ``model_config`` is the complete, explicit architecture (what
        checkpoints store, so that a run rebuilds the same network if defaults change later).
        Raises ValueError naming the parameter for a bad value; ``self`` is left unchanged."""
        return dataclasses.replace(self, model_config=self._validate())

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
