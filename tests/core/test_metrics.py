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


@pytest.mark.parametrize("width", [1, 3])
def test_running_metrics_over_batches_match_scikit_learn_on_every_row(width):
    """A streamed epoch's metrics, gathered batch by batch across blocks (and through a
    checkpoint's state in the middle of a block), against scikit-learn on all the rows at once."""
    from sklearn import metrics as sk

    from nnctl.core.metrics import Running

    rng = np.random.default_rng(3)
    n = 1000
    true = rng.integers(0, max(width, 2), n)
    if width == 1:  # bce: probabilities, a 0/1 column
        out, Y = rng.random((n, 1)), true[:, None].astype(float)
        pred = (out[:, 0] > 0.5).astype(int)
    else:
        out, Y = rng.dirichlet(np.ones(width), n), np.eye(width)[true]
        pred = out.argmax(axis=1)
    names = ["accuracy", "precision", "recall", "f1"]
    cuts = [0, 7, 300, 301, 555, 812, n]
    run = Running(names, width, np.float64, block=128)
    for a, b in zip(cuts[:2], cuts[1:3], strict=True):  # 300 rows: 2 blocks and 44 rows
        run.add(out[a:b], Y[a:b])
    resumed = Running(names, width, np.float64, block=128)
    resumed.load_state(run.state())
    for a, b in zip(cuts[2:-1], cuts[3:], strict=True):
        resumed.add(out[a:b], Y[a:b])
    got = resumed.result()
    assert got["accuracy"] == pytest.approx(sk.accuracy_score(true, pred), abs=1e-15)
    for name, fn in (("precision", sk.precision_score), ("recall", sk.recall_score), ("f1", sk.f1_score)):
        assert got[name] == pytest.approx(fn(true, pred, average="macro", zero_division=0), rel=1e-12)


def test_running_regression_metrics_match_scikit_learn_on_every_row():
    from sklearn import metrics as sk

    from nnctl.core.metrics import Running

    rng = np.random.default_rng(4)
    Y = np.c_[rng.normal(5, 2, 900), rng.normal(-300, 40, 900)]
    out = Y + rng.normal(0, [1, 25], (900, 2))
    run = Running(["rmse", "mae", "r2", "accuracy"], 2, np.float64, block=100)
    for a in range(0, 900, 37):
        run.add(out[a:a + 37], Y[a:a + 37])
    got = run.result()
    assert got["rmse"] == pytest.approx(np.mean(np.sqrt(sk.mean_squared_error(Y, out, multioutput="raw_values"))),
                                        rel=1e-12)
    assert got["mae"] == pytest.approx(sk.mean_absolute_error(Y, out), rel=1e-12)
    assert got["r2"] == pytest.approx(sk.r2_score(Y, out), rel=1e-12)


def test_combine_gathers_the_mean_and_squared_deviations_of_every_row():
    """metrics.combine, chunk by chunk (a streamed run's scaling, a streamed epoch's r2), against
    the whole array at once; float32 rows are summed in float64."""
    from nnctl.core.metrics import combine

    rng = np.random.default_rng(5)
    X = rng.normal(3.0, 2.0, size=(1000, 3)) * [1, 1e3, 1e-3]
    for dtype in (np.float64, np.float32):
        rows = X.astype(dtype)
        count, mean, m2 = 0, np.zeros(3), np.zeros(3)
        for a, b in ((0, 1), (1, 300), (300, 301), (301, 1000)):
            count, mean, m2 = combine(count, mean, m2, rows[a:b])
        whole = rows.astype(np.float64)
        assert count == 1000
        np.testing.assert_allclose(mean, whole.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(m2, ((whole - whole.mean(axis=0)) ** 2).sum(axis=0), rtol=1e-9)
