"""Data at scale, side by side in one run (docs/data.md): loading a large numeric CSV, memory of
in-memory runs, streaming, and the cost of a bad cell.

    python benchmarks/data.py                  # 2 000 000 × 21, files in /tmp
    python benchmarks/data.py --rows 500000    # a smaller size on a busy machine
    python benchmarks/data.py --json data.json
    python benchmarks/data.py --cases memory --before ../nnctl-old   # against an earlier checkout

Loading: nnctl's reader with the arrow engine against pandas.read_csv, and with the NumPy engine
against numpy.loadtxt (ratios > 1: nnctl is faster). Memory: peak resident set of whole
`nnctl train` processes (GNU time). Streaming: the growth of the peak from a file to one 4× its
size, an epoch's time against an in-memory epoch, validation accuracy of both.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FEATURES = 20


def make_csv(path: Path, rows: int, seed: int = 0, bad_last: bool = False) -> Path:
    """rows × 21 numbers: 20 features (5 significant digits) and a 0/1 label the first two decide."""
    if path.exists() and not bad_last:
        return path
    rng = np.random.default_rng(seed)
    with open(path, "w") as fh:
        fh.write(",".join([f"x{i}" for i in range(FEATURES)] + ["y"]) + "\n")
        for a in range(0, rows, 200_000):
            X = np.round(rng.normal(size=(min(200_000, rows - a), FEATURES)), 4)
            y = (X[:, 0] + 0.5 * X[:, 1] + 0.1 * rng.normal(size=len(X)) > 0).astype(int)
            body = "\n".join(",".join(map(repr, r)) + f",{t}" for r, t in zip(X.tolist(), y.tolist(), strict=True))
            if bad_last and a + len(X) >= rows:
                body = body[:body.rindex("\n") + 1] + "0.5,oops" + ",0.1" * (FEATURES - 2) + ",1"
            fh.write(body + "\n")
    return path


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def peak_of(cmd: list[str], env=None) -> tuple[float, float, bytes, int]:
    """Wall seconds, peak resident set (MB), stdout and exit status of a whole process, as GNU
    time reports it: a child forked from this (large) process would inherit its high-water mark."""
    t0 = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], env=env, capture_output=True)
    peak = int(proc.stderr.decode().strip().splitlines()[-1]) / 1024
    return time.perf_counter() - t0, peak, proc.stdout, proc.returncode


def _env(engine: str | None = None, root: Path = ROOT) -> dict:
    env = dict(os.environ, PYTHONPATH=str(root))
    if engine:
        env["NNCTL_CSV_ENGINE"] = engine
    return env


LOAD = ("from nnctl.data import csvtable, reader; import sys, numpy as np; "
        "t = csvtable.read_table(sys.argv[1]); "
        "reader.load(t, list(range(len(t.header) - 1)), [], len(t.header) - 1, np.dtype(sys.argv[2]))")


def case_loading(path: Path, repeats: int) -> dict:
    """Seconds to load every column, in-process; the readers take turns, medians of `repeats`."""
    from nnctl.data import csvtable, reader

    def ours(engine):
        t = csvtable.read_table(path)
        reader.load(t, list(range(len(t.header))), [], None, engine=engine)

    readers = {"nnctl (arrow)": lambda: ours("arrow"), "nnctl (numpy)": lambda: ours("numpy"),
               "numpy.loadtxt": lambda: np.loadtxt(path, delimiter=",", skiprows=1)}
    try:
        import pandas as pd

        readers["pandas.read_csv"] = lambda: pd.read_csv(path)
    except ImportError:
        pass
    try:  # the ceiling of any pyarrow path: its own multithreaded read into an Arrow table
        import pyarrow.csv as pacsv

        readers["pyarrow.csv.read_csv (a table)"] = lambda: pacsv.read_csv(path)
    except ImportError:
        pass
    times: dict[str, list[float]] = {name: [] for name in readers}
    for _ in range(repeats):
        for name, fn in readers.items():
            times[name].append(timed(fn))
    rows = {name: statistics.median(t) for name, t in times.items()}
    ratios = {}
    if "pandas.read_csv" in rows:
        ratios["arrow vs pandas"] = rows["pandas.read_csv"] / rows["nnctl (arrow)"]
    if "pyarrow.csv.read_csv (a table)" in rows:
        ratios["arrow vs pyarrow's own read"] = rows["pyarrow.csv.read_csv (a table)"] / rows["nnctl (arrow)"]
        if "pandas.read_csv" in rows:
            ratios["pyarrow's own read vs pandas"] = rows["pandas.read_csv"] / rows["pyarrow.csv.read_csv (a table)"]
    ratios["numpy vs loadtxt"] = rows["numpy.loadtxt"] / rows["nnctl (numpy)"]
    return {"seconds (median)": rows, "ratios (> 1: nnctl faster)": ratios}


CONFIG = """
seed: 0
data: {{source: csv, path: {path}, target: y, validation_split: {validation}, stream: {stream}}}
model: {{layers: [{{units: 16, activation: tanh}}, {{units: 1, activation: sigmoid}}]}}
train: {{loss: bce, epochs: {epochs}, batch_size: 512, dtype: {dtype}, optimizer: {{name: adam, lr: 0.003}},
         log_every: 100}}
