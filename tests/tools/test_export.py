"""`nnctl export` (issue 11): onnxruntime runs the graph to `nnctl predict --proba`'s numbers, for
every activation and loss, both dtypes, standardised or not, any labels, one row or ten thousand."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from ..conftest import DATASETS, PLUGINS

TOL = {"float64": 1e-12, "float32": 1e-5}
ACTS = ["identity", "sigmoid", "tanh", "relu", "leaky_relu"]


def _predict(nnctl, model, csv_path, regression=False) -> tuple[list[str], np.ndarray]:
    """predict --proba's labels and numbers (a regression: every column is a number)."""
    out = nnctl("predict", model, csv_path, "--proba").stdout.splitlines()
    labels = [] if regression else [line.split(",")[0] for line in out[1:]]
    numbers = np.array([[float(v) for v in line.split(",")[0 if regression else 1:]] for line in out[1:]])
    return labels, numbers


def _features(csv_path, names) -> np.ndarray:
    lines = open(csv_path).read().splitlines()
    header = lines[0].split(",")
    idx = [header.index(n) for n in names]
    return np.array([[float(line.split(",")[i]) for i in idx] for line in lines[1:]])


def _run(onnx_path, X):
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, {"input": X}), strict=True))


def _close(got, want, dtype):
    """Relative to each value, or to its column's scale for a value that cancels to near 0 (a
    regression output: onnxruntime's GEMM sums in another order than NumPy's BLAS)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    scale = np.maximum(np.abs(want), np.abs(want).max(axis=0))
    np.testing.assert_array_less(np.abs(got - want), TOL[dtype] * scale + 1e-300)


def _data(write, kind: str):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)) * [1.0, 10.0, 0.1] + [0.0, 5.0, -1.0]
    if kind == "strings":
        y = np.array(["cat", "dog", "emu"])[(X[:, 0] > 0).astype(int) + (X[:, 2] > -1).astype(int)]
    elif kind == "ints":
        y = np.array([3, 7, 11])[(X[:, 0] > 0).astype(int) + (X[:, 2] > -1).astype(int)]
    elif kind == "two":
        y = np.where(X[:, 0] + X[:, 2] > -1, "yes", "no")
    else:
        y = np.c_[X @ [1.0, 0.1, -2.0], X @ [0.5, -0.3, 1.0]]
    rows = [",".join([*(repr(v) for v in x), *(map(str, t) if isinstance(t, np.ndarray) else [str(t)])])
            for x, t in zip(X.tolist(), y, strict=True)]
    target = "t1,t2" if kind == "regression" else "label"
    return write("d.csv", "a,b,c," + target + "\n" + "\n".join(rows) + "\n")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("kind, loss, out, standardize", [("strings", "cross_entropy", "softmax", True),
                                                          ("ints", "cross_entropy", "softmax", False),
                                                          ("two", "bce", "sigmoid", True),
                                                          ("regression", "mse", "identity", False)])
def test_onnxruntime_gives_predicts_numbers(nnctl, write, tmp_path, dtype, act, kind, loss, out, standardize):
    csv_path = _data(write, kind)
    target = "[t1, t2]" if kind == "regression" else "label"
    cfg = write("c.yaml", f"""
        data: {{source: csv, path: d.csv, target: {target}, standardize: {str(standardize).lower()}}}
        model: {{layers: [{{units: 5, activation: {act}}}, {{units: auto, activation: {out}}}]}}
        train: {{loss: {loss}, epochs: 30, dtype: {dtype}, optimizer: {{name: adam, lr: 0.05}}}}
        """)
    assert nnctl("train", cfg, "-q", "-o", "m.npz").code == 0
    r = nnctl("export", "m.npz", "--out", "m.onnx")
    assert r.code == 0, r
    model = onnx.load(tmp_path / "m.onnx")
    onnx.checker.check_model(model, full_check=True)
    assert model.producer_name == "nnctl" and model.opset_import[0].version >= 17
    X = _features(csv_path, ["a", "b", "c"]).astype(dtype)
    got = _run(tmp_path / "m.onnx", X)
    labels, numbers = _predict(nnctl, "m.npz", csv_path, regression=kind == "regression")
    assert numbers.shape == (60, 2 if kind in ("regression", "two") else 3)
    elem = onnx.helper.tensor_dtype_to_np_dtype(model.graph.input[0].type.tensor_type.elem_type)
    assert elem == np.dtype(dtype)
    for init in model.graph.initializer:  # every constant in the model's dtype (the class list aside)
        if init.data_type not in (onnx.TensorProto.INT64, onnx.TensorProto.STRING):
            assert onnx.helper.tensor_dtype_to_np_dtype(init.data_type) == np.dtype(dtype), init.name
    if kind == "regression":
        _close(got["prediction"], numbers, dtype)
        assert got["prediction"].shape == (60, 2)
        return
    _close(got["probabilities"], numbers, dtype)
    assert [str(v) for v in got["label"]] == labels
    assert got["label"].dtype == (np.int64 if kind == "ints" else object)
    props = {p.key: p.value for p in model.metadata_props}
    assert set(props) >= {"features", "targets", "classes"} and '"a"' in props["features"]


def test_softmax_output_and_dynamic_batch_of_one_and_ten_thousand_rows(nnctl, write, tmp_path):
    _data(write, "strings")
    cfg = write("c.yaml", """
        data: {source: csv, path: d.csv, target: label}
        model: {layers: [{units: 4, activation: tanh}, {units: auto, activation: softmax}]}
        train: {loss: cross_entropy, epochs: 10}
        """)
    nnctl("train", cfg, "-q", "-o", "m.npz")
    assert nnctl("export", "m.npz").code == 0  # default name: m.onnx in the current folder
    X = np.random.default_rng(1).normal(size=(10_000, 3)) * [1, 10, 0.1]
    big = _run(tmp_path / "m.onnx", X)
    one = _run(tmp_path / "m.onnx", X[:1])
    assert big["probabilities"].shape == (10_000, 3) and one["probabilities"].shape == (1, 3)
    np.testing.assert_array_equal(one["probabilities"][0], big["probabilities"][0])
    write("big.csv", "a,b,c\n" + "\n".join(",".join(map(repr, r)) for r in X.tolist()) + "\n")
    labels, numbers = _predict(nnctl, "m.npz", tmp_path / "big.csv")
    _close(big["probabilities"], numbers, "float64")
    assert [str(v) for v in big["label"]] == labels


def test_refusals(nnctl, write, tmp_path):
    write("acts.py", PLUGINS)
    cfg = write("c.yaml", """
        data: {source: xor}
        model: {layers: [{units: 3, activation: {plugin: "acts.py:Swish"}}, {units: 1, activation: sigmoid}]}
        train: {loss: bce, epochs: 3}
        """)
    assert nnctl("train", cfg, "-q", "-o", "p.npz").code == 0
    r = nnctl("export", "p.npz")
    assert r.code == 2 and "cannot be exported" in r.stderr and "plugin" in r.stderr
    assert not (tmp_path / "p.onnx").exists()
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    bad = nnctl("export", "bad.npz")
    want = nnctl("predict", "bad.npz", "-", input="x1,x2\n0,1\n")
    assert bad.code == want.code == 2 and bad.stderr == want.stderr  # the same checks as predict
    xor = write("x.yaml", "data: {source: xor}\nmodel: {layers: [{units: 1, activation: sigmoid}]}\n"
                          "train: {loss: bce, epochs: 2}\n")
    nnctl("train", xor, "-q", "-o", "x.npz")
    opset = nnctl("export", "x.npz", "--opset", "12")
    assert opset.code == 2 and "--opset" in opset.stderr
    assert nnctl("export", "x.npz", "--out", str(DATASETS)).code == 2  # a folder


def test_a_missing_onnx_extra_is_one_line_naming_it(tmp_path, nnctl, write):
    xor = write("x.yaml", "data: {source: xor}\nmodel: {layers: [{units: 1, activation: sigmoid}]}\n"
                          "train: {loss: bce, epochs: 2}\n")
    nnctl("train", xor, "-q", "-o", "x.npz")
    code = ("import sys; sys.modules['onnx'] = None; sys.argv = ['nnctl', 'export', 'x.npz']\n"
            "from nnctl.cli import main; main()")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 2 and "nnctl[onnx]" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_info_hints_at_the_export_command(nnctl, write):
    xor = write("x.yaml", "data: {source: xor}\nmodel: {layers: [{units: 1, activation: sigmoid}]}\n"
                          "train: {loss: bce, epochs: 2}\n")
    nnctl("train", xor, "-q", "-o", "x.npz")
    assert "nnctl export x.npz" in nnctl("info", "x.npz").stderr


def test_labels_beyond_int64_are_strings_in_the_graph_and_agree_with_predict(nnctl, write, tmp_path):
    data = write("big.csv", "a,b,y\n0,0,1\n0,1,100000000000000000000\n1,0,100000000000000000000\n"
                            "1,1,1\n1,1,-9223372036854775809\n")
    cfg = write("big.yaml", f"""
        seed: 0
        data: {{source: csv, path: {data}, target: y}}
        model: {{layers: [{{units: 4, activation: tanh}}, {{units: 3, activation: softmax}}]}}
        train: {{loss: cross_entropy, optimizer: {{name: adam, lr: 0.05}}, epochs: 200}}
        """)
    assert nnctl("train", cfg, "-q", "--out", "big.npz").code == 0
    r = subprocess.run([sys.executable, "-m", "nnctl", "export", "big.npz", "--out", "big.onnx"], cwd=tmp_path,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    label = next(o for o in onnx.load(tmp_path / "big.onnx").graph.output if o.name == "label")
    assert label.type.tensor_type.elem_type == onnx.TensorProto.STRING
    labels, _ = _predict(nnctl, "big.npz", data)
    got = _run(tmp_path / "big.onnx", _features(data, ["a", "b"]))["label"]
    assert [str(v) for v in got] == labels
    assert set(labels) <= {"1", "100000000000000000000", "-9223372036854775809"}


def test_a_file_whose_integer_classes_exceed_int64_exports_them_as_strings(nnctl, write, tmp_path):
    """A model file written with such classes as JSON integers (as nnctl once wrote them)."""
    import json

    data = write("d.csv", "a,b,y\n0,0,3\n0,1,5\n1,0,5\n1,1,3\n")
    cfg = write("d.yaml", f"""
        seed: 0
        data: {{source: csv, path: {data}, target: y}}
        model: {{layers: [{{units: 4, activation: tanh}}, {{units: 2, activation: softmax}}]}}
        train: {{loss: cross_entropy, optimizer: {{name: adam, lr: 0.05}}, epochs: 50}}
        """)
    assert nnctl("train", cfg, "-q", "--out", "d.npz").code == 0
    arrays = dict(np.load(tmp_path / "d.npz"))
    meta = json.loads(str(arrays["meta"][()]))
    meta["classes"] = [3, 2**64]
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "e.npz", **arrays)
    r = subprocess.run([sys.executable, "-m", "nnctl", "export", "e.npz", "--out", "e.onnx"], cwd=tmp_path,
                       capture_output=True, text=True)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    got = _run(tmp_path / "e.onnx", np.zeros((1, 2)))["label"]
    assert got.dtype == object and got[0] in ("3", str(2**64))
