"""One run of a sweep: the base config with a point's values set as --set sets them, trained on
the data the parent read (or, for built-in sets and swept data keys, read here), → a result row.

Pure: nothing is printed or written; every failure becomes the row's status and message.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnctl.errors import ConfigError, DivergedError, NnctlError


@dataclass
class Task:
    trial: int
    repeat: int
    seed: int
    params: dict
    keep_model: bool = False  # return the model file's arrays (the best run, trained again at the end)
    fold: int | None = None  # sweep.folds: validate on this fold, train on the others
    stop_at: int | None = None  # a scheduler's rung: stop after this epoch and bring back a checkpoint
    checkpoint: bytes | None = None  # where the run left off at its last rung
    attempt: int = 0  # how many times a dead worker lost it before
    spent: float = 0.0  # seconds of its legs before this one (a scheduler's rungs)

    def row(self, status: str = "ok", message: str = "") -> dict:
        """This run's row of trials.csv, before its results are filled in (an error row as it is)."""
        return {"trial": self.trial, "repeat": self.repeat, "fold": self.fold, "seed": self.seed, "status": status,
                "params": dict(self.params), "metrics": {}, "epochs": None, "seconds": None, "message": message}


@dataclass
class Shared:
    """What every run of a sweep shares, sent to each worker once: the base config (raw, with
    paths made absolute), plugin files as source text, and the CSV's parsed rows when the runs
    do not change how the data is read."""

    base: dict
    plugins: dict[str, str] = field(default_factory=dict)  # spec → source text
    X_aug: np.ndarray | None = None  # features and a column of ones, float64
    features: list | None = None
    targets: list | None = None
    y_numeric: np.ndarray | None = None
    y_labels: list | None = None
    plain: bool = True  # the rows are what the config itself reads (not a built-in set's draw for folds)
    fold_of: np.ndarray | None = None  # sweep.folds: each row's fold


def run(task: Task, shared: Shared, plugin_dir: Path | None = None) -> dict:
    """Train one (point, seed, fold); the row: trial, repeat, fold, seed, status (ok, error,
    diverged; `rung` when it stopped at task.stop_at, with a `checkpoint`), params, metrics,
    epochs, seconds, message; with keep_model, also `arrays` of its model file."""
    from nnctl.config.loader import validate
    from nnctl.sweep.space import point_raw
    from nnctl.training.history import final_metrics
    from nnctl.training.run import TrainResult, model_arrays
    from nnctl.training.trainer import setup

    row = task.row()
    t0 = time.perf_counter()
    try:
        raw = point_raw(shared.base, {k: v for k, v in task.params.items() if k != "seed"})
        raw["seed"] = task.seed
        if task.fold is not None:
            raw.setdefault("data", {})["validation_split"] = 0.0  # the fold is the validation rows
        cfg = validate(raw, "the point's config")
        files = _plugin_files(shared.plugins, plugin_dir)
        if task.fold is not None:
            from nnctl.sweep import folds

            trainer = folds.setup(cfg, shared, task.fold, files)
        else:
            trainer = setup(cfg, plugin_files=files, raw=_rows(shared))
        if task.checkpoint is not None:
            _load(task.checkpoint, trainer)
        if trainer.prepared.stream is not None:  # its rows are not in memory for metrics_at to
            trainer.compute_metrics_every_epoch()  # measure afterwards; running totals cost little
        trainer.fit(_rung_hook(trainer, task, row))
        row["history"] = history(trainer)
        if "checkpoint" in row:
            row["status"], row["epochs"] = "rung", trainer.epoch
        else:
            row["metrics"] = final_metrics(trainer.final)
            row["epochs"] = trainer.epoch
            if task.keep_model:
                row["arrays"] = model_arrays(cfg, TrainResult(trainer))
                row["config"] = cfg.resolved()
    except DivergedError as exc:
        row["status"], row["message"] = "diverged", str(exc)
    except (ConfigError, NnctlError) as exc:
        row["status"], row["message"] = "error", str(exc).replace("\n", " ")
    except MemoryError:
        row["status"], row["message"] = "error", "not enough memory for this run"
    except Exception as exc:  # a bug or a plugin's own failure: the sweep goes on, the row says what
        row["status"], row["message"] = "error", f"{type(exc).__name__}: {exc}"
    row["seconds"] = time.perf_counter() - t0
    return row


def history(trainer) -> list[list]:
    """The run's epochs as `nnctl train --metrics-csv` writes them (header first), from the one
    definition of those columns (training/callbacks.py), for the epochs the run kept (see History)."""
    from nnctl.training.callbacks import metrics_columns, metrics_values

    return [metrics_columns(trainer), *(metrics_values(trainer, r) for r in trainer.history)]


def _rows(shared: Shared):
    """The rows the parent read, for a run that trains on what the config reads."""
    if shared.X_aug is None or not shared.plain:
        return None
    from nnctl.data.datasets import RawData

    X_aug = shared.X_aug.copy()  # the split rearranges it in place
    return RawData(X_aug[:, :-1], shared.features, shared.targets, shared.y_numeric, shared.y_labels, X_aug)


def _rung_hook(trainer, task: Task, row: dict):
    """Stop at the task's rung, keeping the checkpoint taken right there (before early stopping's
    restore_best could touch the weights) and the metrics at that epoch."""
    stop_at = task.stop_at
    if stop_at is None or stop_at >= trainer.cfg.train.epochs:
        return None

    def hook(record):
        if record.epoch < stop_at or trainer.last_epoch is not None:  # early stopping ends the run anyway
            return None
        row["metrics"] = metrics_at(trainer, record)
        row["checkpoint"] = _dump(trainer)
        return True

    return hook


def metrics_at(trainer, record) -> dict:
    """The epoch's final metrics; those the epoch did not compute (not a logged epoch) measured
    on the weights it ended with."""
    from nnctl.training.history import final_metrics

    out = final_metrics(record)
    split = trainer.prepared.split
    if not record.metrics:
        out.update(trainer.evaluate(split.X_train, split.Y_train)[1])
    if split.X_val is not None and record.val_metrics is None:
        for k, v in trainer.evaluate(split.X_val, split.Y_val)[1].items():
            out[f"val_{k}"] = v
    return out


def _dump(trainer) -> bytes:
    """The trainer's checkpoint as bytes: it travels back to the parent (or Ray's head), which
    hands it to whichever worker continues the run."""
    from nnctl.training import checkpoint

    return checkpoint.dumps(trainer)


def _load(data: bytes, trainer) -> None:
    from nnctl.training import checkpoint

    checkpoint.loads(data, trainer, "the run's checkpoint")


def _plugin_files(sources: dict[str, str], folder: Path | None) -> dict[str, Path]:
    """Plugin activations travel as source text; each is written once per worker to a file."""
    if not sources:
        return {}
    folder = folder or Path(tempfile.mkdtemp(prefix="nnctl-plugins-"))
    out = {}
    for spec, text in sources.items():
        path = folder / (f"p{abs(hash(spec)) % 10**8}_" + os.path.basename(spec.rpartition(":")[0]))
        if not path.exists():
            path.write_text(text, encoding="utf-8")
        out[spec] = path
    return out
