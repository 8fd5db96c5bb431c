"""Sweeps, side by side in one run:

    python benchmarks/sweep.py [--repeats 3] [--json sweep.json]

A grid of 8 points (4 learning rates × 2 widths) on a 64-feature, 10-class CSV of 4000 rows with
a 20% validation split, 60 epochs of Adam, batch 32:

- `nnctl sweep` on 2 workers against 1 (the whole command each time): target ≥ 1.6×;
- `nnctl sweep --workers 2` against scikit-learn's `GridSearchCV(MLPClassifier, n_jobs=2)` with one
  train/validation split on the same nets, rows and epochs (its `fit` alone is timed, nnctl's whole
  command): target ≥ 2×;
- the per-run overhead of each backend (dispatch and result): a grid of 40 runs of one epoch on
  four rows, the command's seconds minus the runs' own, per run; Ray's includes its start-up;
- the sweep's own bookkeeping at scale: random sweeps of 1 000, 4 000 and 20 000 one-epoch XOR
  runs on 2 workers (whole commands): target 4 000 runs ≤ 4.6× 1 000 runs;
- ASHA (min_epochs 3, reduction 3) on a random 27-point sweep of 81 epochs against the same sweep
  run in full, on 2 workers: target within 2% of the full sweep's best val_accuracy in ≤ 40% of
  its time;
- 5-fold cross-validation of a 6-point grid on scikit-learn's wine data (written to a CSV), 2
  workers, against `GridSearchCV(MLPClassifier, cv=5, n_jobs=2)` on the same grid, rows, epochs
  and batch size (its `fit` alone, refit included, nnctl's whole command): target ≥ 2×.
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


def _command(cfg: Path, out: Path, *args: str) -> tuple[float, dict]:
    t0 = time.perf_counter()
    r = subprocess.run([*NNCTL, "sweep", str(cfg), "--out", str(out), "--json", *args], capture_output=True,
                       text=True, check=True)
    return time.perf_counter() - t0, json.loads(r.stdout)


def _bookkeeping(tmp: Path, sizes=(1000, 4000, 20000)) -> dict:
    out = {}
    for n in sizes:
        cfg = tmp / f"book{n}.yaml"
        cfg.write_text("seed: 0\ndata: {source: xor}\nmodel: {layers: [{units: 1, activation: sigmoid}]}\n"
                       "train: {loss: bce, epochs: 1}\nsweep:\n  method: random\n  metric: loss\n"
                       f"  trials: {n}\n  parameters:\n    train.optimizer.lr: {{log_uniform: [0.001, 1.0]}}\n")
        out[n] = _command(cfg, tmp / f"book{n}", "--workers", "2")[0]
    return out


ASHA_CONFIG = """
seed: 0
data: {{source: csv, path: {csv}, target: label, validation_split: 0.2}}
model: {{layers: [{{units: 32, activation: relu}}, {{units: auto, activation: softmax}}]}}
train: {{loss: cross_entropy, optimizer: {{name: adam, lr: 0.001}}, epochs: 81, batch_size: 32, log_every: 1000}}
sweep:
  method: random
  trials: 27
  metric: val_accuracy
  {scheduler}
  parameters:
    train.optimizer.lr: {{log_uniform: [1.0e-5, 3.0e-1]}}
    model.layers.0.units: {{int_uniform: [4, 48]}}
"""


def _asha(tmp: Path, csv: Path) -> dict:
    runs = {}
    for name, scheduler in (("full", ""), ("asha", "scheduler: {name: asha, min_epochs: 3, reduction: 3}")):
        cfg = tmp / f"{name}.yaml"
        cfg.write_text(ASHA_CONFIG.format(csv=csv, scheduler=scheduler))
        runs[name] = _command(cfg, tmp / name, "--workers", "2")
    (tf, full), (ta, asha) = runs["full"], runs["asha"]
    return {"full sweep (s)": tf, "ASHA sweep (s)": ta, "ASHA time / full time": ta / tf,
            "full best val_accuracy": full["best"]["score"], "ASHA best val_accuracy": asha["best"]["score"],
            "ASHA best / full best": asha["best"]["score"] / full["best"]["score"],
            "ASHA runs stopped early": sum(r["status"] == "stopped" for r in asha["runs"])}


WINE_LRS, WINE_WIDTHS, WINE_EPOCHS = [0.001, 0.003, 0.01], [16, 32], 200

WINE_CONFIG = """
seed: 0
data: {{source: csv, path: {csv}, target: label}}
model: {{layers: [{{units: 16, activation: relu}}, {{units: auto, activation: softmax}}]}}
train: {{loss: cross_entropy, optimizer: {{name: adam, lr: 0.001}}, epochs: {epochs}, batch_size: 32,
        log_every: 1000}}
