"""The training loop: data → model → epochs of mini-batch steps → history. Prints nothing.

An epoch is one pass over the training rows in batches of `batch_size` (the last batch may be
smaller), one optimizer step per batch. An epoch's `loss` is the mean of its batches' losses,
each measured before that batch's step (Keras' convention; for full-batch training it is the
loss at the weights the epoch started from). Validation loss is measured after the epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from nnctl.config.loader import Config
from nnctl.core import metrics as metricsmod
from nnctl.core.activations import ACTIVATIONS, Activation
from nnctl.core.losses import LOSSES, Loss
from nnctl.core.model import MLP, Workspace
from nnctl.core.optim import Optimizer, make_optimizer
from nnctl.core.schedules import Constant, EarlyStopping, make_schedule
from nnctl.data import datasets as datamod
from nnctl.data.stream import StreamSource
from nnctl.engine import kernels
from nnctl.errors import ConfigError, DivergedError, NnctlError


@dataclass
class Prepared:
    """The data a run trains on, and what the model file must remember about it."""

    split: datamod.Split
    features: list[str]
    targets: list[str]
    classes: list | None
    loss: Loss
    stream: StreamSource | None = None  # data.stream: the training rows come from here, chunk by chunk

    @property
    def classifier(self) -> bool:
        return self.classes is not None

    @property
    def binary(self) -> bool:
        """A regression (mse) on one target whose every value is 0 or 1: the tutorials' XOR with
        MSE. Its outputs may then be read as classes at a 0.5 threshold."""
        if self.stream is not None:
            Y_val = self.split.Y_val
            return self.stream.binary and (Y_val is None or bool(np.isin(Y_val, (0.0, 1.0)).all()))
        Y = self.split.Y_train
        return (not self.classifier and Y.shape[1] == 1 and bool(np.isin(Y, (0.0, 1.0)).all())
                and (self.split.Y_val is None or bool(np.isin(self.split.Y_val, (0.0, 1.0)).all())))


def build_activations(cfg: Config, plugin_files: dict[str, Path] | None = None) -> list[Activation]:
    """One activation object per layer; plugins are imported relative to the config's folder."""
    from nnctl.plugins import load_plugin

    acts = []
    for layer in cfg.model.layers:
        a = layer.activation
        if isinstance(a, str):
            acts.append(ACTIVATIONS[a]())
        else:
            override = (plugin_files or {}).get(a["plugin"])
            acts.append(load_plugin(a["plugin"], cfg.base_dir, override))
    return acts


def prepare_data(cfg: Config, rng: np.random.Generator, raw: datamod.RawData | None = None) -> Prepared:
    """The config's data (or `raw`, rows given directly), encoded, split, scaled and cast."""
    if raw is None and getattr(cfg.data, "stream", False):
        return _prepare_stream(cfg)
    raw = raw if raw is not None else datamod.load_raw(cfg, cfg.base_dir, rng)
    try:
        enc = datamod.encode(raw, cfg.train.loss, cfg.model.layers[-1].units,
                             f"model.layers.{len(cfg.model.layers) - 1}.units")
        cfg.model.layers[-1].units = enc.Y.shape[1]  # `units: auto`, resolved from the data
    except ConfigError as exc:
        exc.source = exc.source or cfg.source
        raise
    except NnctlError as exc:  # name the file the targets came from
        exc.source = exc.source or (str(cfg.base_dir / cfg.data.path) if hasattr(cfg.data, "path")
                                    else f"data.source {cfg.data.source}")
        raise
    split = datamod.make_split(enc, cfg.data.validation_split, rng, cfg.data.standardize,
                               np.dtype(cfg.train.dtype))
    return Prepared(split, enc.features, enc.targets, enc.classes, LOSSES[cfg.train.loss]())


