"""The tutorials' conventions: train.loss {name, reduction, half} and init's `bias: same`,
against closed forms (and PyTorch's reduction='sum' where it is installed)."""

import numpy as np
import pytest

from nnctl.core.activations import Identity, Sigmoid, Softmax
from nnctl.core.losses import make_loss

RNG = np.random.default_rng(3)
Z = RNG.normal(size=(5, 3))
Y01 = (RNG.random((5, 3)) > 0.5).astype(float)


def _sig(z):
    return 1 / (1 + np.exp(-z))


@pytest.mark.parametrize("reduction,half", [("mean", False), ("sum", False), ("mean", True), ("sum", True)])
def test_mse_value_and_gradient_are_the_closed_forms(reduction, half):
    loss = make_loss({"name": "mse", "reduction": reduction, "half": half})
    a = Z.copy()
    squares = ((a - Y01) ** 2).sum()
    k = (1 / Z.size if reduction == "mean" else 1.0) * (0.5 if half else 1.0)
    assert loss.value(Z, a, Y01) == pytest.approx(k * squares, rel=1e-14)
    np.testing.assert_allclose(loss.grad(Z, a, Y01, Identity()), 2 * k * (a - Y01), rtol=1e-14)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_bce_and_cross_entropy_sum_is_n_times_the_mean(reduction):
    bce = make_loss({"name": "bce", "reduction": reduction})
    a = _sig(Z)
    per = -(Y01 * np.log(a) + (1 - Y01) * np.log(1 - a))
    assert bce.value(Z, a, Y01) == pytest.approx(per.sum() / (Z.size if reduction == "mean" else 1))
    np.testing.assert_allclose(bce.grad(Z, a, Y01, Sigmoid()), (a - Y01) / (Z.size if reduction == "mean" else 1))
    onehot = np.eye(3)[[0, 2, 1, 1, 0]]
    ce = make_loss({"name": "cross_entropy", "reduction": reduction})
    p = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    n = 5 if reduction == "mean" else 1
    assert ce.value(Z, p, onehot) == pytest.approx(-np.log(p[onehot == 1]).sum() / n)
    np.testing.assert_allclose(ce.grad(Z, p, onehot, Softmax()), (p - onehot) / n)


def test_the_in_place_form_agrees_with_the_plain_one():
    for spec in ({"name": "mse", "reduction": "sum", "half": True}, {"name": "bce", "reduction": "sum"},
                 {"name": "cross_entropy", "reduction": "sum"}):
        loss = make_loss(spec)
        loss.prepare(np.float64)
        act = {"mse": Identity(), "bce": Sigmoid(), "cross_entropy": Softmax()}[spec["name"]]
        act.prepare(np.float64)
        a = act.forward(Z)
        y = np.eye(3)[[0, 2, 1, 1, 0]] if spec["name"] == "cross_entropy" else Y01
        dz, tmp = np.empty_like(Z), np.empty_like(Z)
        k = np.array(loss.grad_scale(*y.shape))
        value = loss.value_and_grad_into(Z, a, y, act, dz, np.empty_like(Z), tmp, np.ones(Z.size), k)
        assert value == pytest.approx(loss.value(Z, a, y), rel=1e-12)
        np.testing.assert_allclose(dz, loss.grad(Z, a, y, act), rtol=1e-12)


def test_sum_reduction_gradient_is_the_closed_form():
    """d/dz Σ BCE-with-logits = σ(z) − y, element by element (PyTorch's reduction='sum')."""
    loss = make_loss({"name": "bce", "reduction": "sum"})
    np.testing.assert_allclose(loss.grad(Z, _sig(Z), Y01, Sigmoid()), _sig(Z) - Y01, rtol=1e-12)


def test_half_goes_with_mse_only(nnctl, write):
    cfg = write("h.yaml", """
        data: {source: xor}
        model: {layers: [{units: 1, activation: sigmoid}]}
        train: {loss: {name: bce, half: true}}
        """)
    r = nnctl("train", cfg)
    assert r.code == 2 and "half goes with name: mse" in r.stderr


def test_bias_same_draws_biases_at_the_weights_scale(nnctl, write):
    cfg = write("b.yaml", """
        data: {source: xor}
        model:
          init: {name: normal, std: 0.01, bias: same}
          layers: [{units: 2000, activation: sigmoid}, {units: 1, activation: sigmoid, init: zeros}]
        train: {loss: mse, epochs: 1, optimizer: {name: sgd, lr: 0.0}}
        """)
    assert nnctl("train", cfg, "-q", "-o", "b.npz").code == 0
    m = np.load("b.npz")
    assert m["b0"].std() == pytest.approx(0.01, rel=0.1) and not m["b1"].any()


def test_loss_spelling_mistakes_get_a_suggestion(nnctl, write):
    cfg = write("m.yaml", """
        data: {source: xor}
        model: {layers: [{units: 1, activation: sigmoid}]}
        train: {loss: MSE, learning_rate: 0.1}
        """)
    r = nnctl("train", cfg)
    assert r.code == 2 and "did you mean 'mse'?" in r.stderr and "'train.optimizer.lr'" in r.stderr
    r = nnctl("train", cfg, "--set", "train.loss=mse", "--set", "train.epochs=1e4")
    assert r.code == 2 and "train.epochs" in r.stderr and "expected an integer" in r.stderr


def test_evaluate_reports_the_loss_as_trained(nnctl, write):
    cfg = write("s.yaml", """
        data: {source: xor, standardize: false}
        model: {layers: [{units: 1, activation: sigmoid}]}
        train: {loss: {name: mse, reduction: sum, half: true}, epochs: 1, optimizer: {name: sgd, lr: 0.0}}
        """)
    assert nnctl("train", cfg, "-q", "-o", "s.npz").code == 0
    data = write("xor.csv", "x1,x2,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n")
    doc = nnctl("evaluate", "s.npz", data, "--json").json()
    m = np.load("s.npz")
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
    out = 1 / (1 + np.exp(-(X @ m["W0"] + m["b0"])))
    assert doc["loss"] == pytest.approx(0.5 * ((out[:, 0] - [0, 1, 1, 0]) ** 2).sum(), rel=1e-12)


def test_a_whole_net_under_sum_and_half_matches_a_hand_written_backprop(write):
    """The tutorial net with ½·Σ(ŷ − y)² and random biases: nnctl's gradients against the
    tutorials' own backprop, written out here in NumPy."""
    from nnctl.tools.gradcheck import float64_trainer

    cfg = write("t.yaml", """
        seed: 4
        data: {source: xor, standardize: false}
        model:
          init: {name: normal, std: 0.5, bias: same}
          layers: [{units: 2, activation: sigmoid}, {units: 1, activation: sigmoid}]
        train: {loss: {name: mse, reduction: sum, half: true}}
        """)
    trainer = float64_trainer(cfg, [])
    s, model = trainer.prepared.split, trainer.model
    value, grads = model.loss_and_grads(s.X_train, s.Y_train, trainer.prepared.loss)
    X, Y = s.X_train, s.Y_train
    W0, b0, W1, b1 = (p.copy() for p in model.params)
    h = _sig(X @ W0 + b0)
    out = _sig(h @ W1 + b1)
    d_out = (out - Y) * out * (1 - out)
    d_h = d_out @ W1.T * h * (1 - h)
    expected = [X.T @ d_h, d_h.sum(axis=0), h.T @ d_out, d_out.sum(axis=0)]
    assert value == pytest.approx(0.5 * ((out - Y) ** 2).sum(), rel=1e-14)
    for g, e in zip(grads, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-15)
    assert np.abs(model.b[0]).min() > 0  # bias: same drew them
