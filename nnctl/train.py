"""The training loop: data → model → epochs of mini-batch steps → history. Prints nothing.

An epoch is one pass over the training rows in batches of `batch_size` (the last batch may be
smaller), one optimizer step per batch. An epoch's `loss` is the mean of its batches' losses,
each measured before that batch's step (Keras' convention; for full-batch training it is the
loss at the weights the epoch started from). Validation loss is measured after the epoch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import data as datamod
from . import metrics as metricsmod
from .activations import ACTIVATIONS, Activation
from .config import Config
from .errors import ConfigError, DivergedError, NnctlError
from .losses import LOSSES, Loss
from .model import MLP
from .optim import Optimizer, make_optimizer


@dataclass
class Prepared:
    """The data a run trains on, and what the model file must remember about it."""

    split: datamod.Split
    features: list[str]
    targets: list[str]
    classes: list | None
    loss: Loss

    @property
    def classifier(self) -> bool:
        return self.classes is not None


def build_activations(cfg: Config, plugin_files: dict[str, Path] | None = None) -> list[Activation]:
    """One activation object per layer; plugins are imported relative to the config's folder."""
    from .plugins import load_plugin

    acts = []
    for layer in cfg.model.layers:
        a = layer.activation
        if isinstance(a, str):
            acts.append(ACTIVATIONS[a]())
        else:
            override = (plugin_files or {}).get(a["plugin"])
            acts.append(load_plugin(a["plugin"], cfg.base_dir, override))
    return acts


def prepare_data(cfg: Config, rng: np.random.Generator) -> Prepared:
    raw = datamod.load_raw(cfg, cfg.base_dir, rng)
    try:
        enc = datamod.encode(raw, cfg.train.loss, cfg.model.layers[-1].units,
                             f"model.layers.{len(cfg.model.layers) - 1}.units")
    except ConfigError as exc:
        exc.source = exc.source or cfg.source
        raise
    except NnctlError as exc:  # name the file the targets came from
        exc.source = exc.source or (str(cfg.base_dir / cfg.data.path) if cfg.data.source == "csv"
                                    else f"data.source {cfg.data.source}")
        raise
    split = datamod.split(enc, cfg.data.validation_split, rng)
    if cfg.data.standardize:
        split = datamod.standardize(split)
    dtype = np.dtype(cfg.train.dtype)
    split.X_train, split.Y_train = split.X_train.astype(dtype), split.Y_train.astype(dtype)
    if split.X_val is not None:
        split.X_val, split.Y_val = split.X_val.astype(dtype), split.Y_val.astype(dtype)
    return Prepared(split, enc.features, enc.targets, enc.classes, LOSSES[cfg.train.loss]())


def build_model(cfg: Config, n_features: int, rng: np.random.Generator,
                activations: list[Activation]) -> MLP:
    inits = [layer.init or cfg.model.init for layer in cfg.model.layers]
    units = [layer.units for layer in cfg.model.layers]
    return MLP.initialize(n_features, units, inits, activations, rng, np.dtype(cfg.train.dtype))


def table_metrics(cfg: Config, classifier: bool) -> list[str]:
    return list(cfg.train.metrics) if cfg.train.metrics else metricsmod.DEFAULT_TABLE[classifier]


@dataclass
class EpochRecord:
    epoch: int
    loss: float
    lr: float
    metrics: dict[str, float] = field(default_factory=dict)
    val_loss: float | None = None
    val_metrics: dict[str, float] | None = None

    def as_dict(self) -> dict:
        return {"epoch": self.epoch, "loss": self.loss, "val_loss": self.val_loss, "lr": self.lr,
                "metrics": self.metrics, "val_metrics": self.val_metrics}


def _all_finite(arrays) -> bool:
    return all(np.isfinite(a).all() for a in arrays)


