"""A sweep keeps each ok run's history in runs/<trial>-<repeat>.csv, with --metrics-csv's columns,
on both backends (on Ray it travels back with the run's row)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import textwrap

NNCTL = [sys.executable, "-m", "nnctl"]
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_ADDRESS": "local"}  # a Ray of its own, never a cluster another job started on this machine

SWEEP = """
    seed: 3
    data: {source: xor}
    model: {layers: [{units: 4, activation: tanh}, {units: 1, activation: sigmoid}]}
    train: {loss: bce, optimizer: {name: adam, lr: 0.01}, epochs: 25, log_every: 5}
    sweep:
      method: grid
      metric: loss
      parameters:
        train.optimizer.lr: {values: [0.01, 0.1]}
        model.layers.0.units: {values: [3, 5]}
    """


def run(*args, cwd, env=None):
    r = subprocess.run([*NNCTL, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=600,
                       env={**os.environ, **(env or {})})
    assert r.returncode == 0, r.stderr
    return r


def table(path):
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def test_each_run_keeps_the_history_train_writes_with_metrics_csv(tmp_path):
    (tmp_path / "s.yaml").write_text(textwrap.dedent(SWEEP))
    run("sweep", "s.yaml", "--workers", "2", "-q", "--out", "sw", cwd=tmp_path)
    with open(tmp_path / "sw" / "trials.csv", newline="") as fh:
        trials = {(r["trial"], r["repeat"]): r for r in csv.DictReader(fh)}
    assert sorted(p.name for p in (tmp_path / "sw" / "runs").iterdir()) == sorted(f"{t}-{r}.csv" for t, r in trials)
    # the best point again, alone, with --metrics-csv: the same columns and the same numbers
    # (train computes the metrics on every epoch for that file; a sweep's run on its logged epochs)
    run("train", "sw/best.yaml", "-q", "--metrics-csv", "m.csv", "-o", "b.npz", cwd=tmp_path)
    best = next(t for t, r in trials.items() if float(r["loss"]) == min(float(x["loss"]) for x in trials.values()))
    kept, alone = table(tmp_path / "sw" / "runs" / f"{best[0]}-{best[1]}.csv"), table(tmp_path / "m.csv")
    assert kept[0] == alone[0] == ["epoch", "loss", "val_loss", "lr", "accuracy"]
    assert len(kept) == len(alone) == 26
    for k, a in zip(kept[1:], alone[1:], strict=True):
        assert k[:4] == a[:4]
        assert k[4] == (a[4] if int(k[0]) % 5 == 0 or k[0] in ("1", "25") else "")
    assert kept[-1][1] == trials[best]["loss"]


def test_a_run_with_diagnostics_keeps_their_columns_as_metrics_csv_does(tmp_path):
    text = textwrap.dedent(SWEEP).replace("log_every: 5}", "log_every: 5, diagnostics: true}")
    (tmp_path / "s.yaml").write_text(text.replace("{values: [3, 5]}", "{values: [3]}").replace("[0.01, 0.1]", "[0.1]"))
    run("sweep", "s.yaml", "--workers", "1", "-q", "--out", "sw", cwd=tmp_path)
    run("train", "sw/best.yaml", "-q", "--metrics-csv", "m.csv", "-o", "b.npz", cwd=tmp_path)
    kept, alone = table(tmp_path / "sw" / "runs" / "0-0.csv"), table(tmp_path / "m.csv")
    assert kept[0] == alone[0] and "g_norm_0" in kept[0]
    diag = [kept[0].index(c) for c in kept[0] if c.startswith(("w_norm", "g_norm"))]
    for k, a in zip(kept[1:], alone[1:], strict=True):
        assert [k[i] for i in diag] == [a[i] for i in diag]


def test_on_ray_the_history_travels_back_with_the_row(tmp_path):
    (tmp_path / "s.yaml").write_text(textwrap.dedent(SWEEP))
    run("sweep", "s.yaml", "--workers", "2", "-q", "--out", "local", cwd=tmp_path)
    run("sweep", "s.yaml", "--workers", "2", "-q", "--out", "ray", "--backend", "ray", cwd=tmp_path, env=RAY_ENV)
    local = sorted((tmp_path / "local" / "runs").iterdir())
    assert [p.name for p in local] == sorted(p.name for p in (tmp_path / "ray" / "runs").iterdir())
    for p in local:
        assert table(p) == table(tmp_path / "ray" / "runs" / p.name)