"""


def train(work: Path, path: Path, dtype="float64", stream=False, epochs=1, engine=None, validation=0.1,
          root: Path = ROOT) -> dict:
    """One `nnctl train` process of the code at `root` (another checkout: an earlier version)."""
    cfg = work / "c.yaml"
    text = CONFIG.format(path=path, stream=str(stream).lower(), epochs=epochs, dtype=dtype, validation=validation)
    if not stream:  # a version from before data.stream knows no such key
        text = text.replace(", stream: false", "")
    cfg.write_text(textwrap.dedent(text))
    seconds, peak, out, code = peak_of([sys.executable, "-m", "nnctl", "train", str(cfg), "--json", "--out",
                                        str(work / "m.npz")], env=_env(engine, root))
    if code != 0:
        raise RuntimeError(f"nnctl train exited {code}")
    doc = json.loads(out)
    return {"wall": seconds, "peak_mb": peak, "fit_s": doc["seconds"], "epochs": doc["epochs"],
            "val_accuracy": (doc["val_metrics"] or {}).get("accuracy")}


def case_memory(work: Path, path: Path, before: Path | None = None) -> dict:
    """Peak memory of whole in-memory runs; with `before` (a checkout of an earlier version), its
    float64 run too, which is what the float32 run's target is set against."""
    f64 = train(work, path, "float64")
    f32 = train(work, path, "float32")
    out = {"float64 peak MB": f64["peak_mb"], "float32 peak MB": f32["peak_mb"],
           "float32 / float64": f32["peak_mb"] / f64["peak_mb"]}
    if before is not None:
        old = train(work, path, "float64", root=before)
        out["float64 peak MB, before"] = old["peak_mb"]
        out["float32 now / float64 before"] = f32["peak_mb"] / old["peak_mb"]
    return out


def case_stream(work: Path, small: Path, big: Path, epochs: int, repeats: int) -> dict:
    """Peaks of one run each; epoch times as medians of `repeats` rounds of the two modes taking
    turns (an epoch here is ~0.1 s, and the other jobs on a shared machine move single runs ±50%)."""
    s_small = train(work, small, stream=True, epochs=1)
    s_big = train(work, big, stream=True, epochs=1)
    n_small = train(work, small, stream=True, epochs=1, validation=0.0)
    n_big = train(work, big, stream=True, epochs=1, validation=0.0)
    rounds = [(train(work, small, epochs=epochs), train(work, small, stream=True, epochs=epochs))
              for _ in range(repeats)]
    mem, st = rounds[0]
    mem_s = statistics.median(m["fit_s"] for m, _ in rounds) / epochs
    st_s = statistics.median(s["fit_s"] for _, s in rounds) / epochs
    return {"stream peak MB (file)": s_small["peak_mb"], "stream peak MB (4x file)": s_big["peak_mb"],
            "peak growth MB (validation_split 0.1: its rows are held)": s_big["peak_mb"] - s_small["peak_mb"],
            "peak growth MB (validation_split 0)": n_big["peak_mb"] - n_small["peak_mb"],
            "in-memory epoch s (median)": mem_s, "stream epoch s (median)": st_s,
            "stream / in-memory epoch": st_s / mem_s,
            "stream / in-memory epoch, per round": [s["fit_s"] / m["fit_s"] for m, s in rounds],
            "in-memory val accuracy": mem["val_accuracy"], "stream val accuracy": st["val_accuracy"]}


def case_bad_cell(clean: Path, bad: Path) -> dict:
    out = {}
    for engine in ("arrow", "numpy"):
        s_clean, p_clean, _, c0 = peak_of([sys.executable, "-c", LOAD, str(clean), "float64"], env=_env(engine))
        s_bad, p_bad, _, c1 = peak_of([sys.executable, "-c", LOAD, str(bad), "float64"], env=_env(engine))
        assert c0 == 0 and c1 != 0
        out[engine] = {"clean s": s_clean, "bad s": s_bad, "time ratio": s_bad / s_clean,
                       "clean peak MB": p_clean, "bad peak MB": p_bad, "memory ratio": p_bad / p_clean}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--epochs", type=int, default=2, help="epochs of the timed stream and in-memory runs")
    ap.add_argument("--repeats", type=int, default=3, help="loading, stream epochs: rounds taking turns")
    ap.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()))
    ap.add_argument("--cases", nargs="+", default=["loading", "memory", "stream", "bad_cell"])
    ap.add_argument("--json", type=Path)
    ap.add_argument("--before", type=Path, help="a checkout of an earlier nnctl: its float64 run's peak memory")
    args = ap.parse_args()
    path = make_csv(args.folder / f"nnctl-bench-{args.rows}.csv", args.rows)
    results: dict = {"rows": args.rows, "columns": FEATURES + 1, "file MB": path.stat().st_size / 2**20}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if "loading" in args.cases:
            results["loading"] = case_loading(path, args.repeats)
        if "memory" in args.cases:
            results["memory"] = case_memory(work, path, args.before)
        if "stream" in args.cases:
            small = make_csv(args.folder / f"nnctl-bench-{args.rows // 4}.csv", args.rows // 4)
            results["stream"] = case_stream(work, small, path, args.epochs, args.repeats)
        if "bad_cell" in args.cases:
            bad = make_csv(work / "bad.csv", args.rows, bad_last=True)
            results["bad_cell"] = case_bad_cell(path, bad)
            bad.unlink()
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
