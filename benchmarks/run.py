"""nnctl against scikit-learn and PyTorch, side by side in one run, on the same nets and data.

    python benchmarks/run.py                 # every case, medians of repeated runs, ratios
    python benchmarks/run.py --cases tiny large --repeats 3 --json results.json

Each peer runs only if it is installed (`pip install '.[bench]'` for scikit-learn;
`pip install torch` for PyTorch); neither is a dependency of nnctl. Timings are wall-clock
medians; ratios are nnctl's speed over the peer's (> 1: nnctl is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nnctl.config.loader import validate  # noqa: E402
from nnctl.data.datasets import RawData  # noqa: E402
from nnctl.training.trainer import setup  # noqa: E402

try:
    import torch
except ImportError:
    torch = None
try:
    from sklearn.neural_network import MLPClassifier
except ImportError:
    MLPClassifier = None


def median_of(fn, repeats: int) -> float:
    return statistics.median(fn() for _ in range(repeats))


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# --- the peers ----------------------------------------------------------------------------------

def nnctl_trainer(X, y, hidden, act, out_act, loss, opt, batch, epochs, dtype, standardize=False, weight_decay=0.0):
    """nnctl's Trainer for these data and this net, set up (data prepared, weights initialised)."""
    layers = [{"units": h, "activation": act} for h in hidden] + [{"units": 1 if loss == "bce" else 10,
                                                                   "activation": out_act}]
    cfg = validate({"data": {"source": "xor", "standardize": standardize},
                    "model": {"layers": layers, "init": "he" if act == "relu" else "xavier"},
                    "train": {"loss": loss, "optimizer": opt, "batch_size": batch, "epochs": epochs,
                              "dtype": dtype, "log_every": 10**9, "weight_decay": weight_decay}})
    raw = RawData(X, [f"f{i}" for i in range(X.shape[1])], ["y"], y[:, None].astype(float))
    return setup(cfg, raw=raw)


def nnctl_fit(*args, **kw):
    """Seconds for nnctl's Trainer.fit (data preparation and initialisation excluded)."""
    return timed(nnctl_trainer(*args, **kw).fit)


