"""MLP.predict works through large inputs a block of rows at a time (memory stays bounded) and
gives what one forward pass over every row gives."""

from __future__ import annotations

import numpy as np

from nnctl.core import model as modelmod
from nnctl.core.activations import ACTIVATIONS


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
