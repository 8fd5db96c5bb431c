"""Metrics, keyed by name. Each takes the network's outputs and the encoded targets.

Classifiers: `outputs` are probabilities (n, 1) for bce or (n, C) for cross_entropy, and `Y` the
0/1 column or one-hot rows. Regression: both (n, n_targets).
"""

from __future__ import annotations

import numpy as np


def class_indices(outputs: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Predicted and true class indices; a bce output p > 0.5 means class 1, as Keras and sklearn."""
    if outputs.shape[1] == 1:
        return (outputs[:, 0] > 0.5).astype(np.intp), (Y[:, 0] > 0.5).astype(np.intp)
    return outputs.argmax(axis=1), Y.argmax(axis=1)


def confusion_matrix(outputs, Y) -> np.ndarray:
    """Rows: true class, columns: predicted class (scikit-learn's orientation)."""
    pred, true = class_indices(outputs, Y)
    k = max(Y.shape[1], 2)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (true, pred), 1)
    return cm


def accuracy(outputs, Y) -> float:
    pred, true = class_indices(outputs, Y)
    return float(np.mean(pred == true))


def _per_class(outputs, Y):
    cm = confusion_matrix(outputs, Y).astype(np.float64)
    tp = np.diag(cm)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(cm.sum(0) > 0, tp / cm.sum(0), 0.0)  # sklearn's zero_division=0
        recall = np.where(cm.sum(1) > 0, tp / cm.sum(1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return precision, recall, f1


def precision(outputs, Y) -> float:
    return float(np.mean(_per_class(outputs, Y)[0]))


def recall(outputs, Y) -> float:
    return float(np.mean(_per_class(outputs, Y)[1]))


def f1(outputs, Y) -> float:
    return float(np.mean(_per_class(outputs, Y)[2]))


def rmse(outputs, Y) -> float:
    return float(np.sqrt(np.mean((outputs - Y) ** 2)))


def mae(outputs, Y) -> float:
    return float(np.mean(np.abs(outputs - Y)))


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
    return {name: METRICS[name](outputs, Y) for name in names}


def all_for(classifier: bool) -> list[str]:
    return list(CLASSIFICATION if classifier else REGRESSION)
