"""Schedules, early stopping, checkpoints and resume, metrics CSV, plots, starters, config helpers."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest
import yaml

from nnctl.config.loader import load_config
from nnctl.core.schedules import CosineLR, EarlyStopping, ExponentialLR, PlateauLR, StepLR
from nnctl.training import checkpoint
from nnctl.training.run import save_result
from nnctl.training.trainer import Interrupted, setup

from ..conftest import XOR

MINIBATCH = """
    seed: 3
    data: {source: moons, n: 120, noise: 0.2, validation_split: 0.25}
    model:
      layers:
        - {units: 8, activation: tanh}
        - {units: 1, activation: sigmoid}
    train:
      loss: bce
      optimizer: {name: adam, lr: 0.01}
      batch_size: 16
      epochs: 12
      log_every: 4
    """


def _rates(schedule, epochs, metrics=None):
    """The rate used in epochs 1..epochs: read before each epoch, stepped after it."""
    out = []
    for k in range(epochs):
        out.append(schedule.lr)
        schedule.step(None if metrics is None else metrics[k])
    return out


def test_step_schedule():
    assert _rates(StepLR(0.1, every=2, gamma=0.5), 6) == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025])


def test_exponential_schedule():
    assert _rates(ExponentialLR(0.1, gamma=0.5), 4) == pytest.approx([0.1, 0.05, 0.025, 0.0125])


def test_cosine_schedule_against_the_closed_form():
    # η_t = η_min + (η_0 − η_min)(1 + cos(π t / T)) / 2, t = k − 1
    got = _rates(CosineLR(0.1, t_max=4, min_lr=0.01), 5)
    expected = [0.01 + 0.09 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(5)]
    assert got == pytest.approx(expected, rel=1e-12)
    assert got[2] == pytest.approx(0.055) and got[4] == pytest.approx(0.01)


def test_cosine_warmup():
    got = _rates(CosineLR(0.1, t_max=2, warmup=2), 5)
    assert got == pytest.approx([0.05, 0.1, 0.1, 0.05, 0.0], abs=1e-15)


def test_plateau_schedule_worked_by_hand():
    # patience 1: the rate drops once 2 epochs in a row fail to beat the best by 0.01%
    metrics = [1.0, 0.9, 0.95, 0.96, 0.5, 0.6, 0.7, 0.8]
    got = _rates(PlateauLR(0.1, factor=0.5, patience=1), 8, metrics)
    assert got == pytest.approx([0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025])


def test_plateau_respects_min_lr():
    got = _rates(PlateauLR(0.1, factor=0.1, patience=0, min_lr=0.005), 4, [1.0, 1.0, 1.0, 1.0])
    assert got == pytest.approx([0.1, 0.1, 0.01, 0.005])


def test_early_stopping_keras_semantics():
    es = EarlyStopping(patience=2, min_delta=0.0)
    stops = [es.update(e, v, np.array([float(e)])) for e, v in enumerate([1.0, 0.8, 0.85, 0.9], 1)]
    assert stops == [False, False, False, True]  # two epochs without improvement after epoch 2
    assert es.best_epoch == 2 and es.stopped_epoch == 4 and es.best_weights[0] == 2.0


def test_early_stopping_min_delta():
    es = EarlyStopping(patience=1, min_delta=0.1)
    assert es.update(1, 1.0, np.zeros(1)) is False
    assert es.update(2, 0.95, np.zeros(1)) is True  # improved, but by less than min_delta
    assert es.best_epoch == 1


def test_lr_column_follows_the_schedule(nnctl, write):
    cfg = write("c.yaml", XOR.replace("epochs: 300", "epochs: 6\n      schedule: {name: step, every: 2, gamma: 0.5}")
                .replace("log_every: 100", "log_every: 1"))
    r = nnctl("train", cfg, "--metrics-csv", "m.csv")
    assert r.code == 0, r
    rows = list(csv.DictReader(open("m.csv")))
    assert [float(x["lr"]) for x in rows] == [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    assert "0.025" in r.stderr  # the table shows the rate too


def test_early_stopping_restores_the_best_weights(write):
    text = MINIBATCH.replace("epochs: 12", "epochs: 400").replace(
        "log_every: 4", "log_every: 50\n      early_stopping: {patience: 5, min_delta: 0.0}")
    cfg = load_config(write("c.yaml", text))
    trainer = setup(cfg)
    history = trainer.fit()
    st = trainer.stopper
    assert st.stopped_epoch is not None and len(history) == st.stopped_epoch < 400
    assert st.stopped_epoch - st.best_epoch == 5  # Keras: patience epochs without improvement
    best = history[st.best_epoch - 1].val_loss
    assert best == min(r.val_loss for r in history)
    s = trainer.prepared.split
    assert trainer.evaluate(s.X_val, s.Y_val)[0] == best  # the weights now are the best epoch's


def test_early_stopping_in_json_and_table(nnctl, write):
    text = MINIBATCH.replace("epochs: 12", "epochs: 400").replace(
        "log_every: 4", "log_every: 50\n      early_stopping: {patience: 3}")
    cfg = write("c.yaml", text)
    doc = nnctl("train", cfg, "--json").json()
    assert doc["stopped_epoch"] and doc["best_epoch"] and doc["epochs"] == doc["stopped_epoch"]
    assert "early stopping at epoch" in nnctl("train", cfg).stderr


def test_early_stopping_without_validation_watches_training_loss(write):
    text = XOR.replace("log_every: 100", "log_every: 100\n      early_stopping: {patience: 2, min_delta: 1.0}")
    trainer = setup(load_config(write("c.yaml", text)))
    trainer.fit()
    assert trainer.monitor == "loss" and trainer.stopper.stopped_epoch == 3


def _interrupt_after(trainer, batches: int):
    """Ask the trainer to stop after `batches` optimizer steps, as Ctrl-C would."""
    step, count = trainer.ws.step, [0]

    def counting(*args):
        count[0] += 1
        if count[0] == batches:
            trainer.stop_flag[0] = True
        return step(*args)

    trainer.ws.step = counting


def straight_and_resumed(cfg, tmp_path, batches: int):
    """Two trainers that ran cfg: one straight through, one stopped after `batches` steps (as
    Ctrl-C would), checkpointed, restored into a fresh trainer and run to the end."""
    straight = setup(cfg)
    straight.fit()
    first = setup(cfg)
    _interrupt_after(first, batches)
    with pytest.raises(Interrupted):
        first.fit()
    checkpoint.save(tmp_path / "c.ckpt.npz", first)
    second = setup(cfg)
    checkpoint.restore(tmp_path / "c.ckpt.npz", second)
    second.fit()
    return straight, second


@pytest.mark.parametrize("batches", [1, 7, 20, 44])  # inside epochs 1, 2, 4 (and a logged one)
def test_interrupted_and_resumed_run_gives_the_same_bytes(write, tmp_path, batches):
    from nnctl.training.run import TrainResult

    cfg = load_config(write("c.yaml", MINIBATCH))
    straight, second = straight_and_resumed(cfg, tmp_path, batches)
    save_result(tmp_path / "a.npz", cfg, TrainResult(straight))
    save_result(tmp_path / "b.npz", cfg, TrainResult(second))
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


def test_checkpoint_every_and_resume_through_the_cli(nnctl, write, tmp_path):
    cfg = write("c.yaml", MINIBATCH)
    assert nnctl("train", cfg, "--checkpoint-every", "5", "--epochs", "5", "-q").code == 0
    assert (tmp_path / "c.ckpt.npz").exists()
    # resuming continues to the config's epochs (12), not 12 more
    doc = nnctl("train", cfg, "--resume", "c.ckpt.npz", "--json").json()
    assert doc["epochs"] == 12
    hist = json.loads(str(np.load("c.npz")["meta"][()]))["history"]["epoch"]
    assert hist == list(range(1, 13))


def test_resume_refuses_another_config(nnctl, write):
    cfg = write("c.yaml", MINIBATCH)
    nnctl("train", cfg, "--checkpoint-every", "2", "--epochs", "2", "-q")
    r = nnctl("train", cfg, "--resume", "c.ckpt.npz", "--set", "train.optimizer.lr=0.5")
    assert r.code == 2 and "different config" in r.stderr and "train.optimizer.lr" in r.stderr
    r = nnctl("train", cfg, "--resume", "c.npz")
    assert r.code == 2 and "checkpoint" in r.stderr


def test_metrics_csv_has_a_row_per_epoch(nnctl, write):
    cfg = write("c.yaml", MINIBATCH.replace("log_every: 4", "log_every: 4\n      metrics: [accuracy, f1]"))
    assert nnctl("train", cfg, "--metrics-csv", "m.csv", "-q").code == 0
    rows = list(csv.reader(open("m.csv")))
    assert rows[0] == ["epoch", "loss", "val_loss", "lr", "accuracy", "f1", "val_accuracy", "val_f1"]
    assert [r[0] for r in rows[1:]] == [str(e) for e in range(1, 13)]
    assert all(cell != "" for r in rows[1:] for cell in r)


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


def test_classifier_metrics_by_hand():
    from nnctl.core import metrics

    # true: 0 0 1 1 2 2; predicted: 0 1 1 1 2 0
    Y = np.eye(3)[[0, 0, 1, 1, 2, 2]]
    out = np.eye(3)[[0, 1, 1, 1, 2, 0]]
    assert metrics.confusion_matrix(out, Y).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert metrics.accuracy(out, Y) == pytest.approx(4 / 6)
    precision = [1 / 2, 2 / 3, 1.0]
    recall = [1 / 2, 1.0, 1 / 2]
    f1 = [2 * p * r / (p + r) for p, r in zip(precision, recall, strict=True)]
    assert metrics.precision(out, Y) == pytest.approx(np.mean(precision))
    assert metrics.recall(out, Y) == pytest.approx(np.mean(recall))
    assert metrics.f1(out, Y) == pytest.approx(np.mean(f1))


@pytest.mark.parametrize("config,panels", [("xor.yaml", "decision boundary"), ("line.yaml", "fitted curve")])
def test_plot_writes_a_png(nnctl, config, panels, tmp_path):
    from ..conftest import CONFIGS

    assert nnctl("train", CONFIGS / config, "-q", "--out", "m.npz", "--epochs", "20").code == 0
    r = nnctl("plot", "m.npz")
    assert r.code == 0 and panels in r.stderr
    png = (tmp_path / "m.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_plot_without_matplotlib_says_how_to_get_it(nnctl, xor_config, monkeypatch):
    import sys

    nnctl("train", xor_config, "-q")
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    r = nnctl("plot", "xor.npz")
    assert r.code == 2 and "pip install 'nnctl[plot]'" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("kind", ["xor", "line", "csv"])
def test_init_starters_are_valid_configs(nnctl, kind, tmp_path):
    r = nnctl("init", kind)
    assert r.code == 0 and r.stdout.startswith("#")
    (tmp_path / "s.yaml").write_text(r.stdout)
    if kind == "csv":
        (tmp_path / "data.csv").write_text("a,b,label\n" + "".join(f"{i},{i % 5},{'xyz'[i % 3]}\n" for i in range(30)))
    r = nnctl("train", "s.yaml", "--epochs", "3", "--json")
    assert r.code == 0, r


def test_init_out_refuses_to_overwrite(nnctl, tmp_path):
    assert nnctl("init", "xor", "--out", "x.yaml").code == 0
    r = nnctl("init", "line", "--out", "x.yaml")
    assert r.code == 2 and "--force" in r.stderr
    assert nnctl("init", "line", "--out", "x.yaml", "--force").code == 0
    assert "source: line" in (tmp_path / "x.yaml").read_text()
    assert nnctl("init", "mnist").code == 2


def test_config_prints_the_resolved_config(nnctl, xor_config):
    r = nnctl("config", xor_config, "--set", "train.optimizer=adam")
    assert r.code == 0
    resolved = yaml.safe_load(r.stdout)
    assert resolved["train"]["optimizer"] == {"name": "adam", "lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-08}
    assert resolved["train"]["batch_size"] == "full" and resolved["data"]["standardize"] is True
    # what it prints is itself a config that loads to the same thing
    (xor_config.parent / "resolved.yaml").write_text(r.stdout)
    assert nnctl("config", xor_config.parent / "resolved.yaml").stdout == r.stdout


def test_schema_is_json_schema_that_accepts_the_shipped_configs(nnctl):
    import jsonschema

    from nnctl.io.yamlio import load_yaml

    from ..conftest import CONFIGS

    doc = json.loads(nnctl("schema").stdout)
    assert doc["title"] == "nnctl config" and "data" in doc["properties"]
    validator = jsonschema.Draft202012Validator(doc)
    for path in CONFIGS.glob("*.yaml"):
        raw, _ = load_yaml(path.read_text(), str(path))
        errors = list(validator.iter_errors(raw))
        assert not errors, (path.name, errors[0].message)
    assert list(validator.iter_errors({"data": {"source": "xor"}, "model": {"layers": []}, "train": {"loss": "x"}}))


def test_progress_is_plain_lines_without_a_terminal(nnctl, xor_config):
    r = nnctl("train", xor_config)
    assert "\r" not in r.stderr and "━" not in r.stderr


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


@pytest.mark.parametrize("name", ["circles", "moons", "gauss", "spiral"])
def test_playground_configs_learn(name):
    from nnctl.training.run import train

    from ..conftest import CONFIGS

    r = train(load_config(CONFIGS / f"{name}.yaml"))
    assert r.final.val_metrics["accuracy"] >= 0.9


def test_json_report_is_one_document(nnctl, xor_config):
    r = nnctl("train", xor_config, "--json")
    json.loads(r.stdout)
    assert r.stdout.count("\n") == 1 and io.StringIO(r.stdout).readline().startswith("{")


def test_plot_default_output_is_the_model_stem_in_the_current_folder(nnctl, xor_config, tmp_path):
    (tmp_path / "runs").mkdir()
    nnctl("train", xor_config, "-q", "--out", "runs/first.npz")
    assert nnctl("plot", "runs/first.npz").code == 0
    assert (tmp_path / "first.png").exists() and not (tmp_path / "runs" / "first.png").exists()


def _arrays(obj, seen=None, depth=0):
    """Every NumPy array reachable from obj's attributes, lists, tuples and dicts."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 6:
        return
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for x in obj:
            yield from _arrays(x, seen, depth + 1)
    elif isinstance(obj, dict):
        for x in obj.values():
            yield from _arrays(x, seen, depth + 1)
    elif hasattr(obj, "__dict__") and type(obj).__module__.startswith("nnctl"):
        for x in vars(obj).values():
            yield from _arrays(x, seen, depth + 1)


