"""The files of a training run, in its directory ``OUT``, and the lock that keeps it to one run.

    OUT/.lock                  flock-ed for the life of the run (a second training is refused);
                               opened without following a link planted at its name
    OUT/config.json            the configuration, steps per epoch, total steps, parameter counts
    OUT/checkpoint.pt          the RunState (atomic; every checkpoint_every steps, epoch ends, stop)
    OUT/metrics.csv            step,epoch,loss_d,loss_g,seconds: one row per logged step
    OUT/samples_epoch_XXX.png  the fixed noise's samples at the end of each epoch (unless
                               no_epoch_files)
    OUT/samples.png            ... and at the end of the run

``step`` counts optimizer steps done, ``epoch`` is 1-based, ``seconds`` is training wall-clock
summed over resumes. On resume, the rows of metrics.csv beyond the checkpoint's step (logged
after the last checkpoint, and about to be re-done) are dropped, so the file never has duplicate
or missing steps. Every file but the appended rows and the lock is written atomically
(:mod:`gmgan_lib.files`). A :class:`RunDirectory` of ``None`` (a dry run, a notebook's quick
run) writes nothing; under ``torchrun`` only rank 0 writes.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import threading
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterator

from gmgan_lib.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from gmgan_lib.files import atomic_write_text, remove_stale_temporaries
from gmgan_lib.models.config import OLDER_CHECKPOINT_VALUES
from gmgan_lib.sampling import generate, save_samples
from gmgan_lib.training.checkpoint_fields import check_training_checkpoint
from gmgan_lib.training.config import IDENTITY_FIELDS, TrainConfig
from gmgan_lib.training.distributed import Distributed
from gmgan_lib.training.state import REQUIRED
from gmgan_lib.training.stopping import sigterm_raises

CSV_HEADER = "step,epoch,loss_d,loss_g,seconds"


# The run directories whose lock this thread holds, by the (device, inode) of their lock file:
# a command that holds a directory for longer than its training (``demo``: the training, then
# the evaluation and the report) calls train() inside its own run_lock, which then nests.
_held = threading.local()


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _open_lock(out: Path, lock: Path) -> int:
    """Open (or create) ``lock`` for reading and writing, refusing anything but a regular
    file of its own: a symbolic link (even one planted between the two checks: O_NOFOLLOW),
    a FIFO, a device, a directory, or a hard link to another file. Written through, any of
    them would truncate a file that belongs to someone else."""
    def refuse(what: str) -> ValueError:
        return ValueError(f"out: {lock} is {what}, not the lock file of a run; it is never "
                          f"written through: remove it, or choose another --out")

    try:   # look before opening: opening a FIFO or a device can itself have effects
        st = os.lstat(lock)
    except FileNotFoundError:
        st = None
    except OSError as err:
        raise ValueError(f"out: cannot use the lock file {lock} ({err.strerror})") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise refuse(_kind(st.st_mode))
    flags = (os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
             | getattr(os, "O_CLOEXEC", 0))
    try:
        fd = os.open(lock, flags, 0o644)
    except OSError as err:
        if err.errno == errno.ELOOP:      # a link swapped in after the lstat above
            raise refuse("a symbolic link") from None
        if err.errno == errno.EISDIR:
            raise refuse("a directory") from None
        raise ValueError(f"out: cannot open the lock file {lock} ({err.strerror}); remove it "
                         f"if no run holds {out}, or choose another --out") from None
    st = os.fstat(fd)   # what was opened, whatever the name points to now
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
        os.close(fd)
        raise refuse(_kind(st.st_mode) if not stat.S_ISREG(st.st_mode)
                     else f"a hard link shared with {st.st_nlink - 1} other name(s)")
    return fd


# The files of a run whose temporaries a starting run removes (``.<name>.XXXXXXXX.tmp``).
_RUN_FILES = ("checkpoint.pt.", "config.json.", "metrics.csv.", "samples")


def _run_temporary(entry: str) -> bool:
    return entry.startswith(".") and entry.endswith(".tmp") and entry[1:].startswith(_RUN_FILES)


@contextlib.contextmanager
def run_lock(out: Path | None,
             refuse: Callable[[Path], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on ``out/.lock`` for the life of the run, so that a second
    training process cannot write into the same directory. ``flock`` locks die with their
    process, so the file a killed run leaves behind never blocks a resume.

    ``refuse(out)`` is called once the lock is held and before anything in ``out`` is written
    (the lock's process id, the removal of stale temporaries): a command that refuses a
    directory (it holds another run) raises there and leaves every byte as it was. The lock
    file is opened so that nothing planted at its name is ever written through
    (:func:`_open_lock`). Inside a run_lock of the same thread on the same directory, a
    run_lock nests: it calls ``refuse`` and holds nothing more.

    A new run's folder is removed on every way out before its first checkpoint: an exception,
    Ctrl-C (KeyboardInterrupt), and SIGTERM, which would otherwise kill the process before any
    clean-up and leave a folder holding only ``.lock``: within the lock it raises
    :class:`~gmgan_lib.training.stopping.Terminated` (exit code 143) where its action was the
    default one (:func:`~gmgan_lib.training.stopping.sigterm_raises`)."""
    if out is None:
        yield
        return
    with sigterm_raises(), _run_lock(out, refuse):
        yield


