"""Writing files safely: fail before any work when an output cannot be written, and replace a
file whole (a reader sees the old file or the new one, never half of one). Every file nnctl
writes (models, checkpoints, plots, ONNX, configs, sweep results) goes through here."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from nnctl.errors import WriteError


def check_writable(path: str | Path) -> Path:
    """Fail before any work when the output cannot be written: a missing or non-folder parent,
    no permission, or an existing path that is not a regular file (a folder, a device such as
    /dev/null, a FIFO, a socket), which a rename would replace. A symlink is judged by its target."""
    p = resolve_output(path)
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise WriteError("is a folder; expected a file path", source=str(path))
    if p.exists() and not stat.S_ISREG(p.stat().st_mode):
        kind = _kind(p.stat().st_mode)
        raise WriteError(f"is {kind}, not a regular file; nnctl replaces its output files whole, so it "
                         "writes only to regular files (give a file path)", source=str(path))
    if not parent.exists():
        raise WriteError(f"the folder {str(parent)!r} does not exist", source=str(path))
    if not parent.is_dir():
        raise WriteError(f"{str(parent)!r} is not a folder", source=str(path))
    if not _writable(parent) or (p.exists() and not _writable(p)):
        raise WriteError("no permission to write here", source=str(path))
    return p


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def resolve_output(path: str | Path) -> Path:
    """Where an output really goes: a symlink's target (the link itself is kept), else the path."""
    p = Path(path)
    return Path(os.path.realpath(p)) if p.is_symlink() else p


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK | (os.X_OK if path.is_dir() else 0))


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> None:
    """Write a file through `write(fh)` into a temporary file in the same folder, fsync, then
    rename: a reader sees the old file or the new one, never half of one; the temporary file is
    removed on any exit, Ctrl-C included."""
    p = resolve_output(path)
    if p.exists() and not stat.S_ISREG(p.stat().st_mode):
        check_writable(path)  # raises, naming what the path is
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, p)
    except BaseException as exc:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        if isinstance(exc, OSError):
            reason = exc.strerror or type(exc).__name__
            raise WriteError(f"cannot write it: {reason}; a previous file there is untouched",
                             source=str(path)) from None
        raise
    try:  # make the rename itself durable
        dfd = os.open(p.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