def _prepare_stream(cfg: Config) -> Prepared:
    """data.stream: a first pass over the file (docs/data.md); the rows stay on disk."""
    from nnctl.data import stream

    if cfg.train.diagnostics:
        raise ConfigError("train.diagnostics: needs the training rows in memory; not with data.stream: true",
                          source=cfg.source)
    d, tc = cfg.data, cfg.train
    table = datamod.open_table(d.source, cfg.base_dir / d.path, getattr(d, "delimiter", ","))
    layout = datamod.layout(table, d, tc.loss == "mse")
    last = len(cfg.model.layers) - 1
    try:
        src = stream.StreamSource(table, layout, tc.loss, cfg.model.layers[-1].units, seed=cfg.seed,
                                  validation_split=d.validation_split, standardize=d.standardize, dtype=tc.dtype,
                                  batch_size=None if tc.batch_size == "full" else tc.batch_size,
                                  shuffle_buffer=d.shuffle_buffer, shuffle=tc.shuffle,
                                  units_key=f"model.layers.{last}.units")
    except ConfigError as exc:
        exc.source = exc.source or cfg.source
        raise
    except NnctlError as exc:
        exc.source = exc.source or table.source
        raise
    cfg.model.layers[-1].units = src.n_outputs
    nf, dtype = len(src.features), np.dtype(tc.dtype)
    split = datamod.Split(np.empty((0, nf + 1), dtype), np.empty((0, src.n_outputs), dtype), src.X_val, src.Y_val,
                          src.x_mean, src.x_std)
    return Prepared(split, src.features, src.target_names, src.classes, LOSSES[tc.loss](), src)


def resolve_units(cfg: Config) -> Config:
    """The config with an output layer's `units: auto` replaced by the number the data gives
    (one per class for cross_entropy, 1 for bce, one per target for mse): reads the data."""
    if cfg.model.layers[-1].units == "auto":
        prepare_data(cfg, np.random.default_rng(cfg.seed))
    return cfg


def build_model(cfg: Config, n_features: int, rng: np.random.Generator,
                activations: list[Activation]) -> MLP:
    inits = [_init_spec(layer.init or cfg.model.init) for layer in cfg.model.layers]
    units = [layer.units for layer in cfg.model.layers]
    sizes = [n_features, *units]
    count = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    if count > MAX_PARAMETERS:
        raise ConfigError(f"model.layers: {count:,} parameters is more than the {MAX_PARAMETERS:,} "
                          "nnctl trains; expected fewer or smaller layers", source=cfg.source)
    return MLP.initialize(n_features, units, inits, activations, rng, np.dtype(cfg.train.dtype))


def _init_spec(init):
    """A config's init as MLP.initialize takes it: a name, or {name, std, limit}."""
    return init if isinstance(init, str) else init.model_dump()


MAX_PARAMETERS = 1 << 30  # 8 GiB of float64 weights, before gradients and optimizer state


def table_metrics(cfg: Config, prepared: Prepared) -> list[str]:
    """The loss table's metric columns: the config's, or accuracy for a classifier, rmse for a
    regression, and both for a regression on 0/1 targets."""
    binary = prepared.binary
    if not cfg.train.metrics:
        return ["rmse", "accuracy"] if binary else list(metricsmod.DEFAULT_TABLE[prepared.classifier])
    for name in cfg.train.metrics:
        if name in metricsmod.CLASSIFICATION and not prepared.classifier and not binary:
            raise ConfigError(f"train.metrics: {name!r} is a classifier metric; under loss mse it needs one "
                              "target whose every value is 0 or 1 (read at a 0.5 threshold), and this data's "
                              "target has other values", source=cfg.source)
    return list(cfg.train.metrics)


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


class Interrupted(Exception):  # noqa: N818 - a signal, not a failure
    """Raised between two batches when a stop was requested (Ctrl-C); the trainer's state is
    consistent there and can be checkpointed and resumed exactly."""

    def __init__(self, epoch: int):
        self.epoch = epoch
        super().__init__(f"interrupted during epoch {epoch}")


@dataclass
class PartialEpoch:
    """Where an interrupted epoch stopped: its row order, the next batch's first row, the loss
    summed so far and the outputs collected for metrics."""

    order: np.ndarray | None
    start: int
    total: float
    outputs: np.ndarray | None


