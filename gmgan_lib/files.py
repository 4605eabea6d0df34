"""Whole files this library writes go through here: written atomically, with ordinary permissions.

``atomic_write(path, write)`` calls ``write(f)`` on a temporary file in the target's folder
(``.<name>.XXXXXXXX.tmp``; for a name too long to take that suffix, ``.<its first 200
bytes>~<hash>.XXXXXXXX.tmp``, so that every legal target name has a temporary that fits),
flushes and ``fsync``-s it, gives it the permissions a plain ``open`` would (``0666 & ~umask``;
``mkstemp`` makes ``0600``), renames it over the target with :func:`os.replace` (atomic on POSIX
and Windows) and ``fsync``-s the folder, so that the rename itself survives a power cut. A
process killed at any moment leaves either the previous complete file or the new complete file,
never half of one; a failed ``write`` removes the temporary file. After a SIGKILL the temporary
stays, under its temporary name, until the next write of the same file removes it (a writer
holds an ``flock`` on its temporary, so only the temporaries of dead writers are removed); the
next training run in a folder removes those of the run's files too. An ``OSError`` of a write
(disk full, permission denied) names the target file, not the temporary. Checkpoints
(:mod:`gmgan_lib.checkpoint`), config.json, the rewritten metrics.csv, sample grids,
classifiers, manifests, evaluation reports and copied datasets all use it. Not here: the rows a
running training appends to metrics.csv (a torn last row is dropped on resume) and the run
directory's ``.lock``.
"""
from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import tempfile
import time
from pathlib import Path
from collections.abc import Callable

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text", "ensure_writable_folder",
           "temporary_stem", "is_temporary_of", "remove_stale_temporaries",
           "MANIFEST", "sha256_bytes", "read_manifest", "parse_manifest_line", "manifest_line",
           "record_sha256"]

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


# The temporaries of atomic_write: ".<stem>.<mkstemp's 8 random characters>.tmp".
_TEMPORARY_EXTRA = len("..") + 8 + len(".tmp")
_HASH_MARK = 17            # "~" and 16 hex digits of the name's sha256
STALE_SECONDS = 60.0       # a temporary younger than this may be a writer's that is not locked yet


def _name_max(directory: Path) -> int:
    """The longest file name (in bytes) the file system of ``directory`` takes (255 almost
    everywhere; less on a few, such as eCryptfs)."""
    try:
        return int(os.pathconf(directory, "PC_NAME_MAX"))
    except (AttributeError, OSError, ValueError):    # Windows, or a folder not made yet
        return 255


def temporary_stem(name: str, directory: str | os.PathLike = ".") -> str:
    """What a temporary of the file ``name`` is called between its dot and its random part:
    ``name`` itself when ``.<name>.XXXXXXXX.tmp`` fits in one file name, else the first bytes of
    ``name``, ``~`` and 16 hex digits of its sha256. A legal 250-character name (``sample --out``)
    must be writable too, and 14 more characters would exceed the 255 bytes of a name."""
    raw = os.fsencode(name)
    most = _name_max(Path(directory)) - _TEMPORARY_EXTRA
    if len(raw) <= most:
        return name
    # (A cut inside a UTF-8 character decodes to surrogate escapes, which encode back to the
    # same bytes: the temporary's name is still exactly those bytes.)
    return os.fsdecode(raw[:max(1, most - _HASH_MARK)]) + "~" + hashlib.sha256(raw).hexdigest()[:16]


def is_temporary_of(entry: str, stem: str) -> bool:
    """Whether the file name ``entry`` is a temporary of :func:`atomic_write` with ``stem``."""
    return re.fullmatch(rf"\.{re.escape(stem)}\.[a-z0-9_]{{8}}\.tmp", entry) is not None


def _in_use(path: str) -> bool:
    """Whether a live writer holds ``path``, a temporary (:func:`atomic_write` keeps an ``flock``
    on its temporary until the rename; the lock dies with its process)."""
    try:
        import fcntl
    except ImportError:       # Windows: no flock, and an open file cannot be removed there anyway
        return False
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return True           # cannot look: leave it alone
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)          # (and with it our lock)
    return False


