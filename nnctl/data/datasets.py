"""Built-in data sets, CSV data, target encoding, the validation split and standardisation.

All randomness comes from the Generator passed in, which the config's seed created.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnctl.core.model import standardize_in_place
from nnctl.data import csvtable, reader
from nnctl.errors import ConfigError, DataError


@dataclass
class RawData:
    """Rows before encoding: X (n, n_features) float64, targets as numbers or as label strings."""

    X: np.ndarray
    features: list[str]
    targets: list[str]
    y_numeric: np.ndarray | None  # (n, n_targets), when every target cell is a number
    y_labels: list[str] | None = None  # one label per row, when the single target holds text
    X_aug: np.ndarray | None = None  # X with a column of ones, when the loader built it (X is its view)


# --- built-in sets -----------------------------------------------------------------------------

def _xor(cfg, rng):
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    return X, np.array([0, 1, 1, 0], dtype=np.float64)


def _line(cfg, rng):
    x = rng.uniform(cfg.x_range[0], cfg.x_range[1], size=cfg.n)
    y = cfg.slope * x + cfg.intercept + cfg.noise * rng.standard_normal(cfg.n)
    return x[:, None], y


def _halves(n: int) -> tuple[int, int]:
    return n // 2, n - n // 2


def _circles(cfg, rng):
    """A disc of class 1 (radius < 0.5) inside a ring of class 0 (0.7 < radius < 1)."""
    n1, n0 = _halves(cfg.n)
    r = np.concatenate([rng.uniform(0.0, 0.5, n1), rng.uniform(0.7, 1.0, n0)])
    t = rng.uniform(0.0, 2 * np.pi, cfg.n)
    X = np.c_[r * np.cos(t), r * np.sin(t)] + cfg.noise * rng.standard_normal((cfg.n, 2))
    return X, np.r_[np.ones(n1), np.zeros(n0)]


def _moons(cfg, rng):
    """scikit-learn's make_moons: two interleaving half circles."""
    n0, n1 = _halves(cfg.n)
    t0, t1 = np.linspace(0, np.pi, n0), np.linspace(0, np.pi, n1)
    X = np.r_[np.c_[np.cos(t0), np.sin(t0)], np.c_[1 - np.cos(t1), 0.5 - np.sin(t1)]]
    X += cfg.noise * rng.standard_normal(X.shape)
    return X, np.r_[np.zeros(n0), np.ones(n1)]


def _gauss(cfg, rng):
    """Two Gaussian blobs centred at (2, 2) (class 1) and (−2, −2) (class 0)."""
    n1, n0 = _halves(cfg.n)
    std = 0.5 + 3.5 * cfg.noise  # TensorFlow Playground widens the blobs with its noise knob
    X = np.r_[rng.normal(2.0, std, (n1, 2)), rng.normal(-2.0, std, (n0, 2))]
    return X, np.r_[np.ones(n1), np.zeros(n0)]


def _spiral(cfg, rng):
    """Two interleaved spirals, 1.75 turns each, as in TensorFlow Playground."""
    parts, labels = [], []
    for label, (count, delta) in enumerate(zip(_halves(cfg.n), (0.0, np.pi), strict=True)):
        i = np.arange(count)
        r = i / count
        t = 1.75 * i / count * 2 * np.pi + delta
        parts.append(np.c_[r * np.sin(t), r * np.cos(t)])
        labels.append(np.full(count, float(label)))
    X = np.concatenate(parts) + cfg.noise * rng.standard_normal((cfg.n, 2))
    return X, np.concatenate(labels)


BUILTIN = {"xor": _xor, "line": _line, "circles": _circles, "moons": _moons, "gauss": _gauss,
           "spiral": _spiral}


def load_raw(cfg, base_dir: Path, rng: np.random.Generator) -> RawData:
    """The rows the config's `data:` section describes."""
    d = cfg.data
    if d.source in BUILTIN:
        with np.errstate(over="ignore", invalid="ignore"):
            X, y = BUILTIN[d.source](d, rng)
        if not (np.isfinite(X).all() and np.isfinite(y).all()):
            raise ConfigError(f"data: these settings of data.source {d.source} give numbers too large to "
                              "be finite; expected smaller ranges, slope, intercept or noise",
                              source=getattr(cfg, "source", None))
        features = ["x"] if d.source == "line" else ["x1", "x2"]
        return RawData(X, features, ["y"], y[:, None])
    return _load_table(d, base_dir, cfg.train.loss_name == "mse", np.dtype(cfg.train.dtype))