def sklearn_fit(X, y, hidden, act, batch, epochs, lr, momentum, dtype):
    clf = MLPClassifier(hidden_layer_sizes=hidden, activation=act, solver="sgd", learning_rate_init=lr,
                        momentum=momentum, nesterovs_momentum=False, batch_size=batch, max_iter=epochs,
                        shuffle=batch < len(X), tol=0.0, n_iter_no_change=10**9, alpha=0.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return timed(lambda: clf.fit(X.astype(dtype), y))


def torch_optimizer(model, opt: dict, weight_decay: float = 0.0):
    """torch.optim's counterpart of an nnctl optimizer section, with its defaults; weight decay on
    the weights only (nnctl leaves biases undecayed), through two parameter groups."""
    weights = [p for p in model.parameters() if p.ndim == 2]
    biases = [p for p in model.parameters() if p.ndim == 1]
    groups = [{"params": weights, "weight_decay": weight_decay}, {"params": biases, "weight_decay": 0.0}]
    kw = {k: v for k, v in opt.items() if k != "name"}
    if "betas" in kw:
        kw["betas"] = tuple(kw["betas"])
    return {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}[opt["name"]](groups, **kw)


def torch_fit(X, y, hidden, act, loss, batch, epochs, lr, momentum, dtype, opt=None, weight_decay=0.0):
    tdt = {"float32": torch.float32, "float64": torch.float64}[dtype]
    Xt = torch.tensor(X, dtype=tdt)
    layers, fan_in = [], X.shape[1]
    for h in hidden:
        layers += [torch.nn.Linear(fan_in, h), torch.nn.Tanh() if act == "tanh" else torch.nn.ReLU()]
        fan_in = h
    if loss == "bce":
        layers.append(torch.nn.Linear(fan_in, 1))
        yt, lossf = torch.tensor(y, dtype=tdt)[:, None], torch.nn.BCEWithLogitsLoss()
    else:
        layers.append(torch.nn.Linear(fan_in, 10))
        yt, lossf = torch.tensor(y, dtype=torch.long), torch.nn.CrossEntropyLoss()
    model = torch.nn.Sequential(*layers).to(tdt)
    opt = torch_optimizer(model, opt or {"name": "sgd", "lr": lr, "momentum": momentum}, weight_decay)
    n = len(X)

    def run():
        for _ in range(epochs):
            order = torch.randperm(n) if batch < n else None
            for start in range(0, n, batch):
                idx = None if order is None else order[start:start + batch]
                xb, yb = (Xt, yt) if idx is None else (Xt[idx], yt[idx])
                opt.zero_grad(set_to_none=True)
                lv = lossf(model(xb), yb)
                lv.backward()
                opt.step()
                lv.item()  # nnctl records every batch's loss too

    return timed(run)


# --- the cases ---------------------------------------------------------------------------------
# Each measurement runs in a fresh process (`--worker`), peers interleaved round by round: thread
# pools that a peer leaves spinning (PyTorch's OpenMP workers) must not slow down the next one,
# and drift in the machine's speed is shared fairly.

TINY_X = np.array([[-1.0, -1], [-1, 1], [1, -1], [1, 1]])
TINY_Y = np.array([0, 1, 1, 0])
LARGE = [784, 512, 512, 10]
GEMM_N = 2048


def _random_classes(n, d, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.integers(0, 10, n)


def measure(case: str, peer: str, dtype: str) -> float:
    """Seconds for one run of `peer` on `case` (called inside a worker process)."""
    if peer == "gemm":
        a = np.random.default_rng(0).random((GEMM_N, GEMM_N)).astype(dtype)
        c = np.empty_like(a)
        np.dot(a, a, out=c)
        return min(timed(lambda: np.dot(a, a, out=c)) for _ in range(3))
    if case == "tiny":
        X, y, hidden, act, loss, batch, epochs, lr, mom = TINY_X, TINY_Y, [4], "tanh", "bce", 4, 5000, 0.1, 0.9
    elif case == "medium":
        X, y = _random_classes(20000, 64)
        hidden, act, loss, batch, epochs, lr, mom = [256, 256], "relu", "ce", 128, 2, 0.01, 0.0
    else:
        X, y = _random_classes(30000, 784, 1)
        hidden, act, loss, batch, epochs, lr, mom = [512, 512], "relu", "ce", 256, 1, 0.01, 0.0
    if peer == "nnctl":
        opt = {"name": "sgd", "lr": lr, "momentum": mom}
        return nnctl_fit(X, y, hidden, act, "sigmoid" if loss == "bce" else "softmax",
                         "bce" if loss == "bce" else "cross_entropy", opt, "full" if case == "tiny" else batch,
                         epochs, dtype)
    if peer == "scikit-learn":
        return sklearn_fit(X, y, tuple(hidden), act, batch, epochs, lr, mom, np.dtype(dtype))
    return torch_fit(X, y, hidden, act, loss, batch, epochs, lr, mom, dtype)


def run_worker(case, peer, dtype) -> float:
    out = subprocess.run([sys.executable, __file__, "--worker", case, peer, dtype], capture_output=True,
                         text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def peers() -> list[str]:
    return ["nnctl"] + (["scikit-learn"] if MLPClassifier else []) + (["pytorch"] if torch else [])


def interleaved(case, dtype, repeats, who) -> dict[str, float]:
    """Median seconds per peer, the peers taking turns in every round."""
    runs: dict[str, list[float]] = {p: [] for p in who}
    for _ in range(repeats):
        for p in who:
            runs[p].append(run_worker(case, p, dtype))
    return {p: statistics.median(v) for p, v in runs.items()}


def case_tiny(repeats):
    """XOR 2-4-1 tanh/sigmoid, full batch, 5000 epochs: seconds per epoch."""
    secs = interleaved("tiny", "float64", repeats, peers())
    return {"unit": "s/epoch", "lower_is_better": True, "rows": {k: v / 5000 for k, v in secs.items()}}


def case_medium(repeats, dtype):
    """20000×64, 10 classes, 256-256 relu, batch 128, SGD, 2 epochs: samples/s."""
    secs = interleaved("medium", dtype, repeats, peers())
    return {"unit": "samples/s", "lower_is_better": False, "rows": {k: 40000 / v for k, v in secs.items()}}


def case_large(repeats, dtype):
    """784-512-512-10 relu, batch 256, one epoch over 30000 rows: samples/s and share of GEMM peak,
    counting the work a step needs: 2·rows·(3·Σ fan_in·fan_out − fan_in₀·fan_out₀)."""
    n = 30000
    sizes = list(zip(LARGE[:-1], LARGE[1:], strict=True))
    flops = 2 * n * (3 * sum(a * b for a, b in sizes) - sizes[0][0] * sizes[0][1])
    secs = interleaved("large", dtype, repeats, ["gemm", *peers()])
    peak = 2 * GEMM_N ** 3 / secs.pop("gemm") / 1e9
    rows = {k: n / v for k, v in secs.items()}
    extra = {k: {"GFLOP/s": flops / v / 1e9, "share of peak": flops / v / 1e9 / peak} for k, v in secs.items()}
    return {"unit": "samples/s", "lower_is_better": False, "rows": rows, "extra": extra, "gemm_peak": peak}


def _process_seconds(cmd, repeats, cwd=ROOT) -> float:
    env = {**os.environ, "NO_COLOR": "1"}
    return median_of(lambda: timed(lambda: subprocess.run(cmd, cwd=cwd, env=env, check=True,
                                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)),
                     repeats)


def case_startup(repeats):
    """Whole processes: nnctl --help and a whole nnctl train configs/xor.yaml, next to importing numpy."""
    with tempfile.TemporaryDirectory() as tmp:
        rows = {
            "python -c 'import numpy'": _process_seconds([sys.executable, "-c", "import numpy"], repeats),
            "nnctl --help": _process_seconds([sys.executable, "-m", "nnctl", "--help"], repeats),
            "nnctl train configs/xor.yaml": _process_seconds(
                [sys.executable, "-m", "nnctl", "train", str(ROOT / "configs/xor.yaml"), "-q",
                 "--out", str(Path(tmp) / "x.npz")], repeats),
        }
    return {"unit": "s", "lower_is_better": True, "rows": rows}


def _big_csv(path: Path, rows=30000, cols=785):
    rng = np.random.default_rng(2)
    X = np.round(rng.random((rows, cols - 1)) * 255)
    y = rng.integers(0, 10, rows)
    with open(path, "w") as fh:
        fh.write(",".join([f"p{i}" for i in range(cols - 1)] + ["label"]) + "\n")
        np.savetxt(fh, np.c_[X, y], delimiter=",", fmt="%d")
    return X.nbytes + y.size * 8


def case_csv(repeats, path: Path):
    """Loading a 30000×785 numeric CSV: nnctl's loader against numpy.loadtxt."""
    from nnctl.data import csvtable, reader

    def ours():
        table = csvtable.read_table(path)
        reader.load(table, list(range(len(table.header))), [], None)

    rows = {"nnctl": median_of(lambda: timed(ours), repeats),
            "numpy.loadtxt": median_of(lambda: timed(lambda: np.loadtxt(path, delimiter=",", skiprows=1)), repeats)}
    return {"unit": "s", "lower_is_better": True, "rows": rows}


def max_rss_mb(cmd: list[str]) -> float:
    """Peak resident set of a whole process, as GNU time reports it (its "maximum resident set
    size"); without GNU time, the process's VmHWM polled from /proc."""
    if Path("/usr/bin/time").exists():
        out = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], capture_output=True, text=True, check=True)
        return int(out.stderr.strip().splitlines()[-1]) / 1024
    proc, peak = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), 0
    while proc.poll() is None:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
            peak = max(peak, int(next(x for x in status.splitlines() if x.startswith("VmHWM")).split()[1]))
        except (OSError, StopIteration):
            pass
        time.sleep(0.01)
    return peak / 1024


