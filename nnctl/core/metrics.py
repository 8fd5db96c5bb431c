"""Metrics, keyed by name. Each takes the network's outputs and the encoded targets.

Classifiers: `outputs` are probabilities (n, 1) for bce or (n, C) for cross_entropy, and `Y` the
0/1 column or one-hot rows. Regression: both (n, n_targets).
"""

from __future__ import annotations

import numpy as np


def predicted_indices(outputs: np.ndarray) -> np.ndarray:
    """Predicted class indices; a bce output p > 0.5 means class 1, as Keras and sklearn."""
    if outputs.shape[1] == 1:
        return (outputs[:, 0] > 0.5).astype(np.intp)
    return outputs.argmax(axis=1)


def class_indices(outputs: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Predicted and true class indices (Y: the 0/1 column or one-hot rows)."""
    return predicted_indices(outputs), predicted_indices(Y)


THRESHOLD_TOL = 1e-6  # |p − 0.5| (or the top two softmax outputs' gap) below which round-off decides the class


def at_threshold(outputs: np.ndarray) -> int:
    """How many predictions sit at the decision threshold: a sigmoid output within THRESHOLD_TOL of
    0.5, or a softmax row whose top two outputs tie within it. Their class is decided by round-off
    (a net at its symmetric start gives 0.5 ± 1e-14 for every row), so an accuracy over them is noise."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if outputs.shape[1] == 1:
        return int(np.count_nonzero(np.abs(outputs[:, 0] - 0.5) < THRESHOLD_TOL))
    top2 = np.partition(outputs, -2, axis=1)[:, -2:]
    return int(np.count_nonzero(top2[:, 1] - top2[:, 0] < THRESHOLD_TOL))


def threshold_note(k: int, n: int) -> str | None:
    """The sentence train, evaluate and plot print when predictions sit at the threshold."""
    if not k:
        return None
    return f"{k} of {n} predictions sit at the threshold: accuracy there is decided by round-off"


class Counts:
    """Per-class counts of one set of predictions, O(rows + classes) however many classes there
    are: the true positives, how often each class was predicted and how often it was true. Every
    classifier metric of one call reads the same Counts (`compute` makes it once)."""

    def __init__(self, outputs: np.ndarray | None, Y: np.ndarray | None, *,
                 pred: np.ndarray | None = None, true: np.ndarray | None = None, k: int = 2):
        """From outputs and encoded targets, or from predicted and true class indices and k."""
        if outputs is not None:
            pred, true = class_indices(outputs, Y)
            k = Y.shape[1]
        self.pred, self.true = pred, true
        self.n = len(true)
        self.k = max(k, 2)
        self.tp = np.bincount(self.true[self.pred == self.true], minlength=self.k).astype(np.float64)
        self.n_pred = np.bincount(self.pred, minlength=self.k).astype(np.float64)
        self.n_true = np.bincount(self.true, minlength=self.k).astype(np.float64)

    @classmethod
    def of_totals(cls, tp: np.ndarray, n_pred: np.ndarray, n_true: np.ndarray) -> Counts:
        """Counts summed over several sets of predictions (Running): the metrics, not the pairs."""
        c = cls.__new__(cls)
        c.pred = c.true = None
        c.tp, c.n_pred, c.n_true = tp, n_pred, n_true
        c.k, c.n = len(tp), int(n_true.sum())
        return c

    def per_class(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(self.n_pred > 0, self.tp / self.n_pred, 0.0)  # sklearn's zero_division=0
            recall = np.where(self.n_true > 0, self.tp / self.n_true, 0.0)
            f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
        return precision, recall, f1

    def pairs(self) -> list[tuple[int, int, int]]:
        """(true, predicted, count) for every pair that occurs, most frequent first: the confusion
        matrix's non-zero cells, O(rows) in memory whatever the number of classes."""
        keys, counts = np.unique(self.true.astype(np.int64) * self.k + self.pred, return_counts=True)
        order = np.argsort(-counts, kind="stable")
        return [(int(keys[i] // self.k), int(keys[i] % self.k), int(counts[i])) for i in order]

    def matrix(self) -> np.ndarray:
        """Rows: true class, columns: predicted class (scikit-learn's orientation); k × k."""
        cm = np.zeros((self.k, self.k), dtype=np.int64)
        np.add.at(cm, (self.true, self.pred), 1)
        return cm


def confusion_matrix(outputs, Y) -> np.ndarray:
    return Counts(outputs, Y).matrix()


def _of(metric):
    """A classifier metric callable as metric(outputs, Y) or on a shared Counts."""
    def wrapper(outputs, Y=None):
        return metric(outputs if isinstance(outputs, Counts) else Counts(outputs, Y))

    wrapper.__name__ = wrapper.__qualname__ = metric.__name__
    wrapper.__doc__ = metric.__doc__
    return wrapper


@_of
def accuracy(c: Counts) -> float:
    return float(c.tp.sum() / max(c.n, 1))


@_of
def precision(c: Counts) -> float:
    return float(np.mean(c.per_class()[0]))


@_of
def recall(c: Counts) -> float:
    return float(np.mean(c.per_class()[1]))


@_of
def f1(c: Counts) -> float:
    return float(np.mean(c.per_class()[2]))


def rmse(outputs, Y) -> float:
    """Root mean squared error per target, averaged over targets (scikit-learn's
    `root_mean_squared_error` with multioutput="uniform_average")."""
    return float(np.mean(np.sqrt(np.mean((outputs - Y) ** 2, axis=0))))


def mae(outputs, Y) -> float:
    """Mean absolute error per target, averaged over targets."""
    return float(np.mean(np.mean(np.abs(outputs - Y), axis=0)))


def r2(outputs, Y) -> float:
    """Coefficient of determination, averaged over targets (scikit-learn's r2_score)."""
    return _r2(((Y - outputs) ** 2).sum(axis=0), ((Y - Y.mean(axis=0)) ** 2).sum(axis=0))


def _r2(ss_res: np.ndarray, ss_tot: np.ndarray) -> float:
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = np.where(ss_tot > 0, 1 - ss_res / ss_tot, np.where(ss_res == 0, 1.0, 0.0))
    return float(np.mean(scores))


CLASSIFICATION = {"accuracy": accuracy, "precision": precision, "recall": recall, "f1": f1}
REGRESSION = {"rmse": rmse, "mae": mae, "r2": r2}
METRICS = {**CLASSIFICATION, **REGRESSION}

# What the loss table shows when the config does not choose.
DEFAULT_TABLE = {True: ["accuracy"], False: ["rmse"]}


def compute(names: list[str], outputs: np.ndarray, Y: np.ndarray) -> dict[str, float]:
    counts = Counts(outputs, Y) if any(n in CLASSIFICATION for n in names) else None
    return {name: METRICS[name](counts) if name in CLASSIFICATION else METRICS[name](outputs, Y)
            for name in names}


def all_for(classifier: bool) -> list[str]:
    return list(CLASSIFICATION if classifier else REGRESSION)


def combine(count: int, mean: np.ndarray, m2: np.ndarray, X: np.ndarray):
    """A column-wise running count, mean and sum of squared deviations, with the rows of X added
    (Chan et al.'s parallel formula): a streamed run's standardisation statistics and a streamed
    epoch's target spread (r2) are gathered by it chunk by chunk."""
    m = X.shape[0]
    cmean = X.mean(axis=0, dtype=np.float64)
    cm2 = ((X - cmean) ** 2).sum(axis=0)
    total = count + m
    delta = cmean - mean
    return total, mean + delta * (m / total), m2 + cm2 + delta ** 2 * (count * m / total)


class Running:
    """An epoch's metrics gathered batch by batch, in memory that does not grow with the rows (a
    streamed epoch, docs/data.md): the outputs and targets of up to `block` rows are copied aside,
    and each full block is folded into totals — per-class counts for the classifier metrics, per
    target the sums of squared and absolute errors and the targets' running mean and squared
    deviations (Chan et al.'s parallel formula) for the regression ones. `result()` gives what
    `compute` gives on the whole epoch, up to round-off in the regression sums."""

    BLOCK = 65536

    def __init__(self, names: list[str], width: int, dtype, block: int = BLOCK):
        self.names, self.block = names, block
        self.out, self.y = np.empty((block, width), dtype), np.empty((block, width), dtype)
        self.filled, self.n = 0, 0
        k = max(width, 2)
        self.totals = {"tp": np.zeros(k), "n_pred": np.zeros(k), "n_true": np.zeros(k),
                       "sse": np.zeros(width), "sae": np.zeros(width), "mean": np.zeros(width), "m2": np.zeros(width)}
        self.classify = any(n in CLASSIFICATION for n in names)
        self.regress = any(n in REGRESSION for n in names)

    def add(self, outputs: np.ndarray, Y: np.ndarray) -> None:
        """One batch's outputs and targets (copied: the caller's arrays may be reused buffers)."""
        at, m = 0, outputs.shape[0]
        while at < m:
            take = min(m - at, self.block - self.filled)
            self.out[self.filled:self.filled + take] = outputs[at:at + take]
            self.y[self.filled:self.filled + take] = Y[at:at + take]
            self.filled += take
            at += take
            if self.filled == self.block:
                self._fold()

    def _fold(self) -> None:
        out, Y, t, m = self.out[:self.filled], self.y[:self.filled], self.totals, self.filled
        if not m:
            return
        if self.classify:
            c = Counts(out, Y)
            t["tp"] += c.tp
            t["n_pred"] += c.n_pred
            t["n_true"] += c.n_true
        if self.regress:
            err = out.astype(np.float64) - Y
            t["sse"] += (err ** 2).sum(axis=0)
            t["sae"] += np.abs(err).sum(axis=0)
            _, t["mean"], t["m2"] = combine(self.n, t["mean"], t["m2"], Y)
        self.n += m
        self.filled = 0

    def result(self) -> dict[str, float]:
        self._fold()
        t, n = self.totals, max(self.n, 1)
        counts = Counts.of_totals(t["tp"], t["n_pred"], t["n_true"]) if self.classify else None
        return {name: _FROM_TOTALS[name](counts, t, n) for name in self.names}

    def state(self) -> dict:
        """Where the epoch's metrics stand, as plain values and arrays (a checkpoint keeps it):
        the totals and the block not folded yet, so a resumed epoch folds the same blocks."""
        return {"n": self.n, "out": self.out[:self.filled].copy(), "y": self.y[:self.filled].copy(),
                **{k: v.copy() for k, v in self.totals.items()}}

    def load_state(self, state: dict) -> None:
        self.n, self.filled = int(state["n"]), 0
        self.totals = {k: np.array(state[k], dtype=np.float64) for k in self.totals}
        self.add(state["out"], state["y"])


def _on_counts(metric):
    return lambda counts, totals, n: metric(counts)


# Each metric from Running's totals: (Counts of every row, the sums, the row count).
_FROM_TOTALS = {
    **{name: _on_counts(metric) for name, metric in CLASSIFICATION.items()},
    "rmse": lambda c, t, n: float(np.mean(np.sqrt(t["sse"] / n))),
    "mae": lambda c, t, n: float(np.mean(t["sae"] / n)),
    "r2": lambda c, t, n: _r2(t["sse"], t["m2"]),
}
