"""The one place that writes files (gmgan_lib.files): atomic, ordinary permissions, no leftovers."""
import os
import stat
from pathlib import Path

import pytest

from gmgan_lib.files import atomic_write, atomic_write_bytes, atomic_write_text


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
