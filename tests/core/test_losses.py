"""The losses against closed forms, including logits as large as ±1e4 (no overflow, no warnings)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nnctl.config.loader import load_config
from nnctl.core.activations import ACTIVATIONS, sigmoid, softmax
from nnctl.core.losses import LOSSES
from nnctl.training.trainer import setup

from ..conftest import XOR

BIG = 1e4


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    # overflow, 0/0 and log 0 raise; underflow to 0 is the right answer for e^(−1e4)
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        yield


pytestmark = pytest.mark.filterwarnings("error")


def test_bce_from_logits_at_extremes():
    z = np.array([[BIG], [BIG], [-BIG], [-BIG], [0.0]])
    y = np.array([[1.0], [0.0], [1.0], [0.0], [1.0]])
    a = sigmoid(z)
    loss = LOSSES["bce"]()
    # per row: 0, 1e4, 1e4, 0, log 2
    assert loss.value(z, a, y) == pytest.approx((2 * BIG + math.log(2)) / 5, rel=1e-15)
    g = loss.grad(z, a, y, ACTIVATIONS["sigmoid"]())
    np.testing.assert_allclose(g[:, 0], np.array([0, 1, -1, 0, -0.5]) / 5, atol=1e-300)


def test_bce_matches_its_definition_at_moderate_logits():
    rng = np.random.default_rng(0)
    z = rng.normal(scale=3, size=(20, 1))
    y = rng.integers(0, 2, size=(20, 1)).astype(float)
    p = 1 / (1 + np.exp(-z))
    direct = np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))
    assert LOSSES["bce"]().value(z, sigmoid(z), y) == pytest.approx(direct, rel=1e-12)


def test_cross_entropy_from_logits_at_extremes():
    z = np.array([[BIG, -BIG, 0.0], [BIG, -BIG, 0.0], [-BIG, -BIG, -BIG]])
    y = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    a = softmax(z)
    loss = LOSSES["cross_entropy"]()
    # rows: −log 1 = 0, −log e^(−2e4) = 2e4, uniform row: log 3
    assert loss.value(z, a, y) == pytest.approx((2 * BIG + math.log(3)) / 3, rel=1e-15)
    g = loss.grad(z, a, y, ACTIVATIONS["softmax"]())
    assert np.isfinite(g).all()
    np.testing.assert_allclose(g.sum(axis=1), 0.0, atol=1e-15)  # softmax − one-hot sums to 0


def test_softmax_rows_sum_to_one():
    rng = np.random.default_rng(0)
    z = np.r_[rng.normal(scale=50, size=(50, 7)), np.full((1, 7), BIG), [[BIG, -BIG, 0, 1, 2, 3, 4]]]
    a = softmax(z)
    np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=1e-15)
    assert (a >= 0).all()


def test_sigmoid_is_finite_at_extremes():
    a = sigmoid(np.array([-BIG, -50.0, 0.0, 50.0, BIG]))
    assert a[0] == 0.0 and a[-1] == 1.0 and a[2] == 0.5
    assert 0 < a[1] < 1e-21


def test_mse_closed_form():
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    y = np.array([[0.0, 2.0], [1.0, 0.0]])
    loss = LOSSES["mse"]()
    assert loss.value(a, a, y) == (1 + 0 + 4 + 16) / 4
    np.testing.assert_array_equal(loss.grad(a, a, y, ACTIVATIONS["identity"]()), 2 * (a - y) / 4)


def test_float32_stays_float32():
    z = np.array([[BIG, 0.0]], dtype=np.float32)
    y = np.array([[1.0, 0.0]], dtype=np.float32)
    g = LOSSES["cross_entropy"]().grad(z, softmax(z), y, ACTIVATIONS["softmax"]())
    assert g.dtype == np.float32


def test_float32_bce_loss_is_accurate_near_convergence(write):
    """The training loop's BCE against a float64 evaluation of the same logits, at logits where
    softplus(z) − z·y summed apart used to cancel to 0."""
    cfg = load_config(write("g.yaml", XOR), ["train.dtype=float32", "data.standardize=false"])
    trainer = setup(cfg)
    trainer.model.W[1][...] = np.float32(30.0)
    trainer.model.W[0][...] = np.float32(3.0)
    X, Y = trainer.prepared.split.X_train_aug, trainer.prepared.split.Y_train
    got = trainer.ws.step(X, Y)
    z = (np.tanh(X[:, :2].astype(np.float64) @ trainer.model.W[0].astype(np.float64)) @
         trainer.model.W[1].astype(np.float64))
    want = float(np.mean(np.logaddexp(0.0, z) - z * Y))
    assert want > 0 and got == pytest.approx(want, rel=1e-5)
