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


class MetricsCSV:
    """One row per epoch: epoch, loss, val_loss, lr, the metrics, then the validation metrics.
    Rows are flushed as they come, so the file can be followed while the run goes on."""

    def __init__(self, path: Path, trainer: Trainer):
        names = trainer.metric_names
        self.val = trainer.prepared.split.X_val is not None
        self.names = names
        self.diag = trainer.diag_names
        self.columns = ["epoch", "loss", "val_loss", "lr", *names, *(f"val_{n}" for n in names if self.val),
                        *self.diag]
        trainer.compute_metrics_every_epoch()
        self.fh = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self.writer = csv.writer(self.fh, lineterminator="\n")
        self.writer.writerow(self.columns)
        for record in trainer.history:  # a resumed run rewrites the epochs it already has
            self._row(record)

    def _row(self, r: EpochRecord) -> None:
        def cell(v):
            return "" if v is None else repr(float(v))

        vm = r.val_metrics or {}
        dg = r.diag or {}
        self.writer.writerow([r.epoch, cell(r.loss), cell(r.val_loss), cell(r.lr),
                              *(cell(r.metrics.get(n)) for n in self.names),
                              *(cell(vm.get(n)) for n in self.names if self.val),
                              *(cell(dg.get(n)) for n in self.diag)])

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
