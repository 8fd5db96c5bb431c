"""Where a training step's time goes: the large case (784-512-512-10, batch 256), call by call.

    python benchmarks/breakdown.py                 # float32 and float64, 3 epochs each
    python benchmarks/breakdown.py --dtype float64 --epochs 5

Every matrix product, activation, loss and optimizer call of the real training loop is timed
(wrappers around the calls the workspace makes, nothing re-implemented), and the rest of each
epoch (gathering shuffled batches, the loop itself, the logged epoch's metrics) is reported as
what remains. The 2048² GEMM peak is measured in the same process after every epoch, so the
shares compare with `run.py`'s. Medians over epochs; the first epoch is a warm-up, not counted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nnctl.config.loader import validate  # noqa: E402
from nnctl.core import model as modelmod  # noqa: E402
from nnctl.data.datasets import RawData  # noqa: E402
from nnctl.training.trainer import setup  # noqa: E402

SIZES = [784, 512, 512, 10]
ROWS, BATCH = 30000, 256
# the order in which a step calls np.dot for a three-layer net; layers 0 and 1 hold the large ones
PRODUCTS = ["layer 0 forward", "layer 1 forward", "layer 2 forward", "layer 2 weight gradient",
            "layer 2 input gradient", "layer 1 weight gradient", "layer 1 input gradient", "layer 0 weight gradient"]
# with plain SGD's update fused (Workspace.fuse_update) the weight gradients go through BLAS's
# gemm directly, each subtracted from its weights: np.dot is left with the other products
FUSED_DOTS = [p for p in PRODUCTS if "weight gradient" not in p]
FUSED_UPDATES = [p.replace("weight gradient", "weight gradient + update") for p in PRODUCTS if "weight gradient" in p]
LARGE = [p for p in PRODUCTS if not p.startswith("layer 2")]
LARGE += [p.replace("weight gradient", "weight gradient + update") for p in LARGE if "weight gradient" in p]
NEEDED = 2 * ROWS * (3 * sum(a * b for a, b in zip(SIZES[:-1], SIZES[1:], strict=True)) - SIZES[0] * SIZES[1])


def gemm_peak(dtype: str, n: int = 2048) -> float:
    a = np.random.default_rng(0).random((n, n)).astype(dtype)
    c = np.empty_like(a)
    np.dot(a, a, out=c)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        np.dot(a, a, out=c)
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9


def trainer_for(dtype: str, epochs: int):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(ROWS, SIZES[0])), rng.integers(0, 10, ROWS)
    layers = [{"units": u, "activation": "relu"} for u in SIZES[1:-1]] + [{"units": 10, "activation": "softmax"}]
    cfg = validate({"data": {"source": "xor", "standardize": False}, "model": {"layers": layers, "init": "he"},
                    "train": {"loss": "cross_entropy", "optimizer": {"name": "sgd", "lr": 0.01},
                              "batch_size": BATCH, "epochs": epochs, "dtype": dtype, "log_every": 10 ** 9}})
    raw = RawData(X, [f"f{i}" for i in range(SIZES[0])], ["y"], y[:, None].astype(float))
    return setup(cfg, raw=raw)


class Clock:
    """Seconds spent per label within the current epoch."""

    def __init__(self):
        self.spent: dict[str, float] = defaultdict(float)
        self.calls = 0

    def wrap(self, label, fn):
        spent = self.spent

        def timed(*args):
            t0 = time.perf_counter()
            out = fn(*args)
            spent[label] += time.perf_counter() - t0
            return out
        return timed


def breakdown(dtype: str, epochs: int) -> dict:
    trainer = trainer_for(dtype, epochs + 1)
    clock = Clock()
    real_dot = modelmod.dot

    ws = trainer.ws
    fused = ws.gemm is not None
    labels = FUSED_DOTS if fused else PRODUCTS

    def dot(a, b, out):  # the step's products, labelled by their order within a step
        label = labels[clock.calls % len(labels)]
        clock.calls += 1
        t0 = time.perf_counter()
        real_dot(a, b, out)
        clock.spent[label] += time.perf_counter() - t0

    for i, act in enumerate(ws.model.activations):
        act.forward_into = clock.wrap(f"activation {i}", act.forward_into)
        act.backward_into = clock.wrap(f"activation {i} backward", act.backward_into)
    ws.loss.value_and_grad_into = clock.wrap("loss and its gradient", ws.loss.value_and_grad_into)
    trainer.update = clock.wrap("optimizer update", trainer.update)  # (a counter only, when fused)
    ws._sizes.clear()  # rebuild the per-size plans, so that they hold the wrapped methods
    buf = ws._buffers(trainer.batch)
    if fused:
        buf.fused = [(clock.wrap(label, update), *rest)
                     for label, (update, *rest) in zip(FUSED_UPDATES[:-1], buf.fused, strict=True)]
        buf.update_first = clock.wrap(FUSED_UPDATES[-1], buf.update_first)
    modelmod.dot = dot
    totals, parts, peaks = [], defaultdict(list), []
    try:
        for epoch in range(1, epochs + 2):
            clock.spent.clear()
            clock.calls = 0
            t0 = time.perf_counter()
            trainer.run_epoch(epoch)
            total = time.perf_counter() - t0
            if epoch > 1:
                peaks.append(gemm_peak(dtype))  # after every epoch: the machine's speed drifts
                totals.append(total)
                for k, v in clock.spent.items():
                    parts[k].append(v)
                parts["the rest: gathers, the loop, metrics"].append(total - sum(clock.spent.values()))
    finally:
        modelmod.dot = real_dot
    epoch_s = statistics.median(totals)
    return {"dtype": dtype, "epoch_s": epoch_s, "peak": statistics.median(peaks),
            "parts": {k: statistics.median(v) for k, v in parts.items()}}


def report(r: dict) -> None:
    achieved = NEEDED / r["epoch_s"] / 1e9
    print(f"\n{r['dtype']}: epoch {r['epoch_s']:.3f} s, {achieved:.1f} GFLOP/s = "
          f"{100 * achieved / r['peak']:.0f}% of the {r['peak']:.0f} GFLOP/s peak")
    steps = -(-ROWS // BATCH)
    for k, v in sorted(r["parts"].items(), key=lambda kv: -kv[1]):
        print(f"  {k:38s} {1e6 * v / steps:8.0f} µs/step {100 * v / r['epoch_s']:6.1f}%")
    t = sum(r["parts"].get(k, 0.0) for k in LARGE)
    flops = NEEDED - 2 * ROWS * 3 * SIZES[-2] * SIZES[-1]
    print(f"  the large products: {100 * t / r['epoch_s']:.0f}% of the epoch, at "
          f"{100 * flops / t / 1e9 / r['peak']:.0f}% of the peak")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dtype", choices=["float32", "float64"], nargs="*", default=["float32", "float64"])
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()
    for dt in args.dtype:
        report(breakdown(dt, args.epochs))


if __name__ == "__main__":
    main()
