"""The model file: round trips, reproducible bytes, atomic writes, plain-NumPy readability."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from nnctl import load_model
from nnctl.config.loader import load_config
from nnctl.errors import UsageError
from nnctl.io import modelfile
from nnctl.training.run import save_result, train

from ..conftest import XOR, run_nnctl


def _trained(write, text=XOR, out="m.npz", overrides=None):
    cfg = load_config(write("c.yaml", text), overrides)
    result = train(cfg)
    save_result(out, cfg, result)
    return cfg, result


def test_save_load_predict_identical(write):
    _, result = _trained(write)
    mf = modelfile.load("m.npz")
    X = np.array([[0.0, 0], [0, 1], [1, 0], [1, 1]])
    s = result.prepared.split
    expected = result.model.predict((X - s.x_mean) / s.x_std)
    np.testing.assert_array_equal(mf.model.predict(mf.transform(X)), expected)


def test_readable_by_plain_numpy(write):
    _trained(write)
    with np.load("m.npz", allow_pickle=False) as z:
        assert set(z.files) == {"W0", "b0", "W1", "b1", "x_mean", "x_std", "meta"}
        meta = json.loads(str(z["meta"]))
        assert z["W0"].shape == (2, 4) and z["b1"].shape == (1,)
    assert meta["format"] == "nnctl-mlp" and meta["version"] == 1
    assert meta["features"] == ["x1", "x2"] and meta["targets"] == ["y"] and meta["classes"] == [0, 1]
    assert meta["config"]["seed"] == 0 and meta["config"]["train"]["epochs"] == 300
    assert len(meta["history"]["loss"]) == 300


def test_same_config_and_seed_give_the_same_bytes(write, tmp_path):
    _trained(write, out="a.npz")
    _trained(write, out="b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    _trained(write, XOR.replace("seed: 0", "seed: 1"), out="c.npz")
    assert (tmp_path / "a.npz").read_bytes() != (tmp_path / "c.npz").read_bytes()


def test_float32_model_round_trip(write):
    _trained(write, overrides=["train.dtype=float32"])
    mf = modelfile.load("m.npz")
    assert mf.model.dtype == np.float32
    assert mf.model.predict(mf.transform(np.zeros((1, 2)))).dtype == np.float32


def test_describe_counts_what_the_layers_imply(write):
    """2 features → 4 tanh → 1 sigmoid: (2·4 + 4) + (4·1 + 1) = 17 parameters, counted by hand."""
    _trained(write, out="m.npz")
    doc = modelfile.describe("m.npz", weights=True)
    assert [(la["in"], la["units"]) for la in doc["layers"]] == [(2, 4), (4, 1)]
    assert doc["parameters"] == 17 and doc["dtype"] == "float64"
    assert np.array_equal(np.array(doc["weights"]["W1"]), np.load("m.npz")["W1"])
    assert "weights" not in modelfile.describe("m.npz")


def test_an_overflowing_float32_validation_loss_is_saved_as_null(tmp_path):
    (tmp_path / "ov.csv").write_text("x,y\n" + "".join(f"{i % 7},{i % 7 * 2}\n" for i in range(40)) + "1e30,1\n")
    (tmp_path / "ov.yaml").write_text(textwrap.dedent("""
        seed: 3
        data: {source: csv, path: ov.csv, target: y, validation_split: 0.5, standardize: false}
        model: {layers: [{units: 1}]}
        train: {loss: mse, epochs: 3, dtype: float32, optimizer: {name: sgd, lr: 0.001}}
        """))
    r = run_nnctl(["train", "ov.yaml", "--json", "-o", "ov.npz"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert '"val_loss": null' in r.stdout and "Infinity" not in r.stdout and "NaN" not in r.stdout
    assert json.loads(r.stdout)["loss"] > 0
    info = run_nnctl(["info", "ov.npz", "--json"], tmp_path)
    assert info.returncode == 0 and json.loads(info.stdout)["metrics"]["val_loss"] is None


def test_load_model_predict_and_predict_proba_as_the_python_api_promises(write, tmp_path):
    """`load_model(path).predict(X)` / `.predict_proba(X)` on raw rows (docs/python-api.md): the
    probabilities are a hand forward pass over the plain .npz arrays, the labels their classes, and
    both agree with `nnctl predict --proba`; a row with a NaN feature has no label."""
    _trained(write)
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    with np.load("m.npz", allow_pickle=False) as z:
        h = np.tanh(((X - z["x_mean"]) / z["x_std"]) @ z["W0"] + z["b0"])
        p = 1.0 / (1.0 + np.exp(-(h @ z["W1"] + z["b1"])))[:, 0]
    mf = load_model("m.npz")
    proba = mf.predict_proba(X)
    np.testing.assert_allclose(proba, np.c_[1.0 - p, p], rtol=1e-12, atol=1e-15)
    assert mf.predict(X).tolist() == [int(v > 0.5) for v in p]
    r = run_nnctl(["predict", "m.npz", "-", "--proba"], tmp_path, input="x1,x2\n0,0\n0,1\n1,0\n1,1\n")
    rows = [line.split(",") for line in r.stdout.splitlines()[1:]]
    assert [int(row[0]) for row in rows] == mf.predict(X).tolist()
    np.testing.assert_array_equal(np.array([[float(c) for c in row[1:]] for row in rows]), proba)
    assert mf.predict(np.array([[np.nan, 1.0]])).tolist() == [None]

    write("r.yaml", """
        seed: 0
        data: {source: line, n: 20}
        model: {layers: [{units: 1, activation: linear}]}
        train: {loss: mse, epochs: 5}
        """)
    cfg = load_config("r.yaml")
    save_result("r.npz", cfg, train(cfg))
    reg = load_model("r.npz")
    Xr = np.array([[0.5], [2.0]])
    np.testing.assert_array_equal(reg.predict(Xr), reg.model.predict(reg.transform(Xr)))
    with pytest.raises(UsageError, match="regression"):
        reg.predict_proba(Xr)
