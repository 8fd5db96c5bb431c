"""Metrics against hand-worked values."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest


def test_multi_target_rmse_and_mae_are_means_over_targets(nnctl, write):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 2))
    Y = np.c_[X @ [1.0, 2.0] + rng.normal(size=50), 100 * (X @ [0.5, -1.0]) + 30 * rng.normal(size=50)]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["a", "b", "small", "big"])
    w.writerows(np.c_[X, Y].tolist())
    write("d.csv", buf.getvalue())
    cfg = write("c.yaml", """
        data: {source: csv, path: d.csv, target: [small, big]}
        model: {layers: [{units: 2}]}
        train: {loss: mse, epochs: 5, optimizer: {name: sgd, lr: 0.01}}
        """)
    assert nnctl("train", cfg, "-q").code == 0
    got = nnctl("evaluate", "c.npz", "d.csv", "--json").json()["metrics"]
    pred = np.array([[float(v) for v in row.split(",")] for row in
                     nnctl("predict", "c.npz", "d.csv").stdout.splitlines()[1:]])
    err = pred - Y
    assert got["rmse"] == pytest.approx(np.mean(np.sqrt(np.mean(err ** 2, axis=0))), rel=1e-9)
    assert got["mae"] == pytest.approx(np.mean(np.mean(np.abs(err), axis=0)), rel=1e-9)
    assert got["rmse"] != pytest.approx(np.sqrt(np.mean(err ** 2)), rel=1e-3)  # not the pooled one


def test_classifier_metrics_by_hand():
    from nnctl.core import metrics

    # true: 0 0 1 1 2 2; predicted: 0 1 1 1 2 0
    Y = np.eye(3)[[0, 0, 1, 1, 2, 2]]
    out = np.eye(3)[[0, 1, 1, 1, 2, 0]]
    assert metrics.confusion_matrix(out, Y).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert metrics.accuracy(out, Y) == pytest.approx(4 / 6)
    precision = [1 / 2, 2 / 3, 1.0]
    recall = [1 / 2, 1.0, 1 / 2]
    f1 = [2 * p * r / (p + r) for p, r in zip(precision, recall, strict=True)]
    assert metrics.precision(out, Y) == pytest.approx(np.mean(precision))
    assert metrics.recall(out, Y) == pytest.approx(np.mean(recall))
    assert metrics.f1(out, Y) == pytest.approx(np.mean(f1))
