"""The results folder: trials.csv written and read here only, with the `csv` module; the folder's
lock; the state file a resumed sweep must match.

Each run's row is one line, written with one `write` as the run ends, so only the last line can
be cut short (a crash, a full disk). Reading back checks every cell against the sweep: a row that
is not whole or not this sweep's is dropped, the file is rewritten without it, and the run is done
again; a run's latest row is its result, so no run is ever counted twice. See docs/commands/sweep.md.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nnctl.errors import UsageError, WriteError
from nnctl.io import jsonio

STATUSES = ("ok", "diverged", "error", "stopped")


def run_key(row: dict) -> tuple[int, int, int]:
    """A run's identity: (trial, repeat, fold); fold 0 when the sweep has no folds."""
    return row["trial"], row["repeat"], row.get("fold") or 0


@dataclass
class Layout:
    """What a row of this sweep holds: the parameter keys (`seed` has its own column), the final
    metrics, the folds and repeats, and a check of a parameter's value against its space."""

    keys: list[str]
    metric_columns: list[str]
    repeats: int
    folds: int | None
    base_seed: int
    seed_swept: bool
    value_ok: Callable[[str, object], bool]

    @property
    def columns(self) -> list[str]:
        return ["trial", "repeat", *(["fold"] if self.folds else []), "seed", "status", *self.keys, "epochs",
                "seconds", *self.metric_columns, "message"]


def _int(text: str, low: int = 0, high: float = math.inf) -> int:
    value = int(text)
    if not low <= value < high:
        raise ValueError(f"{value} out of range")
    return value


def _float_or_none(text: str) -> float | None:
    return None if text == "" else float(text)


def parse_row(cells: list[str], layout: Layout) -> dict:
    """One trials.csv row as a run's row; ValueError when any cell is not what this sweep writes."""
    from nnctl.io.yamlio import parse_scalar

    if len(cells) != len(layout.columns):
        raise ValueError(f"{len(cells)} cells, expected {len(layout.columns)}")
    c = dict(zip(layout.columns, cells, strict=True))
    row = {"trial": _int(c["trial"]), "repeat": _int(c["repeat"], 0, layout.repeats),
           "fold": _int(c["fold"], 0, layout.folds) if layout.folds else None,
           "seed": _int(c["seed"], 0, 2**63), "status": c["status"], "params": {}, "message": c["message"]}
    if row["status"] not in STATUSES:
        raise ValueError(f"status {row['status']!r}")
    for key in layout.keys:
        value = parse_scalar(c[key], key)
        if not layout.value_ok(key, value):
            raise ValueError(f"{key} {value!r} is not in this sweep's space")
        row["params"][key] = value
    if layout.seed_swept:
        row["params"]["seed"] = row["seed"] - row["repeat"]
        if not layout.value_ok("seed", row["params"]["seed"]):
            raise ValueError("seed is not in this sweep's space")
    elif row["seed"] != layout.base_seed + row["repeat"]:
        raise ValueError(f"seed {row['seed']} is not seed + repeat")
    row["epochs"] = None if c["epochs"] == "" else _int(c["epochs"])
    row["seconds"] = _float_or_none(c["seconds"])
    row["metrics"] = {k: float(c[k]) for k in layout.metric_columns if c[k] != ""}
    if row["status"] in ("ok", "stopped") and (row["epochs"] is None or not row["metrics"]):
        raise ValueError("a finished run without its epochs or metrics")
    return row


def format_row(row: dict, layout: Layout) -> str:
    """The row as one line of CSV, newline included."""
    from nnctl.io.yamlio import dump_yaml

    def cell(v):
        if v is None:
            return ""
        return repr(float(v)) if isinstance(v, float) else str(v)

    finished = row["status"] in ("ok", "stopped")
    values = [row["trial"], row["repeat"], *([row["fold"]] if layout.folds else []), row["seed"], row["status"],
              *(dump_yaml(row["params"][k], flow=True).strip().removesuffix("...").strip() for k in layout.keys),
              cell(row["epochs"]), cell(row["seconds"]),
              *(cell(row["metrics"].get(k)) if finished else "" for k in layout.metric_columns),
              " ".join(str(row["message"]).split())]  # one physical line per row
    return _line(values)