class Trainer:
    """Runs epochs on a model. `on_epoch(record)` is called after each epoch and may return True
    to stop; `stop_flag[0]`, set from outside (a signal handler), stops between two batches."""

    def __init__(self, cfg: Config, model: MLP, prepared: Prepared, rng: np.random.Generator):
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
        self.metric_names = table_metrics(cfg, prepared)
        self.diagnostics = tc.diagnostics
        self.diag_names = diagnostic_names(model) if tc.diagnostics else []
        # Early stopping may end on any epoch, and the best epoch is rarely a logged one: both
        # must have their metrics, so with it every epoch computes them.
        self.metrics_every_epoch = self.stopper is not None
        self.history = History()
        self.best_record: EpochRecord | None = None  # the best epoch's, when early stopping kept its weights
        self.last_epoch: int | None = None  # the epoch early stopping ended on: it gets a table row too
        self.epoch = 0  # epochs completed
        self.partial: PartialEpoch | None = None
        self.stop_flag = [False]
        X = prepared.split.X_train_aug
        n = X.shape[0] if prepared.stream is None else prepared.stream.n
        self.batch = n if tc.batch_size == "full" else min(tc.batch_size, n)
        self.shuffled = tc.shuffle and self.batch < n and prepared.stream is None
        self.ws = Workspace(model, prepared.loss, self.batch, tc.weight_decay)
        # Plain SGD without weight decay: the backward pass yields lr·g (the rate folded into the
        # loss gradient's factor) and the update is one subtraction; otherwise the usual step.
        # On a large net the step itself can then apply that update (Workspace.fuse_update).
        # (Diagnostics read the raw gradient of each epoch's last step: neither folding nor fusing.)
        self.folds_lr = self.optimizer.takes_scaled_gradient and not tc.weight_decay and not tc.diagnostics
        self.step_engine = "numpy"  # what applies the update: NumPy calls, BLAS (fused) or numba
        if self.folds_lr and self.ws.fuse_update():
            self.update, self.step_engine = self.optimizer.step_applied, "gemm"
        else:
            self.update = self.optimizer.step_scaled if self.folds_lr else self.optimizer.step
            if not self.folds_lr and self._accelerate(tc, n):
                self.step_engine = "numba"
        if self.shuffled:  # gathered batches land in reused buffers, not fresh arrays
            Y = prepared.split.Y_train
            self.xbuf = np.empty((self.batch, X.shape[1]), X.dtype)
            self.ybuf = np.empty((self.batch, Y.shape[1]), Y.dtype)

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

    def _set_lr(self, lr: float) -> None:
        self.optimizer.lr = lr
        if self.folds_lr and self.ws.grad_scale != lr:
            self.ws.set_grad_scale(lr)

    def _wants_metrics(self, epoch: int) -> bool:
        return self.metrics_every_epoch or self.is_logged(epoch)

    def run_epoch(self, epoch: int) -> EpochRecord:
        if self.prepared.stream is not None:
            return self._stream_epoch(epoch)
        s = self.prepared.split
        X, Y = s.X_train_aug, s.Y_train
        n, bs, ws, update, flag = X.shape[0], self.batch, self.ws, self.update, self.stop_flag
        self._set_lr(self.schedule.lr)
        if self.partial is not None:
            p, self.partial = self.partial, None
            order, first, total, outputs = p.order, p.start, p.total, p.outputs
        else:
            order = self.rng.permutation(n) if self.shuffled else None
            first, total = 0, 0.0
            outputs = np.empty_like(Y) if self._wants_metrics(epoch) else None
        grad_norms = [math.nan] * len(self.model.W)
        for start in range(first, n, bs):
            if flag[0]:
                self.partial = PartialEpoch(order, start, total, outputs)
                raise Interrupted(epoch)
            if order is None:
                xb, yb = (X, Y) if bs == n else (X[start:start + bs], Y[start:start + bs])
            else:
                idx = order[start:start + bs]
                m = idx.shape[0]
                xb, yb = self.xbuf[:m], self.ybuf[:m]
                # mode="clip": a permutation's indices are in range, and "raise" would gather into
                # a temporary copy first (NumPy keeps `out` intact in case an index is bad)
                np.take(X, idx, axis=0, out=xb, mode="clip")
                np.take(Y, idx, axis=0, out=yb, mode="clip")
            value = ws.step(xb, yb)
            if not math.isfinite(value):
                raise DivergedError(epoch, "the loss")
            if self.diagnostics and start + bs >= n:  # the epoch's last step, before the optimizer reads it
                grad_norms = self._grad_norms()
            update(ws.grad)
            total += value * xb.shape[0]
            if outputs is not None:
                outputs[start:start + xb.shape[0]] = ws.output
        if not math.isfinite(self.model.flat.sum()):  # inf or nan anywhere makes the sum non-finite
            raise DivergedError(epoch, "a weight")
        record = EpochRecord(epoch, value if bs == n else total / n, self.optimizer.lr)
        if outputs is not None:
            record.metrics = metricsmod.compute(self.metric_names, outputs, Y if order is None else Y[order])
        if s.X_val is not None:
            record.val_loss, record.val_metrics = self.evaluate(s.X_val, s.Y_val, outputs is not None)
        if self.diagnostics:
            record.diag = self._diagnostics(grad_norms)
        return record

    def _stream_epoch(self, epoch: int) -> EpochRecord:
        """An epoch of data.stream: batches from the source in its order. The training metrics are
        those of the epoch's last `shuffle_buffer` rows (all rows' outputs would grow with the file)."""
        src, ws, update, flag = self.prepared.stream, self.ws, self.update, self.stop_flag
        self._set_lr(self.schedule.lr)
        rows, total = 0, 0.0
        if self.partial is not None:
            rows, total, self.partial = self.partial.start, self.partial.total, None
        kept: list = []
        batches = src.batches()
        while True:
            try:
                xb, yb = next(batches)
            except StopIteration:
                break
            if flag[0]:  # the batch just handed out is not trained: the source's place says so
                self.partial = PartialEpoch(None, rows, total, None)
                raise Interrupted(epoch)
            value = ws.step(xb, yb)
            if not math.isfinite(value):
                raise DivergedError(epoch, "the loss")
            update(ws.grad)
            total += value * xb.shape[0]
            rows += xb.shape[0]
            if self._wants_metrics(epoch):
                kept.append((ws.output[:xb.shape[0]].copy(), yb))
                while sum(len(y) for _, y in kept[1:]) >= src.buffer_rows:
                    kept.pop(0)
        if not math.isfinite(self.model.flat.sum()):
            raise DivergedError(epoch, "a weight")
        record = EpochRecord(epoch, total / max(rows, 1), self.optimizer.lr)
        if kept:
            record.metrics = metricsmod.compute(self.metric_names, np.concatenate([o for o, _ in kept]),
                                                np.concatenate([y for _, y in kept]))
        s = self.prepared.split
        if s.X_val is not None:
            record.val_loss, record.val_metrics = self.evaluate(s.X_val, s.Y_val, bool(kept))
        return record

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
        out, cache = self.model.forward(X, keep=True)
        value = self.prepared.loss.value(cache.Z[-1], out, Y)
        return value, (metricsmod.compute(self.metric_names, out, Y) if with_metrics else None)

    def fit(self, on_epoch: Callable[[EpochRecord], bool | None] | None = None) -> History:
        # Overflow on the way to divergence is expected; the non-finite checks report it once.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            if self._plain_full_batch():
                self._fit_full_batch(on_epoch)
            else:
                self._fit(on_epoch)
            if self.epoch and not math.isfinite(self.model.flat.sum()):
                raise DivergedError(self.epoch, "a weight")
        if self.stopper is not None and self.stopper.best_weights is not None:
            self.model.flat[...] = self.stopper.best_weights  # Keras' restore_best_weights
        return self.history

    def _plain_full_batch(self) -> bool:
        """Full-batch training with nothing to do between epochs but log: a tiny net's epoch is a
        few microseconds, so it gets a loop without the general one's bookkeeping."""
        return (self.prepared.stream is None and self.batch == self.prepared.split.X_train_aug.shape[0]
                and self.prepared.split.X_val is None
                and self.stopper is None and isinstance(self.schedule, Constant) and not self.metrics_every_epoch
                and self.partial is None and not self.diagnostics)

    def _fit_full_batch(self, on_epoch) -> None:
        s, epochs, logged = self.prepared.split, self.cfg.train.epochs, self.is_logged
        X, Y, step, update, grad = s.X_train_aug, s.Y_train, self.ws.step, self.update, self.ws.grad
        flag, history, isfinite = self.stop_flag, self.history, math.isfinite
        self._set_lr(self.schedule.lr)
        lr = self.optimizer.lr
        while self.epoch < epochs:
            epoch = self.epoch + 1
            if logged(epoch):
                record = self.run_epoch(epoch)  # the general path: it also computes the metrics
            else:
                if flag[0]:
                    self.partial = PartialEpoch(None, 0, 0.0, None)
                    raise Interrupted(epoch)
                value = step(X, Y)
                if not isfinite(value):
                    raise DivergedError(epoch, "the loss")
                update(grad)
                record = EpochRecord(epoch, value, lr)
            self.epoch = epoch
            history.append(record)
            if on_epoch is not None and on_epoch(record):
                break

    def _fit(self, on_epoch) -> None:
        epochs = self.cfg.train.epochs
        while self.epoch < epochs:
            epoch = self.epoch + 1
            record = self.run_epoch(epoch)
            self.epoch = epoch
            self.history.append(record)
            self.schedule.step(record.val_loss if self.schedule_monitor == "val_loss" else record.loss)
            watched = record.val_loss if self.monitor == "val_loss" else record.loss
            stop = self.stopper is not None and self.stopper.update(epoch, watched, self.model.flat)
            if self.stopper is not None and self.stopper.best_epoch == epoch:
                self.best_record = record
            if stop:
                self.last_epoch = epoch
            if on_epoch and on_epoch(record):
                break
            if stop:
                break

    @property
    def final(self) -> EpochRecord:
        """The record that describes the weights the run ends with (the best epoch's, when
        early stopping restored them)."""
        st = self.stopper
        if st is not None and st.best_weights is not None and self.best_record is not None:
            return self.best_record
        return self.history[-1]


