"""Each run's history in a sweep's folder: `runs/<trial>-<repeat>.csv`, the columns that
`train --metrics-csv` writes (epoch, loss, val_loss, lr, the metrics, …), one row per kept epoch;
an empty cell where that epoch has no such number. `nnctl report SWEEP_DIR` draws them
(nnctl/pages/sweep.py reads them)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

FOLDER = "runs"


def path(folder: Path, trial: int, repeat: int) -> Path:
    return Path(folder) / FOLDER / f"{trial}-{repeat}.csv"


def write(folder: Path, trial: int, repeat: int, columns: dict[str, list]) -> None:
    """Write one run's history (atomically: a stopped sweep leaves whole files or none)."""
    from nnctl.io.modelfile import atomic_write

    def cell(v):
        if v is None:
            return ""
        return str(v) if isinstance(v, int) else repr(float(v))

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(list(columns))
    writer.writerows(zip(*(map(cell, values) for values in columns.values()), strict=True))
    target = path(folder, trial, repeat)
    target.parent.mkdir(exist_ok=True)
    data = buf.getvalue().encode("utf-8")
    atomic_write(target, lambda fh: fh.write(data))
