"""ONNX export, side by side in one process:

    python benchmarks/export.py [--rows 20000] [--repeats 5] [--json export.json]

The large net (784-512-512-10, relu, softmax; float32 and float64) is trained for one epoch on
random rows, saved, and exported; then the same rows are predicted by onnxruntime running the
exported graph and by nnctl's own engine (`transform` + the forward pass, as `nnctl predict` runs
them, CSV parsing excluded). Reported: rows per second of each, medians of interleaved repeats.
Target: onnxruntime at least as many rows per second as nnctl.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nnctl.config.loader import validate  # noqa: E402
from nnctl.data.datasets import RawData  # noqa: E402
from nnctl.io.modelfile import load  # noqa: E402
from nnctl.tools.export import export  # noqa: E402
from nnctl.training.run import TrainResult, save_result  # noqa: E402
from nnctl.training.trainer import setup  # noqa: E402


def _model(tmp: Path, dtype: str) -> Path:
    rng = np.random.default_rng(0)
    X = rng.random((512, 784))
    y = rng.integers(0, 10, 512).astype(float)[:, None]
    cfg = validate({"data": {"source": "xor"}, "model": {"layers": [
        {"units": 512, "activation": "relu"}, {"units": 512, "activation": "relu"},
        {"units": 10, "activation": "softmax"}]},
        "train": {"loss": "cross_entropy", "epochs": 1, "batch_size": 256, "dtype": dtype, "optimizer": "adam"}})
    trainer = setup(cfg, raw=RawData(X, [f"p{i}" for i in range(784)], ["digit"], y))
    trainer.fit()
    path = tmp / f"large-{dtype}.npz"
    save_result(path, cfg, TrainResult(trainer))
    return path


def measure(rows: int, repeats: int, dtype: str) -> dict:
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        path = _model(tmp, dtype)
        mf = load(path)
        export(mf, tmp / "large.onnx")
        sess = ort.InferenceSession(str(tmp / "large.onnx"), providers=["CPUExecutionProvider"])
        X = np.random.default_rng(1).random((rows, 784))
        Xin = X.astype(dtype)
        ours, theirs = [], []
        for _ in range(repeats + 1):  # the first round warms both up and is not counted
            t0 = time.perf_counter()
            mf.model.predict(mf.transform(X))
            t1 = time.perf_counter()
            sess.run(None, {"input": Xin})
            t2 = time.perf_counter()
            ours.append(t1 - t0)
            theirs.append(t2 - t1)
        o, t = statistics.median(ours[1:]), statistics.median(theirs[1:])
        return {"nnctl rows/s": rows / o, "onnxruntime rows/s": rows / t, "onnxruntime / nnctl": o / t}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    res = {"date": time.strftime("%Y-%m-%d"), "rows": args.rows}
    for dtype in ("float32", "float64"):
        res[dtype] = measure(args.rows, args.repeats, dtype)
        for k, v in res[dtype].items():
            print(f"{dtype}  {k:22s} {v:12.4g}")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
