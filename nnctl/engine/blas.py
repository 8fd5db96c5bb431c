"""The one matrix product NumPy cannot express, taken from the BLAS that NumPy itself runs on.

Plain SGD's update W ← W − lr·g, where g = Aᵀ·dZ is a product, is BLAS's `gemm` with β = 1:
C ← α·A·B + β·C. NumPy's `dot(..., out=)` always has β = 0, so the gradient goes to a buffer and
a second pass over every parameter subtracts it; through `gemm` the weights are updated while the
product is written, and that pass (reading the gradient and the weights, writing the weights) is
gone: paired epochs of the 784-512-512-10 benchmark net ran 5–14% faster, with byte-identical
weights (benchmarks/README.md, "The fused SGD update").

Only NumPy's own OpenBLAS is used — the library its wheels bundle (`scipy-openblas64`), found
among the files this process has mapped, so calls share NumPy's thread pool (a second BLAS, such
as SciPy's, leaves its threads spinning against NumPy's: 3–5× slower, measured). The symbols
`scipy_cblas_{s,d}gemm64_` name that build and its 64-bit integers; a NumPy built on any other
BLAS, a library that fails a check against `numpy.dot` on first use, or NNCTL_BLAS=numpy in the
environment leave `gemm()` returning None, and the trainer keeps its NumPy-only step.
"""

from __future__ import annotations

import ctypes
import os
import sys
from functools import cache
from pathlib import Path

import numpy as np

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
_SYMBOLS = {np.dtype(np.float64): ("scipy_cblas_dgemm64_", ctypes.c_double),
            np.dtype(np.float32): ("scipy_cblas_sgemm64_", ctypes.c_float)}
_MARK = "scipy_openblas64_"


def _candidates() -> list[str]:
    """Paths of NumPy's bundled OpenBLAS: mapped into this process (Linux), else beside NumPy."""
    found: list[str] = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            for line in f:
                path = line.rstrip("\n")[line.find("/"):] if "/" in line else ""
                if _MARK in path:
                    found.append(path)
    except OSError:
        pass
    root = Path(np.__file__).resolve().parent
    for folder in (root.parent / "numpy.libs", root / ".dylibs"):
        found += [str(p) for p in sorted(folder.glob(f"*{_MARK}*"))] if folder.is_dir() else []
    return list(dict.fromkeys(found))  # each once (a library is mapped in several segments)


