"""Built-in sets, CSV loading, class encoding, the seeded split and standardisation."""

from __future__ import annotations

import numpy as np
import pytest

from nnctl.config.loader import validate
from nnctl.data import datasets as datamod
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
    s = datamod.make_split(enc, 0.2, np.random.default_rng(0), standardize=False)
    assert s.X_val.shape == (20, 1) and s.X_train.shape == (80, 1)
    assert set(s.X_val[:, 0]) | set(s.X_train[:, 0]) == set(range(100))
    assert set(s.X_val[:, 0]) != set(range(80, 100))
    np.testing.assert_array_equal(s.X_train[:, 0], s.Y_train[:, 0])  # rows stay paired
    np.testing.assert_array_equal(s.X_train_aug[:, 1], 1.0)
    s2 = datamod.make_split(enc, 0.2, np.random.default_rng(0), standardize=False)
    np.testing.assert_array_equal(s.X_val, s2.X_val)


def test_standardize_uses_training_stats_only():
    X = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0], [100.0, 7.0]])
    enc = datamod.Encoded(X, np.zeros((4, 1)), ["a", "b"], ["y"])
    s = datamod.make_split(enc, 0.25, np.random.default_rng(3), standardize=True)
    held_out = np.random.default_rng(3).permutation(4)[:1]  # the documented rule: shuffle, hold out ceil(0.25·4)
    raw_train = np.delete(X, held_out, axis=0)
    np.testing.assert_allclose(s.x_mean, raw_train.mean(axis=0))
    expected_std = raw_train.std(axis=0)
    expected_std[expected_std == 0] = 1.0
    np.testing.assert_allclose(s.x_std, expected_std)
    np.testing.assert_allclose(s.X_train, (raw_train - s.x_mean) / s.x_std)
    np.testing.assert_allclose(s.X_val, (X[held_out] - s.x_mean) / s.x_std)


def test_constant_feature_is_not_divided_by_zero():
    X = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    s = datamod.make_split(datamod.Encoded(X, np.zeros((3, 1)), ["a", "b"], ["y"]), 0.0,
                           np.random.default_rng(0), standardize=True)
    np.testing.assert_allclose(s.x_mean, [3, 5])
    np.testing.assert_allclose(s.x_std, [np.std([1, 3, 5]), 1.0])
    np.testing.assert_allclose(s.X_train[:, 1], 0)


def test_float32_split_is_float32():
    X = np.random.default_rng(0).normal(size=(10, 3))
    s = datamod.make_split(datamod.Encoded(X, X[:, :1], ["a", "b", "c"], ["y"]), 0.3,
                           np.random.default_rng(0), standardize=True, dtype=np.float32)
    assert s.X_train.dtype == s.X_val.dtype == s.Y_train.dtype == np.float32


@pytest.mark.parametrize("fraction,scale", [(0.0, False), (0.0, True), (0.3, True), (0.25, False)])
@pytest.mark.parametrize("header", ["y,a,b,skip", "a,y,skip,b", "a,b,skip,y"])
def test_in_place_split_of_a_csv_equals_the_copying_split(tmp_path, fraction, scale, header):
    """Loading a numeric CSV reuses the parsed array's memory for training; the result must be the
    same as the general path that copies."""
    rng = np.random.default_rng(5)
    cols = header.split(",")
    table = rng.normal(size=(37, 4)).round(3)
    table[:, cols.index("y")] = rng.integers(0, 3, 37)
    (tmp_path / "d.csv").write_text(header + "\n" + "\n".join(",".join(map(str, r)) for r in table) + "\n")
    cfg = _cfg({"source": "csv", "path": "d.csv", "target": "y", "features": ["a", "b"]}, "cross_entropy",
               ("softmax", 3))
    raw = datamod.load_raw(cfg, tmp_path, np.random.default_rng(0))
    assert raw.X_aug is not None
    enc = datamod.encode(raw, "cross_entropy", 3)
    copy = datamod.Encoded(table[:, [cols.index("a"), cols.index("b")]].copy(), enc.Y.copy(), enc.features,
                           enc.targets, enc.classes)
    expected = datamod.make_split(copy, fraction, np.random.default_rng(9), scale)
    got = datamod.make_split(enc, fraction, np.random.default_rng(9), scale)
    np.testing.assert_allclose(got.X_train_aug, expected.X_train_aug, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(got.Y_train, expected.Y_train)
    if fraction:
        np.testing.assert_allclose(got.X_val, expected.X_val, rtol=1e-13, atol=1e-15)
        np.testing.assert_array_equal(got.Y_val, expected.Y_val)


def test_a_wide_file_with_a_text_label_parses_its_numbers(nnctl, write):
    n_features = 2000
    header = [f"f{i}" for i in range(n_features)] + ["label"]
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, n_features)).round(3)
    write("d.csv", ",".join(header) + "\n" + "".join(",".join(map(str, r)) + f",{'ab'[i % 2]}\n"
                                                    for i, r in enumerate(X)))
    cfg = write("c.yaml", """
        data: {source: csv, path: d.csv, target: label, standardize: false}
        model: {layers: [{units: 1, activation: sigmoid}]}
        train: {loss: bce, epochs: 1, optimizer: {name: sgd, lr: 0.0}}
        """)
    assert nnctl("train", cfg, "-q").code == 0
    assert nnctl("info", "c.npz", "--json").json()["features"] == header[:-1]
    write("bad.csv", ",".join(header) + "\n" + ",".join(["1"] * n_features) + ",a\n" + ",".join(["1"] * 5) + "\n")
    r = nnctl("train", cfg, "--set", "data.path=bad.csv", "-q")
    assert r.code == 2 and "line 3: 5 cells, expected 2001" in r.stderr


def test_playground_sets_are_seeded_and_balanced():
    from nnctl.config.loader import validate
    from nnctl.data.datasets import load_raw

    for source in ("circles", "moons", "gauss", "spiral"):
        cfg = validate({"data": {"source": source, "n": 101},
                        "model": {"layers": [{"units": 1, "activation": "sigmoid"}]}, "train": {"loss": "bce"}})
        a = load_raw(cfg, None, np.random.default_rng(0))
        b = load_raw(cfg, None, np.random.default_rng(0))
        np.testing.assert_array_equal(a.X, b.X)
        assert a.X.shape == (101, 2) and set(np.unique(a.y_numeric)) == {0.0, 1.0}
        assert abs(a.y_numeric.sum() - 50.5) <= 0.5


def test_text_classes_stay_apart_and_numbers_agree_by_value():
    """'01' and '1' beside a text label are two classes, each with its own rows (they were two
    classes sharing one index, so one never trained); all-number labels match by value."""
    from nnctl.data.datasets import ClassIndex, RawData, encode

    def counts(labels):
        raw = RawData(np.zeros((len(labels), 1)), ["x"], ["y"], None, labels)
        enc = encode(raw, "cross_entropy", "auto")
        return enc.classes, enc.Y.sum(axis=0).tolist()

    assert counts(["01", "1", "cat", "1", "01", "01"]) == (["01", "1", "cat"], [3.0, 2.0, 1.0])
    assert counts(["1", "1.0", "2", "2.00", "2"]) == ([1, 2], [2.0, 3.0])
    assert ClassIndex(["01", "1", "cat"])[1.0] == 1  # a number read as a float finds its text class
    assert ClassIndex([1, 2]).get("cat") is None
