"""Bad input through the CLI: one message naming the place, the right exit code, no traceback,
and nothing already saved changed or left half-written."""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import pytest

from ..conftest import XOR

XOR_ROWS = "x1,x2,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n"


def _fails(r, *words, code=2):
    assert r.code == code, r
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, r.stderr  # one message (a config's may go on to list a few more keys)
    assert r.stderr.strip().splitlines()[-1].startswith(("error: ", "  also ")), r.stderr
    for w in words:
        assert w in r.stderr, (w, r.stderr)
    return r


# --- config ----------------------------------------------------------------------------------

CONFIG_CASES = {
    "syntax": ("train: {loss: bce\n", ["line 2", "invalid YAML"]),
    "tab indent": ("data:\n\tsource: xor\n", ["line 2", "invalid YAML"]),
    "empty": ("", ["empty"]),
    "only a comment": ("# nothing\n", ["empty"]),
    "list at top": ("- data\n- model\n", ["top level must be a mapping"]),
    "scalar at top": ("hello\n", ["top level must be a mapping"]),
    "duplicate": (XOR + "seed: 3\n", ["duplicate key 'seed'"]),
    "unknown top": (XOR.replace("seed: 0", "sed: 0"), ["sed", "did you mean 'seed'"]),
    "unknown deep": (XOR.replace("{units: 4,", "{unit: 4,"), ["model.layers.0.unit", "did you mean 'units'"]),
    "epochs ten": (XOR.replace("epochs: 300", "epochs: ten"), ["train.epochs", "expected an integer", "'ten'"]),
    "epochs true": (XOR.replace("epochs: 300", "epochs: true"), ["train.epochs", "expected an integer"]),
    "lr negative": (XOR.replace("lr: 0.1", "lr: -1"), ["train.optimizer.lr", "≥ 0"]),
    "lr inf": (XOR.replace("lr: 0.1", "lr: .inf"), ["train.optimizer.lr", "finite"]),
    "units zero": (XOR.replace("units: 4", "units: 0"), ["model.layers.0.units", "≥ 1"]),
    "batch zero": (XOR.replace("epochs: 300", "epochs: 300\n      batch_size: 0"), ["batch_size"]),
    "split one": (XOR.replace("source: xor", "source: xor, validation_split: 1.0"), ["validation_split", "< 1"]),
    "loss/output": (XOR.replace("loss: bce", "loss: cross_entropy"), ["cross_entropy needs a softmax"]),
    "python tag": ("data: !!python/object/apply:os.system ['touch pwned']\n", ["!!python/object/apply", "not allowed"]),
    "custom tag": ("seed: !secret 3\n", ["not allowed"]),
    "merge key": ("base: &b {source: xor}\ndata:\n  <<: *b\n", ["merge keys"]),
    "deep nesting": ("a: " + "[" * 100 + "]" * 100 + "\n", ["nesting deeper"]),
    "very deep nesting": ("a: " + "[" * 5000 + "]" * 5000 + "\n", ["nesting deeper"]),
    "alias bomb": ("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)), ["more than 100000 nodes"]),
}


def _config_text(case: str) -> str:
    import textwrap

    text, _ = CONFIG_CASES[case]
    return textwrap.dedent(text).lstrip("\n") if text.startswith("\n") else text


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_bad_config(case, nnctl, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(_config_text(case))
    _fails(nnctl("train", path), str(path), *CONFIG_CASES[case][1])
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "c.npz").exists()


def test_yaml_12_float_is_a_number(nnctl, write):
    r = nnctl("train", write("c.yaml", XOR.replace("lr: 0.1", "lr: 1e-1")), "--json")
    assert r.code == 0


def test_missing_config_file(nnctl):
    _fails(nnctl("train", "nope.yaml"), "nope.yaml", "no such file")


def test_config_is_a_folder(nnctl, tmp_path):
    _fails(nnctl("train", tmp_path), "folder")


@pytest.mark.parametrize("setting,words", [
    ("train.epoch=3", ["train.epoch", "did you mean 'epochs'"]),
    ("train.epochs=ten", ["train.epochs", "expected an integer"]),
    ("train.epochs=[1", ["--set train.epochs", "invalid YAML"]),
    ("model.layers.9.units=3", ["list index below 2"]),
    ("epochs", ["KEY=VALUE"]),
])
def test_bad_set(setting, words, nnctl, xor_config):
    _fails(nnctl("train", xor_config, "--set", setting), *words)


# --- CSV -------------------------------------------------------------------------------------

def _csv_config(write, csv_bytes: bytes, loss="bce", units=1, act="sigmoid", target="y", extra=""):
    write("d.csv", csv_bytes)
    return write("c.yaml", f"""
        data: {{source: csv, path: d.csv, target: {target}{extra}}}
        model: {{layers: [{{units: 3, activation: tanh}}, {{units: {units}, activation: {act}}}]}}
        train: {{loss: {loss}, epochs: 5}}
        """)


CSV_CASES = {
    "non-numeric": (b"a,b,y\n1,2,0\n3,x7,1\n", ["line 3, column 2 ('b')", "'x7' is not a number"]),
    "empty cell": (b"a,b,y\n1,2,0\n3,,1\n", ["line 3, column 2", "empty cell"]),
    "nan": (b"a,b,y\n1,NaN,0\n3,4,1\n", ["line 2, column 2", "not finite"]),
    "inf": (b"a,b,y\n1,2,0\n3,-inf,1\n", ["line 3, column 2", "not finite"]),
    "ragged": (b"a,b,y\n1,2,0\n3,4,1,9\n", ["line 3", "4 cells, expected 3"]),
    "short row": (b"a,b,y\n1,2,0\n3,4\n", ["line 3", "2 cells, expected 3"]),
    "header only": (b"a,b,y\n", ["no data rows"]),
    "empty file": (b"", ["empty"]),
    "semicolons": (b"a;b;y\n1;2;0\n3;4;1\n", ["semicolon-separated", "delimiter"]),
    "duplicate header": (b"a,a,y\n1,2,0\n", ["duplicate column name 'a'"]),
    "no target": (b"a,b,label\n1,2,0\n3,4,1\n", ["no target column 'y'"]),
    "three classes": (b"a,b,y\n1,2,0\n3,4,1\n5,6,2\n", ["3 distinct values", "bce needs exactly 2"]),
    "not utf8": (b"a,b,y\n1,2,0\n\xff\xfe,4,1\n", ["line 3", "not UTF-8"]),
    "blank lines count": (b"a,b,y\n\n1,2,0\n\n3,oops,1\n", ["line 5, column 2", "'oops'"]),
    "crlf bom lines": (b"\xef\xbb\xbfa,b,y\r\n1,2,0\r\n3,oops,1\r\n", ["line 3, column 2"]),
}


@pytest.mark.parametrize("case", list(CSV_CASES))
def test_bad_training_csv(case, nnctl, write, tmp_path, csv_engine):
    data, words = CSV_CASES[case]
    r = _fails(nnctl("train", _csv_config(write, data)), "d.csv", *words)
    assert not (tmp_path / "c.npz").exists(), r


def test_missing_feature_column(nnctl, write):
    cfg = _csv_config(write, b"a,b,y\n1,2,0\n3,4,1\n", extra=", features: [a, c]")
    _fails(nnctl("train", cfg), "no feature column 'c'")


def test_missing_csv_file(nnctl, write):
    cfg = write("c.yaml", """
        data: {source: csv, path: missing.csv, target: y}
        model: {layers: [{units: 1, activation: sigmoid}]}
        train: {loss: bce}
        """)
    _fails(nnctl("train", cfg), "missing.csv", "no such file")


def test_bom_crlf_and_constant_feature_train_fine(nnctl, write):
    rows = b"\xef\xbb\xbfa,const,y\r\n" + b"".join(b"%d,5,%d\r\n" % (i, i % 2) for i in range(20))
    r = nnctl("train", _csv_config(write, rows), "--json")
    assert r.code == 0, r
    assert np.isfinite(r.json()["loss"])
    with np.load("c.npz") as z:
        assert z["x_std"][1] == 1.0  # a constant column is left unscaled, not divided by 0


def test_semicolon_file_works_with_delimiter(nnctl, write):
    cfg = _csv_config(write, b"a;b;y\n1;2;0\n3;4;1\n", extra=", delimiter: ';'")
    assert nnctl("train", cfg).code == 0


# --- model files -----------------------------------------------------------------------------

@pytest.fixture
def model(nnctl, xor_config, tmp_path):
    assert nnctl("train", xor_config, "-q", "--out", "m.npz").code == 0
    return tmp_path / "m.npz"


def _arrays(path) -> dict:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _write_npz(path, arrays: dict, allow_pickle=False):
    with zipfile.ZipFile(path, "w") as zf:
        for k, v in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asanyarray(v), allow_pickle=allow_pickle)
            zf.writestr(f"{k}.npy", buf.getvalue())


