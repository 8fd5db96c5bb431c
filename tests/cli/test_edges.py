"""The edges a review found (issue 16): finished runs never lost, honest numbers, safe outputs,
user text printed literally, many classes and wide files, and messages that name the place."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import resource
import signal
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from nnctl.config.loader import load_config
from nnctl.engine import blas
from nnctl.training.history import HISTORY_CAP, History
from nnctl.training.trainer import setup

from ..conftest import CONFIGS, XOR

NNCTL = [sys.executable, "-m", "nnctl"]


def _run(args, cwd, **kw):
    return subprocess.run([*NNCTL, *map(str, args)], cwd=cwd, capture_output=True, text=True, **kw)


def _one_error(r, *words, code=2):
    assert r.returncode == code, r
    assert "Traceback" not in r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, r.stderr
    for w in words:
        assert w in r.stderr, (w, r.stderr)


# --- a finished run is never lost ---------------------------------------------------------------

def test_early_stopping_reports_the_metrics_of_the_epoch_it_keeps(nnctl):
    r = nnctl("train", CONFIGS / "circles.yaml", "--set", "train.early_stopping=true", "--epochs", "1000",
              "--json", "-o", "c.npz")
    doc = r.json()
    assert doc["stopped_epoch"] and doc["stopped_epoch"] < 1000
    assert set(doc["metrics"]) == {"accuracy"} and set(doc["val_metrics"]) == {"accuracy"}
    meta = json.loads(str(np.load("c.npz")["meta"][()]))
    assert meta["metrics"]["val_accuracy"] == doc["val_metrics"]["accuracy"]
    table = nnctl("train", CONFIGS / "circles.yaml", "--set", "train.early_stopping=true", "--epochs", "1000",
                  "-o", "c.npz").stderr
    rows = [line.split()[0] for line in table.splitlines() if line.strip()[:1].isdigit()]
    assert rows[-1] == str(doc["stopped_epoch"])  # the stop's epoch has its row


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


def test_an_overflowing_float32_validation_loss_is_saved_as_null(tmp_path):
    (tmp_path / "ov.csv").write_text("x,y\n" + "".join(f"{i % 7},{i % 7 * 2}\n" for i in range(40)) + "1e30,1\n")
    (tmp_path / "ov.yaml").write_text(textwrap.dedent("""
        seed: 3
        data: {source: csv, path: ov.csv, target: y, validation_split: 0.5, standardize: false}
        model: {layers: [{units: 1}]}
        train: {loss: mse, epochs: 3, dtype: float32, optimizer: {name: sgd, lr: 0.001}}
        """))
    r = _run(["train", "ov.yaml", "--json", "-o", "ov.npz"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert '"val_loss": null' in r.stdout and "Infinity" not in r.stdout and "NaN" not in r.stdout
    assert json.loads(r.stdout)["loss"] > 0
    info = _run(["info", "ov.npz", "--json"], tmp_path)
    assert info.returncode == 0 and json.loads(info.stdout)["metrics"]["val_loss"] is None


def test_a_failed_save_keeps_the_finished_run_and_resume_saves_it(tmp_path):
    slow = textwrap.dedent("""
        seed: 1
        data: {source: line, n: 3000}
        model: {layers: [{units: 8, activation: tanh}, {units: 1}]}
        train: {loss: mse, optimizer: adam, batch_size: 1, epochs: 3, log_every: 1}
        """)
    (tmp_path / "c.yaml").write_text(slow)
    proc = subprocess.Popen([*NNCTL, "train", "c.yaml", "-o", "m.npz"], cwd=tmp_path, stderr=subprocess.PIPE,
                            text=True)
    assert "epoch" in proc.stderr.readline()
    (tmp_path / "m.npz").mkdir()  # the output place becomes a folder while the run trains
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 2, err
    assert "Traceback" not in err and "m.npz" in err and "kept in m.ckpt.npz" in err, err
    assert "nnctl train c.yaml --out m.npz --resume m.ckpt.npz" in err
    (tmp_path / "m.npz").rmdir()
    again = _run(["train", "c.yaml", "--out", "m.npz", "--resume", "m.ckpt.npz", "--json"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["epochs"] == 3 and (tmp_path / "m.npz").is_file()


def _with_fsize_limit(limit):
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_file_size_limit_is_one_line_exit_2_and_nothing_half_written(tmp_path):
    (tmp_path / "c.yaml").write_text(textwrap.dedent(XOR))
    (tmp_path / "m.npz").write_bytes(b"yesterday's model")
    r = subprocess.run([*NNCTL, "train", "c.yaml", "-o", "m.npz"], cwd=tmp_path, capture_output=True, text=True,
                       preexec_fn=_with_fsize_limit(2000))
    _one_error(r, "m.npz", "File too large")
    assert (tmp_path / "m.npz").read_bytes() == b"yesterday's model"
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_long_runs_write_files_nnctl_reads_and_checkpoints_stay_small(tmp_path):
    (tmp_path / "c.yaml").write_text(textwrap.dedent(XOR))
    r = _run(["train", "c.yaml", "--epochs", "30000", "--checkpoint-every", "10", "-q", "-o", "m.npz"], tmp_path)
    assert r.returncode == 0, r.stderr
    meta = json.loads(str(np.load(tmp_path / "m.npz")["meta"][()]))
    epochs = meta["history"]["epoch"]
    assert len(epochs) <= HISTORY_CAP + 1 and epochs[0] == 1 and epochs[-1] == 30000
    assert (tmp_path / "m.ckpt.npz").stat().st_size < 40 * HISTORY_CAP * 8  # O(state): bounded columns
    assert _run(["info", "m.npz", "--json"], tmp_path).returncode == 0
    assert _run(["predict", "m.npz", "-"], tmp_path, input="x1,x2\n0,1\n").stdout == "y\n1\n"


def test_the_bounded_history_keeps_the_same_records_however_it_is_resumed():
    def record(e):
        from nnctl.training.history import EpochRecord
        return EpochRecord(e, 1.0 / e, 0.1)

    straight = History()
    for e in range(1, 20001):
        straight.append(record(e))
    first = History()
    for e in range(1, 12346):
        first.append(record(e))
    resumed = History(first.records, first.stride)
    for e in range(12346, 20001):
        resumed.append(record(e))
    assert [r.epoch for r in resumed] == [r.epoch for r in straight]
    assert len(straight) <= HISTORY_CAP + 1 and straight[-1].epoch == 20000
    gaps = {b.epoch - a.epoch for a, b in zip(straight.records[:-2], straight.records[1:-1], strict=True)}
    assert gaps == {straight.stride}


# --- honest numbers -----------------------------------------------------------------------------

def test_float32_bce_loss_is_accurate_near_convergence(write):
    """The training loop's BCE against a float64 evaluation of the same logits, at logits where
    softplus(z) − z·y summed apart used to cancel to 0."""
    cfg = load_config(write("g.yaml", XOR), ["train.dtype=float32", "data.standardize=false"])
    trainer = setup(cfg)
    trainer.model.W[1][...] = np.float32(30.0)
    trainer.model.W[0][...] = np.float32(3.0)
    X, Y = trainer.prepared.split.X_train_aug, trainer.prepared.split.Y_train
    got = trainer.ws.step(X, Y)
    z = (np.tanh(X[:, :2].astype(np.float64) @ trainer.model.W[0].astype(np.float64)) @
         trainer.model.W[1].astype(np.float64))
    want = float(np.mean(np.logaddexp(0.0, z) - z * Y))
    assert want > 0 and got == pytest.approx(want, rel=1e-5)


def test_multi_target_rmse_and_mae_are_means_over_targets(nnctl, write):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 2))
    Y = np.c_[X @ [1.0, 2.0] + rng.normal(size=50), 100 * (X @ [0.5, -1.0]) + 30 * rng.normal(size=50)]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["a", "b", "small", "big"])
    w.writerows(np.c_[X, Y].tolist())
    write("d.csv", buf.getvalue())
    cfg = write("c.yaml", """
        data: {source: csv, path: d.csv, target: [small, big]}
        model: {layers: [{units: 2}]}
        train: {loss: mse, epochs: 5, optimizer: {name: sgd, lr: 0.01}}
        """)
    assert nnctl("train", cfg, "-q").code == 0
    got = nnctl("evaluate", "c.npz", "d.csv", "--json").json()["metrics"]
    pred = np.array([[float(v) for v in row.split(",")] for row in
                     nnctl("predict", "c.npz", "d.csv").stdout.splitlines()[1:]])
    err = pred - Y
    assert got["rmse"] == pytest.approx(np.mean(np.sqrt(np.mean(err ** 2, axis=0))), rel=1e-9)
    assert got["mae"] == pytest.approx(np.mean(np.mean(np.abs(err), axis=0)), rel=1e-9)
    assert got["rmse"] != pytest.approx(np.sqrt(np.mean(err ** 2)), rel=1e-3)  # not the pooled one


def test_plateau_watches_val_loss_even_when_early_stopping_watches_loss(write, monkeypatch):
    cfg = load_config(CONFIGS / "circles.yaml", ["train.schedule=plateau", "train.early_stopping.monitor=loss",
                                                 "train.epochs=4"])
    trainer = setup(cfg)
    seen = []
    monkeypatch.setattr(trainer.schedule, "step", lambda metric=None: seen.append(metric))
    history = trainer.fit()
    assert seen == [r.val_loss for r in history] and seen != [r.loss for r in history]
    assert trainer.monitor == "loss"


def test_a_cosine_run_resumed_with_more_epochs_follows_the_new_total(nnctl, write):
    cfg = write("c.yaml", XOR.replace("epochs: 300", "epochs: 20\n      schedule: cosine"))
    assert nnctl("train", cfg, "--checkpoint-every", "10", "-q").code == 0
    r = nnctl("train", cfg, "--epochs", "40", "--resume", "c.ckpt.npz", "--metrics-csv", "m.csv", "-q")
    assert r.code == 0, r
    lr = {int(row["epoch"]): float(row["lr"]) for row in csv.DictReader(open("m.csv"))}
    later = [lr[e] for e in range(21, 41)]
    assert later == sorted(later, reverse=True)  # never climbs back
    for e in range(21, 41):  # the cosine of the new total, 40 epochs
        assert lr[e] == pytest.approx(0.05 * (1 + np.cos(np.pi * (e - 1) / 40)), rel=1e-9, abs=1e-15)


# --- safe outputs -------------------------------------------------------------------------------

def test_outputs_that_are_not_regular_files_are_refused_before_any_work(tmp_path):
    (tmp_path / "c.yaml").write_text(textwrap.dedent(XOR))
    r = _run(["train", "c.yaml", "-o", "/dev/null"], tmp_path)
    _one_error(r, "/dev/null", "character device")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    os.mkfifo(tmp_path / "fifo")
    _one_error(_run(["train", "c.yaml", "-o", "fifo"], tmp_path), "FIFO")
    assert _run(["train", "c.yaml", "-q", "-o", "m.npz"], tmp_path).returncode == 0
    _one_error(_run(["predict", "m.npz", "-", "--output", "fifo"], tmp_path, input="x1,x2\n0,1\n"), "FIFO")
    (tmp_path / "dir.npz").mkdir()
    _one_error(_run(["train", "c.yaml", "-o", "dir.npz"], tmp_path), "is a folder")


def test_a_symlinked_output_replaces_its_target_and_keeps_the_link(tmp_path):
    (tmp_path / "c.yaml").write_text(textwrap.dedent(XOR))
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "real.npz").write_bytes(b"old")
    os.symlink("store/real.npz", tmp_path / "link.npz")
    assert _run(["train", "c.yaml", "-q", "-o", "link.npz"], tmp_path).returncode == 0
    assert (tmp_path / "link.npz").is_symlink()
    assert np.load(tmp_path / "store" / "real.npz")["W0"].shape == (2, 4)
    assert sorted(os.listdir(tmp_path / "store")) == ["real.npz"]


# --- user text is text --------------------------------------------------------------------------

def test_brackets_in_data_are_printed_literally(nnctl, write):
    write("d.csv", "income[usd],age,label\n" + "".join(f"{i},{i % 5},{'yes[/b]' if i % 2 else '[bold]no'}\n"
                                                          for i in range(20)))
    cfg = write("c.yaml", """
        data: {source: csv, path: d.csv, target: label}
        model: {layers: [{units: 1, activation: sigmoid}]}
        train: {loss: bce, epochs: 5}
        """)
    assert nnctl("train", cfg, "-q").code == 0
    info = nnctl("info", "c.npz")
    assert info.code == 0 and "income[usd]" in info.stdout and "yes[/b]" in info.stdout
    ev = nnctl("evaluate", "c.npz", "d.csv")
    assert ev.code == 0 and "[bold]no" in ev.stdout and "yes[/b]" in ev.stdout
    bad = nnctl("predict", "c.npz", "-", input="income[usd],age\n[/x],1\n")
    assert bad.code == 2 and "'[/x]'" in bad.stderr and "income[usd]" in bad.stderr


def test_a_markup_cell_on_a_terminal_is_an_error_line_not_a_traceback(tmp_path):
    import pty

    (tmp_path / "c.yaml").write_text(textwrap.dedent(XOR))
    assert _run(["train", "c.yaml", "-q", "-o", "m.npz"], tmp_path).returncode == 0
    (tmp_path / "in.csv").write_text("x1,x2\n[/x],1\n")
    main, child = pty.openpty()
    proc = subprocess.Popen([*NNCTL, "predict", "m.npz", "in.csv"], cwd=tmp_path, stdin=subprocess.DEVNULL,
                            stdout=child, stderr=child)
    os.close(child)
    out = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    assert proc.wait(timeout=60) == 2
    text = out.decode()
    assert "Traceback" not in text and "[/x]" in text and "line 2, column 1" in text


# --- scale --------------------------------------------------------------------------------------

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


# --- messages -----------------------------------------------------------------------------------

@pytest.mark.parametrize("cell", ["NaN", "1.2.3"])
def test_a_bad_regression_target_cell_is_named(nnctl, write, cell):
    write("d.csv", f"x,y\n1,2\n2,3.5\n3,{cell}\n")
    cfg = write("c.yaml", "data: {source: csv, path: d.csv, target: y}\nmodel: {layers: [{units: 1}]}\n"
                          "train: {loss: mse}\n")
    r = nnctl("train", cfg)
    assert r.code == 2 and f"line 4, column 2 ('y'): '{cell}'" in r.stderr and "text labels" not in r.stderr


def test_config_output_loads_back_with_yaml_1_2_lookalikes(nnctl, write):
    write("d.csv", "x,1e3\n1,2\n2,3\n")
    cfg = write("c.yaml", "data: {source: csv, path: d.csv, target: '1e3'}\nmodel: {layers: [{units: 1}]}\n"
                          "train: {loss: mse}\n")
    first = nnctl("config", cfg)
    write("again.yaml", first.stdout)
    second = nnctl("config", "again.yaml")
    assert second.code == 0, second
    assert second.stdout == first.stdout


@pytest.mark.parametrize("short, key", [("early_stopping: true", "train.early_stopping.patience=3"),
                                        ("schedule: cosine", "train.schedule.min_lr=0.01"),
                                        ("optimizer: adam", "train.optimizer.lr=0.1")])
def test_set_reaches_inside_short_forms(nnctl, write, short, key):
    cfg = write("c.yaml", f"data: {{source: xor}}\nmodel: {{layers: [{{units: 1, activation: sigmoid}}]}}\n"
                          f"train:\n  loss: bce\n  {short}\n")
    r = nnctl("config", cfg, "--set", key)
    assert r.code == 0, r
    path, value = key.split("=")
    section, name = path.split(".")[1:]
    assert f"{name}: {value}" in r.stdout


def test_the_ctrl_c_hint_repeats_the_flags_of_the_run(tmp_path):
    (tmp_path / "c.yaml").write_text(textwrap.dedent("""
        seed: 4
        data: {source: line, n: 4000}
        model: {layers: [{units: 8, activation: tanh}, {units: 1}]}
        train: {loss: mse, optimizer: adam, batch_size: 1, epochs: 6, log_every: 1}
        """))
    proc = subprocess.Popen([*NNCTL, "train", "c.yaml", "--set", "train.optimizer.lr=0.002", "--epochs", "5",
                             "-o", "out dir.npz"], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    assert "epoch" in proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 130
    assert ("nnctl train c.yaml --set train.optimizer.lr=0.002 --epochs 5 --out 'out dir.npz' "
            "--resume 'out dir.ckpt.npz'") in err


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


def test_info_text_shows_the_config_and_one_loss_of_each_kind(nnctl, xor_config):
    nnctl("train", xor_config, "-q")
    out = nnctl("info", "xor.npz").stdout
    assert "training config:" in out and "optimizer: {lr: 0.1, momentum: 0.9" in out
    assert "loss function" in out and len(re.findall(r"│ loss +│", out)) == 1


# --- the fused gemm -----------------------------------------------------------------------------

def test_the_fused_gemm_declares_its_argument_types():
    g = blas.gemm(np.float64)
    if g is None:  # another BLAS: nothing is fused, nothing to declare
        assert setup(load_config(CONFIGS / "xor.yaml")).ws.gemm is None
        return
    assert len(g.fn.argtypes) == 14


@pytest.mark.parametrize("hidden", [4095, 4096])  # 16 381 and 16 385 parameters: both sides of the threshold
def test_both_sides_of_the_fuse_threshold_agree_with_numpy_to_rounding(write, monkeypatch, hidden):
    text = XOR.replace("units: 4, activation: tanh", f"units: {hidden}, activation: tanh").replace(
        "{name: sgd, lr: 0.1, momentum: 0.9}", "{name: sgd, lr: 0.1}").replace("epochs: 300", "epochs: 5")
    cfg = load_config(write("c.yaml", text))
    auto = setup(cfg)
    assert (auto.ws.gemm is not None) == (hidden == 4096 and blas.gemm(np.float64) is not None)
    auto.fit()
    monkeypatch.setenv("NNCTL_BLAS", "numpy")
    blas.gemm.cache_clear()
    try:
        plain = setup(cfg)
        plain.fit()
    finally:
        monkeypatch.delenv("NNCTL_BLAS")
        blas.gemm.cache_clear()
    np.testing.assert_allclose(auto.model.flat, plain.model.flat, rtol=1e-12, atol=1e-14)


def test_set_inside_a_key_the_file_leaves_out_starts_from_its_default(nnctl, write):
    cfg = write("c.yaml", "data: {source: xor}\nmodel: {layers: [{units: 1, activation: sigmoid}]}\n"
                          "train: {loss: bce}\n")
    out = nnctl("config", cfg, "--set", "train.optimizer.lr=0.25", "--set", "model.init.name=he").stdout
    assert "optimizer: {name: sgd, lr: 0.25" in out and "init: {name: he" in out
