"""Per-epoch hooks run_training attaches to a Trainer: periodic checkpoints and the metrics CSV.

Each is called with the epoch's record after the epoch; they write files but print nothing.
"""

from __future__ import annotations

import csv
from pathlib import Path

from nnctl.training import checkpoint
from nnctl.training.history import EpochRecord
from nnctl.training.trainer import Trainer


class Checkpointer:
    """Writes `path` (atomically) after every `every` epochs."""

    def __init__(self, trainer: Trainer, path: Path, every: int | None):
        self.trainer, self.path, self.every = trainer, path, every
        self.active = bool(every)

    def __call__(self, record: EpochRecord) -> None:
        if self.every and record.epoch % self.every == 0:
            checkpoint.save(self.path, self.trainer)


def metrics_columns(trainer: Trainer) -> list[str]:
    """The columns of --metrics-csv: epoch, loss, val_loss, lr, the metrics, the validation
    metrics (with a validation split), then train.diagnostics' columns."""
    names, val = trainer.metric_names, trainer.prepared.split.X_val is not None
    return ["epoch", "loss", "val_loss", "lr", *names, *(f"val_{n}" for n in names if val), *trainer.diag_names]


def metrics_values(trainer: Trainer, r: EpochRecord) -> list:
    """One record's values in metrics_columns' order; None where the epoch has no such number
    (metrics are computed on logged epochs only, unless every epoch is asked for)."""
    names, val = trainer.metric_names, trainer.prepared.split.X_val is not None
    vm, dg = r.val_metrics or {}, r.diag or {}
    return [r.epoch, r.loss, r.val_loss, r.lr, *(r.metrics.get(n) for n in names),
            *(vm.get(n) for n in names if val), *(dg.get(n) for n in trainer.diag_names)]


class MetricsCSV:
    """One row per epoch: epoch, loss, val_loss, lr, the metrics, then the validation metrics.
    Rows are flushed as they come, so the file can be followed while the run goes on."""

    def __init__(self, path: Path, trainer: Trainer):
        self.trainer = trainer
        self.columns = metrics_columns(trainer)
        trainer.compute_metrics_every_epoch()
        self.fh = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self.writer = csv.writer(self.fh, lineterminator="\n")
        self.writer.writerow(self.columns)
        for record in trainer.history:  # a resumed run rewrites the epochs it already has
            self._row(record)

    def _row(self, r: EpochRecord) -> None:
        epoch, *values = metrics_values(self.trainer, r)
        self.writer.writerow([epoch, *("" if v is None else repr(float(v)) for v in values)])

    def __call__(self, record: EpochRecord) -> None:
        self._row(record)
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()


def chain(*hooks):
    """One on_epoch callback from several; any that returns True stops the run. Hooks with
    nothing to do (None, or `active` False) are left out, and with none left the result is None:
    a quiet run attaches no per-epoch work at all."""
    hooks = [h for h in hooks if h is not None and getattr(h, "active", True)]
    if not hooks:
        return None
    if len(hooks) == 1:
        return hooks[0]

    def on_epoch(record):
        stop = False
        for h in hooks:
            stop = bool(h(record)) or stop
        return stop

    return on_epoch
