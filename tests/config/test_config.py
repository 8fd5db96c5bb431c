"""The config: defaults, strictness, YAML 1.2 numbers, --set overrides, and messages that name the key."""

from __future__ import annotations

import pytest

from nnctl.config.loader import load_config
from nnctl.errors import ConfigError

from ..conftest import XOR


def _error(write, text, overrides=None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write("c.yaml", text), overrides)
    return str(info.value)


def test_defaults_are_filled_in(write):
    cfg = load_config(write("c.yaml", """
        data: {source: xor}
        model: {layers: [{units: 1, activation: sigmoid}]}
        train: {loss: bce}
        """))
    r = cfg.resolved()
    assert r["seed"] == 0
    assert r["train"]["optimizer"] == {"name": "sgd", "lr": 0.5, "momentum": 0.0, "nesterov": False}
    assert r["train"]["epochs"] == 2000 and r["train"]["batch_size"] == "full"
    assert r["train"]["dtype"] == "float64" and r["train"]["log_every"] == 100
    assert r["model"]["init"] == "xavier"
    assert r["data"] == {"source": "xor", "validation_split": 0.0, "standardize": True}


def test_yaml_12_numbers(write):
    cfg = load_config(write("c.yaml", XOR.replace("lr: 0.1", "lr: 1e-3")))
    assert cfg.train.optimizer.lr == 0.001


def test_unknown_key_names_path_line_and_suggestion(write):
    msg = _error(write, XOR.replace("epochs: 300", "epoch: 300"))
    assert "train.epoch" in msg and "line 10" in msg and "did you mean 'epochs'" in msg


def test_unknown_nested_key(write):
    msg = _error(write, XOR.replace("momentum: 0.9", "momentun: 0.9"))
    assert "train.optimizer.momentun" in msg and "did you mean 'momentum'" in msg


def test_duplicate_key(write):
    path = write("c.yaml", XOR)
    path.write_text(path.read_text() + "seed: 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "duplicate key 'seed'" in str(info.value) and "line 12" in str(info.value)


@pytest.mark.parametrize("value,expected", [("ten", "expected an integer"), ("true", "expected an integer"),
                                            ("0", "≥ 1"), ("2.5", "expected an integer")])
def test_epochs_type_and_range(write, value, expected):
    msg = _error(write, XOR.replace("epochs: 300", f"epochs: {value}"))
    assert "train.epochs" in msg and expected in msg


def test_negative_and_non_finite_lr(write):
    assert "≥ 0" in _error(write, XOR.replace("lr: 0.1", "lr: -0.1"))
    assert "finite" in _error(write, XOR.replace("lr: 0.1", "lr: .nan"))
    load_config(write("ok.yaml", XOR.replace("lr: 0.1", "lr: 0")))  # lr 0 is allowed


def test_unknown_activation_suggests(write):
    msg = _error(write, XOR.replace("activation: tanh", "activation: tahn"))
    assert "model.layers.0.activation" in msg and "did you mean 'tanh'" in msg


def test_loss_needs_matching_output(write):
    msg = _error(write, XOR.replace("activation: sigmoid", "activation: tanh"))
    assert "bce needs a sigmoid output" in msg


def test_softmax_only_on_output(write):
    msg = _error(write, XOR.replace("activation: tanh", "activation: softmax"))
    assert "softmax is allowed on the output layer only" in msg


def test_unknown_source_and_optimizer(write):
    assert "did you mean 'xor'" in _error(write, XOR.replace("source: xor", "source: xon"))
    assert "did you mean 'adam'" in _error(write, XOR.replace("name: sgd", "name: adan"))


def test_missing_required_sections(write):
    msg = _error(write, "data: {source: xor}\n")
    assert "model" in msg and "missing" in msg


@pytest.mark.parametrize("text,expected", [("", "empty"), ("- 1\n- 2\n", "mapping"), ("a: [1, 2\n", "line")])
def test_not_a_config(write, text, expected):
    assert expected in _error(write, text)


def test_set_overrides_with_list_index_and_yaml_values(write):
    cfg = load_config(write("c.yaml", XOR), ["model.layers.0.units=16", "train.optimizer.lr=1e-2",
                                             "train.optimizer={name: adam}", "seed=7"])
    assert cfg.model.layers[0].units == 16
    assert cfg.train.optimizer.name == "adam" and cfg.train.optimizer.lr == 0.001
    assert cfg.seed == 7


def test_set_unknown_key_and_bad_index(write):
    assert "did you mean 'epochs'" in _error(write, XOR, ["train.epoch=3"])
    assert "list index below 2" in _error(write, XOR, ["model.layers.5.units=3"])
    assert "KEY=VALUE" in _error(write, XOR, ["train.epochs"])


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize("short, key", [("early_stopping: true", "train.early_stopping.patience=3"),
                                        ("schedule: cosine", "train.schedule.min_lr=0.01"),
                                        ("optimizer: adam", "train.optimizer.lr=0.1")])
def test_set_reaches_inside_short_forms(nnctl, write, short, key):
    cfg = write("c.yaml", f"data: {{source: xor}}\nmodel: {{layers: [{{units: 1, activation: sigmoid}}]}}\n"
                          f"train:\n  loss: bce\n  {short}\n")
    r = nnctl("config", cfg, "--set", key)
    assert r.code == 0, r
    path, value = key.split("=")
    section, name = path.split(".")[1:]
    assert f"{name}: {value}" in r.stdout


def test_set_inside_a_key_the_file_leaves_out_starts_from_its_default(nnctl, write):
    cfg = write("c.yaml", "data: {source: xor}\nmodel: {layers: [{units: 1, activation: sigmoid}]}\n"
                          "train: {loss: bce}\n")
    out = nnctl("config", cfg, "--set", "train.optimizer.lr=0.25", "--set", "model.init.name=he").stdout
    assert "optimizer: {name: sgd, lr: 0.25" in out and "init: {name: he" in out
