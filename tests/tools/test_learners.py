"""What a student reproducing the backprop tutorials reaches for (issue 15): a gradcheck that
knows ReLU's kink, per-element numbers, weights, MSE on 0/1 targets as a classifier, the
tutorials' initialisations, diagnostics of a stuck net, overlaid curves, honest tutorial configs."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from ..conftest import CONFIGS, PLUGINS

RELU_XOR = """
    data: {source: xor, standardize: false}
    model: {layers: [{units: 2, activation: relu}, {units: 1, activation: sigmoid}]}
    train: {loss: bce}
    """

KINKED_PLUGINS = PLUGINS + """
    class MyReLU:
        kinks = [0.0]
        def forward(self, z):
            return np.maximum(z, 0)
        def derivative(self, z, a):
            return (z > 0).astype(z.dtype)
    class BadReLU(MyReLU):
        def derivative(self, z, a):
            return 2.0 * (z > 0)
    class Undeclared(MyReLU):
        kinks = []
    class BadKinks(MyReLU):
        kinks = ["zero"]
    """


# --- 1. kinks ------------------------------------------------------------------------------------

def test_a_correct_relu_net_on_its_kink_passes_and_says_why(nnctl, write):
    cfg = write("k.yaml", RELU_XOR)
    r = nnctl("gradcheck", cfg)
    assert r.code == 0, r
    assert "kink" in r.stderr and "MISMATCH" not in r.stderr and "all tensors pass" in r.stderr
    doc = nnctl("gradcheck", cfg, "--json").json()
    kinks = {p["name"]: p["kinks"] for p in doc["params"]}
    assert kinks["b0"] == 2 and kinks["W1"] == 0 and doc["passed"] and doc["kinks"] == sum(kinks.values())
    strict = nnctl("gradcheck", cfg, "--strict", "--json")
    assert strict.code == 1 and not strict.json()["passed"]
    b0 = next(p for p in strict.json()["params"] if p["name"] == "b0")
    assert b0["rel_error"] > 0.1  # the 0.517 a student saw before, now only under --strict


@pytest.mark.parametrize("plugin, code", [("MyReLU", 0), ("BadReLU", 1), ("Undeclared", 1), ("BadSwish", 1)])
def test_a_wrong_derivative_fails_kink_or_not(nnctl, write, plugin, code):
    write("acts.py", KINKED_PLUGINS)
    cfg = write("k.yaml", RELU_XOR.replace("activation: relu", f"activation: {{plugin: 'acts.py:{plugin}'}}"))
    r = nnctl("gradcheck", cfg, "--json")
    assert r.code == code, r
    kinks = {p["name"]: p["kinks"] for p in r.json()["params"]}
    assert kinks["b0"] == (2 if plugin in ("MyReLU", "BadReLU") else 0)


def test_kinks_that_are_not_numbers_are_a_plugin_error(nnctl, write):
    write("acts.py", KINKED_PLUGINS)
    cfg = write("k.yaml", RELU_XOR.replace("activation: relu", "activation: {plugin: 'acts.py:BadKinks'}"))
    r = nnctl("gradcheck", cfg)
    assert r.code == 2 and "kinks must be a list of numbers" in r.stderr and "Traceback" not in r.stderr


# --- 2. elements ---------------------------------------------------------------------------------

def test_elements_show_both_numbers_largest_gap_first(nnctl, write):
    cfg = write("k.yaml", RELU_XOR.replace("units: 2, activation: relu", "units: 5, activation: tanh"))
    doc = nnctl("gradcheck", cfg, "--elements", "3", "--json").json()
    w0 = next(p for p in doc["params"] if p["name"] == "W0")
    assert len(w0["elements"]) == 3
    gaps = [e["abs_error"] for e in w0["elements"]]
    assert gaps == sorted(gaps, reverse=True)
    for e in w0["elements"]:
        assert e["abs_error"] == pytest.approx(abs(e["analytic"] - e["numeric"]), rel=1e-12, abs=1e-300)
        assert e["analytic"] == pytest.approx(e["numeric"], rel=1e-5, abs=1e-9)
    full = nnctl("gradcheck", cfg, "--elements", "all", "--json").json()
    assert [len(p["elements"]) for p in full["params"]] == [10, 5, 5, 1]
    text = nnctl("gradcheck", cfg, "--elements", "all").stdout
    assert "W0: 10 of 10 elements, largest gap first" in text and "finite difference" in text
    bad = nnctl("gradcheck", cfg, "--elements", "many")
    assert bad.code == 2 and "--elements" in bad.stderr


def test_a_bare_elements_flag_shows_twenty(tmp_path):
    (tmp_path / "k.yaml").write_text("data: {source: xor}\nmodel: {layers: [{units: 30, activation: tanh},"
                                     " {units: 1, activation: sigmoid}]}\ntrain: {loss: bce}\n")
    r = subprocess.run([sys.executable, "-m", "nnctl", "gradcheck", "--elements", "k.yaml", "--json"],
                       cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert [len(p["elements"]) for p in json.loads(r.stdout)["params"]] == [20, 20, 20, 1]


# --- 3. weights ----------------------------------------------------------------------------------

def test_info_weights_shows_every_tensor_and_json_keeps_full_precision(nnctl, xor_config):
    nnctl("train", xor_config, "-q")
    doc = nnctl("info", "xor.npz", "--weights", "--json").json()
    saved = np.load("xor.npz")
    for key in ("W0", "b0", "W1", "b1"):
        np.testing.assert_array_equal(np.array(doc["weights"][key]), saved[key])
    text = nnctl("info", "xor.npz", "--weights").stdout
    assert "W0[1]" in text and "b1" in text and f"{saved['W1'][0, 0]:.6g}" in text
    assert "weights" not in nnctl("info", "xor.npz", "--json").json()


@pytest.mark.parametrize("standardize", ["false", "true"])
def test_a_line_model_states_its_slope_and_intercept_in_the_data_units(nnctl, standardize):
    assert nnctl("train", CONFIGS / "line.yaml", "-q", "-o", "l.npz", "--set",
                 f"data.standardize={standardize}").code == 0
    line = nnctl("info", "l.npz", "--json").json()["line"]
    pred = nnctl("predict", "l.npz", "-", input="x\n0\n1\n").stdout.split()
    at0, at1 = float(pred[1]), float(pred[2])  # independent: the model's own predictions
    assert line["intercept"] == pytest.approx(at0, rel=1e-12)
    assert line["slope"] == pytest.approx(at1 - at0, rel=1e-9)
    assert abs(line["slope"] - 2.0) < 0.1 and abs(line["intercept"] - 3.0) < 0.1
    assert f"y = {line['slope']:.6g}·x + {line['intercept']:.6g}" in nnctl("info", "l.npz").stdout


# --- 4. MSE on 0/1 targets -------------------------------------------------------------------------

def test_mse_on_zero_one_targets_reports_accuracy_and_draws_a_boundary(nnctl):
    doc = nnctl("train", CONFIGS / "xor_tutorial_mse.yaml", "--json", "-o", "t.npz").json()
    assert doc["metrics"]["accuracy"] == 1.0 and "rmse" in doc["metrics"]
    ev = nnctl("evaluate", "t.npz", CONFIGS.parent / "datasets" / "xor.csv", "--json").json()
    pred = [float(v) for v in nnctl("predict", "t.npz", CONFIGS.parent / "datasets" / "xor.csv").stdout.split()[1:]]
    assert ev["metrics"]["accuracy"] == np.mean([(p > 0.5) == y for p, y in zip(pred, [0, 1, 1, 0], strict=True)])
    plot = nnctl("plot", "t.npz", "--out", "t.png")
    assert plot.code == 0 and "decision boundary" in plot.stderr


def test_classifier_metrics_on_a_real_regression_are_refused(nnctl):
    r = nnctl("train", CONFIGS / "line.yaml", "--set", "train.metrics=[rmse, accuracy]")
    assert r.code == 2 and "train.metrics" in r.stderr and "0 or 1" in r.stderr


# --- 5. initialisations ------------------------------------------------------------------------------

def test_normal_std_and_uniform_limit_initialise_as_asked(nnctl, write):
    cfg = write("i.yaml", """
        data: {source: xor}
        model:
          init: {name: normal, std: 0.01}
          layers:
            - {units: 3000, activation: tanh}
            - {units: 1, activation: sigmoid, init: {name: uniform, limit: 0.25}}
        train: {loss: bce, epochs: 1, optimizer: {name: sgd, lr: 0.0}}
        """)
    assert nnctl("train", cfg, "-q", "-o", "i.npz").code == 0
    m = np.load("i.npz")
    assert m["W0"].std() == pytest.approx(0.01, rel=0.05) and abs(m["W0"].mean()) < 0.001
    assert np.abs(m["W1"]).max() <= 0.25 and np.abs(m["W1"]).max() > 0.24
    resolved = nnctl("config", cfg, "--set", "model.init.std=0.5").stdout
    assert "init: {name: normal, std: 0.5, limit: null, bias: zeros}" in resolved
    r = nnctl("train", cfg, "--set", "model.init={name: he, std: 1}")
    assert r.code == 2 and "model.init" in r.stderr and "std goes with name: normal" in r.stderr
    schema = nnctl("schema").json()
    assert "InitConfig" in json.dumps(schema)


# --- 6. diagnostics ----------------------------------------------------------------------------------

def test_diagnostics_show_the_dead_unit_of_a_stuck_keras_net(nnctl):
    r = nnctl("train", CONFIGS / "xor_keras_relu.yaml", "--metrics-csv", "k.csv", "--json", "-o", "k.npz")
    assert r.json()["metrics"]["accuracy"] < 1
    rows = list(csv.DictReader(open("k.csv")))
    assert {"w_norm_0", "g_norm_0", "dead_0", "w_norm_1", "g_norm_1"} <= set(rows[0]) and "dead_1" not in rows[0]
    m = np.load("k.npz")
    z = np.array([[0, 0], [0, 1], [1, 0], [1, 1]]) @ m["W0"] + m["b0"]
    last = rows[-1]
    assert float(last["dead_0"]) == np.mean(np.all(z <= 0, axis=0)) == 0.5  # independent: from the weights
    assert float(last["w_norm_1"]) == pytest.approx(np.linalg.norm(m["W1"]), rel=1e-12)
    assert all(float(row["g_norm_0"]) >= 0 for row in rows)
    meta = json.loads(str(m["meta"][()]))
    assert len(meta["history"]["dead_0"]) == len(meta["history"]["epoch"])
    assert "diagnostics" in nnctl("plot", "k.npz").stderr
    learns = nnctl("train", CONFIGS / "xor_keras_relu.yaml", "--seed", "9", "--json", "-o", "k9.npz").json()
    assert learns["metrics"]["accuracy"] == 1.0


def test_a_resumed_diagnostics_run_ends_with_the_same_bytes(nnctl, write):
    cfg = write("d.yaml", """
        seed: 3
        data: {source: moons, n: 64}
        model: {layers: [{units: 6, activation: relu}, {units: 1, activation: sigmoid}]}
        train: {loss: bce, optimizer: adam, batch_size: 16, epochs: 30, log_every: 10, diagnostics: true}
        """)
    assert nnctl("train", cfg, "-q", "-o", "straight.npz").code == 0
    assert nnctl("train", cfg, "-q", "-o", "r.npz", "--epochs", "12", "--checkpoint-every", "12").code == 0
    assert nnctl("train", cfg, "-q", "-o", "r.npz", "--resume", "r.ckpt.npz").code == 0
    a, b = np.load("straight.npz"), np.load("r.npz")
    assert json.loads(str(a["meta"][()]))["history"] == json.loads(str(b["meta"][()]))["history"]
    np.testing.assert_array_equal(a["W0"], b["W0"])


# --- 7. overlays ----------------------------------------------------------------------------------

def test_plot_overlays_several_models(nnctl, xor_config):
    nnctl("train", xor_config, "-q", "-o", "a.npz")
    nnctl("train", xor_config, "-q", "-o", "b.npz", "--set", "train.optimizer.lr=0.01")
    r = nnctl("plot", "a.npz", "b.npz")
    assert r.code == 0 and "loss curves of 2 models" in r.stderr
    with open("a-compare.png", "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


# --- 8. the tutorial configs say what they do ----------------------------------------------------------

def test_the_faithful_tutorial_twin_stays_stuck_and_the_named_change_learns(nnctl):
    cfg = CONFIGS / "xor_tutorial_mse_fullbatch.yaml"
    stuck = nnctl("train", cfg, "--json", "-o", "f.npz").json()
    assert stuck["loss"] == pytest.approx(1.0, abs=1e-6) and stuck["epochs"] == 10000  # 0.25 per row, summed
    fixed = nnctl("train", cfg, "--set", "model.init=xavier", "--set", "train.optimizer.lr=0.3", "--json",
                  "-o", "g.npz").json()
    assert fixed["metrics"]["accuracy"] == 1.0 and fixed["loss"] < 0.01
    text = cfg.read_text()
    assert "batch_size: full" in text and "std: 0.01, bias: same" in text and "lr: 0.03" in text and "0.25" in text
    assert "reduction: sum" in text
    assert "batch_size: 1" in (CONFIGS / "xor_tutorial_mse.yaml").read_text()
