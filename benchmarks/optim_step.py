"""One Adam step over the large net's 669,706 parameters, every way that was tried, in one process.

    python benchmarks/optim_step.py [--dtypes float32 float64] [--repeats 200]

What benchmarks/README.md's "Optimizer steps" section quotes: the step alone, its arrays cold
(a 64 MB array is summed before each step, as the training loop's matrix products evict them),
the median of `--repeats` steps, µs. The gradient is restored before each step, after the flush
and untimed (steps consume it; in training the product that wrote it has just run, so it is warm
there too). Rows whose library is missing are left out:

- numpy: nnctl's NumPy step (`optim.Adam`), thirteen whole-array calls;
- numpy, L2-blocked: the same calls on chunks of 16 384 parameters (all of a chunk's operations
  run while it is in the 1 MiB L2 cache);
- numpy, 2 threads: the same calls on the two halves, one per thread (NumPy releases the GIL);
- numexpr: three expressions (m, v, then the weights), its own blocking and threads;
- numba: nnctl's compiled step (`kernels`), one pass on one core;
- numba, prange: the same loop with `parallel=True` on both cores (OpenMP here);
- torch: `torch.optim.Adam` on one flat tensor (single-tensor, then foreach, then fused).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nnctl.core.optim import Adam  # noqa: E402
from nnctl.engine import kernels  # noqa: E402

N = 669_706
FLUSH = np.ones(8_000_000)


def median_us(fn, repeats: int, before=None) -> float:
    times = []
    for _ in range(repeats):
        FLUSH.sum()
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def numpy_calls(opt: Adam, p, g, m, v, tmp):
    """Adam's NumPy step (`optim.Adam.numpy_step`) on views, for the blocked and threaded rows."""
    k = opt._k
    opt.numpy_step(p, g, m, v, tmp, k(opt.lr / (1 - opt.beta1 ** opt.t)), k(math.sqrt(1 - opt.beta2 ** opt.t)))


def run(dtype: str, repeats: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    p = rng.normal(size=N).astype(dtype)
    g0 = rng.normal(size=N).astype(dtype)
    g = g0.copy()

    def restore():
        g[...] = g0

    rows: dict[str, float] = {}

    def fresh() -> Adam:
        opt = Adam(p, lr=1e-3)
        opt.t = 10
        return opt

    opt = fresh()
    rows["numpy"] = median_us(lambda: opt.step(g), repeats, restore)

    opt, tmp = fresh(), np.empty(N, dtype)
    chunk = 16384
    views = [tuple(a[i:i + chunk] for a in (p, g, opt.exp_avg, opt.exp_avg_sq, tmp)) for i in range(0, N, chunk)]
    rows["numpy, L2-blocked (16 384)"] = median_us(lambda: [numpy_calls(opt, *vs) for vs in views], repeats, restore)

    pool = ThreadPoolExecutor(1)
    h = N // 2
    halves = [tuple(a[s] for a in (p, g, opt.exp_avg, opt.exp_avg_sq, tmp)) for s in (slice(0, h), slice(h, N))]

    def threaded():
        fut = pool.submit(numpy_calls, opt, *halves[1])
        numpy_calls(opt, *halves[0])
        fut.result()
    rows["numpy, 2 threads"] = median_us(threaded, repeats, restore)
    pool.shutdown()

    try:
        import numexpr as ne
    except ImportError:
        ne = None
    if ne is not None:
        s = np.dtype(dtype).type
        names = {"p": p, "g": g, "m": opt.exp_avg, "v": opt.exp_avg_sq, "a": s(0.1), "b2": s(0.999), "c": s(0.001),
                 "eps": s(1e-8), "ss": s(1e-3 / (1 - 0.9 ** 10)), "bc2": s(math.sqrt(1 - 0.999 ** 10))}

        def nexpr():
            for expr, out in (("m + (g - m) * a", "m"), ("v * b2 + (g * g) * c", "v"),
                              ("p - (m * ss) / (sqrt(v) / bc2 + eps)", "p")):
                ne.evaluate(expr, local_dict=names, out=names[out], casting="same_kind")
        rows["numexpr (its threads)"] = median_us(nexpr, repeats, restore)

    fns = kernels.kernels(dtype)
    if fns is not None:
        opt = fresh()
        opt.accelerate(fns)
        rows["numba (nnctl's, one core)"] = median_us(lambda: opt.step(g), repeats, restore)
        import numba

        parallel = numba.njit(parallel=True, error_model="numpy")(_prange_adam())
        opt = fresh()
        sc = [np.dtype(dtype).type(x) for x in (0.1, 0.999, 0.001, 1e-8, 1e-3, 0.03)]
        empty = np.zeros(0, dtype)
        parallel(p, g, opt.exp_avg, opt.exp_avg_sq, empty, *sc)  # compile
        rows["numba, prange (both cores)"] = median_us(
            lambda: parallel(p, g, opt.exp_avg, opt.exp_avg_sq, empty, *sc), repeats, restore)

    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        for how in ("single-tensor", "foreach", "fused"):
            t = torch.from_numpy(p.copy()).requires_grad_()
            t.grad = torch.from_numpy(g0.copy())
            kw = {"foreach": how == "foreach", "fused": True if how == "fused" else None}
            topt = torch.optim.Adam([t], lr=1e-3, **kw)
            topt.step()
            rows[f"torch.optim.Adam, {how}"] = median_us(topt.step, repeats)
    return rows


def _prange_adam():
    import numba

    def adam(p, g, m, v, d, one_minus_b1, b2, one_minus_b2, eps, step_size, bc2_sqrt):
        for i in numba.prange(p.shape[0]):
            gi = g[i]
            mi = m[i] + (gi - m[i]) * one_minus_b1
            vi = v[i] * b2 + (gi * gi) * one_minus_b2
            m[i] = mi
            v[i] = vi
            p[i] = p[i] - (mi * step_size) / (math.sqrt(vi) / bc2_sqrt + eps)
    return adam


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dtypes", nargs="*", default=["float32", "float64"])
    ap.add_argument("--repeats", type=int, default=200)
    args = ap.parse_args()
    for dtype in args.dtypes:
        rows = run(dtype, args.repeats)
        base = rows["numpy"]
        print(f"\nAdam step, {N} parameters, {dtype} (µs, cold arrays)")
        for k, v in rows.items():
            print(f"  {k:34s} {v:9.0f}   {base / v:5.2f}× numpy's speed")


if __name__ == "__main__":
    main()