def case_memory(path: Path, data_bytes: int):
    """Peak resident set of a whole `nnctl train` on the 30000×785 CSV (one epoch of a small net),
    against the budget: 2 × the data as a float64 array, plus the interpreter's own."""
    cfg = path.parent / "mem.yaml"
    cfg.write_text(f"data: {{source: csv, path: {path.name}, target: label}}\n"
                   "model: {layers: [{units: 32, activation: relu}, {units: 10, activation: softmax}]}\n"
                   "train: {loss: cross_entropy, optimizer: adam, batch_size: 256, epochs: 1}\n")
    peak = max_rss_mb([sys.executable, "-m", "nnctl", "train", str(cfg), "-q", "--out", str(path.parent / "m.npz")])
    interpreter = max_rss_mb([sys.executable, "-c", "import numpy"])
    return {"unit": "MB", "lower_is_better": True,
            "rows": {"nnctl train peak RSS": peak, "data as float64": data_bytes / 2 ** 20,
                     "interpreter with numpy": interpreter,
                     "budget: 2 × data + interpreter": 2 * data_bytes / 2 ** 20 + interpreter}}


# --- report ------------------------------------------------------------------------------------

def ratios(result: dict) -> dict:
    rows, lower = result["rows"], result["lower_is_better"]
    ours = rows.get("nnctl")
    if ours is None:
        return {}
    return {k: (v / ours if lower else ours / v) for k, v in rows.items() if k != "nnctl"}


