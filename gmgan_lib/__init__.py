"""gmgan_lib: geometric generative models built from morphological PDE layers on M2.

Tensor layouts used everywhere (see docs/architecture.md):
images and R2 maps ``[B, C, H, W]``; M2 maps ``[B, C, Or, H, W]`` with orientation ``k``
at angle ``2*pi*k/Or``.
"""
from __future__ import annotations

import importlib.abc
import os
import sys
from dataclasses import dataclass

__version__ = "0.3.1"

# Modules renamed in a release (CHANGELOG.md). Each concept has one name: an old one is not an
# alias but an import error that says where the code went.
RETIRED = {
    "gmgan_lib.train": ("0.2.0", "gmgan_lib.training (train, TrainConfig; its parts: "
                                 "training.step, training.schedule, training.cli) and "
                                 "gmgan_lib.sampling (sample, generate, load_generator, "
                                 "export_generator)"),
    "gmgan_lib.metrics": ("0.2.0", "gmgan_lib.evaluation"),
    "gmgan_lib.models.gmgan": ("0.2.0", "gmgan_lib.models.all_pde"),
}


def retired(name: str) -> ModuleNotFoundError | None:
    """The error that an import of ``name`` (a module renamed in a release) raises, or None."""
    for old, (version, new) in RETIRED.items():
        if name == old or name.startswith(old + "."):
            return ModuleNotFoundError(f"{name} was renamed in gmgan_lib {version}: use {new} "
                                       f"(CHANGELOG.md)", name=name)
    return None


class _RetiredNames(importlib.abc.MetaPathFinder):
    """Asked last, so only for a module that does not exist: an old name gets its new one
    (``import gmgan_lib.train``, ``from gmgan_lib.train import sample``)."""

    def find_spec(self, name, path=None, target=None):
        error = retired(name)
        if error is not None:
            raise error
        return None


def retired_attributes(package: str):
    """A module ``__getattr__`` for ``package`` that answers its retired submodules.

    ``from gmgan_lib import train`` looks for an attribute first, and turns a finder's error
    into a bare "cannot import name": the old name is answered here. (Not an AttributeError,
    which ``from ... import`` would turn into that bare message too.)"""
    def __getattr__(name: str):
        error = retired(f"{package}.{name}")
        if error is not None:
            raise error
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return __getattr__


__getattr__ = retired_attributes(__name__)


if not any(isinstance(finder, _RetiredNames) for finder in sys.meta_path):
    sys.meta_path.append(_RetiredNames())


@dataclass(frozen=True)
class Profile:
    """How much work the notebooks and the demo do.

    ``fast`` is True when the environment variable ``GMGAN_FAST`` is set to ``1``:
    every notebook then runs on the CPU in minutes (fewer steps, data subsets,
    small N for metrics, loaded checkpoints instead of long training).
    """

    fast: bool
    device: str
    train_steps: int
    data_fraction: float
    metric_n: int
    batch_size: int

    def __str__(self) -> str:  # printed in the first cell of every notebook
        mode = "FAST (GMGAN_FAST=1)" if self.fast else "FULL"
        return (f"profile: {mode}, device={self.device}, train_steps={self.train_steps}, "
                f"data_fraction={self.data_fraction}, metric_n={self.metric_n}")


def profile() -> Profile:
    """Read the one switch, ``GMGAN_FAST``, and return the matching :class:`Profile`."""
    from gmgan_lib.runtime import resolve_device

    value = os.environ.get("GMGAN_FAST", "0").strip()
    if value not in ("0", "1", ""):
        raise ValueError(f"GMGAN_FAST must be '0' or '1', got {value!r}")
    fast = value == "1"
    device = "cpu" if fast else resolve_device("auto").type
    if fast:
        # Notebook 04 trains each model for train_steps steps: 200 steps of 32 images take the
        # default GM-GAN's samples from uniform grey to bright strokes on a dark background
        # (after 100 the background is still grey), in about 8 s on 2 idle CPU cores
        # (estimated: a step of 32 costs 0.6x one of 64, measured side by side, and the
        # committed run made 4,604 steps of 64 in 5 minutes). Trained samples come from the
        # committed checkpoints.
        return Profile(fast=True, device=device, train_steps=200, data_fraction=0.05,
                       metric_n=1000, batch_size=32)
    return Profile(fast=False, device=device, train_steps=5000, data_fraction=1.0,
                   metric_n=10000, batch_size=64)


def cli_error(err: BaseException, code: int = 2) -> int:
    """Print ``error: <message>`` (one line) for the command line and return its exit code: 2
    for a bad argument or an unreadable input, 1 for a failure during the work.

    With ``GMGAN_DEBUG=1`` in the environment the exception is raised again instead, so that
    whoever wants the traceback gets it. Call it from inside the ``except`` block.
    """
    if os.environ.get("GMGAN_DEBUG", "") not in ("", "0"):
        raise err
    print(f"error: {err}", file=sys.stderr)
    return code


def _short(path: str, most: int = 160) -> str:
    # One line: a newline in a name is shown escaped, and a name longer than the system's limit
    # (it can be thousands of characters) by its two ends.
    path = path.replace("\n", "\\n").replace("\r", "\\r")
    return path if len(path) <= most else f"{path[:most // 2]}...{path[-most // 2:]}"


def cli_os_error(err: OSError) -> int:
    """:func:`cli_error` for an OSError met while reading or writing files: one line naming the
    file (the target of a rename, not its temporary), what happened and what to do. Exit code 2
    when the path cannot be used as given (a name too long, a folder where a file goes, a file
    where a folder goes: a bad argument), 1 for a failure of the machine (disk full, permission
    denied, a read-only disk, an I/O error)."""
    import errno

    advice = {
        errno.ENOSPC: "free some space on that disk, or write elsewhere (the previous version of "
                      "the file, if any, is kept)",
        errno.EDQUOT: "free some of your disk quota, or write elsewhere",
        errno.EACCES: "check the permissions of the file and its folder (an output: or write "
                      "elsewhere)",
        errno.EPERM: "check the permissions of the file and its folder (an output: or write "
                     "elsewhere)",
        errno.EROFS: "the disk is read-only: write elsewhere",
        errno.ENAMETOOLONG: "choose a shorter path (most systems allow 255 bytes a name, 4096 a path)",
        errno.EISDIR: "a folder has that name: remove it, or choose another name",
        errno.ENOTDIR: "a file stands where a folder should be: choose another path",
        errno.ELOOP: "too many symbolic links: choose another path",
    }
    bad_path = {errno.ENAMETOOLONG, errno.EISDIR, errno.ENOTDIR, errno.ELOOP}
    name = err.filename2 if err.filename2 is not None else err.filename
    where = f"{_short(os.fsdecode(name))}: " if name is not None else ""
    reason = err.strerror or str(err) or type(err).__name__
    todo = advice.get(err.errno, "check the disk and the path, then run the command again")
    return cli_error(OSError(f"{where}{reason}; {todo}"), 2 if err.errno in bad_path else 1)


def check_threads(value: int, flag: str = "--threads") -> int:
    """``value`` if it is a thread count this machine can run: 1 to ``os.cpu_count()``, else a
    ValueError naming ``flag`` and the bound. More threads than cores only slow a run down, and
    a huge count (``--threads 100000``) crashed torch's thread pool with a segmentation fault."""
    bound = os.cpu_count() or 1
    if not 1 <= value <= bound:
        raise ValueError(f"{flag} must be a positive integer at most {bound} (this machine's "
                         f"CPU count), got {value}")
    return value
