"""Learning-rate schedules and early stopping against closed forms and hand-worked steps."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from nnctl.config.loader import load_config
from nnctl.core.schedules import CosineLR, EarlyStopping, ExponentialLR, PlateauLR, StepLR
from nnctl.training.trainer import setup

from ..conftest import CONFIGS


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


def test_plateau_watches_val_loss_even_when_early_stopping_watches_loss(write, monkeypatch):
    cfg = load_config(CONFIGS / "circles.yaml", ["train.schedule=plateau", "train.early_stopping.monitor=loss",
                                                 "train.epochs=4"])
    trainer = setup(cfg)
    seen = []
    monkeypatch.setattr(trainer.schedule, "step", lambda metric=None: seen.append(metric))
    history = trainer.fit()
    assert seen == [r.val_loss for r in history] and seen != [r.loss for r in history]
    assert trainer.monitor == "loss"


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
