"""A run's per-epoch numbers: EpochRecord, the bounded History, and the columns a checkpoint
and the model file keep of it."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

_NO_METRICS: Mapping[str, float] = MappingProxyType({})  # the epochs that computed no metrics share it


class EpochRecord:
    """One epoch's numbers. A plain slotted class: the fastest loops make one per few microseconds."""

    __slots__ = ("diag", "epoch", "loss", "lr", "metrics", "val_loss", "val_metrics")

    def __init__(self, epoch: int, loss: float, lr: float, metrics: Mapping[str, float] = _NO_METRICS,
                 val_loss: float | None = None, val_metrics: Mapping[str, float] | None = None,
                 diag: Mapping[str, float] | None = None):
        self.epoch, self.loss, self.lr = epoch, loss, lr
        self.metrics, self.val_loss, self.val_metrics = metrics, val_loss, val_metrics
        self.diag = diag  # train.diagnostics: w_norm_<i>, g_norm_<i>, dead_<i>

    def __repr__(self) -> str:
        return f"EpochRecord({self.as_dict()})"

    def as_dict(self) -> dict:
        return {"epoch": self.epoch, "loss": self.loss, "val_loss": self.val_loss, "lr": self.lr,
                "metrics": dict(self.metrics), "val_metrics": self.val_metrics, "diag": self.diag}


HISTORY_CAP = 4096  # epoch records a run keeps, in memory, in checkpoints and in the model file


class History:
    """The epoch records a run keeps, bounded: every epoch while there are at most HISTORY_CAP;
    past that, every `stride`-th epoch (1, 1 + s, 1 + 2s, …; s doubles each time the cap is
    reached) and the newest. The rule depends only on the epoch numbers, so an interrupted and
    resumed run keeps the same records as one that ran straight through."""

    __slots__ = ("_cache", "records", "stride")

    def __init__(self, records=(), stride: int = 1):
        self.records: list[EpochRecord] = list(records)
        self.stride = stride
        self._cache: tuple | None = None  # (stride, count, columns) of records[:count], see columns()

    def columns(self, names: list[str], diag: list[str] = ()) -> dict[str, np.ndarray]:
        """The records as numeric columns (what a checkpoint stores): `epoch`, `loss`, `lr`,
        `val_loss`, the masks `has_val`, `has_metrics`, `has_val_metrics`, `has_diag`, `m<i>`/`vm<i>`
        for metric i and `d<i>` for diagnostic i. A missing number is NaN beside its mask. Only
        records added since the last call are converted (every record but the newest stays until
        the stride doubles), so a checkpoint every few epochs costs O(new records), not O(history)."""
        stable = len(self.records) - 1
        cache = self._cache
        if cache is None or cache[0] != self.stride or cache[1] > stable:
            cache = (self.stride, 0, _columns([], names, diag))
        _, done, cols = cache
        fresh = _columns(self.records[done:stable], names, diag)
        cols = {k: np.concatenate([cols[k], fresh[k]]) for k in cols}
        self._cache = (self.stride, stable, cols)
        newest = _columns(self.records[stable:], names, diag)
        return {k: np.concatenate([cols[k], newest[k]]) for k in cols}

    def append(self, record: EpochRecord) -> None:
        records = self.records
        if records and (records[-1].epoch - 1) % self.stride:
            records.pop()  # kept only while it was the newest
        records.append(record)
        if len(records) > HISTORY_CAP:
            self.stride *= 2
            s = self.stride
            kept = [r for r in records if (r.epoch - 1) % s == 0]
            if (record.epoch - 1) % s:
                kept.append(record)
            self.records = kept

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    def __getitem__(self, i):
        return self.records[i]

    def __bool__(self) -> bool:
        return bool(self.records)


def _columns(records: list[EpochRecord], names: list[str], diag=()) -> dict[str, np.ndarray]:
    def column(values):
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

    out = {"epoch": np.array([r.epoch for r in records], dtype=np.int64),
           "loss": column(r.loss for r in records), "lr": column(r.lr for r in records),
           "val_loss": column(r.val_loss for r in records),
           "has_val": np.array([r.val_loss is not None for r in records], dtype=bool),
           "has_metrics": np.array([bool(r.metrics) for r in records], dtype=bool),
           "has_val_metrics": np.array([r.val_metrics is not None for r in records], dtype=bool),
           "has_diag": np.array([r.diag is not None for r in records], dtype=bool)}
    for i, n in enumerate(names):
        out[f"m{i}"] = column(r.metrics.get(n) for r in records)
        out[f"vm{i}"] = column((r.val_metrics or {}).get(n) for r in records)
    for i, n in enumerate(diag):
        out[f"d{i}"] = column((r.diag or {}).get(n) for r in records)
    return out


def records_from_columns(cols: dict[str, np.ndarray], names: list[str], diag=()) -> list[EpochRecord]:
    """The inverse of History.columns."""
    c = {k: v.tolist() for k, v in cols.items()}
    out = []
    for j, epoch in enumerate(c["epoch"]):
        metrics = {n: c[f"m{i}"][j] for i, n in enumerate(names)} if c["has_metrics"][j] else _NO_METRICS
        val_metrics = {n: c[f"vm{i}"][j] for i, n in enumerate(names)} if c["has_val_metrics"][j] else None
        diagnostics = {n: c[f"d{i}"][j] for i, n in enumerate(diag)} if c["has_diag"][j] else None
        out.append(EpochRecord(epoch, c["loss"][j], c["lr"][j], metrics,
                               c["val_loss"][j] if c["has_val"][j] else None, val_metrics, diagnostics))
    return out


def final_metrics(last: EpochRecord) -> dict[str, float | None]:
    """An epoch's numbers, flat: loss, each metric, val_loss and val_<metric>."""
    out: dict[str, float | None] = {"loss": last.loss, **last.metrics, "val_loss": last.val_loss}
    for k, v in (last.val_metrics or {}).items():
        out[f"val_{k}"] = v
    return out


def history_columns(history: History, diag: list[str] = ()) -> dict[str, list]:
    """Per-epoch history as columns, as the model file keeps it for plots (bounded: see History),
    with the diagnostics' columns when the run had them."""
    out = {"epoch": [r.epoch for r in history], "loss": [r.loss for r in history],
           "val_loss": [r.val_loss for r in history], "lr": [r.lr for r in history]}
    for name in diag:
        out[name] = [(r.diag or {}).get(name) for r in history]
    return out