@contextlib.contextmanager
def _run_lock(out: Path, refuse: Callable[[Path], None] | None) -> Iterator[None]:
    import fcntl

    created = not out.exists()
    acquired = False
    lock = out / ".lock"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"out: cannot create the run directory {out} ({err.strerror})") from None
    fd = _open_lock(out, lock)
    st = os.fstat(fd)
    key = (st.st_dev, st.st_ino)
    held = _held.__dict__.setdefault("locks", set())
    if key in held:                      # this thread holds it already (demo -> train)
        os.close(fd)
        if refuse is not None:
            refuse(out)
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
            raise ValueError(f"out: {out} is in use by a running training (process {other}); "
                             f"wait for it to end, or choose another --out") from None
        acquired = True
        held.add(key)
        if refuse is not None:
            refuse(out)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        # Temporary files of the run's atomic writes that a killed run left behind: with the
        # lock held nobody else writes them, however young they are. (Only regular files: a
        # folder or a FIFO at such a name is not a temporary of ours, and stays.)
        remove_stale_temporaries(out, _run_temporary, older_than=0)
        yield
    except BaseException:
        # A new run refused or failed before its first checkpoint leaves no directory behind
        # (not a config.json and a header-only metrics.csv): everything in it is this run's.
        # Only the lock's holder may remove it: a process that lost the race for a directory
        # both saw missing must not delete the winner's.
        if created and acquired and not (out / "checkpoint.pt").exists():
            shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        held.discard(key)
        os.close(fd)   # releases the lock


# The files a run reads or rewrites whole: what stands at their names must be a file.
RUN_FILES = ("checkpoint.pt", "config.json", "metrics.csv", "samples.png")


def check_run_files(out: Path) -> None:
    """Refuse ``out`` (a ValueError naming the file) when a folder, a FIFO, a device or a link to
    one of them stands at the name of a file the run reads or replaces: reading it, appending to
    it or renaming over it would fail half-way through the set-up with a traceback."""
    for name in RUN_FILES:
        path = out / name
        try:
            st = os.stat(path)       # (a link to a file is replaced, never written through)
        except FileNotFoundError:    # (a dangling link too: replaced by the first write)
            continue
        except OSError as err:       # a loop of links, a name the folder denies
            raise ValueError(f"out: cannot use {path} ({err.strerror}); remove it, or choose "
                             f"another --out") from None
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"out: {path} is {_kind(st.st_mode)}, not a file of a run; remove "
                             f"it, or choose another --out")


def truncate_metrics(path: Path, last_step: int) -> None:
    """Keep the header and the rows with ``step <= last_step`` (rows after the checkpoint are
    re-done by the resumed run), written atomically."""
    rows = [CSV_HEADER]
    if path.exists():
        lines = path.read_text().splitlines()
        if lines and lines[0].strip() != CSV_HEADER:
            raise ValueError(f"{path}: unexpected header {lines[0]!r}; expected {CSV_HEADER!r}")
        for line in lines[1:]:
            try:
                step = int(line.split(",", 1)[0])
            except ValueError:
                continue  # a torn last line of a killed run
            if step <= last_step and line.count(",") == 4:
                rows.append(line)
    atomic_write_text(path, "\n".join(rows) + "\n")


