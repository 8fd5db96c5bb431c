"""Every command as a user runs it: output, exit codes, --json, --set, stdin and stdout."""

from __future__ import annotations

import json

from ..conftest import DATASETS, PLUGINS, XOR

XOR_ROWS = "x1,x2,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n"


def test_help_on_every_command(nnctl):
    top = nnctl("--help")
    assert top.code == 0
    for cmd in ("train", "predict", "evaluate", "info", "gradcheck"):
        assert cmd in top.stdout
        r = nnctl(cmd, "--help")
        assert r.code == 0 and "Example" in r.stdout


def test_train_prints_table_and_saves(nnctl, xor_config, tmp_path):
    r = nnctl("train", xor_config)
    assert r.code == 0, r
    assert "epoch" in r.stderr and "accuracy" in r.stderr and "→ xor.npz" in r.stderr
    for epoch in ("1 ", "100", "200", "300"):
        assert epoch in r.stderr
    assert r.stdout == ""
    assert (tmp_path / "xor.npz").exists()


def test_train_json_has_spec_keys(nnctl, xor_config):
    r = nnctl("train", xor_config, "--json", "--out", "x.npz")
    assert r.code == 0
    doc = r.json()
    for key in ("model", "epochs", "loss", "metrics", "val_loss", "val_metrics", "seconds"):
        assert key in doc
    assert doc["model"] == "x.npz" and doc["epochs"] == 300 and doc["metrics"]["accuracy"] == 1.0
    assert doc["val_loss"] is None and doc["val_metrics"] is None
    assert r.stderr == ""


def test_set_seed_epochs_reach_the_run(nnctl, xor_config):
    r = nnctl("train", xor_config, "--json", "--set", "train.optimizer.lr=0", "--epochs", "7", "--seed", "3")
    doc = r.json()
    assert doc["epochs"] == 7 and doc["seed"] == 3
    info = nnctl("info", "xor.npz", "--json").json()
    assert info["config"]["train"]["optimizer"]["lr"] == 0 and info["config"]["seed"] == 3
    # lr 0: the weights never move, so every epoch's loss is the initial one
    hist = json.loads(__import__("numpy").load("xor.npz")["meta"][()])["history"]["loss"]
    assert len(set(hist)) == 1


def test_quiet_prints_nothing(nnctl, xor_config):
    r = nnctl("train", xor_config, "--quiet")
    assert r.code == 0 and r.stdout == "" and r.stderr == ""


def test_validation_columns(nnctl, tmp_path):
    doc = nnctl("train", _iris(tmp_path), "--json").json()
    assert doc["val_loss"] is not None and "accuracy" in doc["val_metrics"]
    assert "val_loss" in nnctl("train", _iris(tmp_path)).stderr


def _iris(tmp_path):
    p = tmp_path / "iris.yaml"
    p.write_text(f"""
data: {{source: csv, path: {DATASETS / 'iris.csv'}, target: species, validation_split: 0.2}}
model: {{layers: [{{units: 8, activation: relu}}, {{units: 3, activation: softmax}}]}}
train: {{loss: cross_entropy, optimizer: {{name: adam, lr: 0.01}}, epochs: 50, batch_size: 16, log_every: 10}}
""")
    return p


def test_info_json(nnctl, xor_config):
    nnctl("train", xor_config, "-q")
    doc = nnctl("info", "xor.npz", "--json").json()
    for key in ("layers", "parameters", "features", "targets", "classes", "config", "metrics"):
        assert key in doc
    assert doc["parameters"] == 2 * 4 + 4 + 4 * 1 + 1
    assert doc["features"] == ["x1", "x2"] and doc["classes"] == [0, 1]
    assert [la["activation"] for la in doc["layers"]] == ["tanh", "sigmoid"]
    r = nnctl("info", "xor.npz")
    assert r.code == 0 and "parameters" in r.stdout


