"""Schedules, early stopping, checkpoints and resume, metrics CSV, plots, starters, config helpers."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from nnctl.config.loader import load_config
from nnctl.training.trainer import setup

from ..conftest import MINIBATCH, XOR


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


def test_metrics_csv_has_a_row_per_epoch(nnctl, write):
    cfg = write("c.yaml", MINIBATCH.replace("log_every: 4", "log_every: 4\n      metrics: [accuracy, f1]"))
    assert nnctl("train", cfg, "--metrics-csv", "m.csv", "-q").code == 0
    rows = list(csv.reader(open("m.csv")))
    assert rows[0] == ["epoch", "loss", "val_loss", "lr", "accuracy", "f1", "val_accuracy", "val_f1"]
    assert [r[0] for r in rows[1:]] == [str(e) for e in range(1, 13)]
    assert all(cell != "" for r in rows[1:] for cell in r)


def test_progress_is_plain_lines_without_a_terminal(nnctl, xor_config):
    r = nnctl("train", xor_config)
    assert "\r" not in r.stderr and "━" not in r.stderr


def test_json_report_is_one_document(nnctl, xor_config):
    r = nnctl("train", xor_config, "--json")
    json.loads(r.stdout)
    assert r.stdout.count("\n") == 1 and io.StringIO(r.stdout).readline().startswith("{")


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