def check_same_run(saved: dict[str, Any], config: TrainConfig, path: Path) -> None:
    """Refuse to resume ``path`` (written with configuration ``saved``) with a ``config`` that
    trains something else (a field of :data:`IDENTITY_FIELDS` differs)."""
    current = config.to_dict()
    defaults = TrainConfig().to_dict()   # a field a run predates had its default value then
    arch = saved.get("model_config")
    if isinstance(arch, dict) and "architecture" in arch:     # a GM-GAN config
        saved = {**saved, "model_config": {**OLDER_CHECKPOINT_VALUES, **arch}}
    diffs = [f"{k}={saved.get(k, defaults[k])!r} (now {current[k]!r})" for k in IDENTITY_FIELDS
             if saved.get(k, defaults[k]) != current[k]]
    if diffs:
        raise ValueError(f"--resume: {path} belongs to a different run: " + "; ".join(diffs)
                         + ". Repeat the original arguments, or choose another --out")


class RunDirectory:
    """The run directory ``path`` (``None``: write nothing); ``writes`` is False on ranks > 0."""

    def __init__(self, path: Path | None, writes: bool = True):
        self.path = path
        self.writes = writes and path is not None
        self.checkpoint = path / "checkpoint.pt" if path is not None else None
        self._metrics = None

    @classmethod
    @contextlib.contextmanager
    def claim(cls, out: Path | None, resume: bool, dist: Distributed) -> Iterator[RunDirectory]:
        """Lock ``out`` for this run (rank 0 locks, every rank learns whether it was refused,
        so that no rank goes on into DDP's first broadcast alone). A new run (no ``resume``)
        never writes over another run's checkpoint."""
        def holds_another_run(path: Path) -> None:
            # Decided with the lock held and before anything is written (run_lock's refuse).
            check_run_files(path)
            if not resume and (path / "checkpoint.pt").exists():
                raise ValueError(f"out: {path} already holds a run (checkpoint.pt); pass "
                                 f"--resume to continue it, or choose another --out")

        with contextlib.ExitStack() as stack:
            refused = None
            try:
                stack.enter_context(run_lock(out if dist.main else None, holds_another_run))
            except ValueError as err:
                refused = err
            if dist.max([int(refused is not None)])[0]:
                raise refused or ValueError(f"out: {out} was refused by rank 0 (see its error)")
            run_dir = cls(out, writes=dist.main)
            stack.callback(run_dir.close)
            yield run_dir

    def resumable(self) -> bool:
        return self.checkpoint is not None and self.checkpoint.exists()

    def read_checkpoint(self, config: TrainConfig) -> dict[str, Any]:
        """The checkpoint to resume, checked to belong to a run of ``config`` and field by field
        (:mod:`~gmgan_lib.training.checkpoint_fields`)."""
        state = load_checkpoint(self.checkpoint, require=REQUIRED)
        if not isinstance(state["config"], dict):
            raise CheckpointError(f"{self.checkpoint}: its config must be a dict (a file written "
                                  f"by this library), got {type(state['config']).__name__}")
        check_same_run(state["config"], config, self.checkpoint)
        # Every other field the run reads, before the data are loaded (the same run's
        # latent_dim, now that check_same_run has compared it).
        check_training_checkpoint(state, str(self.checkpoint), config.latent_dim)
        return state

    def start(self, config: dict[str, Any], step: int) -> None:
        """Write ``config.json`` and open ``metrics.csv`` for rows after ``step``."""
        if not self.writes:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path / "config.json", json.dumps(config, indent=2) + "\n")
        truncate_metrics(self.path / "metrics.csv", step)
        # Line-buffered: every row reaches the disk as it is written.
        self._metrics = open(self.path / "metrics.csv", "a", buffering=1)

    def log(self, step: int, epoch: int, loss_d: float, loss_g: float, seconds: float) -> None:
        if self._metrics is None:
            return
        try:
            self._metrics.write(f"{step},{epoch},{loss_d:.6f},{loss_g:.6f},{seconds:.3f}\n")
        except OSError as err:    # disk full: the error names the file it could not append to
            raise OSError(err.errno, err.strerror, str(self.path / "metrics.csv")) from err

    def save_samples(self, generator, noise, name: str) -> None:
        if self.writes:
            save_samples(generate(generator, noise), self.path / name, nrow=8)

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        if self.writes:
            save_checkpoint(state, self.checkpoint)

    def close(self) -> None:
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None