@pytest.mark.parametrize("optimizer", ["{name: sgd, lr: 0.1}", "{name: sgd, lr: 0.1, momentum: 0.9, nesterov: true}",
                                       "{name: adam, lr: 0.01}", "{name: rmsprop, lr: 0.01}"])
@pytest.mark.parametrize("hidden,loss,out", [("relu", "cross_entropy", "softmax"), ("tanh", "bce", "sigmoid"),
                                             ("leaky_relu", "mse", "identity"), ("sigmoid", "mse", "tanh")])
def test_float32_training_keeps_every_buffer_and_constant_float32(write, optimizer, hidden, loss, out):
    """No silent upcast: every array the step, the loss, the activations and the optimizer keep
    (0-d constants included) is float32, as are the data they train on. (The standardisation's
    mean and std stay float64: they are the model file's, applied before a cast at predict.)"""
    units = 1 if loss != "cross_entropy" else 2
    cfg = load_config(write("f.yaml", f"""
        data: {{source: moons, n: 90, validation_split: 0.2}}
        model: {{layers: [{{units: 6, activation: {hidden}}}, {{units: {units}, activation: {out}}}]}}
        train: {{loss: {loss}, optimizer: {optimizer}, batch_size: 32, epochs: 3, dtype: float32,
                 weight_decay: 0.001}}
        """))
    trainer = setup(cfg)
    trainer.fit()
    s = trainer.prepared.split
    engine = (trainer.ws, trainer.optimizer, trainer.model, trainer.prepared.loss, s.X_train_aug, s.Y_train,
              s.X_val, s.Y_val)
    found = [a for a in _arrays(engine) if a.dtype.kind == "f"]
    assert len(found) > 30
    assert {a.dtype for a in found} == {np.dtype(np.float32)}
    assert np.isfinite(trainer.model.flat).all()