def remove_stale_temporaries(directory: str | os.PathLike, owned: Callable[[str], bool],
                             older_than: float = STALE_SECONDS) -> list[str]:
    """Remove the regular files of ``directory`` whose names ``owned`` accepts and that no live
    writer holds: the temporaries a killed write left. Returns their names.

    A temporary is removed only when its ``flock`` is free (its writer died) and it was last
    written ``older_than`` seconds ago or more (a writer between creating its temporary and
    locking it, a matter of microseconds, is never taken for a dead one; a caller that holds the
    folder's lock, as a training run does, passes 0). Directories, links, FIFOs and the like are
    never ours (atomic_write makes none): they are left where they are."""
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return []
    removed = []
    now = time.time()
    for entry in entries:
        try:
            if (not owned(entry.name) or not entry.is_file(follow_symlinks=False)
                    or now - entry.stat(follow_symlinks=False).st_mtime < older_than
                    or _in_use(entry.path)):
                continue
            os.unlink(entry.path)
        except OSError:       # gone meanwhile, or not ours to remove: not this write's business
            continue
        removed.append(entry.name)
    return removed


def _lock_temporary(fd: int) -> None:
    """``flock`` the temporary for the life of the write: a later write of the same file then
    knows it is alive (:func:`remove_stale_temporaries`)."""
    try:
        import fcntl
    except ImportError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:           # a file system without locks (ENOLCK): the age rule still holds
        pass


def _naming(err: OSError, path: Path) -> OSError:
    """``err`` as an OSError naming ``path`` (the target), not the temporary or nothing: what a
    disk-full error says is which file could not be written."""
    return OSError(err.errno, err.strerror, os.fspath(path))


def atomic_write(path: str | os.PathLike, write: Callable[[io.BufferedWriter], None]) -> Path:
    """Call ``write(f)`` on a temporary file beside ``path``, then atomically rename it to ``path``.

    If ``write`` raises (or the process dies), ``path`` is untouched and the temporary file is
    removed (or, after a SIGKILL, left behind as ``.<stem>.XXXXXXXX.tmp``, never under the real
    name, until the next write of ``path`` removes it). An OSError names ``path``.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    stem = temporary_stem(path.name, directory)
    # A killed write of this file left its temporary (multi-MB for a checkpoint or a grid):
    # removed here, by the next write of the same file, since no other command would.
    remove_stale_temporaries(directory, lambda entry: is_temporary_of(entry, stem))
    try:
        # mkstemp opens with O_CREAT | O_EXCL | O_NOFOLLOW: the temporary is always a new file
        # of ours, never something planted under its name (a link to another file is not followed).
        fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=".tmp", dir=directory)
    except OSError as err:
        raise _naming(err, path) from err
    try:
        _lock_temporary(fd)
        # mkstemp makes 0600; give the file ordinary permissions. Through the descriptor, not the
        # name: a name can be swapped for a link between two calls, the open file cannot.
        mode = 0o666 & ~_umask()
        os.fchmod(fd, mode) if hasattr(os, "fchmod") else os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        # (The close released the temporary's lock; its age keeps it from being taken for a
        # dead writer's until the rename.)
        os.replace(tmp, path)
    except BaseException as err:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(err, OSError) and err.errno is not None:
            raise _naming(err, path) from err
        raise
    _fsync_directory(directory)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write` for a UTF-8 text file (config.json, metrics.json, metrics.csv)."""
    data = text.encode("utf-8")
    return atomic_write(path, lambda f: f.write(data))


def ensure_writable_folder(directory: str | os.PathLike, flag: str = "--out",
                           create: bool = True) -> Path:
    """Make sure files can be written in ``directory``, creating it if needed (``create=False``:
    only check that it could be created, which the write at the end of the work then does, so
    that a command that fails on the way leaves no empty folder behind). Called before the work,
    so that a bad ``flag`` fails in a second with one line (a ValueError naming it), not after
    minutes of computation."""
    directory = Path(directory)
    if not create:
        _check_creatable(directory, flag)
        return directory
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"{flag}: cannot create the folder {directory} ({err.strerror})") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ValueError(f"{flag}: cannot write into {directory}")
    return directory


