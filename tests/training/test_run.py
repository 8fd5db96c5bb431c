"""run_training, the one library call behind `nnctl train`, a sweep's run and `nnctl.train()`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from nnctl.config.loader import load_config
from nnctl.errors import UsageError

from ..conftest import CONFIGS, ROOT

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
      schedule: {name: cosine}
      early_stopping: {patience: 50}
    output: m.npz
    """


def _command(args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "nnctl", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def minibatch(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent(MINIBATCH))
    return path


@pytest.mark.parametrize("name", ["xor", "minibatch"])
def test_the_python_api_trains_the_same_bytes_as_the_command_and_prints_nothing(name, minibatch, tmp_path,
                                                                                  capfd):
    from nnctl import load_config as api_load_config
    from nnctl import load_model, save_result, train

    config = CONFIGS / "xor.yaml" if name == "xor" else minibatch
    cmd_dir = tmp_path / "cmd"
    cmd_dir.mkdir()
    r = _command(["train", config, "-q"], cmd_dir)
    assert r.returncode == 0, r.stderr
    out = "xor.npz" if name == "xor" else "m.npz"

    capfd.readouterr()
    cfg = api_load_config(config)
    result = train(cfg)
    save_result(tmp_path / out, cfg, result)
    printed = capfd.readouterr()
    assert printed.out == "" and printed.err == ""
    assert (tmp_path / out).read_bytes() == (cmd_dir / out).read_bytes()
    model_file = load_model(tmp_path / out)
    assert model_file.model.predict(np.zeros((1, 2))).shape == (1, 1)


def _stop_after(batches: int, stop: list[bool]):
    """An on_start hook that sets the stop flag after `batches` optimizer steps, as Ctrl-C would."""

    def on_start(trainer):
        step, count = trainer.ws.step, [0]

        def counting(*args):
            count[0] += 1
            if count[0] == batches:
                stop[0] = True
            return step(*args)

        trainer.ws.step = counting

    return on_start


@pytest.mark.parametrize("batches", [1, 7, 30])
def test_a_stopped_run_writes_a_checkpoint_and_resuming_it_gives_the_same_bytes(batches, minibatch, tmp_path):
    from nnctl.training.run import Interrupted, run_training

    run_training(load_config(minibatch), out=tmp_path / "straight.npz")
    stop = [False]
    with pytest.raises(Interrupted) as caught:
        run_training(load_config(minibatch), out=tmp_path / "r.npz", on_start=_stop_after(batches, stop), stop=stop)
    ckpt = tmp_path / "r.ckpt.npz"
    assert caught.value.checkpoint == ckpt and ckpt.is_file() and not (tmp_path / "r.npz").exists()
    assert caught.value.epoch == 1 + batches // 6  # 90 training rows: 6 batches an epoch
    result = run_training(load_config(minibatch), out=tmp_path / "r.npz", resume=ckpt)
    assert result.epochs == 12
    assert (tmp_path / "r.npz").read_bytes() == (tmp_path / "straight.npz").read_bytes()


def test_checkpoint_every_and_the_metrics_csv(minibatch, tmp_path):
    from nnctl.training.run import run_training

    seen = []
    result = run_training(load_config(minibatch), checkpoint_every=5, checkpoint_path=tmp_path / "c.ckpt.npz",
                          metrics_csv=tmp_path / "m.csv", on_epoch=lambda r: seen.append(r.epoch))
    assert seen == list(range(1, 13)) and (tmp_path / "c.ckpt.npz").is_file()
    lines = (tmp_path / "m.csv").read_text().splitlines()
    assert len(lines) == 13 and lines[0].startswith("epoch,loss,val_loss,lr,accuracy")
    assert all(cell != "" for cell in lines[2].split(","))  # every epoch has its metrics
    assert result.history[-1].epoch == 12


def test_on_epoch_returning_true_stops_the_run(minibatch):
    from nnctl.training.run import run_training

    result = run_training(load_config(minibatch), on_epoch=lambda r: r.epoch == 3)
    assert result.epochs == 3 and len(result.history) == 3


def test_a_finished_run_whose_file_cannot_be_written_is_kept_and_resuming_saves_it(minibatch, tmp_path):
    from nnctl.training.run import UnsavedRun, run_training

    run_training(load_config(minibatch), out=tmp_path / "straight.npz")
    out = tmp_path / "m.npz"

    def block(record):
        if record.epoch == 12:
            out.mkdir()  # the output place becomes a folder while the run trains

    with pytest.raises(UnsavedRun) as caught:
        run_training(load_config(minibatch), out=out, on_epoch=block)
    assert caught.value.checkpoint == tmp_path / "m.ckpt.npz"
    assert "the finished run is kept in" in str(caught.value) and str(out) in str(caught.value)
    out.rmdir()
    result = run_training(load_config(minibatch), out=out, resume=caught.value.checkpoint)
    assert result.epochs == 12 and out.read_bytes() == (tmp_path / "straight.npz").read_bytes()


def test_init_from_copies_the_weights_and_a_shape_mismatch_names_the_file(tmp_path):
    from nnctl.training.run import run_training

    cfg = load_config(CONFIGS / "xor.yaml", ["train.epochs=5"])
    first = run_training(cfg, out=tmp_path / "first.npz")
    again = run_training(load_config(CONFIGS / "xor.yaml", ["train.epochs=1", "train.optimizer.lr=0"]),
                         init_from=tmp_path / "first.npz")
    assert np.array_equal(again.model.flat, first.model.flat)
    with pytest.raises(UsageError, match=r"first\.npz.*W0"):
        run_training(load_config(CONFIGS / "xor.yaml", ["model.layers.0.units=3"]), init_from=tmp_path / "first.npz")


def test_an_unwritable_output_fails_before_training(tmp_path):
    from nnctl.errors import NnctlError
    from nnctl.training.run import run_training

    started = []
    with pytest.raises(NnctlError, match="is a folder"):
        run_training(load_config(CONFIGS / "xor.yaml"), out=tmp_path, on_start=started.append)
    assert started == []


def test_the_command_stopped_by_sigint_writes_a_checkpoint_and_resumes(minibatch, tmp_path):
    import signal

    slow = minibatch.read_text().replace("epochs: 12", "epochs: 100000").replace("batch_size: 16", "batch_size: 1")
    minibatch.write_text(slow)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "nnctl", "train", "m.yaml"], cwd=tmp_path, env=env,
                            stderr=subprocess.PIPE, text=True)
    assert "epoch" in proc.stderr.readline()  # the table's header
    assert proc.stderr.readline().split()[0] == "1"  # epoch 1's row: the run is in its epochs
    proc.send_signal(signal.SIGINT)
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 130, err
    assert "interrupted (Ctrl-C) during epoch" in err and "Traceback" not in err
    assert "nnctl train m.yaml --resume m.ckpt.npz" in err and (tmp_path / "m.ckpt.npz").is_file()
    epoch = int(re.search(r"during epoch (\d+)", err).group(1))
    r = _command(["train", "m.yaml", "--resume", "m.ckpt.npz", "--epochs", epoch + 1, "--json"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["epochs"] == epoch + 1 and (tmp_path / "m.npz").is_file()
