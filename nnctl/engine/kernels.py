"""Optimizer steps as one pass over memory: the optional accelerator (`pip install 'nnctl[fast]'`).

NumPy runs an update one operation at a time, and every operation streams whole arrays through
memory: Adam's step is thirteen calls, over 669,706 parameters ~30 array-passes where one would
do. Numba compiles each step below into a single loop that reads the gradient, the weights and
the optimizer's state once and writes them once, vectorised by LLVM.

The loops do exactly what `optim`'s NumPy steps do, operation for operation and in the same
order, in the parameters' dtype: no fused multiply-add (numba contracts nothing without
fastmath), no reassociation, scalars of the arrays' dtype. The results are the NumPy path's to
the bit, which the tests check on random data for every optimizer and both dtypes.

Compiled code is cached on disk (numba's cache beside this file, or in the user's cache folder
when the package's folder is read-only), so a process after the first pays only for importing
numba and loading it: ~0.7 s, which is why the trainer uses these steps only where a run's
optimizer work is large enough to win that back (`worth_it`). `NNCTL_ACCEL=numpy` in the
environment keeps every step in NumPy; `NNCTL_ACCEL=numba` uses these on every net and run (an
error when numba is missing).

`d` is weight decay's mask (λ on every weight's slot, 0 on the biases'), or an empty array: the
decay term g + W·d is then added inside the same pass, as `engine.workspace.Workspace` would have added it.
"""

from __future__ import annotations

import math
import os
import warnings
from functools import cache

import numpy as np

from nnctl.errors import UsageError

# What a compiled step saves over the NumPy one, in ns per parameter and step: about the least
# that benchmarks/optim.py measured on its 2-core machine (the medium net in float32; the large
# net and float64 save 2-3x more), so that the choice errs towards NumPy. And what loading the
# kernels costs a process once: importing numba (which imports SciPy's linear algebra when SciPy
# is installed) and reading its cache, measured 0.5-1 s.
SAVES_NS = {"adam": 2.0, "rmsprop": 1.5, "sgd_nesterov": 0.8, "sgd_momentum": 0.4, "sgd_plain": 0.3}
LOAD_S = 0.7
MIN_PARAMS = 16384  # never on smaller nets, whose steps cost little either way

# The steps, as plain Python functions that numba compiles on first use (see `_compiled`).

def sgd_momentum(p, g, v, d, lr, mu):
    decay = d.shape[0] != 0  # the same in every iteration: LLVM compiles the loop once for each case
    for i in range(p.shape[0]):
        gi = g[i] + p[i] * d[i] if decay else g[i]
        vi = v[i] * mu + gi
        v[i] = vi
        p[i] = p[i] - vi * lr


def sgd_nesterov(p, g, v, d, lr, mu):
    decay = d.shape[0] != 0
    for i in range(p.shape[0]):
        gi = g[i] + p[i] * d[i] if decay else g[i]
        vi = v[i] * mu + gi
        v[i] = vi
        p[i] = p[i] - (vi * mu + gi) * lr


def sgd_plain(p, g, v, d, lr, mu):
    decay = d.shape[0] != 0
    for i in range(p.shape[0]):
        gi = g[i] + p[i] * d[i] if decay else g[i]
        p[i] = p[i] - gi * lr


def rmsprop(p, g, s, d, lr, alpha, one_minus_alpha, eps):
    decay = d.shape[0] != 0
    for i in range(p.shape[0]):
        gi = g[i] + p[i] * d[i] if decay else g[i]
        si = s[i] * alpha + (gi * gi) * one_minus_alpha
        s[i] = si
        p[i] = p[i] - (gi * lr) / (math.sqrt(si) + eps)


def adam(p, g, m, v, d, one_minus_b1, b2, one_minus_b2, eps, step_size, bc2_sqrt):
    decay = d.shape[0] != 0
    for i in range(p.shape[0]):
        gi = g[i] + p[i] * d[i] if decay else g[i]
        mi = m[i] + (gi - m[i]) * one_minus_b1
        vi = v[i] * b2 + (gi * gi) * one_minus_b2
        m[i] = mi
        v[i] = vi
        p[i] = p[i] - (mi * step_size) / (math.sqrt(vi) / bc2_sqrt + eps)


NAMES = ("sgd_momentum", "sgd_nesterov", "sgd_plain", "rmsprop", "adam")


def mode() -> str:
    """NNCTL_ACCEL: "numpy" (never), "numba" (always: an error if it cannot) or "auto" (when worth it)."""
    value = os.environ.get("NNCTL_ACCEL", "").strip().lower() or "auto"
    if value not in ("auto", "numpy", "numba"):
        raise UsageError(f"NNCTL_ACCEL is {value!r}: expected auto, numpy or numba")
    return value


def worth_it(name: str, params: int, steps: int) -> bool:
    """Whether a run of `steps` steps of the kernel `name` over `params` parameters should use the
    compiled steps: what they save must pay for loading them, unless NNCTL_ACCEL decides."""
    m = mode()
    if m != "auto":
        return m == "numba"
    return params >= MIN_PARAMS and params * steps * SAVES_NS[name] * 1e-9 >= LOAD_S


@cache
def _compiled() -> dict | None:
    """The steps compiled by numba (loaded from its cache when possible), or None without numba."""
    try:
        import numba
    except ImportError:
        return None
    # numba warns when it cannot write its cache (a read-only install): it compiles anyway
    warnings.filterwarnings("ignore", category=numba.NumbaWarning)
    out = {}
    for name in NAMES:
        fn = globals()[name]
        try:
            out[name] = numba.njit(nogil=True, error_model="numpy", cache=True)(fn)
        except RuntimeError:  # pragma: no cover - no writable cache anywhere: compile per process
            out[name] = numba.njit(nogil=True, error_model="numpy")(fn)
    return out


_loaded: dict[np.dtype, dict | Exception | None] = {}  # per dtype: the kernels, or why not


def _prepare(dtype: np.dtype) -> dict | None:
    fns = _compiled()
    if fns is None:
        return None
    k = dtype.type(0.5)
    a = [np.zeros(4, dtype) for _ in range(4)]
    empty = np.zeros(0, dtype)
    fns["sgd_momentum"](a[0], a[1], a[2], empty, k, k)
    fns["sgd_nesterov"](a[0], a[1], a[2], empty, k, k)
    fns["sgd_plain"](a[0], a[1], a[2], empty, k, k)
    fns["rmsprop"](a[0], a[1], a[2], empty, k, k, k, k)
    fns["adam"](a[0], a[1], a[2], a[3], empty, k, k, k, k, k, k)
    return fns


def kernels(dtype) -> dict | None:
    """The compiled steps, ready for arrays of `dtype` (compiled or loaded now, on tiny arrays,
    so that the first training step does not pay for it), or None where numba is not installed
    or fails to compile them; with NNCTL_ACCEL=numba either of those is a UsageError."""
    dtype = np.dtype(dtype)
    if dtype not in _loaded:
        try:
            _loaded[dtype] = _prepare(dtype)
        except Exception as e:  # noqa: BLE001 - a broken numba or LLVM leaves the NumPy steps in charge
            _loaded[dtype] = e
    fns = _loaded[dtype]
    if isinstance(fns, dict):
        return fns
    if mode() == "numba":
        if fns is None:
            raise UsageError("NNCTL_ACCEL=numba needs numba, an optional extra: pip install 'nnctl[fast]'")
        raise UsageError(f"NNCTL_ACCEL=numba: numba could not compile the optimizer steps: {fns}")
    return None