def _check_creatable(directory: Path, flag: str) -> None:
    """What ``mkdir -p directory`` and a write there would meet, without creating anything:
    the nearest folder that exists must be a folder, and writable."""
    existing = directory
    try:
        while not os.path.lexists(existing) and existing != existing.parent:
            existing = existing.parent
        if os.path.lexists(existing) and not existing.is_dir():
            raise ValueError(f"{flag}: cannot create the folder {directory} "
                             f"({os.strerror(errno.ENOTDIR)}: {existing} is a file)")
    except OSError as err:      # a name too long, a loop of links
        raise ValueError(f"{flag}: cannot create the folder {directory} ({err.strerror})") from None
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{flag}: cannot write into {existing}")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """:func:`atomic_write` of ``data``."""
    return atomic_write(path, lambda f: f.write(data))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# sha256sum's escapes of a name (after a backslash) and the digits of a digest.
_UNESCAPE = {"\\": "\\", "n": "\n", "r": "\r"}
_HEX = frozenset("0123456789abcdefABCDEF")


def _unescape_name(name: str, where: str) -> str:
    """A file name as GNU ``sha256sum`` escapes it on a line that starts with a backslash:
    ``\\\\`` for a backslash, ``\\n`` for a newline, ``\\r`` for a carriage return."""
    out, i = [], 0
    while i < len(name):
        if name[i] != "\\":
            out.append(name[i])
            i += 1
            continue
        code = name[i + 1:i + 2]
        if code not in _UNESCAPE:
            raise ValueError(f"{where}: unknown escape '\\{code}' in the file name "
                             f"(sha256sum writes only \\\\, \\n and \\r)")
        out.append(_UNESCAPE[code])
        i += 2
    return "".join(out)


def parse_manifest_line(line: str, where: str) -> tuple[str, str] | None:
    """``(file name, sha256)`` of one line of ``sha256sum`` output, ``None`` for a blank line.

    The exact format GNU ``sha256sum`` writes and ``sha256sum --check`` reads: 64 hex digits,
    then two spaces (text mode) or a space and ``*`` (binary mode), then the name *as is*
    (spaces included, never split); a name holding a backslash, newline or carriage return is
    escaped and its line starts with a backslash. Anything else is a ValueError naming
    ``where`` (``file:line``): a line that cannot be read must never be skipped, or a listed
    file would go unchecked."""
    if not line.strip() or line.startswith("#"):   # sha256sum --check skips comments too
        return None
    escaped = line.startswith("\\")
    body = line[1:] if escaped else line
    digest, sep, name = body[:64], body[64:66], body[66:]
    if len(digest) != 64 or not _HEX.issuperset(digest) or sep not in ("  ", " *") or not name:
        raise ValueError(f"{where}: expected '<sha256>  <file>' or '<sha256> *<file>' (the "
                         f"format of sha256sum), got {line[:120]!r}")
    return (_unescape_name(name, where) if escaped else name), digest.lower()


def manifest_line(name: str, digest: str) -> str:
    """The line ``sha256sum`` writes for ``name`` (escaped as it escapes it), with newline."""
    if any(c in name for c in "\\\n\r"):
        name = name.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
        return f"\\{digest}  {name}\n"
    return f"{digest}  {name}\n"


def read_manifest(directory: str | os.PathLike) -> dict[str, str]:
    """``{file name: sha256}`` from ``directory/SHA256SUMS``, in the format of ``sha256sum``
    (:func:`parse_manifest_line`): the one reader of manifests in this library. A line it
    cannot read, or a file listed twice with two different sums, is a ValueError naming the
    line; a missing manifest is a FileNotFoundError."""
    manifest = Path(directory) / MANIFEST
    if not manifest.is_file():
        raise FileNotFoundError(f"manifest {manifest} is missing")
    # Bytes split on "\n" only (str.splitlines would also split on the form feeds and other
    # separators a name may hold); names decoded as the file system does (os.fsdecode), so
    # they compare equal to Path names. A "\r" before the newline is dropped, as
    # sha256sum --check does (a manifest saved on Windows).
    entries: dict[str, str] = {}
    for n, raw in enumerate(manifest.read_bytes().split(b"\n"), 1):
        parsed = parse_manifest_line(os.fsdecode(raw.removesuffix(b"\r")), f"{manifest}:{n}")
        if parsed is None:
            continue
        name, digest = parsed
        if entries.get(name, digest) != digest:
            raise ValueError(f"{manifest}:{n}: {name!r} is listed twice with different sha256")
        entries[name] = digest
    return entries


def record_sha256(directory: str | os.PathLike, name: str, digest: str) -> Path:
    """Record ``digest`` for the file ``name`` in ``directory/SHA256SUMS`` (created if missing;
    the other entries kept, sorted by name), atomically, in ``sha256sum``'s format."""
    directory = Path(directory)
    entries = read_manifest(directory) if (directory / MANIFEST).is_file() else {}
    entries[name] = digest
    text = "".join(manifest_line(file, h) for file, h in sorted(entries.items()))
    return atomic_write_bytes(directory / MANIFEST, os.fsencode(text))


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