def test_gradcheck_pass_json_and_model(nnctl, xor_config):
    r = nnctl("gradcheck", xor_config, "--json")
    assert r.code == 0, r
    doc = r.json()
    assert doc["passed"] is True and [p["name"] for p in doc["params"]] == ["W0", "b0", "W1", "b1"]
    for p in doc["params"]:
        assert set(p) >= {"name", "rel_error", "max_abs_error", "passed"}
    nnctl("train", xor_config, "-q")
    assert nnctl("gradcheck", xor_config, "--model", "xor.npz", "--samples", "3").code == 0


def test_gradcheck_finds_a_wrong_plugin_derivative(nnctl, write):
    write("acts.py", PLUGINS)
    cfg = write("p.yaml", XOR.replace("activation: tanh", 'activation: {plugin: "acts.py:BadSwish"}'))
    r = nnctl("gradcheck", cfg)
    assert r.code == 1 and "FAIL" in r.stdout and "MISMATCH" in r.stderr
    cfg = write("q.yaml", XOR.replace("activation: tanh", 'activation: {plugin: "acts.py:Swish"}'))
    assert nnctl("gradcheck", cfg).code == 0


def test_plugin_model_needs_plugin_flag(nnctl, write):
    write("acts.py", PLUGINS)
    cfg = write("p.yaml", XOR.replace("activation: tanh", 'activation: {plugin: "acts.py:Swish"}'))
    assert nnctl("train", cfg, "-q", "--out", "p.npz").code == 0
    r = nnctl("predict", "p.npz", input=XOR_ROWS)
    assert r.code == 2 and "--plugin acts.py" in r.stderr and "Traceback" not in r.stderr
    r = nnctl("predict", "p.npz", "--plugin", "acts.py", input=XOR_ROWS)
    assert r.code == 0 and r.stdout.splitlines()[0] == "y"
    assert nnctl("info", "p.npz").code == 0  # info names the plugin without running it


def test_init_from_continues_training(nnctl, xor_config):
    nnctl("train", xor_config, "-q", "--out", "first.npz")
    first = nnctl("info", "first.npz", "--json").json()["metrics"]["loss"]
    doc = nnctl("train", xor_config, "--json", "--init-from", "first.npz", "--out", "second.npz",
                "--set", "train.optimizer.lr=0").json()
    assert doc["loss"] < first  # starts where the first run ended (lr 0: stays there)
    bad = nnctl("train", xor_config, "--init-from", "first.npz", "--set", "model.layers.0.units=3")
    assert bad.code == 2 and "W0" in bad.stderr


def test_diverging_run_exits_1_and_keeps_old_file(nnctl, write, tmp_path):
    cfg = write("line.yaml", """
        data: {source: line, standardize: false}
        model: {layers: [{units: 1, activation: identity}]}
        train: {loss: mse, optimizer: {name: sgd, lr: 100.0}, epochs: 500}
        """)
    (tmp_path / "line.npz").write_bytes(b"previous model")
    r = nnctl("train", cfg)
    assert r.code == 1 and "diverged at epoch" in r.stderr and "Traceback" not in r.stderr
    assert (tmp_path / "line.npz").read_bytes() == b"previous model"


def test_bad_config_exits_2_with_one_clear_message(nnctl, write):
    cfg = write("c.yaml", XOR.replace("epochs: 300", "epoch: 300"))
    r = nnctl("train", cfg)
    assert r.code == 2 and r.stderr.startswith("error: ") and "did you mean 'epochs'" in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_quiet_on_the_reporting_commands(nnctl, xor_config, write):
    nnctl("train", xor_config, "-q")
    data = write("xor.csv", XOR_ROWS)
    for args in (["evaluate", "xor.npz", data], ["info", "xor.npz"], ["gradcheck", xor_config],
                 ["plot", "xor.npz"], ["init", "xor", "--out", "new.yaml"]):
        r = nnctl(*args, "--quiet")
        assert r.code == 0 and r.stdout == "" and r.stderr == "", (args, r)
    wrong = write("p.yaml", XOR.replace("activation: tanh", 'activation: {plugin: "acts.py:BadSwish"}'))
    write("acts.py", PLUGINS)
    assert nnctl("gradcheck", wrong, "--quiet").code == 1  # quiet, but the exit code still tells