class Trainer:
    """Runs epochs on a model; `on_epoch(record)` is called after each and may return True to stop."""

    def __init__(self, cfg: Config, model: MLP, prepared: Prepared, rng: np.random.Generator,
                 optimizer: Optimizer | None = None):
        self.cfg = cfg
        self.model = model
        self.prepared = prepared
        self.rng = rng
        self.optimizer = optimizer or make_optimizer(cfg.train.optimizer, model.params)
        self.metric_names = table_metrics(cfg, prepared.classifier)
        self.history: list[EpochRecord] = []
        self.epoch = 0  # epochs completed

    def _wants_metrics(self, epoch: int) -> bool:
        every = self.cfg.train.log_every
        return epoch == 1 or epoch % every == 0 or epoch == self.cfg.train.epochs

    def run_epoch(self, epoch: int, need_metrics: bool) -> EpochRecord:
        s, tc, loss = self.prepared.split, self.cfg.train, self.prepared.loss
        X, Y = s.X_train, s.Y_train
        n = X.shape[0]
        bs = n if tc.batch_size == "full" else min(tc.batch_size, n)
        order = self.rng.permutation(n) if tc.shuffle and bs < n else None
        outputs = np.empty_like(Y) if need_metrics else None
        total = 0.0
        for start in range(0, n, bs):
            if order is None:
                xb, yb = X[start:start + bs], Y[start:start + bs]
            else:
                idx = order[start:start + bs]
                xb, yb = X[idx], Y[idx]
            out, cache = self.model.forward(xb, keep=True)
            value = loss.value(cache.Z[-1], out, yb)
            if not np.isfinite(value):
                raise DivergedError(epoch, "the loss")
            grads = self.model.backward(cache, yb, loss, tc.weight_decay)
            self.optimizer.step(grads)
            total += value * xb.shape[0]
            if outputs is not None:
                outputs[start:start + bs] = out
        if not _all_finite(self.model.params):
            raise DivergedError(epoch, "a weight")
        record = EpochRecord(epoch, total / n, self.optimizer.lr)
        if outputs is not None:
            Yo = Y if order is None else Y[order]
            record.metrics = metricsmod.compute(self.metric_names, outputs, Yo)
        if s.X_val is not None:
            record.val_loss, record.val_metrics = self.evaluate(s.X_val, s.Y_val, need_metrics)
        return record

    def evaluate(self, X: np.ndarray, Y: np.ndarray, with_metrics: bool = True):
        out, cache = self.model.forward(X, keep=True)
        value = self.prepared.loss.value(cache.Z[-1], out, Y)
        return value, (metricsmod.compute(self.metric_names, out, Y) if with_metrics else None)

    def fit(self, on_epoch: Callable[[EpochRecord], bool | None] | None = None) -> list[EpochRecord]:
        # Overflow on the way to divergence is expected; the non-finite checks report it once.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            return self._fit(on_epoch)

    def _fit(self, on_epoch) -> list[EpochRecord]:
        while self.epoch < self.cfg.train.epochs:
            epoch = self.epoch + 1
            record = self.run_epoch(epoch, self._wants_metrics(epoch))
            self.epoch = epoch
            self.history.append(record)
            if on_epoch and on_epoch(record):
                break
        return self.history


@dataclass
class TrainResult:
    model: MLP
    prepared: Prepared
    history: list[EpochRecord]
    seconds: float
    trainer: Trainer

    @property
    def final(self) -> EpochRecord:
        return self.history[-1]


def setup(cfg: Config, init_from: MLP | None = None, plugin_files=None) -> Trainer:
    """Everything before the first epoch: one Generator from the seed feeds data, split and init."""
    rng = np.random.default_rng(cfg.seed)
    acts = build_activations(cfg, plugin_files)
    prepared = prepare_data(cfg, rng)
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


def final_metrics(history: list[EpochRecord]) -> dict[str, float | None]:
    """The last epoch's numbers, flat: loss, each metric, val_loss and val_<metric>."""
    last = history[-1]
    out: dict[str, float | None] = {"loss": last.loss, **last.metrics, "val_loss": last.val_loss}
    for k, v in (last.val_metrics or {}).items():
        out[f"val_{k}"] = v
    return out


def history_columns(history: list[EpochRecord]) -> dict[str, list]:
    """Per-epoch history as columns, as the model file keeps it for plots."""
    return {"epoch": [r.epoch for r in history], "loss": [r.loss for r in history],
            "val_loss": [r.val_loss for r in history], "lr": [r.lr for r in history]}


def model_meta(cfg: Config, result: TrainResult) -> dict:
    p = result.prepared
    return {
        "loss": cfg.train.loss,
        "features": p.features,
        "targets": p.targets,
        "classes": p.classes,
        "dtype": cfg.train.dtype,
        "config": cfg.resolved(),
        "epochs": result.trainer.epoch,
        "metrics": final_metrics(result.history),
        "history": history_columns(result.history),
    }


def save_result(path, cfg: Config, result: TrainResult) -> None:
    from . import modelfile

    s = result.prepared.split
    modelfile.save(path, result.model, model_meta(cfg, result), s.x_mean, s.x_std)