def test_a_checkpoint_from_the_previous_layout_is_refused(write, tmp_path):
    """Version 1 checkpoints stored the first layer untransposed: resuming one would scramble
    that layer's weights, so it is refused by name instead."""
    from nnctl.errors import ModelFileError
    from nnctl.io.modelfile import read_npz, write_npz_atomic

    cfg = load_config(write("c.yaml", MINIBATCH))
    first = setup(cfg)
    _interrupt_after(first, 3)
    with pytest.raises(Interrupted):
        first.fit()
    checkpoint.save(tmp_path / "c.ckpt.npz", first)
    arrays = dict(read_npz(tmp_path / "c.ckpt.npz"))
    meta = json.loads(str(arrays["meta"][()]))
    arrays["meta"] = np.array(json.dumps({**meta, "version": 1}))
    write_npz_atomic(tmp_path / "old.ckpt.npz", arrays)
    with pytest.raises(ModelFileError, match=r"meta.version: this nnctl reads version 4, the file has 1"):
        checkpoint.restore(tmp_path / "old.ckpt.npz", setup(cfg))


PLAIN_SGD = """
    seed: 2
    data: {source: moons, n: 200, validation_split: 0.2}
    model: {layers: [{units: 8, activation: tanh}, {units: 1, activation: sigmoid}]}
    train: {loss: bce, optimizer: {name: sgd, lr: 0.5}, batch_size: 16, epochs: 12,
            schedule: {name: step, every: 3, gamma: 0.5}}
    """


