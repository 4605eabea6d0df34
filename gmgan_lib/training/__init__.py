"""The parts of a training run, one concept per module; :mod:`gmgan_lib.train` puts them together.

- :mod:`~gmgan_lib.training.config`: :class:`TrainConfig`, what defines a run (and its flags);
- :mod:`~gmgan_lib.training.step`: the GAN losses and one GAN step (D updates, then G);
- :mod:`~gmgan_lib.training.schedule`: which real images each step sees (a function of the seed);
- :mod:`~gmgan_lib.training.state`: :class:`RunState`, everything a checkpoint holds;
- :mod:`~gmgan_lib.training.checkpoint_fields`: a checkpoint checked field by field before a resume;
- :mod:`~gmgan_lib.training.rundir`: :class:`RunDirectory`, the files of a run and its lock;
- :mod:`~gmgan_lib.training.stopping`: when a run stops (signals, time budget, a bad loss);
- :mod:`~gmgan_lib.training.distributed`: ranks, devices and the few collectives.
"""