class Gemm:
    """C ← α·op(A)·op(B) + β·C on C-contiguous (row-major) arrays of one dtype, where op(X) is X
    or Xᵀ. Arguments are ctypes values made once, so a call costs about a microsecond."""

    def __init__(self, fn, scalar):
        self.fn, self.scalar = fn, scalar

    def bind(self, a: np.ndarray, trans_a: bool, b: np.ndarray, trans_b: bool, c: np.ndarray,
             alpha: float, beta: float):
        """A function of no arguments that computes C ← α·op(A)·op(B) + β·C on these arrays
        (they must stay alive and in place; every caller keeps them in preallocated buffers).
        With `b=None`, the function takes B each call (a batch that changes place)."""
        m, k = (a.shape[1], a.shape[0]) if trans_a else a.shape
        n = c.shape[1]
        for x in (a, c):
            _check_row_major(x)
        if c.shape[0] != m or c.dtype != a.dtype or not c.flags.writeable:
            raise ValueError("gemm: C must be writeable, of A's dtype and op(A)·op(B)'s shape")
        i64, ptr = ctypes.c_int64, ctypes.c_void_p
        head = (ctypes.c_int(ROW_MAJOR), ctypes.c_int(TRANS if trans_a else NO_TRANS),
                ctypes.c_int(TRANS if trans_b else NO_TRANS), i64(m), i64(n), i64(k), self.scalar(alpha),
                ptr(a.ctypes.data), i64(a.strides[0] // a.itemsize))
        tail = (self.scalar(beta), ptr(c.ctypes.data), i64(c.strides[0] // c.itemsize))
        fn = self.fn
        # The closures hold the arrays themselves, not only their addresses: an array that is
        # referenced cannot be freed or resized (NumPy refuses to move a referenced buffer), and
        # each call still checks that every address is the one bound, before BLAS writes anything.
        held = (a, c) if b is None else (a, b, c)
        addresses = tuple(x.ctypes.data for x in held)

        def check() -> None:
            if tuple(x.ctypes.data for x in held) != addresses:  # pragma: no cover - a guard
                raise RuntimeError("gemm: a bound array moved; bind it again")

        if b is not None:
            _check_operand(b, trans_b, k, n, a.dtype)
            args = (*head, ptr(b.ctypes.data), i64(b.strides[0] // b.itemsize), *tail)

            def bound() -> None:
                check()
                fn(*args)
            bound.check = check
            return bound

        def with_b(b: np.ndarray) -> None:
            check()
            _check_operand(b, trans_b, k, n, a.dtype)
            fn(*head, ptr(b.ctypes.data), i64(b.strides[0] // b.itemsize), *tail)
        with_b.check = check
        return with_b


def _check_row_major(x: np.ndarray) -> None:
    if x.ndim != 2 or x.strides[1] != x.itemsize or x.strides[0] < x.shape[1] * x.itemsize:
        raise ValueError("gemm: every matrix must be row-major with unit column stride")


def _check_operand(b: np.ndarray, trans_b: bool, k: int, n: int, dtype) -> None:
    _check_row_major(b)
    if (b.shape[::-1] if trans_b else b.shape) != (k, n) or b.dtype != dtype:
        raise ValueError(f"gemm: B is {b.dtype}{b.shape}, expected {np.dtype(dtype)}{(n, k) if trans_b else (k, n)}")


def _self_check(g: Gemm, dtype) -> bool:
    """Every transpose combination the engine uses, against numpy.dot, on odd sizes."""
    rng = np.random.default_rng(0)
    for ta, tb in ((False, False), (False, True), (True, False)):
        a = rng.normal(size=(7, 5) if ta else (5, 7)).astype(dtype)
        b = rng.normal(size=(3, 7) if tb else (7, 3)).astype(dtype)
        c = rng.normal(size=(5, 3)).astype(dtype)
        want = c - (a.T if ta else a) @ (b.T if tb else b)
        g.bind(a, ta, b, tb, c, -1.0, 1.0)()
        if not np.allclose(c, want, rtol=1e-4 if dtype == np.float32 else 1e-12, atol=0):
            return False
    return True


@cache
def gemm(dtype) -> Gemm | None:
    """NumPy's own BLAS gemm for float32 or float64, or None where it cannot be reached safely."""
    dtype = np.dtype(dtype)
    if os.environ.get("NNCTL_BLAS", "").lower() == "numpy" or dtype not in _SYMBOLS:
        return None
    if sys.byteorder != "little":  # pragma: no cover - the wheels' platforms are little-endian
        return None
    name, scalar = _SYMBOLS[dtype]
    for path in _candidates():
        try:
            fn = getattr(ctypes.CDLL(path), name)
        except (OSError, AttributeError):
            continue
        fn.restype = None
        i64, i32, ptr = ctypes.c_int64, ctypes.c_int, ctypes.c_void_p
        # cblas_?gemm(order, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc), 64-bit ints:
        # declared, so ctypes converts and checks every argument rather than guessing its C type
        fn.argtypes = [i32, i32, i32, i64, i64, i64, scalar, ptr, i64, ptr, i64, scalar, ptr, i64]
        g = Gemm(fn, scalar)
        try:
            if _self_check(g, dtype):
                return g
        except (OSError, ValueError):  # pragma: no cover - a library that fails the check is skipped
            pass
    return None


def reserve() -> None:
    """Have OpenBLAS take its buffers now, before the data does: a product of 256 × 256 matrices
    at each dtype takes every thread's. Under a cap on address space (ulimit -v) OpenBLAS that
    finds no room for them later prints its own message and ends the process with exit 1, where
    nnctl's out-of-memory line and exit 2 belong (docs/data.md)."""
    try:
        for dtype in (np.float64, np.float32):
            a = np.ones((256, 256), dtype)
            a @ a
    except MemoryError:  # no room even now: the command meets it again, inside its guard
        pass