@dataclass
class TrainResult:
    model: MLP
    prepared: Prepared
    history: History
    seconds: float
    trainer: Trainer

    @property
    def final(self) -> EpochRecord:
        return self.trainer.final


def setup(cfg: Config, init_from: MLP | None = None, plugin_files=None,
          raw: datamod.RawData | None = None) -> Trainer:
    """Everything before the first epoch: one Generator from the seed feeds data, split and init.
    `raw` trains on rows given directly (X, and y as numbers or labels) instead of `data.source`."""
    rng = np.random.default_rng(cfg.seed)
    acts = build_activations(cfg, plugin_files)
    prepared = prepare_data(cfg, rng, raw)
    model = build_model(cfg, prepared.split.X_train.shape[1], rng, acts)
    if init_from is not None:
        model = copy_weights(init_from, model)
    return Trainer(cfg, model, prepared, rng)


def copy_weights(src: MLP, dst: MLP) -> MLP:
    """dst with src's weights; shapes must match (ValueError naming the first that does not)."""
    if len(src.W) != len(dst.W):
        raise ValueError(f"the model file has {len(src.W)} layers, the config {len(dst.W)}")
    for name, a, b in zip(dst.param_names, src.params, dst.params, strict=True):
        if a.shape != b.shape:
            raise ValueError(f"{name} has shape {a.shape} in the model file, {b.shape} in the config")
        b[...] = a
    return dst


