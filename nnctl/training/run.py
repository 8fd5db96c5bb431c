"""A whole training, as one library call: what `nnctl train`, a sweep's run and `nnctl.train()`
all run. Prints nothing; raises NnctlError subclasses, or Interrupted when asked to stop.

    result = run_training(cfg, out="m.npz", resume="m.ckpt.npz", checkpoint_every=10)

builds the trainer from the config (data, model, optimizer), continues a checkpoint, runs the
epochs, writes a checkpoint every N epochs and when stopped between two batches, and writes the
model file (keeping the finished run as a checkpoint when that file cannot be written).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nnctl.config.loader import Config
from nnctl.core.model import MLP
from nnctl.errors import UsageError, WriteError
from nnctl.training import callbacks, checkpoint
from nnctl.training.history import EpochRecord, History, final_metrics, history_columns
from nnctl.training.setup import Prepared
from nnctl.training.trainer import Interrupted, Trainer, setup


@dataclass
class TrainResult:
    """A finished run: its trainer (model, data, history, early stopping) and the seconds its
    epochs took."""

    trainer: Trainer
    seconds: float = 0.0

    @property
    def model(self) -> MLP:
        return self.trainer.model

    @property
    def prepared(self) -> Prepared:
        return self.trainer.prepared

    @property
    def history(self) -> History:
        return self.trainer.history

    @property
    def epochs(self) -> int:
        return self.trainer.epoch

    @property
    def final(self) -> EpochRecord:
        return self.trainer.final


class UnsavedRun(WriteError):
    """The run finished but its model file could not be written; `checkpoint` is where the
    finished run was kept instead (resuming it saves the model without training), None when it
    could not be kept either."""

    def __init__(self, message: str, checkpoint: Path | None, *, source: str | None = None):
        self.checkpoint = checkpoint
        super().__init__(message, source=source)


def run_training(cfg: Config, *, out: str | Path | None = None, init_from: str | Path | MLP | None = None,
                 resume: str | Path | None = None, checkpoint_every: int | None = None,
                 checkpoint_path: str | Path | None = None, metrics_csv: str | Path | None = None,
                 on_start: Callable[[Trainer], None] | None = None,
                 on_epoch: Callable[[EpochRecord], bool | None] | None = None, stop=None,
                 raw=None, plugin_files=None) -> TrainResult:
    """Train what `cfg` describes and return the finished run.

    out: write the model file there when the run ends. init_from: start from this model file's
    (or MLP's) weights; UsageError naming the file when a shape differs. resume: continue this
    checkpoint. checkpoint_every: write a checkpoint every N epochs to `checkpoint_path` (default:
    beside `out`, see checkpoint.path_for). metrics_csv: one row per epoch. on_start(trainer):
    called before the first epoch (e.g. to size a progress display); on_epoch(record): after each
    epoch, True stops the run. stop: a one-item list; setting stop[0] (from a signal handler)
    stops between two batches, writes a checkpoint (when there is a checkpoint path) and raises
    Interrupted carrying the epoch and the checkpoint's path. `stop` may also be a context
    manager with such a `flag` (signals.stop_requests): it is entered for the epochs only. raw: train on these rows
    (data.datasets.RawData) instead of the config's data. plugin_files: {plugin spec: file}.
    """
    from nnctl.io.files import check_writable

    for path in (out, metrics_csv):  # before hours of training, not after
        if path is not None:
            check_writable(path)
    ckpt = Path(checkpoint_path) if checkpoint_path is not None else (
        checkpoint.path_for(out) if out is not None else None)
    if checkpoint_every and ckpt is None:
        raise UsageError("checkpoint_every needs a checkpoint path (or an output file to put it beside)")
    trainer = setup(cfg, plugin_files=plugin_files, raw=raw, stop_flag=getattr(stop, "flag", stop))
    if init_from is not None:
        _copy_init(init_from, trainer, cfg)
    if resume is not None:
        checkpoint.restore(resume, trainer)
    scope = stop if hasattr(stop, "__enter__") else contextlib.nullcontext()
    csv_log = callbacks.MetricsCSV(metrics_csv, trainer) if metrics_csv is not None else None
    hooks = callbacks.chain(callbacks.Checkpointer(trainer, ckpt, checkpoint_every), csv_log, on_epoch)
    t0 = time.perf_counter()
    try:
        with scope:  # on_start too: a signal once the table's header is out leaves a checkpoint
            if on_start is not None:
                on_start(trainer)
            trainer.fit(hooks)
    except Interrupted as exc:
        if ckpt is not None:
            checkpoint.save(ckpt, trainer)
        raise Interrupted(exc.epoch, ckpt) from None
    finally:
        if csv_log is not None:
            csv_log.close()
    result = TrainResult(trainer, time.perf_counter() - t0)
    if out is not None:
        _save_or_keep(out, cfg, result, ckpt)
    return result


def _copy_init(init_from, trainer: Trainer, cfg: Config) -> None:
    from nnctl.io import modelfile
    from nnctl.plugins import config_plugins
    from nnctl.training.setup import copy_weights

    src = init_from if isinstance(init_from, MLP) else modelfile.load(init_from, config_plugins(cfg)).model
    try:
        copy_weights(src, trainer.model)
    except ValueError as exc:
        raise UsageError(f"does not fit the config: {exc}", source=f"--init-from {init_from}") from None


def _save_or_keep(out, cfg: Config, result: TrainResult, ckpt: Path | None) -> None:
    """Write the model file; when it cannot be written, keep the finished run as a checkpoint,
    from which resuming saves it again without training."""
    try:
        save_result(out, cfg, result)
    except WriteError as exc:
        if ckpt is None:
            raise
        try:
            checkpoint.save(ckpt, result.trainer)
        except WriteError as again:
            raise UnsavedRun(f"{exc.message}; the finished run could not be kept either ({again.message})",
                             None, source=exc.source) from None
        raise UnsavedRun(f"{exc.message}; the finished run is kept in {ckpt}", ckpt, source=exc.source) from None


def model_meta(cfg: Config, result: TrainResult, **extra) -> dict:
    """The model file's metadata for a finished run (io/modelfile.py adds the format and the
    layers); `extra` keys are added or replace the run's (a sweep's best model names its point)."""
    p, trainer = result.prepared, result.trainer
    stopper = trainer.stopper
    meta = {
        "loss": cfg.train.loss_name,
        "features": p.features,
        "targets": p.targets,
        "classes": p.classes,
        "binary_targets": p.binary,
        "dtype": cfg.train.dtype,
        "config": cfg.resolved(),
        "epochs": trainer.epoch,
        "metrics": final_metrics(result.final),
        "best_epoch": stopper.best_epoch if stopper else None,
        "stopped_epoch": stopper.stopped_epoch if stopper else None,
        "history": history_columns(result.history, trainer.diag_names),
        **({"data_path": str((cfg.base_dir / cfg.data.path).resolve())} if hasattr(cfg.data, "path") else {}),
    }
    meta.update(extra)
    return meta


def model_arrays(cfg: Config, result: TrainResult, **extra) -> dict:
    """The model file's arrays (what save_result writes), e.g. to send a model between processes."""
    from nnctl.io import modelfile

    s = result.prepared.split
    return modelfile.model_arrays(result.model, model_meta(cfg, result, **extra), s.x_mean, s.x_std)


def save_result(path, cfg: Config, result: TrainResult) -> None:
    """Write the finished run's model file (atomically)."""
    from nnctl.io.modelfile import write_npz_atomic

    write_npz_atomic(path, model_arrays(cfg, result))


train = run_training  # the Python API's name for it (nnctl.train)
