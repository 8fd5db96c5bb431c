"""One or two hand-worked steps of every optimizer, written from the papers' formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nnctl.core.optim import SGD, Adam, RMSprop


def _run(opt_cls, grads, **kw):
    p = np.array([1.0])
    opt = opt_cls(p, **kw)
    out = []
    for g in grads:
        opt.step(np.array([g]))
        out.append(p[0])
    return out


def test_plain_sgd():
    assert _run(SGD, [2.0, -1.0], lr=0.1) == pytest.approx([0.8, 0.9], abs=1e-15)


def test_sgd_momentum():
    # v1 = 1; p1 = 1 − 0.1·1 = 0.9.  v2 = 0.9·1 + 0.5 = 1.4; p2 = 0.9 − 0.14 = 0.76
    assert _run(SGD, [1.0, 0.5], lr=0.1, momentum=0.9) == pytest.approx([0.9, 0.76], abs=1e-15)


def test_sgd_nesterov():
    # v1 = 1; p1 = 1 − 0.1·(1 + 0.9·1) = 0.81.  v2 = 1.4; p2 = 0.81 − 0.1·(0.5 + 0.9·1.4) = 0.634
    assert _run(SGD, [1.0, 0.5], lr=0.1, momentum=0.9, nesterov=True) == pytest.approx([0.81, 0.634], abs=1e-15)


def test_adam_bias_correction():
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    p, m, v, expected = 1.0, 0.0, 0.0, []
    for t, g in enumerate([2.0, -1.0, 0.5], start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        p = p - lr * m_hat / (math.sqrt(v_hat) + eps)
        expected.append(p)
    got = _run(Adam, [2.0, -1.0, 0.5], lr=lr, betas=(b1, b2), eps=eps)
    assert got == pytest.approx(expected, rel=1e-13)
    # the first step of Adam moves by lr·sign(g), whatever the gradient's size
    assert got[0] == pytest.approx(1.0 - 0.1, abs=1e-8)


def test_rmsprop():
    # s1 = 0.01·4 = 0.04; p1 = 1 − 0.01·2/(0.2 + 1e-8)
    # s2 = 0.99·0.04 + 0.01·1 = 0.0496; p2 = p1 + 0.01·1/(√0.0496 + 1e-8)
    p1 = 1 - 0.01 * 2 / (0.2 + 1e-8)
    p2 = p1 + 0.01 / (math.sqrt(0.0496) + 1e-8)
    assert _run(RMSprop, [2.0, -1.0], lr=0.01, alpha=0.99, eps=1e-8) == pytest.approx([p1, p2], rel=1e-14)


def test_state_round_trip_continues_exactly():
    grads = [np.array([0.3, -0.2]), np.array([0.1, 0.4]), np.array([-0.5, 0.2])]
    a = np.array([1.0, 2.0])
    full = Adam(a, lr=0.05)
    for g in grads:
        full.step(g.copy())  # a step consumes its gradient
    b = np.array([1.0, 2.0])
    first = Adam(b, lr=0.05)
    first.step(grads[0].copy())
    second = Adam(b, lr=0.05)
    second.load_state(first.state())
    for g in grads[1:]:
        second.step(g.copy())
    np.testing.assert_array_equal(a, b)


def test_negative_learning_rate_is_refused():
    with pytest.raises(ValueError, match="Invalid learning rate"):
        SGD(np.zeros(1), lr=-1.0)
