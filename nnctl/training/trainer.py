"""The Trainer: epochs of mini-batch steps on a model, one epoch loop. Prints nothing.

An epoch is one pass over the training rows in batches of `batch_size` (the last batch may be
smaller), one optimizer step per batch. An epoch's `loss` is the mean of its batches' losses,
each measured before that batch's step (Keras' convention; for full-batch training it is the
loss at the weights the epoch started from). Validation loss is measured after the epoch.

Batches come from a batch source (training/batches.py). The Trainer owns its whole state:
`state()` gives it as plain values and arrays, `load_state()` takes it back, so a run stopped
between two batches continues with the same bits (training/checkpoint.py writes it to a file).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nnctl.config.diff import differences
from nnctl.config.loader import Config
from nnctl.core import metrics as metricsmod
from nnctl.core.model import MLP
from nnctl.core.optim import Optimizer, make_optimizer
from nnctl.core.schedules import Constant, EarlyStopping, make_schedule
from nnctl.data.datasets import RawData
from nnctl.engine import kernels
from nnctl.engine.workspace import Workspace
from nnctl.errors import DivergedError, ModelFileError
from nnctl.training import setup as build
from nnctl.training.batches import ArrayBatches
from nnctl.training.history import EpochRecord, History, records_from_columns

# Config keys that may differ between the run that wrote a state and the run that loads it.
MAY_CHANGE = frozenset({("train", "epochs"), ("train", "log_every"), ("output",)})


class Interrupted(Exception):  # noqa: N818 - a signal, not a failure
    """Raised between two batches when a stop was requested (Ctrl-C); the trainer's state is
    consistent there and can be saved and resumed exactly. `checkpoint` is the file it was
    saved to, when the caller saved it (run_training does)."""

    def __init__(self, epoch: int, checkpoint=None):
        self.epoch, self.checkpoint = epoch, checkpoint
        saved = f"; checkpoint written: {checkpoint}" if checkpoint is not None else ""
        super().__init__(f"interrupted during epoch {epoch}{saved}")


@dataclass
class PartialEpoch:
    """Where an interrupted epoch stopped, besides its batch source's own place: the rows
    trained on, their losses summed (each times its batch's rows) and the outputs collected
    for metrics (an array of every row's, or a streamed epoch's metricsmod.Running)."""

    rows: int
    total: float
    outputs: np.ndarray | metricsmod.Running | None


class Trainer:
    """Runs epochs on a model. `on_epoch(record)` is called after each epoch and may return True
    to stop; `stop_flag[0]`, set from outside (a signal handler), stops between two batches."""

    def __init__(self, cfg: Config, model: MLP, prepared: build.Prepared, rng: np.random.Generator,
                 source=None, stop_flag: list[bool] | None = None):
        tc = cfg.train
        self.cfg, self.model, self.prepared, self.rng = cfg, model, prepared, rng
        self.optimizer: Optimizer = make_optimizer(tc.optimizer, model.flat)
        self.schedule = make_schedule(tc.schedule, tc.optimizer.lr, tc.epochs)
        has_val = prepared.split.X_val is not None
        self.schedule_monitor = "val_loss" if has_val else "loss"  # what a plateau schedule watches
        self.monitor = self.schedule_monitor  # what early stopping watches
        self.stopper = None
        if tc.early_stopping is not None:
            es = tc.early_stopping
            self.stopper = EarlyStopping(es.patience, es.min_delta, es.restore_best)
            self.monitor = "val_loss" if es.monitor == "val_loss" and has_val else "loss"
        self.metric_names = build.table_metrics(cfg, prepared)
        self.diagnostics = tc.diagnostics
        self.diag_names = build.diagnostic_names(model) if tc.diagnostics else []
        # Early stopping may end on any epoch, and the best epoch is rarely a logged one: both
        # must have their metrics, so with it every epoch computes them.
        self.metrics_every_epoch = self.stopper is not None
        self.history = History()
        self.best_record: EpochRecord | None = None  # the best epoch's, when early stopping kept its weights
        self.last_epoch: int | None = None  # the epoch early stopping ended on: it gets a table row too
        self.epoch = 0  # epochs completed
        self.partial: PartialEpoch | None = None
        self.stop_flag = stop_flag if stop_flag is not None else [False]
        if source is None:
            s = prepared.split
            n = s.X_train_aug.shape[0]
            size = n if tc.batch_size == "full" else min(tc.batch_size, n)
            source = ArrayBatches(s.X_train_aug, s.Y_train, size, tc.shuffle, rng)
        self.source = source
        self.batch = source.size
        self.ws = Workspace(model, prepared.loss, self.batch, tc.weight_decay)
        self._choose_update(tc)

    def _choose_update(self, tc) -> None:
        """Plain SGD without weight decay: the backward pass yields lr·g (the rate folded into the
        loss gradient's factor) and the update is one subtraction; otherwise the usual step. On a
        large net the step itself can then apply that update (Workspace.fuse_update).
        (Diagnostics read the raw gradient of each epoch's last step: neither folding nor fusing.)"""
        self.folds_lr = self.optimizer.takes_scaled_gradient and not tc.weight_decay and not tc.diagnostics
        self.step_engine = "numpy"  # what applies the update: NumPy calls, BLAS (fused) or numba
        if self.folds_lr and self.ws.fuse_update():
            self.update, self.step_engine = self.optimizer.step_applied, "gemm"
        else:
            self.update = self.optimizer.step_scaled if self.folds_lr else self.optimizer.step
            if not self.folds_lr and self._accelerate(tc, self.source.rows):
                self.step_engine = "numba"

    def _accelerate(self, tc, n: int) -> bool:
        """Have the optimizer step in one compiled pass (`kernels`) where the run is long enough to
        win back loading them and numba is installed; the results are the same bits either way.
        Weight decay's term moves into that pass too (not with diagnostics, which read the
        gradient with the term before the step)."""
        name = self.optimizer.kernel_name
        if name is None or not kernels.worth_it(name, self.model.flat.size, tc.epochs * -(-n // self.batch)):
            return False
        decay = None if self.diagnostics else self.ws.decay
        if not self.optimizer.accelerate(kernels.kernels(self.model.dtype), decay):  # False without numba
            return False
        if decay is not None:
            self.ws.decay = None  # the optimizer's pass adds it now
        return True

    def is_logged(self, epoch: int) -> bool:
        """A row of the loss table: every log_every epochs, and the first and the last."""
        return (epoch == 1 or epoch % self.cfg.train.log_every == 0 or epoch == self.cfg.train.epochs
                or epoch == self.last_epoch)

    def compute_metrics_every_epoch(self) -> None:
        """Have every epoch's record carry its metrics (a per-epoch CSV wants them), not only the
        logged epochs'."""
        self.metrics_every_epoch = True

    def _set_lr(self, lr: float) -> None:
        self.optimizer.lr = lr
        if self.folds_lr and self.ws.grad_scale != lr:
            self.ws.set_grad_scale(lr)

    def step(self, xb: np.ndarray, yb: np.ndarray, lr: float) -> float:
        """One optimizer step on a batch (xb with its column of ones, as X_train_aug has it), as
        the epoch loop takes it: `nnctl explain` shows train's own steps with it."""
        self._set_lr(lr)
        value = self.ws.step(xb, yb)
        self.update(self.ws.grad)
        return value

    # --- the epoch loop ------------------------------------------------------------------------

    def fit(self, on_epoch: Callable[[EpochRecord], bool | None] | None = None) -> History:
        """Run epochs until train.epochs, early stopping, or `on_epoch` returning True. Raises
        Interrupted (stop_flag set) between two batches, DivergedError on a non-finite loss or
        weight."""
        epochs, history, logged = self.cfg.train.epochs, self.history, self.is_logged
        # Full-batch training with nothing to do between epochs but log: a tiny net's epoch is a
        # few microseconds, so its unlogged epochs skip the general epoch's bookkeeping.
        quick = self._quick_epoch if self._plain_full_batch() else None
        end = None if quick is not None else self._end_epoch
        # Overflow on the way to divergence is expected; the non-finite checks report it once.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            self._set_lr(self.schedule.lr)
            while self.epoch < epochs:
                epoch = self.epoch + 1
                record = quick(epoch) if quick is not None and not logged(epoch) else self.run_epoch(epoch)
                self.epoch = epoch
                history.append(record)
                stop = end is not None and end(record)
                if (on_epoch is not None and on_epoch(record)) or stop:
                    break
            if self.epoch and not math.isfinite(self.model.flat.sum()):
                raise DivergedError(self.epoch, "a weight")
        if self.stopper is not None and self.stopper.best_weights is not None:
            self.model.flat[...] = self.stopper.best_weights  # Keras' restore_best_weights
        return history

    def _plain_full_batch(self) -> bool:
        return (self.source.whole is not None and self.prepared.split.X_val is None and self.stopper is None
                and isinstance(self.schedule, Constant) and not self.metrics_every_epoch and not self.diagnostics)

    def _step(self, epoch: int, xb: np.ndarray, yb: np.ndarray) -> float:
        """One batch's forward and backward pass (the update is the caller's): the one place that
        honours a stop request and catches a non-finite loss."""
        if self.stop_flag[0]:
            raise Interrupted(epoch)
        value = self.ws.step(xb, yb)
        if not math.isfinite(value):
            raise DivergedError(epoch, "the loss")
        return value

    def _quick_epoch(self, epoch: int) -> EpochRecord:
        X, Y = self.source.whole
        value = self._step(epoch, X, Y)
        self.update(self.ws.grad)
        return EpochRecord(epoch, value, self.optimizer.lr)

    def run_epoch(self, epoch: int) -> EpochRecord:
        """One pass over the batch source (or the rest of an interrupted one): its record, with
        metrics when the epoch is logged (or every epoch wants them), validation and diagnostics."""
        source, update = self.source, self.update
        self._set_lr(self.schedule.lr)
        if self.partial is not None:
            p, self.partial = self.partial, None
            done, total, outputs = p.rows, p.total, p.outputs
        else:
            done, total = 0, 0.0
            outputs = self._outputs() if self.metrics_every_epoch or self.is_logged(epoch) else None
        n, grad_norms = source.rows, [math.nan] * len(self.model.W)
        running = outputs if isinstance(outputs, metricsmod.Running) else None
        try:
            for xb, yb in source.batches(epoch):
                value = self._step(epoch, xb, yb)
                m = xb.shape[0]
                if self.diagnostics and done + m >= n:  # the epoch's last step, before the optimizer reads it
                    grad_norms = self._grad_norms()
                update(self.ws.grad)
                total += value * m
                if running is not None:
                    running.add(self.ws.output, yb)
                elif outputs is not None:
                    outputs[done:done + m] = self.ws.output
                done += m
        except Interrupted:
            self.partial = PartialEpoch(done, total, outputs)
            raise
        if not math.isfinite(self.model.flat.sum()):  # inf or nan anywhere makes the sum non-finite
            raise DivergedError(epoch, "a weight")
        record = EpochRecord(epoch, value if source.size == n else total / n, self.optimizer.lr)
        if running is not None:
            record.metrics = running.result()
        elif outputs is not None:
            record.metrics = metricsmod.compute(self.metric_names, outputs, source.targets())
        s = self.prepared.split
        if s.X_val is not None:
            record.val_loss, record.val_metrics = self.evaluate(s.X_val, s.Y_val, outputs is not None)
        if self.diagnostics:
            record.diag = self._diagnostics(grad_norms)
        return record

    def _outputs(self) -> np.ndarray | metricsmod.Running:
        """Where an epoch's outputs go for its metrics: an array of every row's beside the rows
        in memory; for a source that cannot give an epoch's targets again (a stream, whose rows
        are not held), totals gathered batch by batch, so memory does not grow with the file."""
        Y = self.prepared.split.Y_train
        if self.source.targets is None:
            return metricsmod.Running(self.metric_names, Y.shape[1], Y.dtype)
        return np.empty((self.source.rows, Y.shape[1]), Y.dtype)

    def _end_epoch(self, record: EpochRecord) -> bool:
        """The schedule's and early stopping's step after an epoch; True when early stopping ends the run."""
        self.schedule.step(record.val_loss if self.schedule_monitor == "val_loss" else record.loss)
        if self.stopper is None:
            return False
        watched = record.val_loss if self.monitor == "val_loss" else record.loss
        stop = self.stopper.update(record.epoch, watched, self.model.flat)
        if self.stopper.best_epoch == record.epoch:
            self.best_record = record
        if stop:
            self.last_epoch = record.epoch
        return stop

    def _grad_norms(self) -> list[float]:
        from nnctl.core.model import flat_views

        return [float(np.linalg.norm(g)) for g in flat_views(self.ws.grad, self.model.shapes)[0]]

    def _diagnostics(self, grad_norms: list[float]) -> dict[str, float]:
        """Per layer: the weights' norm, the last step's weight-gradient norm, and for relu and
        leaky_relu layers the fraction of units whose pre-activation is ≤ 0 on every training row
        (a dead unit passes no gradient, so it never recovers)."""
        out: dict[str, float] = {}
        _, cache = self.model.forward(self.prepared.split.X_train, keep=True)
        for i, (W, act) in enumerate(zip(self.model.W, self.model.activations, strict=True)):
            out[f"w_norm_{i}"] = float(np.linalg.norm(W))
            out[f"g_norm_{i}"] = grad_norms[i]
            if act.name in ("relu", "leaky_relu"):
                out[f"dead_{i}"] = float(np.mean(np.all(cache.Z[i] <= 0, axis=0)))
        return out

    def evaluate(self, X: np.ndarray, Y: np.ndarray, with_metrics: bool = True):
        """The loss and (with_metrics) the metrics on rows X, Y at the current weights."""
        if self.source.targets is None:
            return self._evaluate_in_blocks(X, Y, with_metrics)
        out, cache = self.model.forward(X, keep=True)
        value = self.prepared.loss.value(cache.Z[-1], out, Y)
        return value, (metricsmod.compute(self.metric_names, out, Y) if with_metrics else None)

    def _evaluate_in_blocks(self, X: np.ndarray, Y: np.ndarray, with_metrics: bool):
        """`evaluate` a block of rows at a time (MLP.loss_in_blocks), for a streamed run
        (docs/data.md), whose validation rows may be many."""
        running = metricsmod.Running(self.metric_names, Y.shape[1], Y.dtype) if with_metrics else None
        value = self.model.loss_in_blocks(self.prepared.loss, X, Y,
                                          None if running is None else lambda a, out, yb: running.add(out, yb))
        return value, running and running.result()

    @property
    def final(self) -> EpochRecord:
        """The record that describes the weights the run ends with (the best epoch's, when
        early stopping restored them)."""
        st = self.stopper
        if st is not None and st.best_weights is not None and self.best_record is not None:
            return self.best_record
        return self.history[-1]

    # --- state ---------------------------------------------------------------------------------

    def state(self) -> dict:
        """Everything a run needs to continue exactly where it stands: the config it was set up
        for, weights, optimizer, schedule, early stopping, random generator, history, and an
        interrupted epoch's progress. Plain values and NumPy arrays in nested dicts; the arrays
        are the trainer's own (a caller that keeps the state while training goes on copies them)."""
        names, diag, st, p = self.metric_names, self.diag_names, self.stopper, self.partial
        return {
            "config": self.cfg.resolved(), "epoch": self.epoch, "last_epoch": self.last_epoch,
            "weights": self.model.flat, "optimizer": self.optimizer.state(), "schedule": self.schedule.state(),
            "rng": self.rng.bit_generator.state, "metric_names": names,
            "stopper": None if st is None else {**st.state(), "best_weights": st.best_weights},
            "history": {"stride": self.history.stride, "columns": self.history.columns(names, diag)},
            "best_record": None if self.best_record is None else History([self.best_record]).columns(names, diag),
            "batches": self.source.state(),
            "partial": None if p is None else {"rows": p.rows, "total": p.total, **_outputs_state(p.outputs)},
        }

    def load_state(self, state: dict) -> None:
        """Continue from `state()` of a trainer set up for the same config (train.epochs and
        log_every may differ). ModelFileError (without a source: the caller names the file) when
        the state does not fit this trainer."""
        tc = self.cfg.train
        diffs = differences(state["config"], self.cfg.resolved(), MAY_CHANGE, ("checkpoint", "config"))
        if diffs:
            raise ModelFileError("was written for a different config; resuming needs the same one: "
                                 + "; ".join(diffs[:3]))
        if state["epoch"] > tc.epochs:
            raise ModelFileError(f"has already run {state['epoch']} epochs, more than train.epochs {tc.epochs}")
        flat = state["weights"]
        if flat.shape != self.model.flat.shape or flat.dtype != self.model.flat.dtype:
            raise ModelFileError(f"key 'weights': expected {self.model.flat.shape} {self.model.flat.dtype}")
        names, diag = state["metric_names"], self.diag_names
        if names != self.metric_names:
            raise ModelFileError(f"metric columns {names} differ from the config's {self.metric_names}")
        self.model.flat[...] = flat
        self.optimizer.load_state(state["optimizer"])
        self.rng.bit_generator.state = state["rng"]
        self.schedule.load_state(state["schedule"])
        if tc.schedule is not None and tc.schedule.name == "cosine" and tc.schedule.t_max is None:
            self.schedule.retarget(max(tc.epochs - self.schedule.warmup, 1))  # resumed with a new --epochs
        if self.stopper is not None and state["stopper"] is not None:
            stopper = dict(state["stopper"])
            self.stopper.best_weights = stopper.pop("best_weights")
            self.stopper.load_state(stopper)
        h = state["history"]
        self.history = History(records_from_columns(h["columns"], names, diag), h["stride"])
        best = state["best_record"]
        self.best_record = None if best is None else records_from_columns(best, names, diag)[0]
        self.last_epoch, self.epoch = state["last_epoch"], state["epoch"]
        self.source.load_state(state["batches"])
        p = state["partial"]
        if p is not None and p.get("running") is not None:
            running = self._outputs()
            if not isinstance(running, metricsmod.Running):
                raise ModelFileError("holds a streamed epoch's metrics; this run's rows are in memory")
            running.load_state(p["running"])
            self.partial = PartialEpoch(int(p["rows"]), float(p["total"]), running)
        else:
            self.partial = None if p is None else PartialEpoch(int(p["rows"]), float(p["total"]), p["outputs"])


def _outputs_state(outputs) -> dict:
    """An interrupted epoch's outputs as a checkpoint keeps them: the array, or Running's state."""
    if isinstance(outputs, metricsmod.Running):
        return {"outputs": None, "running": outputs.state()}
    return {"outputs": outputs}


def setup(cfg: Config, init_from: MLP | None = None, plugin_files=None, raw: RawData | None = None,
          stop_flag: list[bool] | None = None) -> Trainer:
    """Everything before the first epoch: one Generator from the seed feeds data, split and init.
    `raw` trains on rows given directly (X, and y as numbers or labels) instead of `data.source`.
    `init_from`: start from its weights (ValueError naming the first shape that differs).
    `stop_flag`: the trainer's stop request (see Trainer)."""
    rng = np.random.default_rng(cfg.seed)
    acts = build.build_activations(cfg, plugin_files)
    prepared = build.prepare_data(cfg, rng, raw)
    model = build.build_model(cfg, prepared.split.X_train.shape[1], rng, acts)
    if init_from is not None:
        model = build.copy_weights(init_from, model)
    return Trainer(cfg, model, prepared, rng, source=prepared.stream, stop_flag=stop_flag)
