"""Verdicts and messages that tell the truth (issue 22, items 4 and 6)."""

from __future__ import annotations

import numpy as np

from nnctl.core.metrics import at_threshold

from ..conftest import CONFIGS


def test_at_threshold_counts_sigmoid_halves_and_softmax_ties():
    p = np.array([[0.5], [0.5 + 1e-14], [0.5 - 5e-7], [0.51], [0.0]])
    assert at_threshold(p) == 3
    soft = np.array([[0.4, 0.4 + 1e-9, 0.2 - 1e-9], [0.7, 0.2, 0.1], [1 / 3, 1 / 3, 1 / 3]])
    assert at_threshold(soft) == 2


def test_train_evaluate_and_plot_say_how_many_predictions_sit_at_the_threshold(nnctl, write):
    import matplotlib  # noqa: F401 - the plot extra is a test extra
    cfg = CONFIGS / "xor_no_hidden.yaml"
    r = nnctl("train", cfg, "-o", "nh.npz")
    note = "4 of 4 predictions sit at the threshold: accuracy there is decided by round-off"
    assert r.code == 0 and note in r.stderr
    assert nnctl("train", cfg, "-o", "nh.npz", "--json").json()["at_threshold"] == 4
    data = write("xor.csv", "x1,x2,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n")
    ev = nnctl("evaluate", "nh.npz", data)
    assert ev.code == 0 and note in ev.stderr
    assert nnctl("evaluate", "nh.npz", data, "--json").json()["at_threshold"] == 4
    pl = nnctl("plot", "nh.npz", "--out", "nh.png")
    assert pl.code == 0 and note in pl.stderr
    good = nnctl("train", CONFIGS / "xor.yaml", "-o", "x.npz")
    assert "threshold" not in good.stderr


def test_targets_outside_the_output_activation_s_range_are_warned_about(nnctl):
    r = nnctl("train", CONFIGS / "line.yaml", "--set", "model.layers.0.activation=sigmoid", "--epochs", "1",
              "-o", "l.npz")
    assert r.code == 0 and "warning: model.layers.0:" in r.stderr and "sigmoid output lies in [0, 1]" in r.stderr
    r = nnctl("train", CONFIGS / "line.yaml", "--epochs", "1", "-o", "l.npz")
    assert "warning" not in r.stderr


def test_proba_on_a_regression_says_it_does_not_apply(nnctl, write):
    assert nnctl("train", CONFIGS / "line.yaml", "--epochs", "1", "-o", "l.npz", "-q").code == 0
    rows = write("x.csv", "x\n0.5\n")
    r = nnctl("predict", "l.npz", rows, "--proba")
    assert r.code == 0 and "--proba does not apply" in r.stderr and r.stdout.splitlines()[0] == "y"


def test_init_out_names_the_file_it_wrote(nnctl):
    r = nnctl("init", "line", "--out", "myline.yaml")
    assert r.code == 0 and "nnctl train myline.yaml" in r.stderr
    from pathlib import Path

    text = Path("myline.yaml").read_text()
    assert "nnctl train myline.yaml" in text and "nnctl train line.yaml" not in text


def test_gradcheck_says_n_a_for_all_kinks_and_pass_atol(nnctl):
    doc = nnctl("gradcheck", CONFIGS / "xor_keras_relu.yaml", "--samples", "4", "--json").json()
    b0 = {p["name"]: p for p in doc["params"]}["b0"]
    assert b0["verdict"] == "n/a (kinks)" and b0["rel_error"] is None and b0["kinks"] == 2 and doc["passed"]



def test_a_tensor_passing_only_by_atol_says_so(nnctl, write):
    tiny = write("tiny.yaml", """
        data: {source: xor, standardize: false}
        model:
          init: {name: normal, std: 0.000001}
          layers: [{units: 2, activation: tanh}, {units: 2, activation: tanh}, {units: 1, activation: identity}]
        train: {loss: mse}
        """)
    r = nnctl("gradcheck", tiny)
    assert r.code == 0 and "pass (atol)" in r.stdout and "every gap is below atol" in r.stderr
    doc = nnctl("gradcheck", tiny, "--json").json()
    w0 = doc["params"][0]
    assert w0["verdict"] == "pass (atol)" and w0["rel_error"] > 1e-6 and w0["max_abs_error"] <= 1e-10
