"""Checkpoints and resume: an interrupted run resumes to the bytes of one that ran straight through,
a finished run whose file cannot be written is kept, and the resume command works as printed."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import textwrap

import numpy as np
import pytest

from nnctl.config.loader import load_config
from nnctl.training import checkpoint
from nnctl.training.history import HISTORY_CAP, History
from nnctl.training.run import save_result
from nnctl.training.trainer import Interrupted, setup

from ..conftest import MINIBATCH, NNCTL, XOR, run_nnctl


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
    assert "add --out" not in err and "another --out" in err  # --out was given
    (tmp_path / "m.npz").rmdir()
    again = run_nnctl(["train", "c.yaml", "--out", "m.npz", "--resume", "m.ckpt.npz", "--json"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["epochs"] == 3 and (tmp_path / "m.npz").is_file()


def test_long_runs_write_files_nnctl_reads_and_checkpoints_stay_small(tmp_path):
    (tmp_path / "c.yaml").write_text(textwrap.dedent(XOR))
    r = run_nnctl(["train", "c.yaml", "--epochs", "30000", "--checkpoint-every", "10", "-q", "-o", "m.npz"], tmp_path)
    assert r.returncode == 0, r.stderr
    meta = json.loads(str(np.load(tmp_path / "m.npz")["meta"][()]))
    epochs = meta["history"]["epoch"]
    assert len(epochs) <= HISTORY_CAP + 1 and epochs[0] == 1 and epochs[-1] == 30000
    assert (tmp_path / "m.ckpt.npz").stat().st_size < 40 * HISTORY_CAP * 8  # O(state): bounded columns
    assert run_nnctl(["info", "m.npz", "--json"], tmp_path).returncode == 0
    assert run_nnctl(["predict", "m.npz", "-"], tmp_path, input="x1,x2\n0,1\n").stdout == "y\n1\n"


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
