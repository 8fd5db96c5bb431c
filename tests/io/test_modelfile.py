"""The model file: round trips, reproducible bytes, atomic writes, plain-NumPy readability."""

from __future__ import annotations

import json
import os

import numpy as np

from nnctl.config.loader import load_config
from nnctl.io import modelfile
from nnctl.training.run import save_result, train

from ..conftest import XOR


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


def test_atomic_write_leaves_no_temporary_file(tmp_path):
    def boom(fh):
        fh.write(b"half")
        raise KeyboardInterrupt

    (tmp_path / "keep.npz").write_bytes(b"old")
    try:
        modelfile.atomic_write(tmp_path / "keep.npz", boom)
    except KeyboardInterrupt:
        pass
    assert (tmp_path / "keep.npz").read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["keep.npz"]


def test_float32_model_round_trip(write):
    _trained(write, overrides=["train.dtype=float32"])
    mf = modelfile.load("m.npz")
    assert mf.model.dtype == np.float32
    assert mf.model.predict(mf.transform(np.zeros((1, 2)))).dtype == np.float32
