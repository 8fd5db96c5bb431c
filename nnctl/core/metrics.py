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
        self.k = max(k, 2)
        self.tp = np.bincount(self.true[self.pred == self.true], minlength=self.k).astype(np.float64)
        self.n_pred = np.bincount(self.pred, minlength=self.k).astype(np.float64)
        self.n_true = np.bincount(self.true, minlength=self.k).astype(np.float64)

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
    return float(c.tp.sum() / max(len(c.true), 1))


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
    ss_res = ((Y - outputs) ** 2).sum(axis=0)
    ss_tot = ((Y - Y.mean(axis=0)) ** 2).sum(axis=0)
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
