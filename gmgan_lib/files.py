"""Whole files this library writes go through here: written atomically, with ordinary permissions.

``atomic_write(path, write)`` calls ``write(f)`` on a temporary file in the target's folder
(``.<name>.XXXX.tmp``), flushes and ``fsync``-s it, gives it the permissions a plain ``open``
would (``0666 & ~umask``; ``mkstemp`` makes ``0600``), renames it over the target with
:func:`os.replace` (atomic on POSIX and Windows) and ``fsync``-s the folder, so that the rename
itself survives a power cut. A process killed at any moment leaves either the previous complete
file or the new complete file, never half of one; a failed ``write`` removes the temporary file
(after a SIGKILL it stays, under its temporary name, and the next training run in that folder
removes it). Checkpoints (:mod:`gmgan_lib.checkpoint`), config.json, the rewritten metrics.csv,
sample grids, classifiers, manifests, evaluation reports and copied datasets all use it. Not
here: the rows a running training appends to metrics.csv (a torn last row is dropped on resume)
and the run directory's ``.lock``.
"""
from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path
from collections.abc import Callable

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text", "ensure_writable_folder",
           "MANIFEST", "sha256_bytes", "read_manifest", "record_sha256"]

MANIFEST = "SHA256SUMS"   # `sha256sum` format, beside committed classifiers and checkpoints


def _fsync_directory(directory: Path) -> None:
    # Makes the rename durable. Not every platform can open a directory (Windows): skip there.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)   # the only portable way to read it is to set it and put it back
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[io.BufferedWriter], None]) -> Path:
    """Call ``write(f)`` on a temporary file beside ``path``, then atomically rename it to ``path``.

    If ``write`` raises (or the process dies), ``path`` is untouched and the temporary file is
    removed (or, after a SIGKILL, left behind as ``.<name>.*.tmp``, never under the real name).
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file ordinary permissions
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write` for a UTF-8 text file (config.json, metrics.json, metrics.csv)."""
    data = text.encode("utf-8")
    return atomic_write(path, lambda f: f.write(data))


def ensure_writable_folder(directory: str | os.PathLike, flag: str = "--out") -> Path:
    """Create ``directory`` if needed and make sure files can be written there: called before
    the work, so that a bad ``flag`` fails in a second with one line (a ValueError naming it),
    not after minutes of computation."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"{flag}: cannot create the folder {directory} ({err.strerror})") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ValueError(f"{flag}: cannot write into {directory}")
    return directory


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """:func:`atomic_write` of ``data``."""
    return atomic_write(path, lambda f: f.write(data))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_manifest(directory: str | os.PathLike) -> dict[str, str]:
    """``{file name: sha256}`` from ``directory/SHA256SUMS`` (the format of ``sha256sum``)."""
    manifest = Path(directory) / MANIFEST
    if not manifest.is_file():
        raise FileNotFoundError(f"manifest {manifest} is missing")
    entries = {}
    for n, line in enumerate(manifest.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or len(parts[0]) != 64:
            raise ValueError(f"{manifest}:{n}: expected '<sha256>  <file>', got {line!r}")
        entries[parts[1].lstrip("*")] = parts[0].lower()
    return entries


def record_sha256(directory: str | os.PathLike, name: str, digest: str) -> Path:
    """Record ``digest`` for the file ``name`` in ``directory/SHA256SUMS`` (created if missing;
    the other entries kept, sorted by name), atomically."""
    directory = Path(directory)
    entries = read_manifest(directory) if (directory / MANIFEST).is_file() else {}
    entries[name] = digest
    text = "".join(f"{h}  {file}\n" for file, h in sorted(entries.items()))
    return atomic_write_bytes(directory / MANIFEST, text.encode())


def display_path(path: str | os.PathLike) -> str:
    """``path`` as a progress line shows it: relative to the working directory when it lies at
    most two folders above it (``runs/x``, ``../runs/x`` from a notebook), else absolute. So
    logs, and the notebook outputs that keep them, do not carry the machine's own directories."""
    path = Path(path).absolute()
    try:
        rel = Path(os.path.relpath(path))
    except ValueError:        # another drive (Windows)
        return str(path)
    return str(rel) if rel.parts[:3].count("..") < 3 else str(path)
