"""nnctl.io.files: outputs checked before any work, replaced whole."""

from __future__ import annotations

import os
import resource
import stat
import subprocess
import textwrap

import numpy as np
import pytest

from nnctl.errors import WriteError
from nnctl.io import files

from ..conftest import NNCTL, XOR, one_error, run_nnctl


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


def test_a_file_size_limit_is_one_line_exit_2_and_nothing_half_written(tmp_path):
    (tmp_path / "c.yaml").write_text(textwrap.dedent(XOR))
    (tmp_path / "m.npz").write_bytes(b"yesterday's model")
    r = subprocess.run([*NNCTL, "train", "c.yaml", "-o", "m.npz"], cwd=tmp_path, capture_output=True, text=True,
                       preexec_fn=_with_fsize_limit(2000))
    one_error(r, "m.npz", "File too large")
    assert (tmp_path / "m.npz").read_bytes() == b"yesterday's model"
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_outputs_that_are_not_regular_files_are_refused_before_any_work(tmp_path):
    (tmp_path / "c.yaml").write_text(textwrap.dedent(XOR))
    r = run_nnctl(["train", "c.yaml", "-o", "/dev/null"], tmp_path)
    one_error(r, "/dev/null", "character device")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    os.mkfifo(tmp_path / "fifo")
    one_error(run_nnctl(["train", "c.yaml", "-o", "fifo"], tmp_path), "FIFO")
    assert run_nnctl(["train", "c.yaml", "-q", "-o", "m.npz"], tmp_path).returncode == 0
    one_error(run_nnctl(["predict", "m.npz", "-", "--output", "fifo"], tmp_path, input="x1,x2\n0,1\n"), "FIFO")
    (tmp_path / "dir.npz").mkdir()
    one_error(run_nnctl(["train", "c.yaml", "-o", "dir.npz"], tmp_path), "is a folder")


def test_a_symlinked_output_replaces_its_target_and_keeps_the_link(tmp_path):
    (tmp_path / "c.yaml").write_text(textwrap.dedent(XOR))
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "real.npz").write_bytes(b"old")
    os.symlink("store/real.npz", tmp_path / "link.npz")
    assert run_nnctl(["train", "c.yaml", "-q", "-o", "link.npz"], tmp_path).returncode == 0
    assert (tmp_path / "link.npz").is_symlink()
    assert np.load(tmp_path / "store" / "real.npz")["W0"].shape == (2, 4)
    assert sorted(os.listdir(tmp_path / "store")) == ["real.npz"]


def _with_fsize_limit(limit):
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply
