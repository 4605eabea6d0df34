"""Checkpoints that survive a crash and can never run code.

Two promises, both tested (tests/test_checkpoint.py):

- **Atomic writes** (:mod:`gmgan_lib.files`, where every file of the library is written). A file
  is written to a temporary name in the same directory, flushed, ``fsync``-ed, and only then
  renamed over the target with :func:`os.replace` (atomic on POSIX and Windows). A process
  killed at any moment leaves either the previous complete file or the new complete file, never
  half of one. The directory entry is fsync-ed too, so the rename itself survives a power cut.
- **Safe loads.** Files are read with ``torch.load(weights_only=True)``: only tensors, numbers,
  strings and containers of them are unpickled, so a checkpoint downloaded from anywhere cannot
  execute code. Before that, the CRC-32 of every member of the archive is verified (and the
  sha256 of a file listed in a ``SHA256SUMS`` manifest), on the very bytes then loaded, so a
  damaged byte is an error, not an altered weight. A truncated, corrupted or foreign file raises :class:`CheckpointError` whose
  one-line message names the file; the CLI prints it and exits non-zero without a traceback.

A checkpoint is a plain dict (see docs/architecture.md)::

    {"format": "gmgan-checkpoint", "version": 1, "config": {...}, "generator": state_dict, ...}

Training checkpoints add the discriminator, both optimizers, the step, the RNG states and the
fixed noise; generator-only files (``data/checkpoints/``) hold just enough to rebuild and sample.
"""
from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path
from typing import Any

import torch

# MANIFEST: committed checkpoints (data/checkpoints/) have a `sha256sum`-format one beside them.
from gmgan_lib.files import (MANIFEST, atomic_write, atomic_write_text,  # noqa: F401  (re-exported)
                             read_manifest)

FORMAT = "gmgan-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A file that is not a readable gmgan checkpoint (the message names the file)."""


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``state`` (a dict of tensors, numbers, strings, lists, dicts) atomically to ``path``.

    The ``format``/``version`` keys are added here, so every file this library writes is
    recognisable by :func:`load_checkpoint`.
    """
    if not isinstance(state, dict):
        raise ValueError(f"state must be a dict, got {type(state).__name__}")
    payload = {"format": FORMAT, "version": VERSION, **state}
    # Serialised in memory first, then written by Python: torch's zip writer turns a failed write
    # (a full disk) into a RuntimeError ("unexpected pos ..."), Python's write raises the OSError
    # (ENOSPC) that names the file and the cause. A checkpoint is held in memory anyway.
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return atomic_write(path, lambda f: f.write(buffer.getbuffer()))


def check_manifest(path: str | os.PathLike, data: bytes) -> None:
    """If a ``SHA256SUMS`` file beside ``path`` lists it, the file's sha256 must match.

    Committed checkpoints come with such a manifest: a file replaced or damaged after the
    commit is caught before unpickling. Files not listed (every training run) are not checked
    here; their archive checksums are (:func:`load_checkpoint`). ``data``: the file's bytes,
    read once, so that what is checked is exactly what is then loaded. The manifest is read by
    the library's one reader (:func:`gmgan_lib.files.read_manifest`, the exact ``sha256sum``
    format: names with spaces, ``*``, escaped names); a manifest it cannot read refuses the
    file, since skipping an unreadable line could skip the line that lists it.
    """
    path = Path(path)
    manifest = path.parent / MANIFEST
    if not os.path.lexists(manifest):
        return
    try:
        expected = read_manifest(path.parent).get(path.name)
    except (OSError, ValueError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise CheckpointError(f"{path}: cannot be checked against {manifest} ({reason}); "
                              f"restore the manifest (sha256sum's format)") from None
    if expected is None:
        return
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise CheckpointError(f"{path}: sha256 {actual} does not match {expected} in "
                              f"{manifest}; the file is damaged or was replaced")


def read_checkpoint_bytes(path: str | os.PathLike) -> bytes:
    """The file's bytes, read once (to hash, check and load the same version of a file that a
    running training may replace at any moment). CheckpointError naming the file if missing."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        return path.read_bytes()
    except OSError as err:
        raise CheckpointError(f"{path}: cannot read the checkpoint ({err.strerror})") from None


def check_archive(path: str | os.PathLike, data: bytes) -> None:
    """Verify the CRC-32 of every member of the zip archive ``torch.save`` writes.

    ``torch.load`` does not check them, so a flipped byte inside a tensor would load silently as
    an altered weight. CRC-32 catches every error burst of up to 32 bits, hence every damaged
    byte; it is not a defence against deliberate tampering (the sha256 manifest is, for the
    committed files).
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            bad = archive.testzip()
    except Exception as err:   # BadZipFile, EOFError; crafted: encrypted or unknown methods
        raise CheckpointError(f"{path}: not a readable gmgan checkpoint (truncated, corrupted "
                              f"or not a torch file: {err})") from None
    if bad is not None:
        raise CheckpointError(f"{path}: damaged checkpoint: member {bad!r} fails its CRC-32 "
                              f"check (the file was altered after it was written)")


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu",
                    require: tuple[str, ...] = ("config", "generator"),
                    data: bytes | None = None) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; never executes code from the file.

    Raises :class:`CheckpointError` (one line, naming ``path``) when the file is missing,
    disagrees with a ``SHA256SUMS`` beside it (:func:`check_manifest`), is truncated, corrupted,
    not a torch file, a pickle that needs arbitrary code, a foreign torch file, a newer format
    version, or lacks one of the ``require``-d keys. ``data``: the file's bytes if the caller
    already read them (:func:`read_checkpoint_bytes`), so that what it hashes is what is loaded.
    """
    path = Path(path)
    if data is None:
        data = read_checkpoint_bytes(path)
    # The checks below and torch.load see the very same bytes.
    check_manifest(path, data)
    check_archive(path, data)
    try:
        state = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises RuntimeError, UnpicklingError, EOFError, ...
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if len(reason) > 160:
            reason = reason[:157] + "..."
        raise CheckpointError(f"{path}: not a readable gmgan checkpoint "
                              f"(truncated, corrupted or not a torch file: {reason})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a gmgan checkpoint (expected a dict with "
                              f"format={FORMAT!r}); was it written by another program?")
    if not isinstance(state.get("version"), int) or state["version"] > VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {state.get('version')!r} is not "
                              f"supported (this gmgan_lib reads versions <= {VERSION})")
    missing = [key for key in require if key not in state]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)} "
                              f"(has {', '.join(sorted(state))})")
    return state