def _meta(arrays) -> dict:
    return json.loads(str(arrays["meta"][()]))


def _with_meta(arrays, **changes):
    meta = _meta(arrays)
    meta.update(changes)
    return {**arrays, "meta": np.array(json.dumps(meta))}


MODEL_CASES = {
    "not a zip": (lambda p, a: p.write_bytes(b"hello, I am a text file\n" * 10), ["not a model file"]),
    "empty": (lambda p, a: p.write_bytes(b""), ["empty"]),
    "truncated": (lambda p, a: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), ["m.npz"]),
    "pickled object": (lambda p, a: _write_npz(p, {**a, "W0": np.array([{"x": 1}], dtype=object)},
                                               allow_pickle=True), ["'W0'", "Python objects"]),
    "missing key": (lambda p, a: _write_npz(p, {k: v for k, v in a.items() if k != "b1"}), ["missing key 'b1'"]),
    "extra key": (lambda p, a: _write_npz(p, {**a, "W7": np.zeros((2, 2))}), ["unexpected key 'W7'"]),
    "misnamed key": (lambda p, a: _write_npz(p, {("w0" if k == "W0" else k): v for k, v in a.items()}),
                     ["missing key 'W0'"]),
    "no meta": (lambda p, a: _write_npz(p, {k: v for k, v in a.items() if k != "meta"}), ["missing key 'meta'"]),
    "bad meta json": (lambda p, a: _write_npz(p, {**a, "meta": np.array("{not json")}), ["'meta'", "JSON"]),
    "wrong shape": (lambda p, a: _write_npz(p, {**a, "W1": np.zeros((3, 1))}), ["'W1'", "expected shape (4, 1)"]),
    "wrong dtype": (lambda p, a: _write_npz(p, {**a, "W0": a["W0"].astype(np.int64)}), ["'W0'", "int64"]),
    "mixed dtype": (lambda p, a: _write_npz(p, {**a, "b0": a["b0"].astype(np.float32)}), ["'b0'", "float32"]),
    "nan weight": (lambda p, a: _write_npz(p, {**a, "W1": np.full((4, 1), np.nan)}), ["'W1'", "NaN"]),
    "inf std": (lambda p, a: _write_npz(p, {**a, "x_std": np.array([1.0, np.inf])}), ["'x_std'"]),
    "zero std": (lambda p, a: _write_npz(p, {**a, "x_std": np.array([1.0, 0.0])}), ["'x_std'", "> 0"]),
    "unknown version": (lambda p, a: _write_npz(p, _with_meta(a, version=99)), ["meta.version", "99"]),
    "wrong format": (lambda p, a: _write_npz(p, _with_meta(a, format="keras")), ["meta.format"]),
    "unknown activation": (lambda p, a: _write_npz(p, _with_meta(a, layers=[
        {"units": 4, "activation": "swish"}, {"units": 1, "activation": "sigmoid"}])), ["unknown activation"]),
    "plugin without flag": (lambda p, a: _write_npz(p, _with_meta(a, layers=[
        {"units": 4, "activation": {"plugin": "evil.py:Run"}}, {"units": 1, "activation": "sigmoid"}])),
        ["--plugin evil.py"]),
    "huge header": (lambda p, a: _huge_header(p, a), ["'W0'", "not a valid .npy"]),
    "oversized member": (lambda p, a: _oversized(p, a), ["'W0'", "promises"]),
    "member in folder": (lambda p, a: _extra_member(p, "../evil.npy"), ["unexpected member"]),
    "not npy member": (lambda p, a: _extra_member(p, "readme.txt"), ["unexpected member"]),
}


