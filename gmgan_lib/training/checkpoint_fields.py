"""A training checkpoint, checked field by field before a run resumes from it.

The CRC-32 and sha256 checks of :mod:`gmgan_lib.checkpoint` prove that a file is the one that was
written, not that it holds what a run needs: a crafted file (or one re-saved by a script) can
hold any value that ``torch.load(weights_only=True)`` accepts. A resumed run used to meet such
values deep inside its set-up or its loop: a ZeroDivisionError for ``rng=[]``, a RuntimeError
for an RNG state of the wrong size, a TypeError for ``lr="abc"``, a run "resumed at step -50"
that then failed, one "done" after 10**18 steps, NaN weights reported as a divergence whose
"last good" checkpoint was the NaN file itself.

:func:`check_training_checkpoint` checks every field a resumed run reads, before the data are
loaded: types, ranges, shapes, the random-number states (torch's own check of an mt19937
state), and that every weight, optimiser moment and the fixed noise are finite (a run never
saves non-finite weights, so such a file is damaged, never "last good"). Each failure is a
:class:`~gmgan_lib.checkpoint.CheckpointError` of one line naming the file and the field. What
needs the built networks (the shapes of the weights and of Adam's moments) is checked by
:meth:`~gmgan_lib.training.state.RunState.load_state_dict`.
"""
from __future__ import annotations

import sys
from typing import Any

import torch

from gmgan_lib.checkpoint import CheckpointError
from gmgan_lib.training.config import MAX_COUNT
from gmgan_lib.training.schedule import N_FIXED_NOISE

CPU_RNG_BYTES = torch.get_rng_state().numel()   # torch's mt19937 state: 5056 bytes
MAX_RANKS = 65_536                              # one random-number state per process
_LARGEST = sys.float_info.max
_FLOAT32_MAX = float(torch.finfo(torch.float32).max)
_MISSING = object()
# Adam's hyper-parameters as torch writes them; a crafted group is compared with their types.
_ADAM_DEFAULTS = torch.optim.Adam([torch.zeros(1, requires_grad=True)]).defaults
_GROUP_NEEDS = ("params", "lr", "betas", "eps", "weight_decay")
_ADVICE = "resume from a good copy, or start a new run with another --out"


def check_training_checkpoint(state: dict[str, Any], where: str, latent_dim: int) -> None:
    """Raise CheckpointError naming ``where`` and the field when ``state`` (a loaded training
    checkpoint of a run whose ``latent_dim`` is given) holds a value a resumed run cannot use."""
    _check_counters(state, where)
    _check_rng(state.get("rng", _MISSING), where)
    _check_noise(state.get("fixed_noise", _MISSING), where, latent_dim)
    for name in ("generator", "discriminator"):
        _check_tensors(state.get(name, _MISSING), where, name)
    for name in ("optimizer_g", "optimizer_d"):
        _check_optimizer(state.get(name, _MISSING), where, name)


# ------------------------------------------------------------------------------ messages


def _show(value: Any) -> str:
    """``value`` in a few words, on one line."""
    if value is _MISSING:
        return "nothing (the field is missing)"
    if isinstance(value, torch.Tensor):
        return f"a {str(value.dtype).removeprefix('torch.')} tensor of shape {list(value.shape)}"
    if isinstance(value, (list, tuple, dict)):
        return f"a {type(value).__name__} of {len(value)} item(s)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _refuse(where: str, field: str, expected: str, value: Any) -> CheckpointError:
    return CheckpointError(f"{where}: field {field} must be {expected}, got {_show(value)}; the "
                           f"checkpoint is damaged or crafted: {_ADVICE}")


def _non_finite(where: str, field: str) -> CheckpointError:
    return CheckpointError(f"{where}: field {field} holds NaN or infinite values: the checkpoint "
                           f"is damaged (a run never saves non-finite weights): {_ADVICE}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any, low: float = -_LARGEST, high: float = _LARGEST) -> bool:
    """A finite int or float in [low, high] (NaN fails every comparison; a huge int too)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high


def _is_tensor(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.layout == torch.strided


def _finite(tensor: torch.Tensor) -> bool:
    return bool(torch.isfinite(tensor).all())


# ------------------------------------------------------------------------------ the fields


def _check_counters(state: dict[str, Any], where: str) -> None:
    step = state.get("step", _MISSING)
    if not (_is_int(step) and 0 <= step <= MAX_COUNT):
        raise _refuse(where, "step", f"an integer in [0, {MAX_COUNT:,}]", step)
    seconds = state.get("seconds", 0.0)       # (older checkpoints have none)
    if not _is_number(seconds, 0.0):
        raise _refuse(where, "seconds", "a finite number >= 0", seconds)


def _check_rng(rng: Any, where: str) -> None:
    """One random-number state per process that wrote the checkpoint: torch's CPU state (a
    uint8 tensor of a fixed size, an mt19937 state torch accepts) and, from a GPU run, the
    GPU's (its size is checked by torch when it is set: RunState.load_state_dict)."""
    if not isinstance(rng, (list, tuple)) or not 1 <= len(rng) <= MAX_RANKS:
        raise _refuse(where, "rng", f"a list of 1 to {MAX_RANKS:,} random-number states (one "
                                    f"per process)", rng)
    for i, item in enumerate(rng):
        if not isinstance(item, dict):
            raise _refuse(where, f"rng[{i}]", "a dict of random-number states", item)
        cpu = item.get("cpu", _MISSING)
        if not (_is_tensor(cpu) and cpu.dtype == torch.uint8 and tuple(cpu.shape) == (CPU_RNG_BYTES,)):
            raise _refuse(where, f"rng[{i}]['cpu']", f"torch's random-number state, a uint8 "
                                                    f"tensor of {CPU_RNG_BYTES} bytes", cpu)
        try:
            torch.Generator().set_state(cpu)      # torch's own check, on a throw-away generator
        except (RuntimeError, TypeError, ValueError) as err:
            raise CheckpointError(f"{where}: field rng[{i}]['cpu'] is not a random-number state "
                                  f"torch accepts ({str(err).splitlines()[0]}): {_ADVICE}") from None
        cuda = item.get("cuda", None)
        if cuda is not None and not (_is_tensor(cuda) and cuda.dtype == torch.uint8 and cuda.dim() == 1):
            raise _refuse(where, f"rng[{i}]['cuda']", "a GPU's random-number state, a 1-D uint8 "
                                                     "tensor", cuda)


