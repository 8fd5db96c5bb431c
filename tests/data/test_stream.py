"""The streaming batch source: every training row once per epoch, validation rows fixed by the
seed, the same batches for the same seed, resuming mid-epoch, statistics as a direct computation."""

from __future__ import annotations

import numpy as np
import pytest

from nnctl.data import csvtable, reader
from nnctl.data.reader import Layout
from nnctl.data.stream import StreamSource

pytestmark = pytest.mark.usefixtures("csv_engine")


def _file(tmp_path, n=1000, labels=True):
    rng = np.random.default_rng(1)
    X = np.c_[np.arange(n), rng.normal(size=n) * 10 + 3]  # column a numbers the rows
    lines = ["a,b,y"] + [f"{int(a)},{b!r},{'cat' if b > 3 else 'dog'}" if labels else f"{int(a)},{b!r},{b * 2!r}"
                         for a, b in X.tolist()]
    p = tmp_path / "d.csv"
    p.write_text("\n".join(lines) + "\n")
    return p, X


def _source(path, monkeypatch, loss="cross_entropy", fraction=0.2, seed=0, batch=32, buffer=100, **kw):
    monkeypatch.setattr(reader, "STREAM_CHUNK_BYTES", 2000)  # many chunks
    table = csvtable.read_table(path)
    layout = Layout([0, 1], [2] if loss == "mse" else [], None if loss == "mse" else 2)
    return StreamSource(table, layout, loss, "auto", seed=seed, validation_split=fraction,
                        standardize=kw.pop("standardize", False), dtype=np.float64, batch_size=batch,
                        shuffle_buffer=buffer, **kw)


def _epoch(src):
    return [(x.copy(), y.copy()) for x, y in src.batches()]


def test_every_training_row_once_per_epoch_and_validation_fixed(tmp_path, monkeypatch):
    path, X = _file(tmp_path)
    src = _source(path, monkeypatch)
    assert len(src.chunks) > 5
    val = set(src.X_val[:, 0].astype(int).tolist())
    assert 120 < len(val) < 280 and src.n + len(val) == len(X)
    orders = []
    for _ in range(2):
        batches = _epoch(src)
        rows = np.concatenate([x[:, 0] for x, _ in batches]).astype(int)
        assert sorted(rows.tolist()) == sorted(set(range(len(X))) - val)
        assert all(len(x) == 32 for x, _ in batches[:-1]) and (batches[0][0][:, -1] == 1).all()
        for x, y in batches:  # labels travel with their rows: one-hot of cat (b > 3) / dog
            np.testing.assert_array_equal(y[:, 0], X[x[:, 0].astype(int), 1] > 3)
        orders.append(rows)
    assert orders[0].tolist() != orders[1].tolist()  # reshuffled every epoch
    assert src.classes == ["cat", "dog"] and src.X_val.shape[1] == 2


def test_same_seed_same_batches_and_resume_mid_epoch(tmp_path, monkeypatch):
    path, _ = _file(tmp_path)
    a, b = _source(path, monkeypatch), _source(path, monkeypatch)
    first = _epoch(a)
    second = _epoch(a)
    taken = []
    for i, batch in enumerate(b.batches()):  # epoch 0: 7 batches trained on, the 8th handed out, not used
        if i == 7:
            break
        taken.append((batch[0].copy(), batch[1].copy()))  # the batch arrays are reused
    state = b.state()
    assert state == {"epoch": 0, "batches_done": 7}
    c = _source(path, monkeypatch)
    c.load_state(state)
    rest = _epoch(c)
    for (x, y), (x2, y2) in zip(first, taken + rest, strict=True):
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(y, y2)
    for (x, _), (x2, _) in zip(second, _epoch(c), strict=True):
        np.testing.assert_array_equal(x, x2)


