"""`nnctl explain` (issue 12): one step's numbers against closed forms worked by hand here, against
gradcheck's routine, and the same numbers in every format."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from nnctl.config.loader import load_config
from nnctl.tools.gradcheck import check_gradients
from nnctl.training.trainer import setup

from ..conftest import CONFIGS, ROOT

TUTORIAL = CONFIGS / "xor_tutorial_mse.yaml"


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_one_step_of_the_2_2_1_sigmoid_net_matches_the_hand_worked_closed_forms(nnctl):
    doc = nnctl("explain", TUTORIAL, "--rows", "4", "--json").json()
    X, Y = np.array(doc["inputs"]), np.array(doc["targets"])
    assert X.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]] and Y.ravel().tolist() == [0, 1, 1, 0]
    W0, b0 = np.array(doc["forward"][0]["W"]), np.array(doc["forward"][0]["b"])
    W1, b1 = np.array(doc["forward"][1]["W"]), np.array(doc["forward"][1]["b"])
    # forward, by hand
    Z0 = X @ W0 + b0
    A1 = _sigmoid(Z0)
    Z1 = A1 @ W1 + b1
    A2 = _sigmoid(Z1)
    n = 4
    L = np.mean((A2 - Y) ** 2)
    np.testing.assert_allclose(doc["forward"][0]["Z"], Z0, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(doc["forward"][1]["A"], A2, rtol=1e-14)
    assert doc["loss"] == pytest.approx(L, rel=1e-14)
    np.testing.assert_allclose(doc["loss_per_row"], ((A2 - Y) ** 2).ravel(), rtol=1e-13)
    # backward, by hand: dL/dA2 = 2(A2 − Y)/n, σ' = A(1 − A)
    dZ1 = 2 * (A2 - Y) / n * A2 * (1 - A2)
    dW1, db1 = A1.T @ dZ1, dZ1.sum(axis=0)
    dA1 = dZ1 @ W1.T
    dZ0 = dA1 * A1 * (1 - A1)
    dW0, db0 = X.T @ dZ0, dZ0.sum(axis=0)
    back = {b["layer"]: b for b in doc["backward"]}
    for got, want in [(back[1]["dZ"], dZ1), (back[1]["dW"], dW1), (back[1]["db"], db1), (back[1]["dA_prev"], dA1),
                      (back[0]["dZ"], dZ0), (back[0]["dW"], dW0), (back[0]["db"], db0)]:
        np.testing.assert_allclose(np.array(got), want, rtol=1e-12, atol=1e-16)
    assert back[0]["dA_prev"] is None
    # the update: plain SGD's first step at lr 0.03
    up = doc["update"]
    assert up["optimizer"] == "sgd" and up["lr"] == 0.03
    params = {p["name"]: p for p in up["params"]}
    np.testing.assert_allclose(params["W0"]["after"], W0 - 0.03 * dW0, rtol=1e-14)
    np.testing.assert_allclose(params["b1"]["after"], b1 - 0.03 * db1, rtol=1e-14)
    # the numeric estimates beside the gradients
    num = {d["layer"]: d for d in doc["numeric"]}
    np.testing.assert_allclose(num[0]["dW"], dW0, rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(num[1]["db"], db1, rtol=1e-6, atol=1e-10)


def test_the_numeric_estimates_are_gradchecks_and_adam_steps_with_bias_correction(nnctl, write):
    cfg = write("c.yaml", """
        seed: 2
        data: {source: moons, n: 40}
        model: {layers: [{units: 3, activation: tanh}, {units: 1, activation: sigmoid}]}
        train: {loss: bce, optimizer: {name: adam, lr: 0.01}, weight_decay: 0.1}
        """)
    doc = nnctl("explain", cfg, "--rows", "6", "--json").json()
    trainer = setup(load_config(cfg, ["train.dtype=float64"]))
    s = trainer.prepared.split
    report = check_gradients(trainer.model, s.X_train[:6], s.Y_train[:6], trainer.prepared.loss, 0.1, tol=1e-6)
    assert report.passed
    grads = {p["name"]: np.array(p["grad"]) for p in doc["update"]["params"]}
    _, exact = trainer.model.loss_and_grads(s.X_train[:6], s.Y_train[:6], trainer.prepared.loss, 0.1)
    for name, g in zip(trainer.model.param_names, exact, strict=True):
        np.testing.assert_array_equal(grads[name], g)  # weight decay's term included
    for p in doc["update"]["params"]:  # Adam's first step: m̂ = g, v̂ = g², so W moves by lr·g/(|g| + eps)
        g, before = np.array(p["grad"]), np.array(p["before"])
        np.testing.assert_allclose(p["after"], before - 0.01 * g / (np.abs(g) + 1e-8), rtol=1e-9, atol=1e-15)


def _numbers(text: str) -> set[str]:
    return set(re.findall(r"-?\d+\.\d+(?:e[-+]\d+)?", text))


def test_markdown_and_the_terminal_carry_the_same_numbers(nnctl):
    md = nnctl("explain", TUTORIAL, "--rows", "4", "--format", "markdown").stdout
    term = nnctl("explain", TUTORIAL, "--rows", "4").stdout
    assert "## Backward, layer 0" in md and "Backward, layer 0" in term
    assert _numbers(md) == _numbers(term) and len(_numbers(md)) > 40
    for formula in ("Z0 = A0·W0 + b0", "∂L/∂W1 = A1ᵀ·∂L/∂Z1", "2(A − Y) / (n·k)", "W ← W − lr"):
        assert formula in md and formula in term


def test_softmax_cross_entropy_explains_its_fused_gradient_and_big_nets_are_cut(nnctl, write):
    iris = nnctl("explain", CONFIGS / "iris.yaml", "--format", "markdown").stdout
    assert "(A − Y) / n" in iris and "softmax and cross-entropy fused" in iris
    assert "one-hot" in iris
    cfg = write("big.yaml", """
        data: {source: xor}
        model:
          layers: [{units: 120, activation: relu}, {units: 120, activation: relu}, {units: 1, activation: sigmoid}]
        train: {loss: bce}
        """)
    r = nnctl("explain", cfg)
    assert r.code == 0 and "shapes and first rows only" in r.stderr
    assert "first 2×8 shown" in r.stdout or "first 2×" in r.stdout
    full = nnctl("explain", cfg, "--full", "--format", "markdown").stdout
    assert "(shape (120, 120))" in full and full.count("\n") > 5 * r.stdout.count("\n") / 2


def test_explain_from_a_trained_model_and_bad_flags(nnctl, xor_config):
    nnctl("train", xor_config, "-q")
    a = nnctl("explain", xor_config, "--json").json()
    b = nnctl("explain", xor_config, "--model", "xor.npz", "--json").json()
    assert b["forward"][0]["W"] != a["forward"][0]["W"] and b["loss"] < a["loss"]
    assert nnctl("explain", xor_config, "--format", "latex").code == 2
    assert nnctl("explain", xor_config, "--rows", "2", "--json").json()["rows"] == 2


def test_the_backprop_walk_through_is_current():
    r = subprocess.run([sys.executable, "docs/make_backprop.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "## The update" in (ROOT / "docs" / "backprop.md").read_text()


# --- the config's own step (issue 22) ------------------------------------------------------------

def test_a_batch_size_1_config_shows_train_s_one_row_step(nnctl):
    doc = nnctl("explain", TUTORIAL, "--json").json()
    assert doc["rows"] == 1 and doc["batch"] == "shuffled" and len(doc["batch_rows"]) == 1
    md = nnctl("explain", TUTORIAL, "--format", "markdown").stdout
    assert "1 row:" in md and "1 rows" not in md and "after train's seeded shuffle" in md
    assert "as the data has them (standardize: false)" in md and "after standardisation" not in md


@pytest.mark.parametrize("config,extra", [(TUTORIAL, []), (CONFIGS / "xor.yaml", ["--set", "train.batch_size=3"]),
                                          (CONFIGS / "xor_relu_adam.yaml", ["--set", "train.batch_size=2"])])
def test_an_epoch_of_steps_ends_with_the_weights_train_saves(nnctl, config, extra, tmp_path):
    """--steps = steps per epoch: each step starts where the last ended, and the last ends exactly
    where `train --epochs 1` does (the same batches after the same shuffle, the same update)."""
    trainer = setup(load_config(config, [o.split("=", 1)[0] + "=" + o.split("=", 1)[1] for o in extra[1::2]]))
    per_epoch = -(-trainer.prepared.split.X_train.shape[0] // trainer.batch)
    doc = nnctl("explain", config, "--steps", str(per_epoch), "--json", *extra).json()
    steps = doc["steps"]
    assert len(steps) == per_epoch
    for a, b in zip(steps, steps[1:], strict=False):
        assert [p["after"] for p in a["update"]["params"]] == [p["before"] for p in b["update"]["params"]]
    seen = sorted(i for s in steps for i in s["batch_rows"])
    assert seen == list(range(trainer.prepared.split.X_train.shape[0]))  # one pass over the rows
    out = tmp_path / "e1.npz"
    assert nnctl("train", config, "--epochs", "1", "-q", "-o", out, *extra).code == 0
    saved = np.load(out)
    for p in steps[-1]["update"]["params"]:
        assert np.array(p["after"]).tolist() == saved[p["name"]].tolist(), p["name"]


def test_kinks_are_marked_and_round_off_is_below_atol(nnctl, write):
    relu = nnctl("explain", CONFIGS / "xor_keras_relu.yaml", "--rows", "4", "--format", "markdown").stdout
    assert "b0: every element at a kink, not judged" in relu
    assert "5.17e-01" not in relu
    doc = nnctl("explain", CONFIGS / "xor_keras_relu.yaml", "--rows", "4", "--json").json()
    assert doc["numeric"][0]["kinks_db"] == 2
    tiny = write("tiny.yaml", """
        data: {source: xor, standardize: false}
        model:
          init: {name: normal, std: 0.000001}
          layers: [{units: 2, activation: tanh}, {units: 2, activation: tanh}, {units: 1, activation: identity}]
        train: {loss: {name: mse, half: true}}
        """)
    md = nnctl("explain", tiny, "--format", "markdown").stdout
    assert "W0: below atol" in md and "½·(A − Y)²" in md and "∂L/∂Z2 = (A − Y) / (n·k)" in md


def test_rows_beyond_the_data_are_refused_and_the_header_says_which_rows(nnctl):
    r = nnctl("explain", TUTORIAL, "--rows", "10")
    assert r.code == 2 and "--rows 10" in r.stderr and "4 rows" in r.stderr
    md = nnctl("explain", CONFIGS / "xor_tutorial_mse_fullbatch.yaml", "--format", "markdown").stdout
    assert "all 4 rows as one batch (batch_size: full)" in md
    md = nnctl("explain", TUTORIAL, "--rows", "2", "--format", "markdown").stdout
    assert "the first 2 rows in data order (--rows)" in md
