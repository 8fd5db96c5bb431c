"""nnctl predict and nnctl evaluate: rows in, predictions or scores out (CSV or strict JSON)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import numpy as np

from ..conftest import DATASETS

NNCTL = [sys.executable, "-m", "nnctl"]
XOR_ROWS = "x1,x2,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n"
IRIS = f"""
seed: 0
data: {{source: csv, path: {DATASETS / 'iris.csv'}, target: species, standardize: true}}
model: {{layers: [{{units: 8, activation: relu}}, {{units: 3, activation: softmax}}], init: he}}
train: {{loss: cross_entropy, optimizer: {{name: adam, lr: 0.01}}, epochs: 60, batch_size: 16}}
"""
HEADER = "sepal_length,sepal_width,petal_length,petal_width\n"


def strict_json(text: str):
    """JSON as every reader accepts it: NaN and Infinity are refused."""
    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def _trained_iris(tmp_path) -> None:
    (tmp_path / "iris.yaml").write_text(IRIS)
    subprocess.run([*NNCTL, "train", "iris.yaml", "-q", "--out", "m.npz"], cwd=tmp_path, check=True)


def test_an_overflowing_row_is_null_in_json_and_has_no_label(tmp_path):
    _trained_iris(tmp_path)
    (tmp_path / "in.csv").write_text(HEADER + "1e308,-1e308,1e308,-1e308\n5.1,3.5,1.4,0.2\n")
    r = subprocess.run([*NNCTL, "predict", "m.npz", "in.csv", "--format", "json", "--proba"], cwd=tmp_path,
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    huge, normal = strict_json(r.stdout)
    assert huge == {"species": None, "p_setosa": None, "p_versicolor": None, "p_virginica": None}
    assert normal["species"] == "setosa"
    assert abs(sum(v for k, v in normal.items() if k.startswith("p_")) - 1) < 1e-12
    plain = subprocess.run([*NNCTL, "predict", "m.npz", "in.csv"], cwd=tmp_path, capture_output=True, text=True)
    assert plain.stdout.splitlines() == ["species", "", "setosa"]


def test_an_overflowing_regression_output_is_null(nnctl, write):
    cfg = write("line.yaml", """
        data: {source: line, n: 50, standardize: false}
        model: {layers: [{units: 1, activation: identity}]}
        train: {loss: mse, optimizer: {name: sgd, lr: 0.1}, epochs: 50}
        """)
    assert nnctl("train", cfg, "-q").code == 0
    doc = strict_json(nnctl("predict", "line.npz", "--format", "json", input="x\n1e308\n1\n").stdout)
    assert doc[0] == {"y": None} and isinstance(doc[1]["y"], float)


def test_every_json_document_is_strict_json(nnctl, xor_config, write):
    data = write("xor.csv", XOR_ROWS)
    sweep = write("sweep.yaml", xor_config.read_text().replace("epochs: 300", "epochs: 20")
                  + "sweep: {method: grid, parameters: {train.optimizer.lr: {values: [0.1, 1.0e+300]}}}\n")
    docs = [nnctl("train", xor_config, "--json", "--out", "xor.npz").stdout,
            nnctl("info", "xor.npz", "--json").stdout,
            nnctl("evaluate", "xor.npz", data, "--json").stdout,
            nnctl("predict", "xor.npz", data, "--format", "json", "--proba").stdout,
            nnctl("gradcheck", xor_config, "--json").stdout,
            nnctl("explain", xor_config, "--json").stdout,
            nnctl("sweep", sweep, "--workers", "1", "--json", "--out", "s").stdout,
            nnctl("schema").stdout]
    for text in docs:
        assert isinstance(strict_json(text), dict | list)


def test_predict_bce_probabilities_match_a_forward_pass_by_hand(nnctl, xor_config):
    """p_1 is the sigmoid of the last layer, computed here from the saved arrays."""
    nnctl("train", xor_config, "-q")
    arrays = np.load("xor.npz")
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    if "x_mean" in arrays:  # the config's standardization, kept in the file
        X = (X - arrays["x_mean"]) / arrays["x_std"]
    h = np.tanh(X @ arrays["W0"] + arrays["b0"])
    p1 = 1 / (1 + np.exp(-(h @ arrays["W1"] + arrays["b1"])))[:, 0]
    rows = list(csv.DictReader(io.StringIO(nnctl("predict", "xor.npz", "--proba", input=XOR_ROWS).stdout)))
    assert np.allclose([float(r["p_1"]) for r in rows], p1, rtol=0, atol=1e-12)
    assert [r["y"] for r in rows] == [str(int(p > 0.5)) for p in p1]


def test_predict_stdin_to_stdout_and_proba(nnctl, xor_config):
    nnctl("train", xor_config, "-q")
    r = nnctl("predict", "xor.npz", "-", input=XOR_ROWS)
    assert r.code == 0, r
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [row["y"] for row in rows] == ["0", "1", "1", "0"]
    r = nnctl("predict", "xor.npz", "--proba", input=XOR_ROWS)
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(rows[0]) == ["y", "p_0", "p_1"]
    assert abs(float(rows[0]["p_0"]) + float(rows[0]["p_1"]) - 1) < 1e-12


def test_predict_matches_columns_by_name_and_no_header(nnctl, xor_config, write):
    nnctl("train", xor_config, "-q")
    shuffled = write("in.csv", "id,x2,x1\n7,1,0\n8,1,1\n")
    r = nnctl("predict", "xor.npz", shuffled)
    assert r.stdout.splitlines() == ["y", "1", "0"]
    r = nnctl("predict", "xor.npz", "--no-header", input="0,1\n1,1\n")
    assert r.stdout.splitlines() == ["y", "1", "0"]


def test_predict_json_and_output_file(nnctl, xor_config, tmp_path):
    nnctl("train", xor_config, "-q")
    r = nnctl("predict", "xor.npz", "--format", "json", "--proba", input=XOR_ROWS)
    doc = json.loads(r.stdout)
    assert [d["y"] for d in doc] == [0, 1, 1, 0] and set(doc[0]) == {"y", "p_0", "p_1"}
    r = nnctl("predict", "xor.npz", "--output", "out.csv", input=XOR_ROWS)
    assert r.code == 0 and r.stdout == ""
    assert (tmp_path / "out.csv").read_text().splitlines() == ["y", "0", "1", "1", "0"]


def test_predict_regression_writes_numbers(nnctl, write):
    cfg = write("line.yaml", """
        data: {source: line, n: 200, standardize: false}
        model: {layers: [{units: 1, activation: identity}]}
        train: {loss: mse, optimizer: {name: sgd, lr: 0.1}, epochs: 300}
        """)
    assert nnctl("train", cfg, "-q").code == 0
    lines = nnctl("predict", "line.npz", input="x\n0\n1\n").stdout.splitlines()
    assert lines[0] == "y"
    assert abs(float(lines[1]) - 3) < 0.5 and abs(float(lines[2]) - 5) < 0.5


def test_evaluate_table_and_json(nnctl, xor_config, write):
    nnctl("train", xor_config, "-q")
    data = write("xor.csv", XOR_ROWS)
    r = nnctl("evaluate", "xor.npz", data, "--json")
    doc = r.json()
    assert doc["rows"] == 4 and doc["metrics"]["accuracy"] == 1.0 and doc["loss"] < 0.1
    assert doc["confusion_matrix"] == [[2, 0], [0, 2]]
    r = nnctl("evaluate", "xor.npz", data)
    assert r.code == 0 and "accuracy" in r.stdout and "confusion" in r.stdout


def test_evaluate_loss_equals_an_independent_computation(nnctl, xor_config, write):
    import numpy as np

    nnctl("train", xor_config, "-q")
    doc = nnctl("evaluate", "xor.npz", write("xor.csv", XOR_ROWS), "--json").json()
    proba = [float(line.split(",")[2]) for line in
             nnctl("predict", "xor.npz", "--proba", input=XOR_ROWS).stdout.splitlines()[1:]]
    y = np.array([0, 1, 1, 0])
    p = np.array(proba)
    assert abs(doc["loss"] - np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))) < 1e-12


def test_many_classes_give_bounded_confusions_and_full_labels(nnctl, write):
    rng = np.random.default_rng(0)
    k = 60
    labels = [f"class-with-a-long-name-{i:03d}" for i in range(k)]
    rows = [(*rng.normal(size=2), labels[i % k]) for i in range(600)]
    write("d.csv", "a,b,label\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows))
    cfg = write("c.yaml", f"""
        data: {{source: csv, path: d.csv, target: label}}
        model: {{layers: [{{units: {k}, activation: softmax}}]}}
        train: {{loss: cross_entropy, epochs: 3, optimizer: adam}}
        """)
    assert nnctl("train", cfg, "-q").code == 0
    doc = nnctl("evaluate", "c.npz", "d.csv", "--json").json()
    assert doc["confusion_matrix"] is None and doc["rows"] == 600
    assert sum(c["count"] for c in doc["confusions"]) == round(600 * (1 - doc["metrics"]["accuracy"]))
    counts = [c["count"] for c in doc["confusions"]]
    assert counts == sorted(counts, reverse=True)
    text = nnctl("evaluate", "c.npz", "d.csv").stdout
    assert "most frequent confusions of 60 classes" in text
    top = doc["confusions"][0]
    assert top["true"] in text and top["predicted"] in text and "…" not in text


def test_evaluate_regression_metrics(nnctl, write):
    cfg = write("line.yaml", """
        data: {source: line, n: 300, noise: 0.0, standardize: false}
        model: {layers: [{units: 1, activation: identity}]}
        train: {loss: mse, optimizer: {name: sgd, lr: 0.5}, epochs: 300}
        """)
    nnctl("train", cfg, "-q")
    data = write("d.csv", "x,y\n" + "".join(f"{x},{2 * x + 3}\n" for x in np.linspace(-1, 1, 11)))
    doc = nnctl("evaluate", "line.npz", data, "--json").json()
    assert set(doc["metrics"]) == {"rmse", "mae", "r2"}
    assert doc["metrics"]["rmse"] < 1e-3 and doc["metrics"]["r2"] > 0.9999


def test_evaluate_over_many_blocks_gives_the_sum_loss_and_the_outputs_of_one_pass(tmp_path):
    """More rows than a block (8 192): a sum-reduced loss is the sum over every row, and the
    regression metrics are those of predict's outputs in file order (independent: NumPy on the
    model file's weights)."""
    rng = np.random.default_rng(0)
    n = 20_000
    X = rng.normal(size=(n, 2))
    y = X @ [1.0, -2.0] + 0.1 * rng.normal(size=n)
    k = (X[:, 0] > 0).astype(int) + (X[:, 1] > 1)
    np.savetxt(tmp_path / "r.csv", np.c_[X, y], delimiter=",", header="a,b,y", comments="", fmt="%.6f")
    np.savetxt(tmp_path / "c.csv", np.c_[X, k], delimiter=",", header="a,b,y", comments="",
               fmt=["%.6f", "%.6f", "%d"])
    X, y = np.hsplit(np.loadtxt(tmp_path / "r.csv", delimiter=",", skiprows=1), [2])  # as written
    y = y[:, 0]
    for name, loss, out in (("r", "mse", "1, activation: identity"), ("c", "cross_entropy", "3, activation: softmax")):
        (tmp_path / f"{name}.yaml").write_text(
            f"seed: 0\ndata: {{source: csv, path: {name}.csv, target: y}}\n"
            f"model: {{layers: [{{units: 6, activation: tanh}}, {{units: {out}}}]}}\n"
            f"train: {{loss: {{name: {loss}, reduction: sum}}, epochs: 1, batch_size: 256, "
            "optimizer: {name: sgd, lr: 0.0001}}\n")
        run = [*NNCTL, "train", f"{name}.yaml", "-q", "--out", f"{name}.npz"]
        subprocess.run(run, cwd=tmp_path, check=True)
        got = subprocess.run([*NNCTL, "evaluate", f"{name}.npz", f"{name}.csv", "--json"], cwd=tmp_path,
                             check=True, capture_output=True, text=True)
        doc = json.loads(got.stdout)
        m = np.load(tmp_path / f"{name}.npz")
        z = np.tanh((X - m["x_mean"]) / m["x_std"] @ m["W0"] + m["b0"]) @ m["W1"] + m["b1"]
        if name == "r":
            assert np.isclose(doc["loss"], np.sum((z[:, 0] - y) ** 2), rtol=1e-12)
            pred = subprocess.run([*NNCTL, "predict", "r.npz", "r.csv"], cwd=tmp_path, check=True,
                                  capture_output=True, text=True).stdout.split()[1:]
            p = np.array(pred, dtype=float)
            np.testing.assert_allclose(p, z[:, 0], rtol=1e-12, atol=1e-12)
            assert np.isclose(doc["metrics"]["rmse"], np.sqrt(np.mean((p - y) ** 2)), rtol=1e-12)
            assert np.isclose(doc["metrics"]["mae"], np.mean(np.abs(p - y)), rtol=1e-12)
        else:
            log_p = z - z.max(axis=1, keepdims=True)
            log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
            assert np.isclose(doc["loss"], -log_p[np.arange(n), k].sum(), rtol=1e-12)
            assert doc["per_class"]["support"] == np.bincount(k).tolist()