def _load_table(d, base_dir: Path, numeric_target: bool, dtype) -> RawData:
    """A CSV or Parquet file's rows: the features parsed in chunks into one array at `dtype`."""
    path = Path(d.path) if Path(d.path).is_absolute() else base_dir / d.path
    table = open_table(d.source, path, getattr(d, "delimiter", ","))
    lay = layout(table, d, numeric_target)
    f_idx, t_idx = lay.features, lay.targets or [lay.label]
    features, targets = [table.header[i] for i in f_idx], [table.header[i] for i in t_idx]
    numbers = lay.label is None
    try:
        got = reader.load(table, f_idx, lay.targets, lay.label, dtype)
    except DataError as exc:
        if numeric_target and getattr(exc, "column", None) in t_idx:
            exc.message += "; loss mse needs numbers in the target (use cross_entropy or bce to classify labels)"
        raise
    y_numeric, y_labels = got.Y, None
    if not numbers:
        if isinstance(got.labels, np.ndarray):
            y_numeric = got.labels[:, None]
        else:
            y_labels = got.labels
    return RawData(got.X_aug[:, :-1], features, targets, y_numeric, y_labels, got.X_aug)


def layout(table, d, numeric_target: bool):
    """Which columns the config's data section reads: features, and numeric targets (mse, or
    several targets) or one label column (classes, numbers or text)."""
    targets = [d.target] if isinstance(d.target, str) else list(d.target)
    t_idx = [table.column_index(t, "target") for t in targets]
    if d.features is None:
        f_idx = [i for i in range(len(table.header)) if i not in t_idx]
    else:
        f_idx = [table.column_index(f, "feature") for f in d.features]
        twice = next((f for i, f in enumerate(d.features) if f in d.features[:i]), None)
        if twice is not None:  # a column twice would be two inputs of the same values
            raise ConfigError(f"data.features: {twice!r} is listed twice; name each column once")
        both = set(f_idx) & set(t_idx)
        if both:
            raise ConfigError(f"data.features: {table.header[both.pop()]!r} is also the target")
    if not f_idx:
        raise DataError("no feature columns left besides the target", source=table.source)
    if numeric_target or len(t_idx) > 1:  # numbers or bust
        return reader.Layout(f_idx, t_idx, None)
    return reader.Layout(f_idx, [], t_idx[0])


def open_table(source: str, path: Path, delimiter: str = ","):
    """The table a file holds, by the config's data.source (or a command's input, by its suffix)."""
    if source == "parquet":
        from nnctl.data import parquet

        return parquet.read_table(path, source=str(path))
    return csvtable.read_table(path, delimiter, source=str(path))


# --- encoding --------------------------------------------------------------------------------

INT64 = (-(1 << 63), (1 << 63) - 1)


def is_int64(label) -> bool:
    """The one rule for an integer class label: a Python int (not a bool) that int64 holds. Such
    labels are integers everywhere (the model file, predict, ONNX's int64 `label`); any other
    label is a float or text (docs/model-file.md, "Classes")."""
    return isinstance(label, int) and not isinstance(label, bool) and INT64[0] <= label <= INT64[1]


EXACT = 1 << 53  # float64 holds every whole number below this, and not every one above


def _number(label) -> int | float | None:
    """A label's value as the data is read (a float), an int when whole (an int, or an integer
    written as text, exactly: also beyond EXACT); None for text."""
    if isinstance(label, (str, int)) and not isinstance(label, bool):
        try:
            return int(label)
        except ValueError:
            pass
    try:
        v = float(label)
    except (TypeError, ValueError):
        return None
    return int(v) if v.is_integer() else v


def label_value(label):
    """How a class is kept: an int when whole and within int64 (`is_int64`), a float, else text;
    a whole number beyond int64 is kept as the text of its digits."""
    n = _number(label)
    if n is None:
        return str(label)
    return str(n) if isinstance(n, int) and not is_int64(n) else n


def sort_classes(labels: list) -> list:
    """Distinct labels sorted: numerically if all are numbers (kept as `label_value` says), else
    as text."""
    nums = {}
    for lab in set(labels):
        n = _number(lab)
        if n is None:
            return sorted({str(lab) for lab in labels})
        nums.setdefault(n, lab)
    return [label_value(nums[n]) for n in sorted(nums)]