def _huge_header(p, a):
    _write_npz(p, {k: v for k, v in a.items() if k != "W0"})
    header = b"\x93NUMPY\x01\x00" + (60000).to_bytes(2, "little") + b"{" + b" " * 59998 + b"\n"
    with zipfile.ZipFile(p, "a") as zf:
        zf.writestr("W0.npy", header)


def _oversized(p, a):
    _write_npz(p, {k: v for k, v in a.items() if k != "W0"})
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    with zipfile.ZipFile(p, "a") as zf:
        zf.writestr("W0.npy", buf.getvalue() + b"\0" * 64)


def _extra_member(p, name):
    with zipfile.ZipFile(p, "a") as zf:
        zf.writestr(name, b"x")


@pytest.mark.parametrize("case", list(MODEL_CASES))
@pytest.mark.parametrize("command", ["predict", "info", "evaluate"])
def test_bad_model_file(case, command, nnctl, model, write):
    MODEL_CASES[case][0](model, _arrays(model))
    if case == "plugin without flag" and command == "info":
        assert nnctl("info", model).code == 0  # info reads the name; it never runs the plugin
        return
    args = [command, model] + ([write("x.csv", XOR_ROWS)] if command == "evaluate" else [])
    _fails(nnctl(*args, input=XOR_ROWS), "m.npz", *MODEL_CASES[case][1])


