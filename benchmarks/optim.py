"""Optimizer steps: nnctl against torch.optim, every optimizer, both nets, both dtypes.

    python benchmarks/optim.py                       # everything, medians of 3 interleaved runs
    python benchmarks/optim.py --nets large --dtypes float32 --opts sgd adam --repeats 5
    NNCTL_ACCEL=numpy python benchmarks/optim.py     # nnctl's pure-NumPy steps, for a before/after

Each measurement is a fresh process that trains one net for a few epochs and reports seconds per
epoch of `Trainer.fit` (setup excluded, for both peers). nnctl runs twice: with the compiled
one-pass steps (`NNCTL_ACCEL=numba`, column "nnctl": what a run long enough to use them gets; the
"engine" column says what applied the update, "gemm" being plain SGD's update fused into BLAS) and
with NumPy's steps (`NNCTL_ACCEL=numpy`, column "NumPy"). What loading the compiled steps costs a
fresh process is measured apart and printed under each table. Peers and optimizers take turns
round by round, so the machine's drift is shared. Ratios are PyTorch's time over nnctl's (> 1:
nnctl is faster), each nnctl optimizer's epoch over its own plain-SGD epoch on the same net and
dtype (the issue's "≤ 1.28×"), and the NumPy steps' epoch over the compiled ones'.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # noqa: E402  (benchmarks/run.py: the peers' training loops)

NETS = {  # hidden sizes, rows per epoch, batch, epochs per process
    "large": ([512, 512], 784, 6144, 256, 4),
    "medium": ([256, 256], 64, 20000, 128, 2),
}
OPTS = {
    "sgd": ({"name": "sgd", "lr": 0.01}, 0.0),
    "momentum": ({"name": "sgd", "lr": 0.01, "momentum": 0.9}, 0.0),
    "nesterov": ({"name": "sgd", "lr": 0.01, "momentum": 0.9, "nesterov": True}, 0.0),
    "adam": ({"name": "adam", "lr": 0.001}, 0.0),
    "rmsprop": ({"name": "rmsprop", "lr": 0.001}, 0.0),
    "adam+wd": ({"name": "adam", "lr": 0.001}, 1e-4),
    "momentum+wd": ({"name": "sgd", "lr": 0.01, "momentum": 0.9}, 1e-4),
}


ENGINES = {"nnctl": "numba", "nnctl-numpy": "numpy"}  # NNCTL_ACCEL for each of nnctl's columns


def measure(net: str, dtype: str, opt_key: str, peer: str) -> dict:
    if peer == "load":  # a fresh process's one-time cost: importing numba and loading its cached kernels
        from nnctl.engine import kernels

        t0 = time.perf_counter()
        assert kernels.kernels(dtype) is not None, "numba is not installed: pip install -e '.[fast]'"
        return {"s/epoch": time.perf_counter() - t0}
    hidden, d, n, batch, epochs = NETS[net]
    X, y = run._random_classes(n, d, 1)
    opt, wd = OPTS[opt_key]
    if peer == "pytorch":
        secs = run.torch_fit(X, y, hidden, "relu", "ce", batch, epochs, opt["lr"], 0.0, dtype, opt, wd)
        return {"s/epoch": secs / epochs}
    os.environ["NNCTL_ACCEL"] = ENGINES[peer]
    t0 = time.perf_counter()
    trainer = run.nnctl_trainer(X, y, hidden, "relu", "softmax", "cross_entropy", opt, batch, epochs, dtype,
                                weight_decay=wd)
    setup_s = time.perf_counter() - t0
    secs = run.timed(trainer.fit)
    return {"s/epoch": secs / epochs, "engine": trainer.step_engine, "setup s": setup_s}


def worker(net, dtype, opt_key, peer) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", net, dtype, opt_key, peer],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) == 6 and sys.argv[1] == "--worker":
        print(json.dumps(measure(*sys.argv[2:])))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nets", nargs="*", default=list(NETS), choices=list(NETS))
    ap.add_argument("--dtypes", nargs="*", default=["float32", "float64"])
    ap.add_argument("--opts", nargs="*", default=list(OPTS), choices=list(OPTS))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    peers = [*ENGINES] + (["pytorch"] if run.torch else [])
    opts = args.opts if "sgd" in args.opts else ["sgd", *args.opts]
    results = {"date": time.strftime("%Y-%m-%d"),
               "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
                          f"NumPy {np.__version__}" + (f", PyTorch {run.torch.__version__}" if run.torch else ""),
               "cases": []}
    for net in args.nets:
        for dtype in args.dtypes:
            runs = {(o, p): [] for o in opts for p in peers}
            info: dict = {}
            for _ in range(args.repeats):
                for o in opts:
                    for p in peers:
                        if o == "sgd" and p == "nnctl-numpy":
                            continue  # plain SGD's update is BLAS's either way
                        r = worker(net, dtype, o, p)
                        runs[o, p].append(r["s/epoch"])
                        info.setdefault((o, p), []).append(r)
            load = statistics.median(worker(net, dtype, "sgd", "load")["s/epoch"] for _ in range(args.repeats))
            med = {k: statistics.median(v) for k, v in runs.items() if v}
            med["sgd", "nnctl-numpy"] = med["sgd", "nnctl"]
            hidden, d, n, batch, _ = NETS[net]
            print(f"\n{net}: {d}-{'-'.join(map(str, hidden))}-10, batch {batch}, {n} rows, {dtype} (s/epoch)")
            print(f"  {'optimizer':12s} {'nnctl':>8s} {'engine':>7s} {'NumPy':>8s} {'pytorch':>8s} "
                  f"{'pytorch/nnctl':>14s} {'÷ nnctl sgd':>12s} {'NumPy/nnctl':>12s}")
            for o in opts:
                ours, numpy_s, theirs = med[o, "nnctl"], med[o, "nnctl-numpy"], med.get((o, "pytorch"))
                engine = info[o, "nnctl"][-1]["engine"]
                row = {"net": net, "dtype": dtype, "optimizer": o, "nnctl": ours, "engine": engine,
                       "nnctl numpy steps": numpy_s, "vs own sgd": ours / med["sgd", "nnctl"],
                       "numpy/nnctl": numpy_s / ours,
                       "nnctl setup s": statistics.median(r["setup s"] for r in info[o, "nnctl"])}
                if theirs is not None:
                    row |= {"pytorch": theirs, "pytorch/nnctl": theirs / ours}
                results["cases"].append(row)
                print(f"  {o:12s} {ours:8.4f} {engine:>7s} {numpy_s:8.4f} "
                      + (f"{theirs:8.4f} {theirs / ours:13.2f}× " if theirs else " " * 24)
                      + f"{row['vs own sgd']:11.2f}× {row['numpy/nnctl']:11.2f}×")
            print(f"  loading the compiled steps, once a process: {load:.2f} s")
            results["cases"].append({"net": net, "dtype": dtype, "kernels load s": load})
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