def read_rows(text: str, layout: Layout) -> tuple[dict[tuple, dict], int]:
    """The runs in trials.csv's text (the header checked), each run's latest row; and how many
    lines were dropped (cut short, or not this sweep's)."""
    lines = text.split("\n")
    if csv_cells(lines[0]) != layout.columns:
        raise ValueError("its columns differ from this sweep's")
    rows: dict[tuple, dict] = {}
    dropped = 0
    tail = lines[-1]  # "" when the file ends with a newline, else a row cut short
    for line in lines[1:-1]:
        try:
            row = parse_row(csv_cells(line), layout)
        except Exception:  # noqa: BLE001 - any bad cell drops the row
            dropped += 1
            continue
        key = run_key(row)
        if key in rows:
            dropped += 1
            del rows[key]  # the later row is the run's result (--restart-errored)
        rows[key] = row
    return rows, dropped + (tail != "")


def csv_cells(line: str) -> list[str]:
    return next(csv.reader([line]), [])


class FolderLock:
    """An advisory lock on DIR/.lock holding the sweep's pid: a second sweep on the folder is
    refused while this process lives; the kernel drops the lock when it dies, however it dies."""

    def __init__(self, folder: Path):
        self.path = folder / ".lock"
        self.fd: int | None = None
        self.created = False

    def acquire(self) -> None:
        self.created = not self.path.exists()
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise WriteError(f"cannot create it: {exc.strerror}", source=str(self.path)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                other = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            finally:
                os.close(fd)
            raise UsageError(f"is in use by another sweep (pid {other}); wait for it to end, or choose another "
                             "--out", source=str(self.path.parent)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        _HELD.add(fd)

    def release(self, remove: bool = False) -> None:
        if self.fd is not None:
            _HELD.discard(self.fd)
            if remove and self.created:
                self.path.unlink(missing_ok=True)
            os.close(self.fd)
            self.fd = None


_HELD: set[int] = set()


def _close_held_in_child() -> None:
    """A forked worker must not hold its sweep's lock beyond the sweep."""
    for fd in list(_HELD):
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD.clear()


os.register_at_fork(after_in_child=_close_held_in_child)


class Results:
    """trials.csv as runs finish, and what is in it: `rows` by run key, in the order written."""

    def __init__(self, folder: Path, layout: Layout):
        self.folder, self.layout = folder, layout
        self.rows: dict[tuple, dict] = {}
        self.lock = FolderLock(folder)
        self.made_folder = False
        self._fd: int | None = None
        self._rewrite = False
        self._runs_made = False

    @property
    def path(self) -> Path:
        return self.folder / "trials.csv"

    @property
    def state(self) -> Path:
        return self.folder / "sweep.json"

    def check(self, resume: bool, resolved: dict, restart_errored: bool = False) -> None:
        """Before the backend starts: an existing folder is locked and checked (and read, on
        --resume); nothing is created yet."""
        from nnctl.config.diff import first_difference

        if self.folder.exists() and not self.folder.is_dir():
            raise UsageError("is not a folder; --out names the sweep's results folder", source=str(self.folder))
        if not self.folder.exists():
            return
        self.lock.acquire()
        try:
            if self.path.exists() and not resume:
                raise UsageError(f"already holds a sweep ({self.path.name}); pass --resume to continue it, or "
                                 "choose another --out", source=str(self.folder))
            if resume and self.path.exists():
                try:
                    before = json.loads(self.state.read_text())
                except (OSError, ValueError):
                    raise UsageError(f"{self.state.name} is missing or unreadable; cannot check that this is the "
                                     "same sweep", source=str(self.folder)) from None
                diff = first_difference(before, resolved)
                if diff:
                    raise UsageError(f"--resume: the config differs from the sweep in this folder at {diff}; "
                                     "resume with the same config, or choose another --out", source=str(self.folder))
                self._read(restart_errored)
        except BaseException:
            self.lock.release(remove=True)
            raise

    def _read(self, restart_errored: bool) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
            self.rows, dropped = read_rows(text, self.layout)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise UsageError(f"{self.path.name}: {exc}; resume with the same config", source=str(self.folder)) from None
        if restart_errored:
            errored = [k for k, r in self.rows.items() if r["status"] == "error"]
            for k in errored:
                del self.rows[k]
            dropped += len(errored)
        self._rewrite = dropped > 0

    def open(self, resolved: dict) -> None:
        """Create the folder (or reuse the checked one), take its lock, write the state file, and
        trials.csv's header or its checked rows."""
        from nnctl.io.files import atomic_write, check_writable

        if self.lock.fd is None:
            self.made_folder = not self.folder.exists()
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise WriteError(f"cannot create the results folder: {exc.strerror}", source=str(self.folder)) from None
            self.lock.acquire()
            if self.path.exists():  # another sweep made it between our check and now
                self.abandon()
                raise UsageError(f"already holds a sweep ({self.path.name}); pass --resume to continue it",
                                 source=str(self.folder))
        check_writable(self.path)
        atomic_write(self.state, lambda fh: fh.write(jsonio.dumps_private(resolved, sort_keys=True, indent=1).encode()))
        if self._rewrite or not self.path.exists():
            body = _line(self.layout.columns)
            body += "".join(format_row(r, self.layout) for r in self.rows.values())
            atomic_write(self.path, lambda fh: fh.write(body.encode()))
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        except OSError as exc:
            raise WriteError(f"cannot open it: {exc.strerror}", source=str(self.path)) from None

    def abandon(self) -> None:
        """Undo what this sweep created, after a failure before its first run."""
        self.lock.release(remove=True)
        if self.made_folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def add(self, row: dict) -> None:
        """Write the run's history to runs/, then append its row in one write: a sweep stopped at
        any moment keeps every finished run. A failed write is cut back off, so the file holds
        whole rows only; WriteError (exit 2)."""
        epochs = row.pop("history", None)
        if epochs is not None:
            self._history(row, epochs)
        data = format_row(row, self.layout).encode()
        size = os.fstat(self._fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            try:
                os.ftruncate(self._fd, size)
            except OSError:
                pass  # --resume drops a row cut short
            raise WriteError(f"cannot write it: {exc.strerror or exc}; the runs before are kept (--resume "
                             "continues)", source=str(self.path)) from None
        self.rows[run_key(row)] = row

    def _history(self, row: dict, epochs: list[list]) -> None:
        """runs/<trial>-<repeat>[-<fold>].csv: the run's epochs, as --metrics-csv writes them. A plain
        write (no fsync): a file cut short by a crash belongs to a run whose row is not written
        yet, and the run done again rewrites it."""
        folder = self.folder / "runs"
        if not self._runs_made:
            folder.mkdir(exist_ok=True)
            self._runs_made = True
        name = f"{row['trial']}-{row['repeat']}" + (f"-{row['fold']}" if row.get("fold") is not None else "")

        def cell(v):
            return "" if v is None else (repr(float(v)) if isinstance(v, float) else str(v))

        text = epochs and _line(epochs[0]) + "".join(_line([cell(v) for v in r]) for r in epochs[1:])
        try:
            (folder / f"{name}.csv").write_text(text, encoding="utf-8")
        except OSError as exc:
            raise WriteError(f"cannot write it: {exc.strerror or exc}; the runs before are kept (--resume "
                             "continues)", source=str(folder / f"{name}.csv")) from None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.lock.release()


def _line(cells: list) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(cells)
    return out.getvalue()