def print_report(results: dict) -> None:
    print(f"\nnnctl benchmarks — {results['date']} — {results['machine']}")
    for name, res in results["cases"].items():
        print(f"\n{name} ({res['unit']})")
        for k, v in res["rows"].items():
            print(f"  {k:34s} {v:14.6g}")
        for k, r in ratios(res).items():
            print(f"  nnctl / {k:26s} {r:14.2f}×")
        for k, e in res.get("extra", {}).items():
            print(f"  {k:34s} {e['GFLOP/s']:8.1f} GFLOP/s = {100 * e['share of peak']:.0f}% of peak "
                  f"({res['gemm_peak']:.0f} GFLOP/s)")


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        print(measure(*sys.argv[2:]))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", nargs="*", default=["tiny", "medium", "large", "startup", "csv", "memory"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    results = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
               f"Python {platform.python_version()}, NumPy {np.__version__}"
               + (f", PyTorch {torch.__version__}" if torch else "")
               + (", scikit-learn " + __import__("sklearn").__version__ if MLPClassifier else ""),
               "cases": {}}
    r = args.repeats
    for case in args.cases:
        if case == "tiny":
            results["cases"]["tiny: XOR 2-4-1, full batch"] = case_tiny(r)
        elif case == "medium":
            for dt in ("float32", "float64"):
                results["cases"][f"medium: 20000×64, 256-256 relu, batch 128, {dt}"] = case_medium(r, dt)
        elif case == "large":
            for dt in ("float32", "float64"):
                results["cases"][f"large: 784-512-512-10, batch 256, {dt}"] = case_large(r, dt)
        elif case == "startup":
            results["cases"]["start-up"] = case_startup(r)
        elif case in ("csv", "memory"):
            tmp = Path(tempfile.mkdtemp())
            path = tmp / "big.csv"
            data_bytes = _big_csv(path)
            if "csv" in args.cases and case == "csv":
                results["cases"]["CSV loading: 30000×785"] = case_csv(max(r // 2, 1), path)
            if case == "memory":
                results["cases"]["memory: nnctl train on the 30000×785 CSV"] = case_memory(path, data_bytes)
        print(f"done: {case}", file=sys.stderr, flush=True)
    print_report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
