"""nnctl init, config and schema."""

from __future__ import annotations

import json

import pytest
import yaml


def test_config_output_loads_back_with_yaml_1_2_lookalikes(nnctl, write):
    write("d.csv", "x,1e3\n1,2\n2,3\n")
    cfg = write("c.yaml", "data: {source: csv, path: d.csv, target: '1e3'}\nmodel: {layers: [{units: 1}]}\n"
                          "train: {loss: mse}\n")
    first = nnctl("config", cfg)
    write("again.yaml", first.stdout)
    second = nnctl("config", "again.yaml")
    assert second.code == 0, second
    assert second.stdout == first.stdout


@pytest.mark.parametrize("kind", ["xor", "line", "csv"])
def test_init_starters_are_valid_configs(nnctl, kind, tmp_path):
    r = nnctl("init", kind)
    assert r.code == 0 and r.stdout.startswith("#")
    (tmp_path / "s.yaml").write_text(r.stdout)
    if kind == "csv":
        (tmp_path / "data.csv").write_text("a,b,label\n" + "".join(f"{i},{i % 5},{'xyz'[i % 3]}\n" for i in range(30)))
    r = nnctl("train", "s.yaml", "--epochs", "3", "--json")
    assert r.code == 0, r


def test_init_out_refuses_to_overwrite(nnctl, tmp_path):
    assert nnctl("init", "xor", "--out", "x.yaml").code == 0
    r = nnctl("init", "line", "--out", "x.yaml")
    assert r.code == 2 and "--force" in r.stderr
    assert nnctl("init", "line", "--out", "x.yaml", "--force").code == 0
    assert "source: line" in (tmp_path / "x.yaml").read_text()
    assert nnctl("init", "mnist").code == 2


def test_config_prints_the_resolved_config(nnctl, xor_config):
    r = nnctl("config", xor_config, "--set", "train.optimizer=adam")
    assert r.code == 0
    resolved = yaml.safe_load(r.stdout)
    assert resolved["train"]["optimizer"] == {"name": "adam", "lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-08}
    assert resolved["train"]["batch_size"] == "full" and resolved["data"]["standardize"] is True
    # what it prints is itself a config that loads to the same thing
    (xor_config.parent / "resolved.yaml").write_text(r.stdout)
    assert nnctl("config", xor_config.parent / "resolved.yaml").stdout == r.stdout


def test_schema_is_json_schema_that_accepts_the_shipped_configs(nnctl):
    import jsonschema

    from nnctl.io.yamlio import load_yaml

    from ..conftest import CONFIGS

    doc = json.loads(nnctl("schema").stdout)
    assert doc["title"] == "nnctl config" and "data" in doc["properties"]
    validator = jsonschema.Draft202012Validator(doc)
    for path in CONFIGS.glob("*.yaml"):
        raw, _ = load_yaml(path.read_text(), str(path))
        errors = list(validator.iter_errors(raw))
        assert not errors, (path.name, errors[0].message)
    assert list(validator.iter_errors({"data": {"source": "xor"}, "model": {"layers": []}, "train": {"loss": "x"}}))
