"""Data at scale, as a user runs it (docs/data.md): the CSV engines give the same bytes, Parquet
trains the same bits as CSV, and a missing extra is one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pyarrow as pa  # noqa: E402 - the arrow extra is a test extra
import pyarrow.parquet as pq  # noqa: E402
import pytest

NNCTL = [sys.executable, "-m", "nnctl"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CONFIG = """
seed: 3
data: {source: csv, path: d.csv, target: y, validation_split: 0.25}
model: {layers: [{units: 5, activation: tanh}, {units: auto, activation: softmax}]}
train: {loss: cross_entropy, epochs: 4, batch_size: 16, dtype: DTYPE, optimizer: {name: adam, lr: 0.01}}
"""


def _run(args, cwd, hide_pyarrow=False, extra_env=None, **kw):
    env = dict(os.environ)
    paths = [ROOT, env.get("PYTHONPATH", "")]
    if hide_pyarrow:  # a package named pyarrow that cannot be imported, first on the path
        fake = cwd / "no_pyarrow" / "pyarrow"
        fake.mkdir(parents=True, exist_ok=True)
        (fake / "__init__.py").write_text("raise ImportError('pyarrow is hidden by the test')\n")
        paths.insert(0, str(fake.parent))
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env.pop("NNCTL_CSV_ENGINE", None)
    env.update(extra_env or {})
    return subprocess.run([*NNCTL, *map(str, args)], cwd=cwd, env=env, capture_output=True, timeout=300, **kw)


def _data(tmp_path, n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) * [1, 100, 0.01]
    y = np.where(X[:, 0] + X[:, 1] / 100 > 0, "up", "down")
    with open(tmp_path / "d.csv", "w") as fh:
        fh.write("a,b,c,y\n")
        for row, label in zip(X.tolist(), y, strict=True):
            fh.write(",".join(map(repr, row)) + f",{label}\n")
    pq.write_table(pa.table({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": y}), tmp_path / "d.parquet")
    return X, y


def _config(tmp_path, dtype="float64"):
    p = tmp_path / "c.yaml"
    p.write_text(textwrap.dedent(CONFIG.replace("DTYPE", dtype)))
    return p


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_csv_with_and_without_pyarrow_gives_the_same_model_bytes(tmp_path, dtype):
    _data(tmp_path)
    cfg = _config(tmp_path, dtype)
    a = _run(["train", cfg, "--out", "m.npz", "-q"], tmp_path)
    first = (tmp_path / "m.npz").read_bytes()
    b = _run(["train", cfg, "--out", "m.npz", "-q"], tmp_path, hide_pyarrow=True)
    assert a.returncode == b.returncode == 0, (a.stderr, b.stderr)
    assert (tmp_path / "m.npz").read_bytes() == first


@pytest.mark.parametrize("bad", ["oops", "", "inf"])
def test_a_bad_cell_gives_the_same_bytes_with_and_without_pyarrow(tmp_path, bad):
    _data(tmp_path)
    lines = (tmp_path / "d.csv").read_text().split("\n")
    cells = lines[250].split(",")
    cells[1] = bad
    lines[250] = ",".join(cells)
    (tmp_path / "d.csv").write_text("\n".join(lines))
    cfg = _config(tmp_path)
    a = _run(["train", cfg, "-q"], tmp_path)
    b = _run(["train", cfg, "-q"], tmp_path, hide_pyarrow=True)
    assert a.returncode == b.returncode == 2
    assert a.stderr == b.stderr and a.stdout == b.stdout
    assert b"line 251, column 2 ('b')" in a.stderr and a.stderr.count(b"\n") == 1


def test_parquet_trains_the_same_bits_as_csv(tmp_path):
    _data(tmp_path)
    cfg = _config(tmp_path)
    c = _run(["train", cfg, "--out", "c.npz", "-q"], tmp_path)
    p = _run(["train", cfg, "--set", "data.source=parquet", "--set", "data.path=d.parquet", "--out", "p.npz",
              "-q"], tmp_path)
    assert c.returncode == p.returncode == 0, (c.stderr, p.stderr)
    a, b = np.load(tmp_path / "c.npz"), np.load(tmp_path / "p.npz")
    assert sorted(a.files) == sorted(b.files)
    for key in a.files:
        if key != "meta":
            assert a[key].tobytes() == b[key].tobytes(), key


def test_predict_and_evaluate_read_parquet_as_they_read_csv(tmp_path):
    _data(tmp_path)
    assert _run(["train", _config(tmp_path), "--out", "m.npz", "-q"], tmp_path).returncode == 0
    for command, extra in (("predict", ["--proba"]), ("evaluate", ["--json"])):
        c = _run([command, "m.npz", "d.csv", *extra], tmp_path)
        p = _run([command, "m.npz", "d.parquet", *extra], tmp_path)
        assert c.returncode == p.returncode == 0, p.stderr
        assert c.stdout == p.stdout and c.stdout


def test_parquet_bad_cells_are_named_by_row_and_column(tmp_path):
    X, y = _data(tmp_path)
    b = pa.array([*X[:41, 1].tolist(), None, *X[42:, 1].tolist()])
    pq.write_table(pa.table({"a": X[:, 0], "b": b, "c": X[:, 2], "y": y}), tmp_path / "null.parquet")
    pq.write_table(pa.table({"a": X[:, 0], "b": X[:, 1], "c": ["x"] * len(y), "y": y}), tmp_path / "text.parquet")
    cfg = _config(tmp_path)
    for name, words in (("null.parquet", b"row 42, column 2 ('b'): null cell"),
                        ("text.parquet", b"row 1, column 3 ('c'): 'x' is not a number")):
        r = _run(["train", cfg, "--set", "data.source=parquet", "--set", f"data.path={name}"], tmp_path)
        assert r.returncode == 2 and words in r.stderr and r.stderr.count(b"\n") == 1, r.stderr


def test_parquet_without_pyarrow_names_the_extra(tmp_path):
    _data(tmp_path)
    cfg = _config(tmp_path)
    r = _run(["train", cfg, "--set", "data.source=parquet", "--set", "data.path=d.parquet"], tmp_path,
             hide_pyarrow=True)
    assert r.returncode == 2 and r.stderr.count(b"\n") == 1
    assert b"pip install 'nnctl[arrow]'" in r.stderr
    r = _run(["evaluate", "nope.npz", "d.parquet"], tmp_path, hide_pyarrow=True)
    assert r.returncode == 2


def test_streaming_trains_the_same_bits_for_the_same_seed_and_about_the_same_accuracy(tmp_path):
    _data(tmp_path, n=3000)
    cfg = _config(tmp_path)
    stream = ["--set", "data.stream=true"]
    runs = {}
    for name, extra in (("a", stream), ("b", stream), ("memory", []),
                        ("parquet", [*stream, "--set", "data.source=parquet", "--set", "data.path=d.parquet"])):
        (tmp_path / name).mkdir()
        r = _run(["train", cfg, "--json", "--epochs", "20", "--out", "m.npz", *extra], tmp_path / name)
        assert r.returncode == 0, r.stderr
        runs[name] = json.loads(r.stdout)["val_metrics"]["accuracy"]
    assert (tmp_path / "a/m.npz").read_bytes() == (tmp_path / "b/m.npz").read_bytes()
    assert runs["a"] > 0.9 and abs(runs["a"] - runs["memory"]) <= 0.03 and abs(runs["parquet"] - runs["memory"]) <= 0.03


def test_predict_and_evaluate_give_the_same_bytes_without_pyarrow(tmp_path):
    _data(tmp_path)
    assert _run(["train", _config(tmp_path), "--out", "m.npz", "-q"], tmp_path).returncode == 0
    for args in (["predict", "m.npz", "d.csv", "--proba"], ["evaluate", "m.npz", "d.csv", "--json"]):
        a = _run(args, tmp_path)
        b = _run(args, tmp_path, hide_pyarrow=True)
        assert a.returncode == b.returncode == 0 and a.stdout == b.stdout and a.stdout, b.stderr


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    """A CSV above the size whose chunks are parsed by a pool (nnctl/data/parallel.py): 12 MB,
    text labels in the last column, and a copy with a bad cell in a middle chunk."""
    folder = tmp_path_factory.mktemp("large")
    rng = np.random.default_rng(1)
    X = np.round(rng.normal(size=(220_000, 5)), 6)
    y = np.where(X[:, 0] - X[:, 1] > 0, "up", "down")
    body = "\n".join(",".join(map(repr, r)) + f",{t}" for r, t in zip(X.tolist(), y.tolist(), strict=True))
    (folder / "d.csv").write_text("a,b,c,d,e,y\n" + body + "\n")
    lines = (folder / "d.csv").read_text().split("\n")
    lines[123_457] = lines[123_457].replace(",", ",x", 1)
    (folder / "bad.csv").write_text("\n".join(lines))
    (folder / "c.yaml").write_text(textwrap.dedent("""
        seed: 0
        data: {source: csv, path: d.csv, target: y, validation_split: 0.1}
        model: {layers: [{units: 4, activation: tanh}, {units: auto, activation: softmax}]}
        train: {loss: cross_entropy, epochs: 1, batch_size: 4096, optimizer: {name: adam, lr: 0.01}}
        """))
    assert (folder / "d.csv").stat().st_size > 8 << 20
    return folder


@pytest.mark.parametrize("engine", ["arrow", "numpy"])
def test_a_large_file_parsed_by_a_pool_trains_the_same_bytes(large, tmp_path, engine):
    models, out = [], tmp_path / "m.npz"  # the same name: the model file records it
    for workers in ("1", "2"):
        r = _run(["train", large / "c.yaml", "--out", out, "-q"], large, extra_env={
            "NNCTL_CSV_ENGINE": engine, "NNCTL_PARSE_WORKERS": workers})
        assert r.returncode == 0, r.stderr
        models.append(out.read_bytes())
    assert models[0] == models[1]
    bad = _run(["train", large / "c.yaml", "--set", "data.path=bad.csv", "-q"], large,
               extra_env={"NNCTL_CSV_ENGINE": engine, "NNCTL_PARSE_WORKERS": "2"})
    assert bad.returncode == 2 and bad.stderr.count(b"\n") == 1, bad.stderr
    assert b"bad.csv: line 123458, column 2 ('b'): 'x" in bad.stderr, bad.stderr


@pytest.mark.parametrize("engine", ["arrow", "numpy"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_a_pool_parses_stops_it_and_leaves_no_worker(large, engine, signum):
    """Ctrl-C reaches the whole foreground group, as a terminal sends it; SIGTERM only nnctl."""
    env = {**os.environ, "PYTHONPATH": ROOT, "NNCTL_CSV_ENGINE": engine, "NNCTL_PARSE_WORKERS": "2"}
    for delay in (0.4, 0.5, 0.6, 0.9):  # loading lasts from about 0.4 s to 0.8 s
        proc = subprocess.Popen([*NNCTL, "train", "c.yaml", "--set", "train.epochs=100000", "--out", "m.npz"],
                                cwd=large, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                start_new_session=True)
        time.sleep(delay)
        if signum == signal.SIGINT:
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == (130 if signum == signal.SIGINT else 143), (delay, err)
        assert b"Traceback" not in err and err.strip().splitlines()[-1].startswith(b"error: "), err
        for _ in range(100):  # the group is empty once its last worker has gone
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"a process of the run is left after {delay} s")


def test_pyarrow_leaves_signals_to_nnctl_and_allocates_with_malloc(tmp_path):
    code = ("import signal; from nnctl.data import engines; assert engines.csv_engine() == 'arrow'; "
            "import pyarrow as pa; print(pa.default_memory_pool().backend_name, "
            "signal.getsignal(signal.SIGINT) is signal.default_int_handler)")
    env = {**os.environ, "PYTHONPATH": ROOT}
    env.pop("ARROW_DEFAULT_MEMORY_POOL", None)
    env.pop("NNCTL_CSV_ENGINE", None)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert r.stdout.split() == ["system", "True"], r.stderr


def test_odd_parquet_files_are_one_line_and_exit_2_or_read_as_numbers(tmp_path):
    """Parquet's types beyond float and int, as a user's file may hold them: decimals are numbers
    (the same bits as the float column), dates and lists are named by row, column and type; a
    repeated column name and a damaged row group are one line and exit 2, never an internal error."""
    import decimal

    X, y = _data(tmp_path)
    cents = np.array([float(f"{v:.2f}") for v in X[:, 1]])  # the nearest float64 to each decimal
    pq.write_table(pa.table({"a": X[:, 0], "b": cents, "c": X[:, 2], "y": y}), tmp_path / "float.parquet")
    pq.write_table(pa.table({"a": X[:, 0], "b": pa.array([decimal.Decimal(f"{v:.2f}") for v in cents],
                                                         pa.decimal128(12, 2)), "c": X[:, 2], "y": y}),
                   tmp_path / "decimal.parquet")
    cfg = _config(tmp_path)
    runs = [_run(["train", cfg, "--set", "data.source=parquet", "--set", f"data.path={name}.parquet", "--out",
                  f"{name}.npz", "-q"], tmp_path) for name in ("float", "decimal")]
    assert [r.returncode for r in runs] == [0, 0], runs[1].stderr
    a, b = np.load(tmp_path / "float.npz"), np.load(tmp_path / "decimal.npz")
    assert all(a[k].tobytes() == b[k].tobytes() for k in a.files if k != "meta")

    import datetime

    pq.write_table(pa.table({"a": X[:, 0], "b": [datetime.date(2020, 1, 1)] * len(y), "c": X[:, 2], "y": y}),
                   tmp_path / "date.parquet")
    pq.write_table(pa.Table.from_arrays([pa.array(X[:, 0]), pa.array(X[:, 1]), pa.array(X[:, 2]), pa.array(y)],
                                        names=["a", "b", "a", "y"]), tmp_path / "twice.parquet")
    pq.write_table(pa.table({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": y}), tmp_path / "groups.parquet",
                   row_group_size=50)
    data = (tmp_path / "groups.parquet").read_bytes()
    (tmp_path / "damaged.parquet").write_bytes(data[:200] + b"\0" * 400 + data[600:])  # pages, not the footer
    for name, words in (("date", b"row 1, column 2 ('b'): '2020-01-01' (date32[day]) is not a number"),
                        ("twice", b"column 3: duplicate column name 'a'"),
                        ("damaged", b"damaged.parquet: row group 1 of 6: cannot read it as Parquet")):
        for command in (["train", cfg, "--set", "data.source=parquet", "--set", f"data.path={name}.parquet"],
                        ["evaluate", "float.npz", f"{name}.parquet"]):
            r = _run(command, tmp_path)
            assert r.returncode == 2 and words in r.stderr and r.stderr.count(b"\n") == 1, (command, r.stderr)


def test_a_spill_that_cannot_be_written_is_one_line_and_exit_2(tmp_path):
    """A streamed run's spill meets a full disk (here a file-size limit, RLIMIT_FSIZE): one line
    naming the folder and data.stream, exit 2, no model, not an internal error (exit 1)."""
    import resource

    _data(tmp_path, n=3000)
    cfg = _config(tmp_path)

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 10, 16 << 10))  # the spill's features: 72 kB

    r = _run(["train", cfg, "--set", "data.stream=true", "--out", "m.npz"], tmp_path, preexec_fn=small_files)
    assert r.returncode == 2 and r.stderr.count(b"\n") == 1, r.stderr
    assert r.stderr.startswith(f"error: {tmp_path}: cannot write the spill file of data.stream".encode()), r.stderr
    assert b"File too large" in r.stderr and not (tmp_path / "m.npz").exists()


def test_a_parquet_file_without_rows_is_worded_alike_in_memory_and_streamed(tmp_path):
    pq.write_table(pa.table({"a": pa.array([], pa.float64()), "b": pa.array([], pa.float64()),
                             "c": pa.array([], pa.float64()), "y": pa.array([], pa.string())}), tmp_path / "d.parquet")
    cfg = _config(tmp_path)
    for stream in ("false", "true"):
        r = _run(["train", cfg, "--set", "data.source=parquet", "--set", "data.path=d.parquet", "--set",
                  f"data.stream={stream}"], tmp_path)
        assert r.returncode == 2 and r.stderr.endswith(b"d.parquet: has a header but no data rows\n"), r.stderr


def test_a_feature_listed_twice_is_refused_in_memory_and_streamed(tmp_path):
    """data.features: [a, b, a] trained a model with two inputs of the same column."""
    _data(tmp_path)
    cfg = _config(tmp_path)
    for source in (["data.source=csv", "data.path=d.csv"], ["data.source=parquet", "data.path=d.parquet"]):
        for stream in ("false", "true"):
            sets = [x for kv in (*source, f"data.stream={stream}", "data.features=[a, b, a]") for x in ("--set", kv)]
            r = _run(["train", cfg, *sets, "--out", "m.npz"], tmp_path)
            assert r.returncode == 2, r.stderr
            assert r.stderr == b"error: data.features: 'a' is listed twice; name each column once\n"
            assert not (tmp_path / "m.npz").exists()


def test_evaluate_on_more_rows_than_a_block_matches_a_hand_computation(tmp_path):
    """evaluate works BLOCK_ROWS rows at a time (a forward pass over every row held each layer's
    values for all of them: 1.28 GB for a 345 MB file) and matches numeric labels to classes in C;
    the loss and metrics are those of a forward pass written out here; an unknown label is named
    by its row as before."""
    from nnctl.core.model import BLOCK_ROWS

    n = BLOCK_ROWS + 4000
    rng = np.random.default_rng(1)
    X = np.round(rng.normal(size=(n, 2)), 3)
    y = (X[:, 0] - X[:, 1] > 0).astype(int)
    with open(tmp_path / "d.csv", "w") as fh:
        fh.write("a,b,y\n")
        np.savetxt(fh, np.c_[X, y], delimiter=",", fmt=["%.3f", "%.3f", "%d"])
    (tmp_path / "c.yaml").write_text(textwrap.dedent("""
        seed: 0
        data: {source: csv, path: d.csv, target: y}
        model: {layers: [{units: 3, activation: tanh}, {units: 1, activation: sigmoid}]}
        train: {loss: bce, epochs: 1, batch_size: 4096}
        """))
    assert _run(["train", "c.yaml", "--out", "m.npz", "-q"], tmp_path).returncode == 0
    r = _run(["evaluate", "m.npz", "d.csv", "--json"], tmp_path)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    m = np.load(tmp_path / "m.npz")
    Z = np.tanh((X - m["x_mean"]) / m["x_std"] @ m["W0"] + m["b0"]) @ m["W1"] + m["b1"]
    p = 1 / (1 + np.exp(-Z[:, 0]))
    loss = np.mean(np.logaddexp(0, Z[:, 0]) - y * Z[:, 0])  # -[y log p + (1 - y) log(1 - p)]
    assert got["rows"] == n and abs(got["loss"] - loss) <= 1e-12 * max(1.0, loss)
    assert got["metrics"]["accuracy"] == np.mean((p > 0.5) == y)
    lines = (tmp_path / "d.csv").read_text().split("\n")
    lines[BLOCK_ROWS + 10] = lines[BLOCK_ROWS + 10].rsplit(",", 1)[0] + ",7"
    (tmp_path / "d.csv").write_text("\n".join(lines))
    r = _run(["evaluate", "m.npz", "d.csv"], tmp_path)
    assert r.returncode == 2
    assert r.stderr == (f"error: d.csv: data row {BLOCK_ROWS + 10}: label '7' in column 'y' is not one of the "
                        "model's classes (0, 1)\n").encode()


def test_a_parquet_file_read_as_csv_says_so(tmp_path):
    """A Parquet file named .csv (or data.source left at csv) was 'line 1: not UTF-8 text'."""
    _data(tmp_path)
    (tmp_path / "p.csv").write_bytes((tmp_path / "d.parquet").read_bytes())
    assert _run(["train", _config(tmp_path), "--out", "m.npz", "-q"], tmp_path).returncode == 0
    said = b"is a Parquet file, not CSV text (set data.source: parquet;"
    for command in (["train", _config(tmp_path), "--set", "data.path=p.csv"], ["evaluate", "m.npz", "p.csv"],
                    ["predict", "m.npz", "p.csv"]):
        r = _run(command, tmp_path)
        assert r.returncode == 2 and said in r.stderr and r.stderr.count(b"\n") == 1, (command, r.stderr)
    r = _run(["predict", "m.npz", "-"], tmp_path, input=(tmp_path / "d.parquet").read_bytes())
    assert r.returncode == 2 and r.stderr.startswith(b"error: stdin: " + said), r.stderr


def test_labels_of_numbers_and_text_each_find_their_class_in_a_large_file(tmp_path):
    """More than one chunk (2 MB) whose labels are all numbers, then a chunk with text: every
    label is its own class as written, in memory and streamed, and evaluate gives each class its
    rows; a file of numbers alone is matched to those text classes as written too."""
    written = ["01", "1", "1.0", "1e3", "-0", " 2 "]
    labels = [written[i % 6] for i in range(400_000)] + [(written + ["cat"])[i % 7] for i in range(700)]
    with open(tmp_path / "d.csv", "w") as fh:
        fh.write("a,y\n" + "".join(f"{i % 7}.{i:06d},{lab}\n" for i, lab in enumerate(labels)))
    assert (tmp_path / "d.csv").stat().st_size > 2 * (2 << 20)  # more than two of the reader's chunks
    config = tmp_path / "c.yaml"
    config.write_text(_config(tmp_path).read_text().replace("epochs: 4, batch_size: 16", "epochs: 1, batch_size: 4096"))
    want = {w.strip(): labels.count(w) for w in written + ["cat"]}
    for stream in ("false", "true"):
        r = _run(["train", config, "--set", f"data.stream={stream}", "--out", "m.npz"], tmp_path)
        assert r.returncode == 0, r.stderr
        r = _run(["evaluate", "m.npz", "d.csv", "--json"], tmp_path)
        assert r.returncode == 0, r.stderr
        got = json.loads(r.stdout)
        assert dict(zip(got["classes"], got["per_class"]["support"], strict=True)) == want
    (tmp_path / "n.csv").write_text("a,y\n1,01\n2,1.0\n3,1e3\n4,-0\n5,1.0\n")
    got = json.loads(_run(["evaluate", "m.npz", "n.csv", "--json"], tmp_path).stdout)
    assert dict(zip(got["classes"], got["per_class"]["support"], strict=True)) == {
        "-0": 1, "01": 1, "1": 0, "1.0": 2, "1e3": 1, "2": 0, "cat": 0}


def test_whole_numbers_beyond_float64s_digits_are_classes_as_written(tmp_path):
    """Two ids that float64 rounds to one number (12345678901234567168) are two classes, kept
    with their own digits (docs/model-file.md "Classes"); '1' and '1.0' are still one class."""
    written = ["12345678901234567891", "12345678901234567890", "9007199254740993", "1", "1.0"]
    labels = [written[i % 5] for i in range(200)]
    (tmp_path / "d.csv").write_text("a,y\n" + "".join(f"{i % 5},{lab}\n" for i, lab in enumerate(labels)))
    config = _config(tmp_path)
    for stream in ("false", "true"):
        r = _run(["train", config, "--set", f"data.stream={stream}", "--out", "m.npz"], tmp_path)
        assert r.returncode == 0, r.stderr
        got = json.loads(_run(["evaluate", "m.npz", "d.csv", "--json"], tmp_path).stdout)
        assert got["classes"] == [1, 9007199254740993, "12345678901234567890", "12345678901234567891"]
        assert got["per_class"]["support"] == [80, 40, 40, 40]
    r = _run(["predict", "m.npz", "d.csv"], tmp_path)
    assert set(r.stdout.decode().split()[1:]) <= {"1", "9007199254740993", *written[:2]}
