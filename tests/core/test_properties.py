"""Property tests: whatever bytes the loaders are given, they return a value or raise nnctl's own
error, never anything else; and a saved model loads back exactly."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnctl.config.loader import load_config, validate
from nnctl.core.activations import ACTIVATIONS
from nnctl.core.model import MLP
from nnctl.data import csvtable as csvio
from nnctl.data import reader
from nnctl.errors import ConfigError, DataError, ModelFileError, NnctlError
from nnctl.io import modelfile

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

KEYS = ["seed", "data", "model", "train", "output", "source", "layers", "units", "activation", "loss",
        "optimizer", "lr", "epochs", "batch_size", "name", "momentum", "xor", "n", "validation_split"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=8), st.sampled_from(["xor", "bce", "sigmoid", "sgd", "adam", "full"]))
trees = st.recursive(scalars, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)),
                                                kids, max_size=5)), max_leaves=25)


@SETTINGS
@given(tree=trees)
def test_random_config_trees_validate_or_raise_config_error(tree):
    try:
        validate(tree, "random.yaml")
    except ConfigError as exc:
        assert str(exc)


@SETTINGS
@given(text=st.text(alphabet=st.sampled_from(list("abc: -[]{}&*!|>'\"\n\t#,.0123e%@`")), max_size=80))
def test_random_yaml_text_loads_or_raises_config_error(text, tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text(text)
    try:
        load_config(p)
    except ConfigError:
        pass


@SETTINGS
@given(data=st.binary(max_size=300) | st.text(alphabet=st.sampled_from(list("ab,;\"\n\r 0123.e-+naif")),
                                              max_size=200).map(str.encode))
def test_random_csv_bytes_load_or_raise_data_error(data, tmp_path):
    p = tmp_path / "r.csv"
    p.write_bytes(data)
    try:
        table = csvio.read_table(p)
        X = reader.load(table, list(range(len(table.header))), [], None).X_aug[:, :-1]
        assert np.isfinite(X).all() and X.shape[1] == len(table.header)
    except DataError:
        pass


def _model(rng, sizes, dtype, acts) -> MLP:
    return MLP([rng.normal(size=(a, b)).astype(dtype) for a, b in zip(sizes[:-1], sizes[1:], strict=True)],
               [rng.normal(size=b).astype(dtype) for b in sizes[1:]], [ACTIVATIONS[a]() for a in acts])


def _save(path: Path, model: MLP, n_out: int, scaled: bool):
    meta = {"loss": "mse", "features": [f"f{i}" for i in range(model.W[0].shape[0])],
            "targets": [f"t{i}" for i in range(n_out)], "classes": None, "config": {}}
    n = model.W[0].shape[0]
    modelfile.save(path, model, meta, np.linspace(-1, 1, n) if scaled else None,
                   np.linspace(0.5, 2, n) if scaled else None)


archs = st.lists(st.integers(1, 6), min_size=2, max_size=5)


@SETTINGS
@given(sizes=archs, dtype=st.sampled_from([np.float32, np.float64]), scaled=st.booleans(), seed=st.integers(0, 99),
       acts=st.lists(st.sampled_from(["identity", "tanh", "relu", "sigmoid", "leaky_relu"]), min_size=4, max_size=4))
def test_save_load_round_trip(sizes, dtype, scaled, seed, acts, tmp_path):
    rng = np.random.default_rng(seed)
    model = _model(rng, sizes, dtype, acts[: len(sizes) - 1])
    _save(tmp_path / "m.npz", model, sizes[-1], scaled)
    mf = modelfile.load(tmp_path / "m.npz")
    for a, b in zip(model.params, mf.model.params, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    X = rng.normal(size=(5, sizes[0]))
    np.testing.assert_array_equal(mf.model.predict(mf.transform(X)),
                                  model.predict(((X - mf.x_mean) / mf.x_std if scaled else X).astype(dtype)))
    assert [a.name for a in mf.model.activations] == [ACTIVATIONS[a]().name for a in acts[: len(sizes) - 1]]


def _valid_bytes(tmp_path) -> bytes:
    model = _model(np.random.default_rng(0), [3, 4, 2], np.float64, ["tanh", "identity"])
    _save(tmp_path / "base.npz", model, 2, True)
    return (tmp_path / "base.npz").read_bytes()


@SETTINGS
@given(cuts=st.lists(st.tuples(st.integers(0, 10**6), st.binary(min_size=1, max_size=4)), min_size=1, max_size=4),
       truncate=st.none() | st.integers(0, 10**6))
def test_mutated_model_files_load_or_raise_model_file_error(cuts, truncate, tmp_path):
    data = bytearray(_valid_bytes(tmp_path))
    for pos, junk in cuts:
        pos %= len(data)
        data[pos:pos + len(junk)] = junk
    if truncate is not None:
        data = data[: truncate % (len(data) + 1)]
    p = tmp_path / "bad.npz"
    p.write_bytes(bytes(data))
    try:
        mf = modelfile.load(p)
        assert all(np.isfinite(w).all() for w in mf.model.params)
    except ModelFileError:
        pass


member_values = st.one_of(
    st.builds(lambda s: np.zeros(s), st.lists(st.integers(0, 5), max_size=3).map(tuple)),
    st.just(np.array("{}")), st.just(np.array(json.dumps({"format": "nnctl-mlp", "version": 1}))),
    st.just(np.array([1, 2], dtype=np.int8)), st.just(np.array([np.nan])),
)


@SETTINGS
@given(members=st.dictionaries(st.sampled_from(["W0", "b0", "W1", "b1", "meta", "x_mean", "x_std", "junk"]),
                               member_values, max_size=7))
def test_random_member_sets_raise_model_file_error(members, tmp_path):
    p = tmp_path / "r.npz"
    with zipfile.ZipFile(p, "w") as zf:
        for k, v in members.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, v)
            zf.writestr(f"{k}.npy", buf.getvalue())
    try:
        modelfile.load(p)
    except ModelFileError:
        pass


def test_nnctl_error_is_the_only_family():
    for cls in (ConfigError, DataError, ModelFileError):
        assert issubclass(cls, NnctlError)
    assert yaml  # PyYAML is what the loader composes with
