"""Long runs and big files, side by side in one run:

    python benchmarks/longruns.py [--repeats 5] [--rows 1000000] [--json longruns.json]

1. A quiet command's epoch against the library's: `nnctl train configs/xor.yaml -q --json` (the
   command reports the seconds its own training loop took, every per-epoch hook included) against
   `Trainer.fit()` on the same config in this process. Target: within 10%.
2. `nnctl predict --proba` on a CSV of N rows × 2 features (the whole command, parsing and
   writing included) against a script of `numpy.loadtxt` + the forward pass +
   `numpy.savetxt(fmt="%.17g")` on the same file; each a process of its own, taking turns.
   Target: at least as fast.
3. Peak RSS of that predict on 1× and 3× the rows: streaming keeps it flat (target < 160 MB).

Medians of interleaved repeats; the ratios are the first side's speed over the second's.
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
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nnctl.config.loader import load_config  # noqa: E402
from nnctl.training.trainer import setup  # noqa: E402

NNCTL = [sys.executable, "-m", "nnctl"]
EPOCHS = 200_000


def quiet_epoch(repeats: int) -> dict:
    cfg_path = ROOT / "configs" / "xor.yaml"
    command, library = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            r = subprocess.run([*NNCTL, "train", str(cfg_path), "-q", "--json", "--epochs", str(EPOCHS),
                                "-o", "x.npz"], cwd=tmp, capture_output=True, text=True, check=True)
            command.append(json.loads(r.stdout)["seconds"] / EPOCHS)
            trainer = setup(load_config(cfg_path, [f"train.epochs={EPOCHS}"]))
            t0 = time.perf_counter()
            trainer.fit()
            library.append((time.perf_counter() - t0) / EPOCHS)
    c, lib = statistics.median(command), statistics.median(library)
    return {"command µs/epoch (-q --json)": c * 1e6, "Trainer.fit µs/epoch": lib * 1e6,
            "command / library time": c / lib}


def _model(tmp: Path) -> Path:
    cfg = tmp / "m.yaml"
    cfg.write_text("data: {source: circles, n: 400}\nmodel: {layers: [{units: 8, activation: tanh},"
                   " {units: 2, activation: softmax}]}\ntrain: {loss: cross_entropy, epochs: 50, optimizer: adam}\n")
    subprocess.run([*NNCTL, "train", str(cfg), "-q", "-o", str(tmp / "m.npz")], check=True)
    return tmp / "m.npz"


def _csv(path: Path, rows: int) -> None:
    X = np.random.default_rng(0).normal(size=(rows, 2))
    with open(path, "w") as f:
        f.write("x1,x2\n")
        np.savetxt(f, X, delimiter=",", fmt="%.6f")


BASELINE = """
import sys
import numpy as np
from nnctl.io.modelfile import load
mf = load(sys.argv[1])
X = np.loadtxt(sys.argv[2], delimiter=",", skiprows=1)
P = mf.model.predict(mf.transform(X)).astype(np.float64)
np.savetxt(sys.argv[3], np.c_[P.argmax(axis=1), P], fmt="%.17g", delimiter=",", header="y,p_0,p_1", comments="")
"""


def _baseline(model: Path, csv: Path, out: Path) -> float:
    """The same job as a plain NumPy script, in a process of its own like the command."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", BASELINE, str(model), str(csv), str(out)], check=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    return time.perf_counter() - t0


def _peak_rss_mb(cmd: list[str]) -> float:
    """Peak RSS of a command: its address space's high-water mark (VmHWM), read as it ends.
    (ru_maxrss would not do: Linux carries it across exec from the forking parent, this one.)"""
    code = ("import re, runpy, sys; sys.argv = ['nnctl'] + sys.argv[1:]\n"
            "try:\n    runpy.run_module('nnctl', run_name='__main__')\n"
            "finally:\n    status = open('/proc/self/status').read()\n"
            "    print(re.search(r'VmHWM:\\s+(\\d+)', status)[1], file=sys.stderr)\n")
    r = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True)
    return int(r.stderr.strip().splitlines()[-1]) / 1024


def predict(repeats: int, rows: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        model, csv, big = _model(tmp), tmp / "in.csv", tmp / "in3.csv"
        _csv(csv, rows)
        ours, base = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            with open(tmp / "ours.csv", "wb") as out:
                subprocess.run([*NNCTL, "predict", str(model), str(csv), "--proba"], stdout=out, check=True)
            ours.append(time.perf_counter() - t0)
            base.append(_baseline(model, csv, tmp / "base.csv"))
        rss1 = _peak_rss_mb(["predict", str(model), str(csv), "--proba", "--output", str(tmp / "o1.csv")])
        _csv(big, 3 * rows)
        rss3 = _peak_rss_mb(["predict", str(model), str(big), "--proba", "--output", str(tmp / "o3.csv")])
    o, b = statistics.median(ours), statistics.median(base)
    return {f"nnctl predict --proba, {rows} rows (s)": o, "loadtxt + forward + savetxt %.17g (s)": b,
            "nnctl speed / baseline speed": b / o, f"peak RSS, {rows} rows (MB)": rss1,
            f"peak RSS, {3 * rows} rows (MB)": rss3}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    results = {"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(),
               "quiet epoch": quiet_epoch(args.repeats), "streaming predict": predict(args.repeats, args.rows)}
    for name, rows in results.items():
        if isinstance(rows, dict):
            print(name)
            for k, v in rows.items():
                print(f"  {k:45s} {v:12.4g}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
