"""Backprop against central differences in float64, through the routine `nnctl gradcheck` uses."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from nnctl.core.activations import ACTIVATIONS, PluginActivation
from nnctl.core.losses import LOSSES
from nnctl.core.model import MLP
from nnctl.tools.gradcheck import check_gradients, numeric_gradient, relative_error

from ..conftest import PLUGINS

HIDDEN = [a for a in ACTIVATIONS if a != "softmax"]
# Every output activation each loss accepts: bce needs sigmoid, cross_entropy softmax, mse any.
PAIRS = [("bce", "sigmoid"), ("cross_entropy", "softmax")] + [("mse", a) for a in ACTIVATIONS]


def _problem(loss: str, out_units: int, rng, n: int = 7, n_in: int = 3):
    X = rng.normal(size=(n, n_in))
    if loss == "mse":
        Y = rng.normal(size=(n, out_units))
    elif loss == "bce":
        Y = rng.integers(0, 2, size=(n, 1)).astype(float)
    else:
        Y = np.eye(out_units)[rng.integers(0, out_units, size=n)]
    return X, Y


def _model(hidden, out: str, out_units: int, rng, n_in: int = 3) -> MLP:
    """hidden: an activation's name, or a function making one (a plugin)."""
    make = ACTIVATIONS[hidden] if isinstance(hidden, str) else hidden
    acts = [make(), make(), ACTIVATIONS[out]()]
    m = MLP.initialize(n_in, [5, 4, out_units], ["normal"] * 3, acts, rng)
    for b in m.b:  # non-zero biases, so no gradient is zero by symmetry
        b[...] = rng.normal(scale=0.5, size=b.shape)
    return m


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("loss,out", PAIRS)
def test_backprop_matches_finite_differences(hidden, loss, out):
    rng = np.random.default_rng(42)
    units = 1 if loss == "bce" else 3
    model = _model(hidden, out, units, rng)
    X, Y = _problem(loss, units, rng)
    report = check_gradients(model, X, Y, LOSSES[loss](), eps=1e-6, tol=1e-6)
    # smooth functions reach ~1e-9; ReLU's kinks are not hit by continuous random inputs
    assert report.passed, report.as_dict()
    assert report.max_rel_error < 1e-6


