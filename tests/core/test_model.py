"""MLP.predict and MLP.loss_in_blocks work through large inputs a block of rows at a time (memory
stays bounded) and give what one forward pass over every row gives."""

from __future__ import annotations

import numpy as np
import pytest

from nnctl.core import model as modelmod
from nnctl.core.activations import ACTIVATIONS
from nnctl.core.losses import make_loss


def test_predict_in_blocks_equals_one_forward_pass(monkeypatch):
    rng = np.random.default_rng(0)
    acts = [ACTIVATIONS["tanh"](), ACTIVATIONS["softmax"]()]
    net = modelmod.MLP.initialize(3, [5, 4], ["xavier", "xavier"], acts, rng, np.dtype(np.float64))
    X = rng.normal(size=(1000, 3))
    whole = net.forward(X)[0]
    monkeypatch.setattr(modelmod, "BLOCK_ROWS", 64)
    blocks = net.predict(X)
    assert blocks.shape == whole.shape and blocks.dtype == whole.dtype
    np.testing.assert_allclose(blocks, whole, rtol=1e-14, atol=0)
    np.testing.assert_allclose(blocks.sum(axis=1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_the_loss_in_blocks_equals_the_loss_of_one_pass(reduction):
    rng = np.random.default_rng(1)
    acts = [ACTIVATIONS["tanh"](), ACTIVATIONS["softmax"]()]
    net = modelmod.MLP.initialize(3, [5, 4], ["xavier", "xavier"], acts, rng, np.dtype(np.float64))
    X = rng.normal(size=(103, 3))
    Y = np.eye(4)[rng.integers(0, 4, 103)]
    loss = make_loss({"name": "cross_entropy", "reduction": reduction})
    out, cache = net.forward(X, keep=True)
    whole = loss.value(cache.Z[-1], out, Y)
    seen = []
    got = net.loss_in_blocks(loss, X, Y, lambda a, o, y: seen.append((a, len(o))), rows=10)
    assert got == pytest.approx(whole, rel=1e-13)
    assert seen == [(a, min(10, 103 - a)) for a in range(0, 103, 10)]
    by_function = net.loss_in_blocks(loss, X, lambda a, b: Y[a:b], rows=10)
    assert by_function == got