def test_missing_model_file(nnctl):
    _fails(nnctl("info", "nope.npz"), "nope.npz", "no such file")


@pytest.mark.parametrize("rows,words", [
    ("x1,z\n0,1\n", ["missing feature column(s) 'x2'", "x1, x2"]),
    ("x1,x2\n0,abc\n", ["line 2, column 2 ('x2')", "'abc' is not a number"]),
    ("x1,x2\n0,1\n1\n", ["line 3", "1 cells, expected 2"]),
    ("x1,x2\n", ["no data rows"]),
    ("", ["empty"]),
])
def test_bad_predict_input(rows, words, nnctl, model):
    _fails(nnctl("predict", model, input=rows), "stdin", *words)


def test_no_header_input_too_narrow(nnctl, model):
    _fails(nnctl("predict", model, "--no-header", input="1\n2\n"), "1 columns; the model needs 2")


def test_evaluate_unknown_label(nnctl, model, write):
    _fails(nnctl("evaluate", model, write("e.csv", "x1,x2,y\n0,0,7\n")), "label '7'", "classes (0, 1)")


def test_bad_format_flag(nnctl, model):
    _fails(nnctl("predict", model, "--format", "xml", input=XOR_ROWS), "--format", "csv or json")


# --- faults while running --------------------------------------------------------------------

def test_divergence_names_epoch_and_writes_nothing(nnctl, write, tmp_path):
    cfg = write("c.yaml", """
        data: {source: line, standardize: false}
        model: {layers: [{units: 8, activation: relu}, {units: 1, activation: identity}]}
        train: {loss: mse, optimizer: {name: sgd, lr: 50.0}, epochs: 1000}
        output: out.npz
        """)
    (tmp_path / "out.npz").write_bytes(b"old")
    r = _fails(nnctl("train", cfg), "diverged at epoch", code=1)
    assert "learning rate" in r.stderr
    assert (tmp_path / "out.npz").read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["c.yaml", "out.npz"]


@pytest.mark.parametrize("out,words", [
    ("missing/dir/m.npz", ["does not exist"]),
    ("afile/m.npz", ["is not a folder"]),
    (".", ["is a folder"]),
])
def test_unwritable_output_fails_before_training(out, words, nnctl, xor_config, tmp_path):
    (tmp_path / "afile").write_text("x")
    r = _fails(nnctl("train", xor_config, "--out", out), *words)
    assert "epoch" not in r.stderr  # refused before the first epoch