def test_standardisation_uses_the_training_rows(tmp_path, monkeypatch):
    path, X = _file(tmp_path, labels=False)
    src = _source(path, monkeypatch, loss="mse", standardize=True)
    rows = sorted(set(range(len(X))) - set(np.round(src.X_val[:, 0] * src.x_std[0] + src.x_mean[0]).astype(int)))
    np.testing.assert_allclose(src.x_mean, X[rows].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(src.x_std, X[rows].std(axis=0), rtol=1e-12)
    batches = _epoch(src)
    got = np.concatenate([x[:, :2] for x, _ in batches]) * src.x_std + src.x_mean
    order = np.round(got[:, 0]).astype(int)
    np.testing.assert_allclose(got, X[order], atol=1e-9)
    np.testing.assert_allclose(np.concatenate([y for _, y in batches])[:, 0], 2 * X[order, 1])


def test_without_shuffle_rows_come_in_file_order(tmp_path, monkeypatch):
    path, X = _file(tmp_path)
    src = _source(path, monkeypatch, fraction=0.0, shuffle=False, batch=1000)
    (x, _), = _epoch(src)
    assert x[:, 0].tolist() == list(range(len(X)))


def _config(tmp_path, text: str):
    from nnctl.config.loader import load_config

    p = tmp_path / "c.yaml"
    p.write_text(text)
    return load_config(p, [])


STREAM = """
seed: 5
data: {source: csv, path: d.csv, target: y, validation_split: 0.2, stream: true, shuffle_buffer: 64}
model: {layers: [{units: 6, activation: tanh}, {units: auto, activation: softmax}]}
train: {loss: cross_entropy, epochs: 3, batch_size: 16, optimizer: {name: adam, lr: 0.01}}
"""


def test_a_run_interrupted_mid_epoch_resumes_to_the_same_bits(tmp_path, monkeypatch):
    from nnctl.training import checkpoint
    from nnctl.training.trainer import Interrupted, setup

    monkeypatch.setattr(reader, "STREAM_CHUNK_BYTES", 3000)
    path, _ = _file(tmp_path)
    config = STREAM.replace("epochs: 3", "epochs: 3, log_every: 1")  # the interrupted epoch has metrics too
    straight = setup(_config(tmp_path, config))
    straight.fit()
    assert straight.prepared.stream is not None and straight.epoch == 3

    first = setup(_config(tmp_path, config))
    calls, step = [0], first.ws.step

    def counting(xb, yb):  # stop in the middle of epoch 2
        calls[0] += 1
        if calls[0] == first.prepared.stream.batches_per_epoch + 7:
            first.stop_flag[0] = True
        return step(xb, yb)

    first.ws.step = counting
    with pytest.raises(Interrupted):
        first.fit()
    assert first.prepared.stream.state() == {"epoch": 1, "batches_done": 7}
    checkpoint.save(tmp_path / "c.ckpt.npz", first)
    resumed = setup(_config(tmp_path, config))
    checkpoint.restore(tmp_path / "c.ckpt.npz", resumed)
    resumed.fit()
    assert resumed.model.flat.tobytes() == straight.model.flat.tobytes()
    assert [r.loss for r in resumed.history] == [r.loss for r in straight.history]
    assert [dict(r.metrics) for r in resumed.history] == [dict(r.metrics) for r in straight.history]
    assert all(r.metrics for r in straight.history)


@pytest.mark.parametrize("kind", ["cross_entropy", "mse"])
def test_a_streamed_runs_training_metrics_are_those_of_every_row_it_trained_on(tmp_path, monkeypatch, kind):
    """The metrics are gathered batch by batch (memory that does not grow with the file): they
    equal scikit-learn's on every batch's outputs and targets, collected here as they went by."""
    from sklearn import metrics as sk

    from nnctl.training.trainer import setup

    monkeypatch.setattr(reader, "STREAM_CHUNK_BYTES", 3000)
    monkeypatch.setattr("nnctl.core.metrics.Running.BLOCK", 100)  # several blocks an epoch
    _file(tmp_path, labels=kind == "cross_entropy")
    names = "[accuracy, precision, recall, f1]" if kind == "cross_entropy" else "[rmse, mae, r2]"
    text = STREAM.replace("epochs: 3", f"epochs: 2, metrics: {names}")
    if kind == "mse":
        text = text.replace("cross_entropy", "mse").replace("softmax", "linear").replace("units: auto", "units: 1")
    trainer = setup(_config(tmp_path, text))
    seen, step = [], trainer.ws.step

    def recording(xb, yb):
        value = step(xb, yb)
        seen.append((trainer.ws.output.copy(), yb.copy()))
        return value

    trainer.ws.step = recording
    trainer.fit()
    per_epoch = trainer.prepared.stream.batches_per_epoch
    for record, a in zip(trainer.history, (0, per_epoch), strict=True):
        out = np.concatenate([o for o, _ in seen[a:a + per_epoch]])
        Y = np.concatenate([y for _, y in seen[a:a + per_epoch]])
        assert len(out) == trainer.prepared.stream.rows
        got = record.metrics
        if kind == "mse":
            assert got["rmse"] == pytest.approx(np.sqrt(sk.mean_squared_error(Y, out)), rel=1e-10)
            assert got["mae"] == pytest.approx(sk.mean_absolute_error(Y, out), rel=1e-10)
            assert got["r2"] == pytest.approx(sk.r2_score(Y, out), rel=1e-10)
        else:
            true, pred = Y.argmax(axis=1), out.argmax(axis=1)
            assert got["accuracy"] == pytest.approx(sk.accuracy_score(true, pred), abs=1e-15)
            assert got["f1"] == pytest.approx(sk.f1_score(true, pred, average="macro"), rel=1e-12)
            assert got["precision"] == pytest.approx(sk.precision_score(true, pred, average="macro"), rel=1e-12)
            assert got["recall"] == pytest.approx(sk.recall_score(true, pred, average="macro"), rel=1e-12)


def test_a_streamed_runs_validation_is_measured_in_blocks_as_on_every_row_at_once(tmp_path, monkeypatch):
    """Validation rows are evaluated a block at a time (memory): the last epoch's val_loss and
    val_metrics equal a direct computation on all of them at the final weights."""
    from sklearn import metrics as sk

    from nnctl.core import model as modelmod
    from nnctl.training import trainer as trainermod

    monkeypatch.setattr(reader, "STREAM_CHUNK_BYTES", 3000)
    monkeypatch.setattr(modelmod, "BLOCK_ROWS", 37)  # ~200 validation rows: several blocks and a short one
    _file(tmp_path)
    trainer = trainermod.setup(_config(tmp_path, STREAM.replace("epochs: 3", "epochs: 2, metrics: [accuracy, f1]")))
    trainer.fit()
    s, last = trainer.prepared.split, trainer.history[-1]
    assert s.X_val.shape[0] > 3 * 37
    W, b = trainer.model.W, trainer.model.b
    hidden = np.tanh(s.X_val @ W[0] + b[0])
    z = hidden @ W[1] + b[1]
    log_p = z - z.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    true = s.Y_val.argmax(axis=1)
    assert last.val_loss == pytest.approx(-log_p[np.arange(len(true)), true].mean(), rel=1e-12)
    pred = z.argmax(axis=1)
    assert last.val_metrics["accuracy"] == pytest.approx(sk.accuracy_score(true, pred), abs=1e-15)
    assert last.val_metrics["f1"] == pytest.approx(sk.f1_score(true, pred, average="macro"), rel=1e-12)


def test_a_label_column_of_numbers_and_text_streams_every_label_as_written(tmp_path, monkeypatch):
    """Chunks of numbers (1.0 for '01', '1' and '1.0') beside chunks with text: the stream reads
    the file again with every label as text, so each label is its own class, as in memory."""
    written = ["01", "1", "1.0", "1e3", "-0"] * 200 + ["cat", "01", "1", "1.0", "1e3", "-0"] * 20
    p = tmp_path / "d.csv"
    p.write_text("a,b,y\n" + "".join(f"{i},{i % 7},{lab}\n" for i, lab in enumerate(written)))
    src = _source(p, monkeypatch, fraction=0.0, shuffle=False, batch=10_000)
    assert len(src.chunks) > 3
    assert src.classes == ["-0", "01", "1", "1.0", "1e3", "cat"]
    (x, y), = _epoch(src)
    got = [src.classes[k] for k in y.argmax(axis=1)]
    assert got == [written[int(i)] for i in x[:, 0]]
