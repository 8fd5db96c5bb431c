"""Everything a run builds before its first epoch: activations, the prepared data, the model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnctl.config.loader import Config
from nnctl.core import metrics as metricsmod
from nnctl.core.activations import ACTIVATIONS, Activation
from nnctl.core.losses import Loss, make_loss
from nnctl.core.model import MLP
from nnctl.data import datasets as datamod
from nnctl.data.stream import StreamSource
from nnctl.errors import ConfigError, NnctlError


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
        enc = datamod.encode(raw, cfg.train.loss_name, cfg.model.layers[-1].units,
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
    return Prepared(split, enc.features, enc.targets, enc.classes, make_loss(cfg.train.loss))


def _prepare_stream(cfg: Config) -> Prepared:
    """data.stream: a first pass over the file (docs/data.md); the rows stay on disk, and the
    Prepared's stream is the trainer's batch source."""
    from nnctl.data import stream

    if cfg.train.diagnostics:
        raise ConfigError("train.diagnostics: needs the training rows in memory; not with data.stream: true",
                          source=cfg.source)
    d, tc = cfg.data, cfg.train
    table = datamod.open_table(d.source, cfg.base_dir / d.path, getattr(d, "delimiter", ","))
    layout = datamod.layout(table, d, tc.loss_name == "mse")
    last = len(cfg.model.layers) - 1
    try:
        src = stream.StreamSource(table, layout, tc.loss_name, cfg.model.layers[-1].units, seed=cfg.seed,
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
    return Prepared(split, src.features, src.target_names, src.classes, make_loss(tc.loss), src)


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


def diagnostic_names(model: MLP) -> list[str]:
    """train.diagnostics' columns: w_norm_<i> and g_norm_<i> per layer, dead_<i> for relu layers."""
    names = []
    for i, act in enumerate(model.activations):
        names += [f"w_norm_{i}", f"g_norm_{i}"] + ([f"dead_{i}"] if act.name in ("relu", "leaky_relu") else [])
    return names


def copy_weights(src: MLP, dst: MLP) -> MLP:
    """dst with src's weights; shapes must match (ValueError naming the first that does not)."""
    if len(src.W) != len(dst.W):
        raise ValueError(f"the model file has {len(src.W)} layers, the config {len(dst.W)}")
    for name, a, b in zip(dst.param_names, src.params, dst.params, strict=True):
        if a.shape != b.shape:
            raise ValueError(f"{name} has shape {a.shape} in the model file, {b.shape} in the config")
        b[...] = a
    return dst
