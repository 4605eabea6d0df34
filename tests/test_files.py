"""The one place that writes files (gmgan_lib.files): atomic, ordinary permissions, no leftovers."""
import hashlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from gmgan_lib.files import (MANIFEST, atomic_write, atomic_write_bytes, atomic_write_text,
                             read_manifest, record_sha256)


def test_writes_create_the_folder_and_give_ordinary_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "a" / "b" / "x.json", "{}\n")
    finally:
        os.umask(mask)
    assert path.read_text() == "{}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644          # not mkstemp's 0600
    assert sorted(p.name for p in path.parent.iterdir()) == ["x.json"]


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    path = atomic_write_bytes(tmp_path / "x.bin", b"old")

    def half_then_fail(f):
        f.write(b"ne")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(path, half_then_fail)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.bin"]


def test_every_module_writes_through_here():
    # The other modules hold no temporary-file-then-rename writer of their own.
    from pathlib import Path

    package = Path(__file__).resolve().parents[1] / "gmgan_lib"
    writers = sorted(p.relative_to(package).as_posix() for p in package.rglob("*.py")
                     if "mkstemp(" in p.read_text() or "os.replace(" in p.read_text())
    assert writers == ["files.py"], writers


def test_display_path_is_relative_near_the_working_directory(tmp_path, monkeypatch):
    from gmgan_lib.files import display_path

    deep = tmp_path / "a" / "b" / "c" / "d"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert display_path(deep / "runs" / "x") == str(Path("runs") / "x")
    assert display_path(tmp_path / "a" / "b" / "runs") == str(Path("..") / ".." / "runs")
    far = tmp_path / "elsewhere"            # four folders up: shown in full
    assert display_path(far) == str(far.absolute())


# ------------------------------------------------- issue 28: links, and sha256sum's own format


def test_temporaries_are_new_files_of_ours_and_no_write_follows_a_link(tmp_path, monkeypatch):
    # The temporary is opened O_CREAT | O_EXCL | O_NOFOLLOW (tempfile.mkstemp's flags, checked
    # here in case that ever changes), its permissions set through the descriptor (a name can
    # be swapped for a link between two calls), and a link planted at the target's name is
    # replaced, never written through.
    victim = tmp_path / "victim"
    victim.write_text("someone else's file\n")
    (tmp_path / "metrics.json").symlink_to(victim)
    flags, real_open = [], os.open

    def recording_open(path, flag, *args, **kwargs):
        flags.append((os.fspath(path), flag))
        return real_open(path, flag, *args, **kwargs)

    def no_chmod_by_name(*args, **kwargs):
        raise AssertionError("chmod by name: it would follow a link swapped in for the file")

    monkeypatch.setattr(os, "open", recording_open)
    monkeypatch.setattr(os, "chmod", no_chmod_by_name)
    atomic_write_text(tmp_path / "metrics.json", "{}\n")
    created = [flag for path, flag in flags if path.endswith(".tmp")]
    assert len(created) == 1
    for needed in (os.O_CREAT, os.O_EXCL, os.O_NOFOLLOW):
        assert created[0] & needed
    assert victim.read_text() == "someone else's file\n"
    assert not (tmp_path / "metrics.json").is_symlink()
    assert (tmp_path / "metrics.json").read_text() == "{}\n"


NAMES = ["my ckpt.pt", " leading space.pt", "back\\slash.pt", "new\nline.pt", "carriage\rreturn.pt",
         "star*.pt", "tab\tname.pt", "plain.pt"]


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="needs GNU sha256sum")
@pytest.mark.parametrize("binary", [False, True])
def test_the_manifest_reader_reads_what_sha256sum_writes(tmp_path, binary):
    # Issue 28, item 3: a name with a space was split and its line skipped. Names with spaces,
    # the binary-mode '*', and the names sha256sum escapes (backslash, newline, CR).
    expected = {}
    for i, name in enumerate(NAMES):
        (tmp_path / name).write_bytes(bytes([i]) * 10)
        expected[name] = hashlib.sha256(bytes([i]) * 10).hexdigest()
    lines = subprocess.run(["sha256sum", *(["-b"] if binary else []), "--", *NAMES],
                           cwd=tmp_path, capture_output=True, check=True).stdout
    (tmp_path / MANIFEST).write_bytes(lines)
    assert read_manifest(tmp_path) == expected


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="needs GNU sha256sum")
def test_sha256sum_checks_what_record_sha256_writes(tmp_path):
    for i, name in enumerate(NAMES):
        (tmp_path / name).write_bytes(bytes([i]) * 10)
        record_sha256(tmp_path, name, hashlib.sha256(bytes([i]) * 10).hexdigest())
    subprocess.run(["sha256sum", "--check", "--strict", "--quiet", MANIFEST], cwd=tmp_path,
                   check=True)
    assert set(read_manifest(tmp_path)) == set(NAMES)


