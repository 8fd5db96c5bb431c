"""Central finite differences against backprop, tensor by tensor, in float64.

One routine serves `nnctl gradcheck` and the test suite. A tensor's relative error is
‖g − ĝ‖ / max(‖g‖ + ‖ĝ‖, 1e-12), g from backprop and ĝ from central differences; it passes when
that is ≤ tol. A relative error means nothing for a gradient that is zero (XOR's output bias at
initialisation is exactly 0 by symmetry): there g and ĝ are both round-off and their ratio is
noise. So a tensor also passes when every element agrees within `atol` (as torch's gradcheck
does); `atol=0` leaves the relative rule alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .losses import Loss
from .model import MLP


@dataclass
class TensorCheck:
    name: str
    shape: tuple[int, ...]
    rel_error: float
    max_abs_error: float
    passed: bool


@dataclass
class GradcheckReport:
    params: list[TensorCheck]
    tol: float
    eps: float
    samples: int
    atol: float = 0.0

    @property
    def passed(self) -> bool:
        return all(p.passed for p in self.params)

    @property
    def max_rel_error(self) -> float:
        return max(p.rel_error for p in self.params)

    def as_dict(self) -> dict:
        return {"passed": self.passed, "max_rel_error": self.max_rel_error, "tol": self.tol,
                "atol": self.atol, "eps": self.eps, "samples": self.samples,
                "params": [{**asdict(p), "shape": list(p.shape)} for p in self.params]}


def numeric_gradient(f, p: np.ndarray, eps: float) -> np.ndarray:
    """(f(p + eps·e_i) − f(p − eps·e_i)) / 2eps for every element i of p, changed in place."""
    g = np.zeros(p.shape, p.dtype)
    for i in np.ndindex(p.shape):  # p may be a strided view into the model's flat vector
        v = p[i]
        p[i] = v + eps
        fp = f()
        p[i] = v - eps
        fm = f()
        p[i] = v
        g[i] = (fp - fm) / (2 * eps)
    return g


def relative_error(g: np.ndarray, g_hat: np.ndarray) -> float:
    return float(np.linalg.norm(g - g_hat) / max(np.linalg.norm(g) + np.linalg.norm(g_hat), 1e-12))


def check_gradients(model: MLP, X: np.ndarray, Y: np.ndarray, loss: Loss, weight_decay: float = 0.0,
                    eps: float = 1e-6, tol: float = 1e-6, atol: float = 0.0) -> GradcheckReport:
    """Compare backprop with central differences for every parameter tensor (float64)."""
    model = model.astype(np.float64)
    X, Y = X.astype(np.float64), Y.astype(np.float64)
    _, grads = model.loss_and_grads(X, Y, loss, weight_decay)
    checks = []
    for name, p, g in zip(model.param_names, model.params, grads, strict=True):
        g_hat = numeric_gradient(lambda: model.objective(X, Y, loss, weight_decay), p, eps)
        rel = relative_error(g, g_hat)
        max_abs = float(np.max(np.abs(g - g_hat)))
        checks.append(TensorCheck(name, p.shape, rel, max_abs, rel <= tol or max_abs <= atol))
    return GradcheckReport(checks, tol, eps, X.shape[0], atol)
