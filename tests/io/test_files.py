"""nnctl.io.files: outputs checked before any work, replaced whole."""

from __future__ import annotations

import os

import pytest

from nnctl.errors import WriteError
from nnctl.io import files


def test_atomic_write_leaves_no_temporary_file(tmp_path):
    def boom(fh):
        fh.write(b"half")
        raise KeyboardInterrupt

    (tmp_path / "keep.npz").write_bytes(b"old")
    try:
        files.atomic_write(tmp_path / "keep.npz", boom)
    except KeyboardInterrupt:
        pass
    assert (tmp_path / "keep.npz").read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["keep.npz"]


def test_a_folder_or_a_missing_parent_is_refused_before_any_work(tmp_path):
    with pytest.raises(WriteError, match="is a folder"):
        files.check_writable(tmp_path)
    with pytest.raises(WriteError, match="does not exist"):
        files.check_writable(tmp_path / "nope" / "m.npz")
    assert files.check_writable(tmp_path / "m.npz") == tmp_path / "m.npz"


def test_a_symlinked_output_is_written_through_to_its_target(tmp_path):
    (tmp_path / "real.txt").write_bytes(b"old")
    (tmp_path / "link.txt").symlink_to(tmp_path / "real.txt")
    files.atomic_write(tmp_path / "link.txt", lambda fh: fh.write(b"new"))
    assert (tmp_path / "link.txt").is_symlink()
    assert (tmp_path / "real.txt").read_bytes() == b"new"
