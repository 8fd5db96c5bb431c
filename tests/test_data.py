"""Built-in sets, CSV loading, class encoding, the seeded split and standardisation."""

from __future__ import annotations

import numpy as np
import pytest

from nnctl import data as datamod
from nnctl.config import validate
from nnctl.errors import ConfigError, DataError


def _cfg(data: dict, loss="bce", out=("sigmoid", 1)):
    return validate({"data": data, "model": {"layers": [{"units": out[1], "activation": out[0]}]},
                     "train": {"loss": loss}})


def test_line_is_seeded_and_follows_its_formula():
    cfg = _cfg({"source": "line", "n": 5000, "noise": 0.0}, "mse", ("identity", 1))
    raw = datamod.load_raw(cfg, None, np.random.default_rng(0))
    np.testing.assert_allclose(raw.y_numeric[:, 0], 2 * raw.X[:, 0] + 3)
    assert raw.X.min() >= -1 and raw.X.max() <= 1
    again = datamod.load_raw(cfg, None, np.random.default_rng(0))
    np.testing.assert_array_equal(raw.X, again.X)


def test_sort_classes_numeric_and_text():
    assert datamod.sort_classes(["10", "9", "2", "9"]) == [2, 9, 10]
    assert datamod.sort_classes(["b", "a", "c"]) == ["a", "b", "c"]
    assert datamod.sort_classes(["1.5", "0.5"]) == [0.5, 1.5]


def _csv_cfg(tmp_path, text: str, loss="cross_entropy", units=3, act="softmax", **extra):
    (tmp_path / "d.csv").write_text(text)
    cfg = _cfg({"source": "csv", "path": "d.csv", "target": "t", **extra}, loss, (act, units))
    return datamod.load_raw(cfg, tmp_path, np.random.default_rng(0))


def test_csv_text_labels_one_hot(tmp_path):
    raw = _csv_cfg(tmp_path, "a,t,b\n1,dog,2\n3,cat,4\n5,emu,6\n7,cat,8\n")
    assert raw.features == ["a", "b"]
    np.testing.assert_array_equal(raw.X, [[1, 2], [3, 4], [5, 6], [7, 8]])
    enc = datamod.encode(raw, "cross_entropy", 3)
    assert enc.classes == ["cat", "dog", "emu"]
    np.testing.assert_array_equal(enc.Y, [[0, 1, 0], [1, 0, 0], [0, 0, 1], [1, 0, 0]])


def test_csv_bce_positive_class_is_the_second(tmp_path):
    raw = _csv_cfg(tmp_path, "a,t\n1,yes\n2,no\n3,yes\n", "bce", 1, "sigmoid")
    enc = datamod.encode(raw, "bce", 1)
    assert enc.classes == ["no", "yes"]
    np.testing.assert_array_equal(enc.Y[:, 0], [1, 0, 1])


def test_csv_bce_needs_two_classes(tmp_path):
    raw = _csv_cfg(tmp_path, "a,t\n1,x\n2,y\n3,z\n", "bce", 1, "sigmoid")
    with pytest.raises(DataError, match="3 distinct values"):
        datamod.encode(raw, "bce", 1)


def test_output_units_must_match_classes(tmp_path):
    raw = _csv_cfg(tmp_path, "a,t\n1,x\n2,y\n3,z\n", units=2)
    with pytest.raises(ConfigError, match="2 units but target 't' has 3 classes"):
        datamod.encode(raw, "cross_entropy", 2)


def test_feature_subset_and_bom_crlf(tmp_path):
    (tmp_path / "d.csv").write_bytes(b"\xef\xbb\xbfa,b,t\r\n1,2,0\r\n3,4,1\r\n")
    cfg = _cfg({"source": "csv", "path": "d.csv", "target": "t", "features": ["b"]})
    raw = datamod.load_raw(cfg, tmp_path, np.random.default_rng(0))
    assert raw.features == ["b"]
    np.testing.assert_array_equal(raw.X[:, 0], [2, 4])


def test_split_is_seeded_shuffle_not_the_last_rows():
    enc = datamod.Encoded(np.arange(100.0)[:, None], np.arange(100.0)[:, None], ["x"], ["y"])
    s = datamod.split(enc, 0.2, np.random.default_rng(0))
    assert s.X_val.shape == (20, 1) and s.X_train.shape == (80, 1)
    assert set(s.X_val[:, 0]) | set(s.X_train[:, 0]) == set(range(100))
    assert set(s.X_val[:, 0]) != set(range(80, 100))
    s2 = datamod.split(enc, 0.2, np.random.default_rng(0))
    np.testing.assert_array_equal(s.X_val, s2.X_val)


def test_standardize_uses_training_stats_and_survives_constant_features():
    X = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    s = datamod.standardize(datamod.Split(X, X, X[:1].copy(), X[:1].copy()))
    np.testing.assert_allclose(s.x_mean, [3, 5])
    np.testing.assert_allclose(s.x_std, [np.std([1, 3, 5]), 1.0])
    np.testing.assert_allclose(s.X_train[:, 0].mean(), 0, atol=1e-15)
    np.testing.assert_allclose(s.X_train[:, 1], 0)
    np.testing.assert_allclose(s.X_val, s.X_train[:1])