@pytest.mark.parametrize("loss,out", [("mse", "identity"), ("bce", "sigmoid"), ("cross_entropy", "softmax")])
def test_weight_decay_gradient_is_lambda_w(loss, out):
    rng = np.random.default_rng(1)
    units = 1 if loss == "bce" else 3
    model = _model("tanh", out, units, rng)
    X, Y = _problem(loss, units, rng)
    report = check_gradients(model, X, Y, LOSSES[loss](), weight_decay=0.3)
    assert report.passed, report.as_dict()
    # and the decay term is exactly λ·W on weights, nothing on biases
    _, plain = model.loss_and_grads(X, Y, LOSSES[loss]())
    _, decayed = model.loss_and_grads(X, Y, LOSSES[loss](), weight_decay=0.3)
    for i, W in enumerate(model.W):
        np.testing.assert_allclose(decayed[2 * i] - plain[2 * i], 0.3 * W, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(decayed[2 * i + 1], plain[2 * i + 1])


# The same plugin source the CLI tests write to a file: Swish, and a BadSwish without the product rule.
_plugins: dict = {}
exec(textwrap.dedent(PLUGINS), _plugins)  # noqa: S102 - the test suite's own source text
Swish, WrongSwish = _plugins["Swish"], _plugins["BadSwish"]


def test_plugin_activation_passes_and_a_wrong_derivative_fails():
    rng = np.random.default_rng(3)
    X, Y = _problem("mse", 1, rng)
    for cls, should_pass in ((Swish, True), (WrongSwish, False)):
        acts = [PluginActivation(cls(), "swish.py:Swish"), ACTIVATIONS["identity"]()]
        model = MLP.initialize(3, [4, 1], ["normal", "normal"], acts, np.random.default_rng(0))
        report = check_gradients(model, X, Y, LOSSES["mse"](), atol=0.0)
        assert report.passed is should_pass
        if not should_pass:
            assert report.max_rel_error > 1e-2  # a real bug is far above the tolerance


def test_numeric_gradient_of_a_closed_form():
    # f(p) = Σ p³ has gradient 3p²; central differences are exact up to O(eps²)
    p = np.array([0.5, -1.0, 2.0])
    g = numeric_gradient(lambda: float(np.sum(p ** 3)), p, 1e-5)
    np.testing.assert_allclose(g, 3 * p ** 2, rtol=1e-9)
    np.testing.assert_array_equal(p, [0.5, -1.0, 2.0])  # restored in place


def test_relative_error_formula():
    g, h = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    assert relative_error(g, h) == pytest.approx(np.sqrt(2) / 2)
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0


def _assert_grads_equal(ws, ref_grads):
    """The workspace's flat gradient, read through the model's own layout, against [gW0, gb0, …]."""
    from nnctl.core.model import flat_views

    gW, gb = flat_views(ws.grad, ws.model.shapes)
    got = [g for pair in zip(gW, gb, strict=True) for g in pair]
    for g, ref in zip(got, ref_grads, strict=True):
        assert g.shape == ref.shape
        np.testing.assert_allclose(g, ref, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("loss,out", PAIRS)
def test_training_workspace_matches_the_checked_backprop(hidden, loss, out):
    """The in-place training step computes what the finite-difference-checked path computes."""
    from nnctl.engine.workspace import Workspace

    rng = np.random.default_rng(7)
    units = 1 if loss == "bce" else 3
    model = _model(hidden, out, units, rng)
    X, Y = _problem(loss, units, rng, n=9)
    ws = Workspace(model, LOSSES[loss](), rows=9, weight_decay=0.01)
    for m in (9, 4):  # a full batch, then a smaller last batch through cached views
        value = ws.step(np.c_[X[:m], np.ones(m)], Y[:m])
        ref_value, ref_grads = model.loss_and_grads(X[:m], Y[:m], LOSSES[loss](), 0.01)
        assert value == pytest.approx(ref_value, rel=1e-12)
        _assert_grads_equal(ws, ref_grads)


@pytest.mark.parametrize("hidden", ["swish plugin", "softmax", "relu"])
def test_workspace_buffers_are_shared_only_where_backward_allows(hidden):
    """Built-in hidden activations run in place (Z in A's buffer, dL/dA in dL/dZ's); a plugin's
    derivative reads z, so its layer keeps separate buffers. Either way the step's gradient is
    the checked backprop's."""
    from nnctl.engine.workspace import Workspace

    rng = np.random.default_rng(3)
    plugin = hidden == "swish plugin"
    model = _model((lambda: PluginActivation(Swish(), "swish.py:Swish")) if plugin else hidden, "softmax", 3, rng)
    X, Y = _problem("cross_entropy", 3, rng, n=6)
    ws = Workspace(model, LOSSES["cross_entropy"](), rows=6)
    buf = ws._sizes[6]
    shared = not plugin
    for i in range(2):
        assert np.shares_memory(buf.Z[i], buf.A[i]) == shared
        assert np.shares_memory(buf.dA[i], buf.dZ[i]) == shared
    assert not np.shares_memory(buf.Z[2], buf.A[2])  # the loss reads the logits
    value = ws.step(np.c_[X, np.ones(6)], Y)
    ref_value, ref_grads = model.loss_and_grads(X, Y, LOSSES["cross_entropy"]())
    assert value == pytest.approx(ref_value, rel=1e-12)
    _assert_grads_equal(ws, ref_grads)


def test_the_first_layer_is_stored_transposed_and_read_through_views():
    """flat holds [W0ᵀ | b0] then [W1; b1], …; W and b are views, so writing through them is
    writing the parameters, and nothing outside the engine sees the layout."""
    from nnctl.core.model import flat_views, layer_blocks

    rng = np.random.default_rng(0)
    W = [rng.normal(size=(3, 4)), rng.normal(size=(4, 2))]
    b = [rng.normal(size=4), rng.normal(size=2)]
    model = MLP(W, b, [ACTIVATIONS["tanh"](), ACTIVATIONS["identity"]()])
    first, second = layer_blocks(model.flat, model.shapes)
    assert first.shape == (4, 4) and second.shape == (5, 2)
    np.testing.assert_array_equal(first, np.c_[W[0].T, b[0]])
    np.testing.assert_array_equal(second, np.r_[W[1], b[1][None]])
    for got, want in zip(model.params, [W[0], b[0], W[1], b[1]], strict=True):
        assert np.shares_memory(got, model.flat)
        np.testing.assert_array_equal(got, want)
    model.W[0][2, 1] = 7.0  # a write through the view lands in the transposed block
    assert first[1, 2] == 7.0
    assert [w.shape for w in flat_views(np.zeros_like(model.flat), model.shapes)[0]] == [(3, 4), (4, 2)]