def test_no_permission_fails_before_training(nnctl, xor_config, monkeypatch):
    # the suite may run as root, for whom every folder is writable: simulate the refusal
    from nnctl.io import files

    monkeypatch.setattr(files, "_writable", lambda path: False)
    _fails(nnctl("train", xor_config, "--out", "m.npz"), "no permission")


def test_plugin_that_raises(nnctl, write):
    write("acts.py", "class Boom:\n    def forward(self, z):\n        raise RuntimeError('kaboom')\n"
                     "    def derivative(self, z, a):\n        return z\n")
    cfg = write("c.yaml", XOR.replace("activation: tanh", 'activation: {plugin: "acts.py:Boom"}'))
    _fails(nnctl("train", cfg), "acts.py:Boom", "forward(z) raised RuntimeError: kaboom")


def test_plugin_file_missing_or_class_missing(nnctl, write):
    write("acts.py", "X = 1\n")
    cfg = write("c.yaml", XOR.replace("activation: tanh", 'activation: {plugin: "acts.py:Nope"}'))
    _fails(nnctl("train", cfg), "defines no 'Nope'")
    cfg = write("d.yaml", XOR.replace("activation: tanh", 'activation: {plugin: "gone.py:Nope"}'))
    _fails(nnctl("train", cfg), "plugin file not found")


def test_a_nan_label_is_refused_before_training(nnctl, write):
    write("d.csv", "a,b,y\n1,2,1\n2,3,nan\n3,1,0\n")
    cfg = write("c.yaml", """
        data: {source: csv, path: d.csv, target: y}
        model: {layers: [{units: 2, activation: softmax}]}
        train: {loss: cross_entropy, epochs: 3}
        """)
    r = nnctl("train", cfg)
    assert r.code == 2 and "line 3, column 3 ('y')" in r.stderr and "'nan'" in r.stderr
    assert not os.path.exists("c.npz")


@pytest.mark.parametrize("cell", ["NaN", "1.2.3"])
def test_a_bad_regression_target_cell_is_named(nnctl, write, cell):
    write("d.csv", f"x,y\n1,2\n2,3.5\n3,{cell}\n")
    cfg = write("c.yaml", "data: {source: csv, path: d.csv, target: y}\nmodel: {layers: [{units: 1}]}\n"
                          "train: {loss: mse}\n")
    r = nnctl("train", cfg)
    assert r.code == 2 and f"line 4, column 2 ('y'): '{cell}'" in r.stderr and "text labels" not in r.stderr


def test_config_errors_speak_the_users_words(nnctl, write):
    cfg = write("c.yaml", """
        data: {source: csv, path: d.csv, target: 5}
        model:
          layers:
            - {units: 1}
        train:
          loss: mse
          optimizer:
            name: adam
            betas: [0.9]
        """)
    r = nnctl("train", cfg)
    assert r.code == 2
    assert "data.target (line 1): expected a string or a list, got 5" in r.stderr
    assert "train.optimizer.betas (line 9): expected a list of at least 2 items, got [0.9]" in r.stderr
    assert ".str" not in r.stderr and "after validation" not in r.stderr


@pytest.mark.parametrize("override, words", [("data.n=20000000000", ["data.n", "≤ 100000000"]),
                                             ("data.x_range=[-1e308, 1e308]", ["data.x_range", "finite width"]),
                                             ("data.slope=1e308", ["too large to be finite"])])
def test_huge_builtin_data_is_a_config_error(nnctl, write, override, words):
    cfg = write("c.yaml", "data: {source: line, intercept: 1e308}\nmodel: {layers: [{units: 1}]}\n"
                          "train: {loss: mse, epochs: 2}\n")
    r = nnctl("train", cfg, "--set", override)
    assert r.code == 2 and "internal error" not in r.stderr
    for w in words:
        assert w in r.stderr, r
