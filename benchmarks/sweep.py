"""Sweeps, side by side in one run:

    python benchmarks/sweep.py [--repeats 3] [--json sweep.json]

A grid of 8 points (4 learning rates × 2 widths) on a 64-feature, 10-class CSV of 4000 rows with
a 20% validation split, 60 epochs of Adam, batch 32:

- `nnctl sweep` on 2 workers against 1 (the whole command each time): target ≥ 1.6×;
- `nnctl sweep --workers 2` against scikit-learn's `GridSearchCV(MLPClassifier, n_jobs=2)` with one
  train/validation split on the same nets, rows and epochs (its `fit` alone is timed, nnctl's whole
  command): target ≥ 2×;
- the per-run overhead of each backend (dispatch and result): a grid of 40 runs of one epoch on
  four rows, the command's seconds minus the runs' own, per run; Ray's includes its start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
NNCTL = [sys.executable, "-m", "nnctl"]
LRS, WIDTHS, EPOCHS, BATCH = [0.0003, 0.001, 0.003, 0.01], [32, 64], 60, 32

CONFIG = """
seed: 0
data: {{source: csv, path: {csv}, target: label, validation_split: 0.2}}
model: {{layers: [{{units: 32, activation: relu}}, {{units: auto, activation: softmax}}]}}
train: {{loss: cross_entropy, optimizer: {{name: adam, lr: 0.001}}, epochs: {epochs}, batch_size: {batch},
        log_every: 1000}}
sweep:
  method: grid
  parameters:
    train.optimizer.lr: {{values: {lrs}}}
    model.layers.0.units: {{values: {widths}}}
"""


def _data(path: Path, rows: int = 4000, features: int = 64, classes: int = 10):
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(classes, features))
    y = rng.integers(0, classes, rows)
    X = centers[y] + 2.0 * rng.normal(size=(rows, features))
    with open(path, "w") as fh:
        fh.write(",".join(f"f{i}" for i in range(features)) + ",label\n")
        for row, label in zip(X, y, strict=True):
            fh.write(",".join(f"{v:.5f}" for v in row) + f",{label}\n")
    return X, y


def _sweep(cfg: Path, workers: int, out: Path, backend: str = "local") -> tuple[float, dict]:
    t0 = time.perf_counter()
    r = subprocess.run([*NNCTL, "sweep", str(cfg), "--workers", str(workers), "--out", str(out), "--json",
                        "--backend", backend], capture_output=True, text=True, check=True,
                       env={**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled",
                            "RAY_USAGE_STATS_ENABLED": "0"})
    return time.perf_counter() - t0, json.loads(r.stdout)


def _sklearn(X, y) -> float:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV, ShuffleSplit
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    search = GridSearchCV(make_pipeline(StandardScaler(), MLPClassifier(
        solver="adam", batch_size=BATCH, max_iter=EPOCHS, tol=0, n_iter_no_change=EPOCHS + 1, random_state=0)),
        {"mlpclassifier__learning_rate_init": LRS, "mlpclassifier__hidden_layer_sizes": [(w,) for w in WIDTHS]},
        cv=ShuffleSplit(n_splits=1, test_size=0.2, random_state=0), n_jobs=2, refit=False)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    return time.perf_counter() - t0


def _overhead(tmp: Path, backend: str) -> float:
    cfg = tmp / f"over-{backend}.yaml"
    cfg.write_text("seed: 0\ndata: {source: xor}\nmodel: {layers: [{units: 1, activation: sigmoid}]}\n"
                   "train: {loss: bce, epochs: 1}\nsweep:\n  method: grid\n  metric: loss\n  parameters:\n"
                   f"    train.optimizer.lr: {{values: {[round(0.01 * i, 2) for i in range(1, 41)]}}}\n")
    seconds, doc = _sweep(cfg, 2, tmp / f"over-{backend}", backend)
    work = sum(r["seconds"] for r in doc["runs"]) / 2
    return (seconds - work) / len(doc["runs"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        X, y = _data(tmp / "data.csv")
        cfg = tmp / "grid.yaml"
        cfg.write_text(CONFIG.format(csv=tmp / "data.csv", epochs=EPOCHS, batch=BATCH, lrs=LRS, widths=WIDTHS))
        one, two, sk = [], [], []
        for i in range(args.repeats):  # taking turns, so drifts of the machine's speed are shared
            one.append(_sweep(cfg, 1, tmp / f"one{i}")[0])
            two.append(_sweep(cfg, 2, tmp / f"two{i}")[0])
            sk.append(_sklearn(X, y))
        o, t, s = (statistics.median(v) for v in (one, two, sk))
        res = {"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(),
               "nnctl sweep, 1 worker (s)": o, "nnctl sweep, 2 workers (s)": t,
               "GridSearchCV(MLPClassifier, n_jobs=2).fit (s)": s,
               "2 workers / 1 worker speed": o / t, "nnctl 2 workers / GridSearchCV speed": s / t,
               "local pool overhead per run (ms)": 1e3 * _overhead(tmp, "local")}
        if not args.no_ray:
            res["ray overhead per run, start-up included (ms)"] = 1e3 * _overhead(tmp, "ray")
    for k, v in res.items():
        print(f"{k:50s} {v:10.4g}" if isinstance(v, float) else f"{k:50s} {v}")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