class ClassIndex:
    """Each label's class index: by value when every class is a number (so '1' and '1.0' agree),
    else by text, as sort_classes keeps such classes apart ('01' and '1' are two classes)."""

    def __init__(self, classes: list):
        values = [_number(c) for c in classes]
        self.numeric = all(v is not None for v in values)
        self.index = {self.key(c): i for i, c in enumerate(classes)}
        # whether a file's labels are read as text to find these classes: text classes are
        # matched as written, and a whole number from EXACT on loses its digits as a float
        self.as_text = not self.numeric or any(abs(v) >= EXACT for v in values)

    def key(self, label) -> str:
        return repr(_number(label)) if self.numeric else reader.label_text(label)

    def get(self, label, default=None):
        return self.index.get(self.key(label), default)

    def __getitem__(self, label) -> int:
        return self.index[self.key(label)]

    def rows(self, labels) -> np.ndarray:
        """Each label's class index (n,), -1 where it is none of the classes. Numbers (an array)
        are matched once per distinct value and placed in C: a Python step per row took seconds a
        million rows."""
        if isinstance(labels, np.ndarray):
            distinct = np.unique(labels)
            of = np.array([self.get(v, -1) for v in distinct.tolist()], dtype=np.intp)
            return of[np.searchsorted(distinct, labels)]
        return np.array([self.get(v, -1) for v in labels], dtype=np.intp)


@dataclass
class Encoded:
    """Data ready for the network: X (n, n_features), Y (n, n_outputs)."""

    X: np.ndarray
    Y: np.ndarray
    features: list[str]
    targets: list[str]
    classes: list | None = None
    X_aug: np.ndarray | None = None  # X with a column of ones that make_split may reuse


def encode(raw: RawData, loss: str, out_units: int | str, last: str = "model.layers.-1.units") -> Encoded:
    """Turn targets into what the loss needs: numbers (mse), 0/1 (bce), one-hot (cross_entropy).
    `last` names the output layer's units key in messages; out_units "auto" fits any count."""
    auto = out_units == "auto"
    if loss == "mse":
        if raw.y_numeric is None:
            raise DataError(f"target {raw.targets[0]!r} holds text labels; loss mse needs numbers "
                            "(use cross_entropy or bce to classify)")
        if not auto and out_units != raw.y_numeric.shape[1]:
            raise ConfigError(f"{last}: the output layer has {out_units} units but there are "
                              f"{raw.y_numeric.shape[1]} target column(s); expected them equal")
        return Encoded(raw.X, raw.y_numeric, raw.features, raw.targets, X_aug=raw.X_aug)
    if len(raw.targets) != 1:
        raise ConfigError(f"data.target: loss {loss} takes one target column, got {len(raw.targets)}")
    if raw.y_labels is None:  # numbers: sorted by value, matched in C (a Python object per row would cost more
        values = raw.y_numeric[:, 0]  # than the features of a float32 run); unique's return_inverse
        distinct = np.unique(values)  # would hold four row-sized temporaries at once
        classes, idx = sort_classes(distinct.tolist()), np.searchsorted(distinct, values)
    else:
        classes = sort_classes(raw.y_labels)
        idx = ClassIndex(classes).rows(raw.y_labels)
    if loss == "bce":
        if len(classes) != 2:
            raise DataError(f"target {raw.targets[0]!r} has {len(classes)} distinct values "
                            f"({_preview(classes)}); loss bce needs exactly 2 "
                            "(use cross_entropy for more)")
        if not auto and out_units != 1:
            raise ConfigError(f"{last}: loss bce needs 1 output unit, got {out_units}")
        return Encoded(raw.X, idx[:, None].astype(np.float64), raw.features, raw.targets, classes, raw.X_aug)
    if len(classes) < 2:
        raise DataError(f"target {raw.targets[0]!r} has only one class ({_preview(classes)}); "
                        "a classifier needs at least 2")
    if not auto and out_units != len(classes):
        raise ConfigError(f"{last}: the output layer has {out_units} units but target "
                          f"{raw.targets[0]!r} has {len(classes)} classes ({_preview(classes)}); "
                          "cross_entropy needs one unit per class")
    Y = np.zeros((len(idx), len(classes)))
    Y[np.arange(len(idx)), idx] = 1.0
    return Encoded(raw.X, Y, raw.features, raw.targets, classes, raw.X_aug)


def _preview(classes: list) -> str:
    shown = ", ".join(map(str, classes[:6]))
    return shown + (", …" if len(classes) > 6 else "")