def _check_noise(noise: Any, where: str, latent_dim: int) -> None:
    shape = (N_FIXED_NOISE, latent_dim)
    if not (_is_tensor(noise) and noise.dtype == torch.float32 and tuple(noise.shape) == shape):
        raise _refuse(where, "fixed_noise", f"a float32 tensor of shape {list(shape)} (the run's "
                                            f"latent_dim)", noise)
    if not _finite(noise):
        raise _non_finite(where, "fixed_noise")


def _check_tensors(tensors: Any, where: str, field: str) -> None:
    """A network's state_dict: named tensors, all finite (their shapes are checked against the
    network when it is loaded)."""
    if not isinstance(tensors, dict) or not tensors:
        raise _refuse(where, field, "a dict of named tensors (a state_dict)", tensors)
    for name, value in tensors.items():
        if not isinstance(name, str) or not _is_tensor(value):
            raise _refuse(where, f"{field}[{_show(name)}]", "a tensor named by a string", value)
        if not _finite(value):
            raise _non_finite(where, f"{field}[{name!r}]")


def _check_optimizer(opt: Any, where: str, field: str) -> None:
    """An Adam state_dict: parameter groups of hyper-parameters, and per listed parameter its
    moments and step count, all finite."""
    if not (isinstance(opt, dict) and isinstance(opt.get("state"), dict)
            and isinstance(opt.get("param_groups"), list) and opt["param_groups"]):
        raise _refuse(where, field, "an optimiser's state_dict (a dict of 'state' and a list of "
                                    "'param_groups')", opt)
    listed: set[int] = set()
    for i, group in enumerate(opt["param_groups"]):
        _check_group(group, where, f"{field}.param_groups[{i}]")
        listed.update(group["params"])
    for pid, moments in opt["state"].items():
        name = f"{field}.state[{_show(pid)}]"
        if not (_is_int(pid) and pid in listed and isinstance(moments, dict)):
            raise _refuse(where, name, "the state of a parameter listed in param_groups (a dict "
                                       "of tensors)", moments)
        for key, value in moments.items():
            if not _is_tensor(value):
                raise _refuse(where, f"{name}[{_show(key)}]", "a tensor", value)
            if not _finite(value):
                raise _non_finite(where, f"{name}[{key!r}]")
        step = moments.get("step")
        if step is not None and not (step.numel() == 1 and step.dtype != torch.bool
                                     and float(step) >= 0):
            raise _refuse(where, f"{name}['step']", "one number >= 0 (Adam's step count)", step)


def _check_group(group: Any, where: str, field: str) -> None:
    """One parameter group: its parameters' indices, and hyper-parameters of the types torch's
    Adam gives them (numbers in their ranges, flags True or False)."""
    if not isinstance(group, dict):
        raise _refuse(where, field, "a dict of hyper-parameters", group)
    for key in _GROUP_NEEDS:
        _check_hyper(key, group.get(key, _MISSING), where, f"{field}.{key}")
    for key, value in group.items():
        if key not in _GROUP_NEEDS:
            _check_hyper(key, value, where, f"{field}.{key}")


def _check_hyper(key: str, value: Any, where: str, field: str) -> None:
    default = _ADAM_DEFAULTS.get(key, _MISSING)
    if key == "params":
        ok, expected = (isinstance(value, list) and all(_is_int(p) and p >= 0 for p in value),
                        "a list of parameter indices")
    elif key == "lr":
        ok, expected = _is_number(value, 0.0, _FLOAT32_MAX) and value > 0, "a number in (0, 3.4e38]"
    elif key == "betas":
        ok = (isinstance(value, (list, tuple)) and len(value) == 2
              and all(_is_number(b, 0.0) and b < 1 for b in value))
        expected = "two numbers in [0, 1)"
    elif _is_number(default):              # eps, weight_decay
        ok, expected = _is_number(value, 0.0, _FLOAT32_MAX), "a number >= 0"
    elif isinstance(default, bool):        # amsgrad, maximize, capturable, differentiable, ...
        ok, expected = isinstance(value, bool), "True or False"
    elif default is None:                  # foreach, fused: None means "torch decides"
        ok, expected = value is None or isinstance(value, bool), "None, True or False"
    else:                                  # a key of another torch version: a plain value
        ok = value is None or isinstance(value, (bool, int, float, str))
        expected = "a number, a string, a flag or None"
    if not ok:
        raise _refuse(where, field, expected, value)