sweep:
  method: grid
  folds: 5
  metric: val_accuracy
  parameters:
    train.optimizer.lr: {{values: {lrs}}}
    model.layers.0.units: {{values: {widths}}}
"""


def _wine(tmp: Path, repeats: int) -> dict:
    from sklearn.datasets import load_wine
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_wine(return_X_y=True)
    csv = tmp / "wine.csv"
    with open(csv, "w") as fh:
        fh.write(",".join(f"f{i}" for i in range(X.shape[1])) + ",label\n")
        for row, label in zip(X, y, strict=True):
            fh.write(",".join(repr(float(v)) for v in row) + f",{label}\n")
    cfg = tmp / "wine.yaml"
    cfg.write_text(WINE_CONFIG.format(csv=csv, epochs=WINE_EPOCHS, lrs=WINE_LRS, widths=WINE_WIDTHS))
    search = GridSearchCV(make_pipeline(StandardScaler(), MLPClassifier(
        solver="adam", batch_size=32, max_iter=WINE_EPOCHS, tol=0, n_iter_no_change=WINE_EPOCHS + 1, random_state=0)),
        {"mlpclassifier__learning_rate_init": WINE_LRS,
         "mlpclassifier__hidden_layer_sizes": [(w,) for w in WINE_WIDTHS]},
        cv=StratifiedKFold(5, shuffle=True, random_state=0), n_jobs=2)
    ours, theirs = [], []
    for i in range(repeats):
        ours.append(_command(cfg, tmp / f"wine{i}", "--workers", "2"))
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            search.fit(X, y)
        theirs.append(time.perf_counter() - t0)
    t, s = statistics.median(o[0] for o in ours), statistics.median(theirs)
    return {"nnctl sweep, 5 folds × 6 points, 2 workers (s)": t, "GridSearchCV(cv=5, n_jobs=2).fit (s)": s,
            "nnctl folds / GridSearchCV speed": s / t, "nnctl best mean val_accuracy": ours[0][1]["best"]["score"],
            "GridSearchCV best mean accuracy": float(search.best_score_)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--only-new", action="store_true", help="only bookkeeping, ASHA and folds")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        X, y = _data(tmp / "data.csv")
        res = {"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count()}
        book = _bookkeeping(tmp)
        res.update({f"bookkeeping: {n} one-epoch runs (s)": v for n, v in book.items()})
        res["bookkeeping: 4000 runs / 1000 runs"] = book[4000] / book[1000]
        res["bookkeeping: 20000 runs / 1000 runs"] = book[20000] / book[1000]
        res.update(_asha(tmp, tmp / "data.csv"))
        res.update(_wine(tmp, args.repeats))
        if args.only_new:
            _report(res, args.json)
            return
        cfg = tmp / "grid.yaml"
        cfg.write_text(CONFIG.format(csv=tmp / "data.csv", epochs=EPOCHS, batch=BATCH, lrs=LRS, widths=WIDTHS))
        one, two, sk = [], [], []
        for i in range(args.repeats):  # taking turns, so drifts of the machine's speed are shared
            one.append(_sweep(cfg, 1, tmp / f"one{i}")[0])
            two.append(_sweep(cfg, 2, tmp / f"two{i}")[0])
            sk.append(_sklearn(X, y))
        o, t, s = (statistics.median(v) for v in (one, two, sk))
        res.update({"nnctl sweep, 1 worker (s)": o, "nnctl sweep, 2 workers (s)": t,
                    "GridSearchCV(MLPClassifier, n_jobs=2).fit (s)": s,
                    "2 workers / 1 worker speed": o / t, "nnctl 2 workers / GridSearchCV speed": s / t,
                    "local pool overhead per run (ms)": 1e3 * _overhead(tmp, "local")})
        if not args.no_ray:
            res["ray overhead per run, start-up included (ms)"] = 1e3 * _overhead(tmp, "ray")
    _report(res, args.json)


def _report(res: dict, path: Path | None) -> None:
    for k, v in res.items():
        print(f"{k:55s} {v:10.4g}" if isinstance(v, float) else f"{k:55s} {v}")
    if path:
        path.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