@pytest.mark.parametrize("line", [
    "0" * 64 + " my ckpt.pt",          # one space: neither text nor binary mode
    "0" * 63 + "  short.pt",           # not 64 hex digits
    "g" * 64 + "  nothex.pt",
    "0" * 64 + "  ",                    # no name
    "\\" + "0" * 64 + "  bad\\escape.pt",
    "SHA256 (tag.pt) = " + "0" * 64,     # the --tag format
])
def test_a_manifest_line_that_cannot_be_read_is_an_error_naming_it(tmp_path, line):
    (tmp_path / MANIFEST).write_text("a" * 64 + "  fine.pt\n" + line + "\n")
    with pytest.raises(ValueError, match=rf"{MANIFEST}:2: "):
        read_manifest(tmp_path)


def test_a_file_listed_twice_with_two_sums_is_an_error(tmp_path):
    (tmp_path / MANIFEST).write_text("a" * 64 + "  x.pt\n" + "b" * 64 + " *x.pt\n")
    with pytest.raises(ValueError, match="listed twice"):
        read_manifest(tmp_path)


# ------------------------------------------------- issue 28: temporaries' names and leftovers


def test_a_temporary_fits_beside_any_legal_name(tmp_path):
    # Issue 28, item 9: ".NAME.XXXXXXXX.tmp" is 14 bytes longer than NAME, so a legal name of
    # more than 241 bytes could never be written (ENAMETOOLONG).
    names = ["n" * 255, "\u00e9" * 127 + ".", "x" * 241, "x" * 242]     # (é: two bytes)
    for name in names:
        assert atomic_write_text(tmp_path / name, "ok\n").read_text() == "ok\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)   # no temporary left
    from gmgan_lib.files import temporary_stem

    for name in names:
        assert len(os.fsencode(f".{temporary_stem(name, tmp_path)}.abcdefgh.tmp")) <= 255
    assert temporary_stem("x" * 241, tmp_path) == "x" * 241               # readable when it fits
    assert temporary_stem("x" * 242, tmp_path) != temporary_stem("x" * 243, tmp_path)


SLOW_WRITER = """
import sys, time
from gmgan_lib.files import atomic_write

def slow(f):
    f.write(b"x" * 100_000)
    f.flush()
    print("writing", flush=True)
    time.sleep(120)

atomic_write(sys.argv[1], slow)
"""


def test_the_next_write_removes_a_killed_writers_temporary_never_a_live_ones(tmp_path):
    # Issue 28, item 11: a killed `sample` left a multi-MB temporary that nothing removed. A
    # writer holds an flock on its temporary: the next write of the same file removes the
    # temporaries whose lock is free (and that are not brand new), nothing else.
    import sys
    import time

    script, target = tmp_path / "writer.py", tmp_path / "grid.png"
    script.write_text(SLOW_WRITER)
    long_ago = time.time() - 3600
    proc = subprocess.Popen([sys.executable, str(script), str(target)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        (temporary,) = tmp_path.glob(".grid.png.*.tmp")
        os.utime(temporary, (long_ago, long_ago))    # old: only its lock says it is alive
        atomic_write_bytes(target, b"other")
        assert temporary.exists()                    # a live writer's temporary stays
    finally:
        proc.kill()
        proc.wait(timeout=30)
    young, folder = tmp_path / ".grid.png.y0ung000.tmp", tmp_path / ".grid.png.f0lder00.tmp"
    young.write_bytes(b"")
    folder.mkdir()
    os.utime(folder, (long_ago, long_ago))
    atomic_write_bytes(target, b"new")
    assert not temporary.exists() and target.read_bytes() == b"new"
    assert young.exists() and folder.is_dir()        # a writer about to lock it; not ours
