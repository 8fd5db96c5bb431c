"""The Trainer owns its state: state() / load_state() continue a run with the same bits, between
epochs and inside one; checkpoint.py serialises that state to a file or to bytes."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from nnctl.config.loader import load_config
from nnctl.training import checkpoint
from nnctl.training.batches import ArrayBatches
from nnctl.training.trainer import Interrupted, setup

# Every part of the state at once: shuffled mini-batches, Adam, a plateau schedule, early
# stopping (its best weights), validation metrics and diagnostics.
FULL = """
    seed: 5
    data: {source: moons, n: 150, noise: 0.25, validation_split: 0.2}
    model:
      layers:
        - {units: 6, activation: relu}
        - {units: 1, activation: sigmoid}
    train:
      loss: bce
      optimizer: {name: adam, lr: 0.02}
      batch_size: 16
      epochs: 10
      log_every: 3
      schedule: {name: plateau, patience: 1, factor: 0.5}
      early_stopping: {patience: 100}
      diagnostics: true
    """


def _snapshot(state):
    """A deep copy: state() hands out the trainer's own arrays."""
    return copy.deepcopy(state)


def _same_run(a, b) -> None:
    assert a.model.flat.tobytes() == b.model.flat.tobytes()
    assert a.epoch == b.epoch
    assert [r.as_dict() for r in a.history] == [r.as_dict() for r in b.history]
    assert a.final.as_dict() == b.final.as_dict()


def _stop_after(trainer, batches: int) -> None:
    step, count = trainer.ws.step, [0]

    def counting(*args):
        count[0] += 1
        if count[0] == batches:
            trainer.stop_flag[0] = True
        return step(*args)

    trainer.ws.step = counting


@pytest.fixture
def cfg(write):
    return load_config(write("c.yaml", FULL))


def test_state_between_epochs_continues_with_the_same_bits(cfg):
    straight = setup(cfg)
    straight.fit()
    first = setup(cfg)
    first.fit(on_epoch=lambda r: r.epoch == 4)
    state = _snapshot(first.state())
    second = setup(cfg)
    second.load_state(state)
    assert second.epoch == 4 and len(second.history) == 4
    second.fit()
    _same_run(straight, second)


@pytest.mark.parametrize("batches", [1, 5, 19, 44])
def test_state_inside_an_epoch_continues_with_the_same_bits(cfg, batches):
    straight = setup(cfg)
    straight.fit()
    first = setup(cfg)
    _stop_after(first, batches)
    with pytest.raises(Interrupted):
        first.fit()
    state = _snapshot(first.state())
    assert state["partial"] is not None and state["batches"]["in_epoch"]
    second = setup(cfg)
    second.load_state(state)
    second.fit()
    _same_run(straight, second)


@pytest.mark.parametrize("batches", [3, 20])
def test_checkpoint_bytes_round_trip_and_file_round_trip_agree(cfg, tmp_path, batches):
    straight = setup(cfg)
    straight.fit()
    first = setup(cfg)
    _stop_after(first, batches)
    with pytest.raises(Interrupted):
        first.fit()
    data = checkpoint.dumps(first)
    checkpoint.save(tmp_path / "c.ckpt.npz", first)
    from_bytes, from_file = setup(cfg), setup(cfg)
    checkpoint.loads(data, from_bytes)
    checkpoint.restore(tmp_path / "c.ckpt.npz", from_file)
    from_bytes.fit()
    from_file.fit()
    _same_run(straight, from_bytes)
    _same_run(straight, from_file)


def test_a_state_for_another_config_is_refused_by_key(cfg, write):
    from nnctl.errors import ModelFileError

    first = setup(cfg)
    first.fit(on_epoch=lambda r: r.epoch == 2)
    other = load_config(write("d.yaml", FULL), ["train.optimizer.lr=0.5"])
    with pytest.raises(ModelFileError, match=r"train\.optimizer\.lr \(checkpoint 0\.02, config 0\.5\)"):
        setup(other).load_state(_snapshot(first.state()))
    with pytest.raises(ModelFileError, match="bytes-test: .*not a valid checkpoint|bytes-test: not a checkpoint"):
        checkpoint.loads(b"not a zip", setup(cfg), source="bytes-test")


def test_train_epochs_may_grow_on_resume(cfg, write):
    longer = load_config(write("e.yaml", FULL), ["train.epochs=14"])
    straight = setup(longer)
    straight.fit()
    first = setup(cfg)
    first.fit()
    assert first.epoch == 10
    second = setup(longer)
    second.load_state(_snapshot(first.state()))
    second.fit()
    _same_run(straight, second)


def test_array_batches_give_every_row_once_an_epoch_and_continue_where_they_stopped():
    X = np.arange(20.0).reshape(10, 2)
    Y = np.arange(10.0).reshape(10, 1)
    source = ArrayBatches(X, Y, 4, True, np.random.default_rng(0))
    rows = [yb[:, 0].tolist() for _, yb in source.batches(1)]
    assert [len(r) for r in rows] == [4, 4, 2] and sorted(sum(rows, [])) == list(range(10))
    assert source.targets()[:, 0].tolist() == sum(rows, [])
    it = source.batches(2)
    first = next(it)[1][:, 0].tolist()
    state = copy.deepcopy(source.state())  # stopped before training on the batch it was given
    rest = [yb[:, 0].tolist() for _, yb in it]
    again = ArrayBatches(X, Y, 4, True, np.random.default_rng(99))
    again.load_state(state)
    assert [yb[:, 0].tolist() for _, yb in again.batches(2)] == [first, *rest]
    whole = ArrayBatches(X, Y, 10, True, np.random.default_rng(0))
    assert whole.whole is not None and not whole.shuffled