def test_plain_sgd_folds_its_rate_into_the_backward_pass_and_trains_the_same(write):
    """Plain SGD's backward pass yields lr·g, and the update is one subtraction: the weights
    match the unfolded update's to rounding, through learning-rate changes and both loops."""
    for batch in ("16", "full"):
        cfg = load_config(write("s.yaml", PLAIN_SGD.replace("batch_size: 16", f"batch_size: {batch}")))
        folded, plain = setup(cfg), setup(cfg)
        assert folded.folds_lr
        plain.folds_lr, plain.update = False, plain.optimizer.step
        folded.fit()
        plain.fit()
        assert folded.ws.grad_scale == folded.optimizer.lr == 0.0625 and plain.ws.grad_scale == 1.0
        np.testing.assert_allclose(folded.model.flat, plain.model.flat, rtol=1e-9, atol=1e-12)
        assert [r.loss for r in folded.history] == pytest.approx([r.loss for r in plain.history], rel=1e-9)


@pytest.mark.parametrize("change", ["train.optimizer.momentum=0.9", "train.weight_decay=0.01",
                                    "train.optimizer.name=adam"])
def test_only_plain_sgd_without_weight_decay_folds(write, change):
    cfg = load_config(write("s.yaml", PLAIN_SGD), [change])
    trainer = setup(cfg)
    assert not trainer.folds_lr and trainer.update == trainer.optimizer.step
    trainer.fit()
    assert trainer.ws.grad_scale == 1.0
