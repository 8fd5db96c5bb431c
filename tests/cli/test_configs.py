"""The configs that ship in configs/: each runs as it is and does what its comment promises."""

from __future__ import annotations

import numpy as np
import pytest

from nnctl.config.loader import load_config
from nnctl.training.run import train

from ..conftest import CONFIGS


def _run(name: str, *overrides: str):
    return train(load_config(CONFIGS / name, list(overrides)))


def test_xor_learns_for_every_seed_0_to_99():
    failures = []
    for seed in range(100):
        r = _run("xor.yaml", f"seed={seed}")
        s = r.prepared.split
        pred = r.model.predict(s.X_train)[:, 0] > 0.5
        if not (pred == (s.Y_train[:, 0] > 0.5)).all() or r.final.loss > 0.05:
            failures.append(seed)
    assert failures == []


def test_line_recovers_slope_and_intercept():
    r = _run("line.yaml")
    assert abs(r.model.W[0][0, 0] - 2.0) < 0.1
    assert abs(r.model.b[0][0] - 3.0) < 0.1
    assert r.final.loss == pytest.approx(1.0, abs=0.1)  # what is left is the N(0, 1) noise


def test_iris_with_validation():
    r = _run("iris.yaml")
    assert r.final.val_loss is not None
    assert r.final.val_metrics["accuracy"] >= 0.9
    assert r.prepared.split.X_val.shape == (30, 4)


def test_tutorial_mse_net_learns_xor():
    r = _run("xor_tutorial_mse.yaml")
    out = r.model.predict(r.prepared.split.X_train)[:, 0]
    np.testing.assert_array_equal(out > 0.5, [False, True, True, False])


def test_no_hidden_layer_cannot_learn_xor():
    r = _run("xor_no_hidden.yaml")
    assert r.final.metrics["accuracy"] <= 0.75
    assert r.final.loss == pytest.approx(np.log(2), abs=1e-3)


def test_relu_adam_net_learns_xor():
    r = _run("xor_relu_adam.yaml")
    assert r.final.metrics["accuracy"] == 1.0 and r.final.loss < 0.05


@pytest.mark.parametrize("name", ["circles", "moons", "gauss", "spiral"])
def test_playground_configs_learn(name):
    from nnctl.training.run import train

    from ..conftest import CONFIGS

    r = train(load_config(CONFIGS / f"{name}.yaml"))
    assert r.final.val_metrics["accuracy"] >= 0.9