# --- split and scale -------------------------------------------------------------------------

@dataclass
class Split:
    """Training rows, stored with a trailing column of ones (`X_train_aug`), so the first layer's
    bias rides along in its matrix product; `X_train` is the view without that column."""

    X_train_aug: np.ndarray
    Y_train: np.ndarray
    X_val: np.ndarray | None
    Y_val: np.ndarray | None
    x_mean: np.ndarray | None = None
    x_std: np.ndarray | None = None

    @property
    def X_train(self) -> np.ndarray:
        return self.X_train_aug[:, :-1]


CHUNK = 4096  # rows per pass when copying, so no full-size temporary is ever made


def _chunks(rows: np.ndarray | None, n: int):
    for start in range(0, n, CHUNK):
        yield start, min(start + CHUNK, n), (slice(start, start + CHUNK) if rows is None else rows[start:start + CHUNK])


def make_split(enc: Encoded, fraction: float, rng: np.random.Generator, standardize: bool,
               dtype=np.float64) -> Split:
    """Hold out ceil(fraction·n) rows after a seeded shuffle (never simply the last rows), scale
    the inputs by the training rows' mean and std (a constant feature keeps std 1, no division by
    zero), and convert to `dtype`. Peak memory: the input plus the training copy."""
    X, Y = enc.X, enc.Y
    n, nf = X.shape
    tr = va = None
    if fraction > 0:
        n_val = math.ceil(fraction * n)
        if n - n_val < 1:
            raise DataError(f"validation_split {fraction} of {n} rows leaves no training rows")
        order = rng.permutation(n)
        va, tr = np.sort(order[:n_val]), order[n_val:]
        tr.sort()  # in place: the training rows' index costs no second copy
    if enc.X_aug is not None and enc.X_aug.dtype == np.dtype(dtype):
        return _split_in_place(enc.X_aug, Y, tr, va, standardize)
    n_tr = n if tr is None else len(tr)
    mean, std = _stats(X, tr, n_tr) if standardize else (None, None)
    Xa = np.empty((n_tr, nf + 1), dtype=dtype)
    Xa[:, nf] = 1.0
    for a, b, rows in _chunks(tr, n_tr):
        Xa[a:b, :nf] = X[rows] if mean is None else (X[rows] - mean) / std
    X_val = Y_val = None
    if va is not None:
        X_val = (X[va] if mean is None else (X[va] - mean) / std).astype(dtype)
        Y_val = Y[va].astype(dtype)
    Y_tr = (Y if tr is None else Y[tr]).astype(dtype)
    return Split(Xa, Y_tr, X_val, Y_val, mean, std)


def _stats(X: np.ndarray, rows: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of X's selected rows (all n when rows is None), in two chunked float64 passes:
    the mean, then the spread around it. A constant column gets std 1 (no division by zero)."""
    total = np.zeros(X.shape[1])
    for _, _, sel in _chunks(rows, n):
        total += X[sel].sum(axis=0)
    mean = total / n
    sq = np.zeros(X.shape[1])
    for _, _, sel in _chunks(rows, n):
        sq += ((X[sel] - mean) ** 2).sum(axis=0)
    std = np.sqrt(sq / n)
    std[~(std > 1e-12 * np.maximum(1.0, np.abs(mean)))] = 1.0
    return mean, std


def _split_in_place(Xa: np.ndarray, Y: np.ndarray, tr, va, standardize: bool) -> Split:
    """make_split for rows the loader already laid out as [X, 1] at the training dtype: the
    validation rows are copied out, the training rows moved up in place (tr is sorted, so no row
    is overwritten before it is read) and scaled in place, chunk by chunk in float64. No second
    copy of the data is ever made."""
    nf, dtype = Xa.shape[1] - 1, Xa.dtype
    X_val = Y_val = None
    if tr is not None:
        X_val, Y_val = Xa[va, :nf], Y[va].astype(dtype)  # fancy indexing copies
        for a, b, rows in _chunks(tr, len(tr)):
            Xa[a:b] = Xa[rows]
        Xa, Y = Xa[:len(tr)], Y[tr]
    mean = std = None
    if standardize:
        mean, std = _stats(Xa[:, :nf], None, Xa.shape[0])
        for A in (Xa[:, :nf], X_val):
            if A is not None:
                standardize_in_place(A, mean, std)
    return Split(Xa, Y.astype(dtype, copy=False), X_val, Y_val, mean, std)
