"""K-fold cross-validation for `sweep.folds` (docs/commands/sweep.md): which fold each row belongs to,
and one fold's run set up on the rows the parent read.

The rows are shuffled once by the config's seed and dealt out to the folds in that order; for a
classifier each class is dealt on its own, so every fold holds each class in proportion (as
scikit-learn's StratifiedKFold with shuffle): fold sizes and per-class counts differ by at most one.
"""

from __future__ import annotations

import numpy as np


def assign(labels: np.ndarray | None, n: int, k: int, seed: int) -> np.ndarray:
    """fold_of (n,): rows shuffled by `seed`, then dealt round-robin to k folds (per class when
    `labels`, each class continuing where the one before stopped, as StratifiedKFold balances)."""
    order = np.random.default_rng(seed).permutation(n)
    fold_of = np.empty(n, dtype=np.intp)
    if labels is None:
        fold_of[order] = np.arange(n) % k
        return fold_of
    start = 0
    for c in np.unique(labels):
        rows = order[labels[order] == c]
        fold_of[rows] = (start + np.arange(len(rows))) % k
        start = (start + len(rows)) % k
    return fold_of


def setup(cfg, shared, fold: int, plugin_files):
    """A Trainer for one fold: the parent's rows encoded together (every fold knows every class),
    training on the other folds (scaled by their mean and std) and validating on this one."""
    from nnctl.core.losses import LOSSES
    from nnctl.data.datasets import Encoded, RawData, encode, make_split
    from nnctl.training.setup import Prepared, build_activations, build_model
    from nnctl.training.trainer import Trainer

    rng = np.random.default_rng(cfg.seed)
    acts = build_activations(cfg, plugin_files)
    X = shared.X_aug[:, :-1]
    raw = RawData(X, shared.features, shared.targets, shared.y_numeric, shared.y_labels)
    last = len(cfg.model.layers) - 1
    enc = encode(raw, cfg.train.loss, cfg.model.layers[last].units, f"model.layers.{last}.units")
    cfg.model.layers[last].units = enc.Y.shape[1]
    held = shared.fold_of == fold
    dtype = np.dtype(cfg.train.dtype)
    train = Encoded(X[~held], enc.Y[~held], enc.features, enc.targets, enc.classes)
    split = make_split(train, 0.0, rng, cfg.data.standardize, dtype)
    X_val = X[held] if split.x_mean is None else (X[held] - split.x_mean) / split.x_std
    split.X_val, split.Y_val = X_val.astype(dtype), enc.Y[held].astype(dtype)
    prepared = Prepared(split, enc.features, enc.targets, enc.classes, LOSSES[cfg.train.loss]())
    model = build_model(cfg, split.X_train.shape[1], rng, acts)
    return Trainer(cfg, model, prepared, rng)