def train(cfg: Config, on_epoch=None, init_from: MLP | None = None, plugin_files=None) -> TrainResult:
    """Build and train what the config describes. Raises NnctlError subclasses on bad input,
    DivergedError on a non-finite loss or weight."""
    trainer = setup(cfg, init_from, plugin_files)
    t0 = time.perf_counter()
    history = trainer.fit(on_epoch)
    return TrainResult(trainer.model, trainer.prepared, history, time.perf_counter() - t0, trainer)


def final_metrics(last: EpochRecord) -> dict[str, float | None]:
    """An epoch's numbers, flat: loss, each metric, val_loss and val_<metric>."""
    out: dict[str, float | None] = {"loss": last.loss, **last.metrics, "val_loss": last.val_loss}
    for k, v in (last.val_metrics or {}).items():
        out[f"val_{k}"] = v
    return out


def diagnostic_names(model: MLP) -> list[str]:
    """train.diagnostics' columns: w_norm_<i> and g_norm_<i> per layer, dead_<i> for relu layers."""
    names = []
    for i, act in enumerate(model.activations):
        names += [f"w_norm_{i}", f"g_norm_{i}"] + ([f"dead_{i}"] if act.name in ("relu", "leaky_relu") else [])
    return names


def history_columns(history: History, diag: list[str] = ()) -> dict[str, list]:
    """Per-epoch history as columns, as the model file keeps it for plots (bounded: see History),
    with the diagnostics' columns when the run had them."""
    out = {"epoch": [r.epoch for r in history], "loss": [r.loss for r in history],
           "val_loss": [r.val_loss for r in history], "lr": [r.lr for r in history]}
    for name in diag:
        out[name] = [(r.diag or {}).get(name) for r in history]
    return out


def model_meta(cfg: Config, result: TrainResult) -> dict:
    p = result.prepared
    return {
        "loss": cfg.train.loss,
        "features": p.features,
        "targets": p.targets,
        "classes": p.classes,
        "binary_targets": p.binary,
        "dtype": cfg.train.dtype,
        "config": cfg.resolved(),
        "epochs": result.trainer.epoch,
        "metrics": final_metrics(result.final),
        "best_epoch": result.trainer.stopper.best_epoch if result.trainer.stopper else None,
        "stopped_epoch": result.trainer.stopper.stopped_epoch if result.trainer.stopper else None,
        "history": history_columns(result.history, result.trainer.diag_names),
        **({"data_path": str((cfg.base_dir / cfg.data.path).resolve())} if hasattr(cfg.data, "path") else {}),
    }


def save_result(path, cfg: Config, result: TrainResult) -> None:
    from nnctl.io import modelfile

    s = result.prepared.split
    modelfile.save(path, result.model, model_meta(cfg, result), s.x_mean, s.x_std)
