"""A training run: :func:`train` (the loop, :mod:`~gmgan_lib.training.loop`) and its parts, one
concept per module.

- :mod:`~gmgan_lib.training.config`: :class:`TrainConfig`, what defines a run (and its flags);
- :mod:`~gmgan_lib.training.loop`: :func:`train`, the procedure that reads top to bottom;
- :mod:`~gmgan_lib.training.step`: the GAN losses and one GAN step (D updates, then G);
- :mod:`~gmgan_lib.training.augment`: what D's images go through (DiffAugment, rotations);
- :mod:`~gmgan_lib.training.schedule`: which real images each step sees (a function of the seed);
- :mod:`~gmgan_lib.training.state`: :class:`RunState`, everything a checkpoint holds;
- :mod:`~gmgan_lib.training.checkpoint_fields`: a checkpoint checked field by field before a resume;
- :mod:`~gmgan_lib.training.rundir`: :class:`RunDirectory`, the files of a run and its lock;
- :mod:`~gmgan_lib.training.report`: where a logged step goes (metrics.csv, a bar, a hook);
- :mod:`~gmgan_lib.training.stopping`: when a run stops (signals, time budget, a bad loss);
- :mod:`~gmgan_lib.training.distributed`: ranks and the few collectives;
- :mod:`~gmgan_lib.training.cli`: ``python -m gmgan_lib train``.

``from gmgan_lib.training import TrainConfig, train`` is the public way in.
"""
from gmgan_lib.training.config import TrainConfig
from gmgan_lib.training.loop import NonFiniteLossError, Progress, TrainResult, train

__all__ = ["TrainConfig", "train", "TrainResult", "Progress", "NonFiniteLossError"]
