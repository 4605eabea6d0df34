"""What defines a training run: :class:`TrainConfig`, and the limits of its values.

The configuration is data: one dataclass whose fields declare their help strings and the
values they allow (:mod:`gmgan_lib.fields`), from which ``python -m gmgan_lib train``'s flags
are derived (:func:`gmgan_lib.training.cli.add_train_arguments`), ``--model.FIELD`` included.
:meth:`TrainConfig.resolved` validates it once, at the public boundary (``train()``), and
turns the architecture into its typed, complete configuration (a
:class:`~gmgan_lib.models.GMGANConfig` or :class:`~gmgan_lib.models.DCGANConfig`).
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any

import torch

from gmgan_lib.data import DATASETS
from gmgan_lib.fields import Allowed, check, option, unknown_fields
from gmgan_lib.models import (MODEL_NAMES, ModelConfig, build, check_config, check_double_backward,
                              check_memory, from_saved, resolve)
from gmgan_lib.runtime import DEVICES, MAX_SEED, check_device
from gmgan_lib.training.augment import AUGMENTATIONS

# Fields that define *what* is trained: a resumed run must repeat them exactly. The others
# (epochs, max_steps, device, checkpoint/log cadence, time budget) may change between sessions.
IDENTITY_FIELDS = ("model", "dataset", "batch_size", "latent_dim", "data_fraction", "seed",
                   "lr", "lr_d", "beta1", "beta2", "loss", "r1", "d_steps", "spectral_norm",
                   "model_config", "augment")
LOSSES = ("bce", "hinge", "relativistic")
# What config.json records beside the configuration (training/loop.py): facts of the run.
RUN_FACTS = ("steps_per_epoch", "world_size", "total_steps", "parameters")
# Upper bounds that keep a bad value from overflowing or exhausting memory (one-line errors
# instead of tracebacks): counts of steps, epochs, batch elements; the latent size (a Linear
# from it must fit in memory). (Seeds: gmgan_lib.runtime.MAX_SEED.)
MAX_COUNT = 10**9
MAX_LATENT_DIM = 65_536
# Above float32's largest number Adam cannot even apply the step.
_LARGEST = float(torch.finfo(torch.float32).max)
_COUNT = Allowed(int, low=1, high=MAX_COUNT)
_RATE = Allowed(float, low=0.0, low_open=True, high=_LARGEST, high_open=True)


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
    """The architecture overrides given as ``flag``: a JSON object, or the name of a file that
    holds one, nested at most :data:`MAX_MODEL_CONFIG_DEPTH` deep; else a ValueError naming
    ``flag`` (and the file). (Nested a few thousand deep, JSON made ``json.loads`` itself raise
    RecursionError, and a value just under that limit would exhaust the stack later, where it
    is compared, copied or printed.)"""
    try:
        return _json_object(text, flag, repr(_cut(text)))
    except json.JSONDecodeError as err:
        if text.lstrip().startswith("{"):
            raise ValueError(f"{flag} must be a JSON object, got {_cut(text)!r} ({err})") from None
    path = Path(text)                                  # not JSON: the name of a file, then
    try:
        contents = path.read_text()
    except OSError as err:
        raise ValueError(f"{flag} must be a JSON object or a JSON file, got {_cut(text)!r} "
                         f"({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{flag} file {path} is not text (a JSON object)") from None
    try:
        return _json_object(contents, f"{flag} file {path}", "its contents")
    except json.JSONDecodeError as err:    # the file's text is not shown: it may be anything
        raise ValueError(f"{flag} file {path} must hold a JSON object ({err})") from None


def _json_object(text: str, where: str, shown: str) -> dict[str, Any]:
    """``text`` parsed, if it is a JSON object nested at most MAX_MODEL_CONFIG_DEPTH deep."""
    too_deep = ValueError(f"{where} is nested too deeply (at most {MAX_MODEL_CONFIG_DEPTH} "
                          f"levels of objects and lists), got {shown}")
    try:
        value = json.loads(text)
    except RecursionError:     # deeper than json (the interpreter's stack) can follow
        raise too_deep from None
    if _depth(value) > MAX_MODEL_CONFIG_DEPTH:
        raise too_deep
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a JSON object, got {shown}")
    return value


def _cut(text: str, most: int = 80) -> str:
    return text if len(text) <= most else text[:most - 3] + "..."


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved as ``config.json`` and in checkpoints).

    Each field's help string is the documentation of its ``python -m gmgan_lib train`` flag,
    which :func:`gmgan_lib.training.cli.add_train_arguments` derives from the field."""

    model: str = option("gmgan", "the GAN", Allowed(str, MODEL_NAMES))
    dataset: str = option("mnist", "training data", Allowed(str, DATASETS))
    epochs: int = option(200, "passes over the training data", _COUNT)
    batch_size: int = option(64, "images per step, per process", _COUNT)
    latent_dim: int = option(100, "dimension of the generator's noise",
                             Allowed(int, low=1, high=MAX_LATENT_DIM))
    max_steps: int | None = option(None, "total optimizer steps of the run, resumed ones "
                                         "included", Allowed(int, low=1, high=MAX_COUNT,
                                                             optional=True))
    data_fraction: float = option(1.0, "train on a fixed class-stratified subset",
                                  Allowed(float, low=0, low_open=True, high=1))
    seed: int = option(0, "training seed", Allowed(int, low=0, high=MAX_SEED))
    device: str = option("auto", "where to train", Allowed(str, DEVICES))
    checkpoint_every: int = option(1000, "steps between checkpoints; one is also written at "
                                         "every epoch end, at the end and on Ctrl-C", _COUNT)
    log_every: int = option(10, "steps between metrics.csv rows", _COUNT)
    no_epoch_files: bool = option(False, "no checkpoint and no sample grid at the end of every "
                                         "epoch (for a few hundred images, whose epochs are a "
                                         "few steps); checkpoints still every checkpoint_every")
    lr: float = option(2e-4, "Adam learning rate of G, and of D unless --lr-d", _RATE)
    lr_d: float | None = option(None, "Adam learning rate of D (default: --lr)",
                                dataclasses.replace(_RATE, optional=True))
    # beta1 = 0 is the equivariant-GAN papers' choice; beta2 = 0 would divide by zero.
    beta1: float = option(0.5, "Adam beta1 of both networks", Allowed(float, low=0.0, high=1.0,
                                                                       high_open=True))
    beta2: float = option(0.999, "Adam beta2 of both networks",
                          Allowed(float, low=0.0, low_open=True, high=1.0, high_open=True))
    loss: str = option("bce", "GAN loss: non-saturating BCE, hinge, relativistic average",
                       Allowed(str, LOSSES))
    r1: float = option(0.0, "weight gamma of the R1 penalty (gamma/2) E|grad D(x)|^2 on real "
                            "images (0: off)", Allowed(float, low=0, note="(0: no penalty)"))
    d_steps: int = option(1, "D updates per G update, each on its own real batch", _COUNT)
    spectral_norm: bool = option(False, "spectral norm on every weight of D")
    augment: str = option("none", "augment every image D sees, real and fake, in both updates: "
                                  "DiffAugment's translation and cutout, or a random rotation",
                          Allowed(str, AUGMENTATIONS))
    max_seconds: float | None = option(None, "wall-clock budget of this session",
                                       Allowed(float, low=0.0, low_open=True, optional=True),
                                       cli=False)
    # The architecture: overrides (a dict, as JSON and the command line give them) until
    # resolved(), then the model's complete typed configuration.
    model_config: ModelConfig | dict[str, Any] = field(default_factory=dict,
                                                       metadata={"cli": False})

    def validate(self) -> None:
        """Reject bad values with a ValueError naming the parameter and the valid values (the
        configuration itself is not changed: :meth:`resolved` gives the completed copy)."""
        self.resolved()

    def resolved(self) -> TrainConfig:
        """A validated copy whose ``model_config`` is the model's complete, typed configuration
        (what checkpoints store, so that a run rebuilds the same network if defaults change
        later). Raises ValueError naming the parameter for a bad value; ``self`` is unchanged."""
        check(self)
        check_device(self.device)          # cuda asked for on a machine without it
        if isinstance(self.model_config, dict):
            names = [k for k in self.model_config if not isinstance(k, str)]
            if names:
                raise ValueError(f"model_config keys must be field names, got {names[0]!r}")
            model_config = resolve(self.model, **self.model_config)
        else:
            model_config = check_config(self.model, self.model_config)
        check_memory(model_config, self.latent_dim, training=True)
        if self.r1 > 0:   # R1 differentiates D twice: refuse layers without a second derivative
            with torch.device("meta"):   # the layers' types are enough: allocate no weight
                discriminator = build(model_config, self.latent_dim).discriminator
            check_double_backward(discriminator, "r1")
        return dataclasses.replace(self, model_config=model_config)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON / checkpoint-safe values (the architecture as a dict)."""
        arch = self.model_config
        return {**{f.name: getattr(self, f.name) for f in dataclasses.fields(self)},
                "model_config": dict(arch) if isinstance(arch, dict) else arch.to_dict()}

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> TrainConfig:
        """The configuration a checkpoint (``state["config"]``) or ``config.json`` stores (see
        :meth:`to_dict`; the run facts that ``config.json`` adds, :data:`RUN_FACTS`, are left
        out), every field checked and the architecture typed (:func:`gmgan_lib.models.from_saved`).
        Whether the run fits this machine (its device, its memory) is :meth:`resolved`'s job."""
        if not isinstance(saved, dict):
            raise ValueError(f"a saved training config must be a dict, got {type(saved).__name__}")
        saved = {k: v for k, v in saved.items() if k not in RUN_FACTS}
        unknown_fields(cls, saved, "training config")
        config = cls(**saved)
        check(config)
        config.model_config = from_saved(config.model, saved.get("model_config", {}))
        return config
