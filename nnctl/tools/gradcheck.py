"""Central finite differences against backprop, tensor by tensor, in float64.

One routine serves `nnctl gradcheck` and the test suite. A tensor's relative error is
‖g − ĝ‖ / max(‖g‖ + ‖ĝ‖, 1e-12), g from backprop and ĝ from central differences; it passes when
that is ≤ tol. A relative error means nothing for a gradient that is zero (XOR's output bias at
initialisation is exactly 0 by symmetry): there g and ĝ are both round-off and their ratio is
noise. So a tensor also passes when every element agrees within `atol` (as torch's gradcheck
does); `atol=0` leaves the relative rule alone.

Kinks (CS231n's "kinks in the objective"): relu and leaky_relu are not differentiable at 0, and a
plugin may list the points where it is not (`kinks`). When the ±eps evaluations for an element
put some unit's pre-activation on both sides of such a point (or one of them exactly on it), the
central difference averages two different slopes and disagrees with a correct backprop: raw XOR
inputs with zero biases put (0, 0)'s units exactly at ReLU's kink. Such an element is counted as
a kink and left out of its tensor's verdict; `strict=True` judges every element.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from nnctl.core.losses import Loss
from nnctl.core.model import MLP


@dataclass
class ElementCheck:
    index: tuple[int, ...]
    analytic: float
    numeric: float
    abs_error: float
    kink: bool


@dataclass
class TensorCheck:
    name: str
    shape: tuple[int, ...]
    rel_error: float  # over the elements the verdict counts (all of them with strict); NaN: none counted
    max_abs_error: float
    passed: bool
    kinks: int = 0
    elements: list[ElementCheck] = field(default_factory=list)  # largest gap first, when asked for
    verdict: str = ""  # pass | pass (atol) | n/a (kinks) | FAIL: what the pass rests on

    def __post_init__(self):
        if not self.verdict:
            self.verdict = "pass" if self.passed else "FAIL"


@dataclass
class GradcheckReport:
    params: list[TensorCheck]
    tol: float
    eps: float
    samples: int
    atol: float = 0.0
    strict: bool = False

    @property
    def passed(self) -> bool:
        return all(p.passed for p in self.params)

    @property
    def max_rel_error(self) -> float:
        """Over the tensors that were judged (a tensor of kinks only has nothing to say)."""
        return max((p.rel_error for p in self.params if not np.isnan(p.rel_error)), default=0.0)

    @property
    def kinks(self) -> int:
        return sum(p.kinks for p in self.params)

    def as_dict(self) -> dict:
        params = []
        for p in self.params:
            d = {**asdict(p), "shape": list(p.shape)}
            d["elements"] = [{**asdict(e), "index": list(e.index)} for e in p.elements]
            params.append(d)
        return {"passed": self.passed, "max_rel_error": self.max_rel_error, "tol": self.tol,
                "atol": self.atol, "eps": self.eps, "samples": self.samples, "strict": self.strict,
                "kinks": self.kinks, "params": params}


def _crossed(z_plus: list[np.ndarray], z_minus: list[np.ndarray], kinks: list[tuple[float, ...]]) -> bool:
    """Whether some unit's pre-activation lies on both sides of one of its layer's kinks, or on
    it at one evaluation only."""
    for zp, zm, points in zip(z_plus, z_minus, kinks, strict=True):
        for k in points:
            a, b = zp - k, zm - k
            if np.any(a * b < 0) or np.any((a == 0) != (b == 0)):
                return True
    return False


def numeric_gradient(f, p: np.ndarray, eps: float, kinks: list[tuple[float, ...]] | None = None):
    """(f(p + eps·e_i) − f(p − eps·e_i)) / 2eps for every element i of p, changed in place, and a
    mask of the elements whose two evaluations straddle a kink. `f()` returns the objective and,
    when `kinks` names each layer's kink points, every layer's pre-activations Z."""
    g = np.zeros(p.shape, p.dtype)
    mask = np.zeros(p.shape, bool)
    for i in np.ndindex(p.shape):  # p may be a strided view into the model's flat vector
        v = p[i]
        p[i] = v + eps
        fp = f()
        p[i] = v - eps
        fm = f()
        p[i] = v
        if kinks is None:
            g[i] = (fp - fm) / (2 * eps)
        else:
            g[i] = (fp[0] - fm[0]) / (2 * eps)
            mask[i] = _crossed(fp[1], fm[1], kinks)
    return (g, mask) if kinks is not None else g


def relative_error(g: np.ndarray, g_hat: np.ndarray) -> float:
    return float(np.linalg.norm(g - g_hat) / max(np.linalg.norm(g) + np.linalg.norm(g_hat), 1e-12))


def check_gradients(model: MLP, X: np.ndarray, Y: np.ndarray, loss: Loss, weight_decay: float = 0.0,
                    eps: float = 1e-6, tol: float = 1e-6, atol: float = 0.0, strict: bool = False,
                    elements: int | None = None) -> GradcheckReport:
    """Compare backprop with central differences for every parameter tensor (float64).
    `elements`: keep that many per-element comparisons per tensor, largest gap first (-1: all)."""
    model = model.astype(np.float64)
    X, Y = X.astype(np.float64), Y.astype(np.float64)
    _, grads = model.loss_and_grads(X, Y, loss, weight_decay)
    kinks = [tuple(float(k) for k in getattr(a, "kinks", ())) for a in model.activations]

    def objective():
        value, cache = model.objective_and_cache(X, Y, loss, weight_decay)
        return value, cache.Z

    checks = []
    for name, p, g in zip(model.param_names, model.params, grads, strict=True):
        g_hat, kink = numeric_gradient(objective, p, eps, kinks)
        counted = np.ones_like(kink) if strict else ~kink
        gap = np.abs(g - g_hat)
        rel = relative_error(g[counted], g_hat[counted]) if counted.any() else float("nan")
        max_abs = float(gap[counted].max()) if counted.any() else float("nan")
        shown = []
        if elements:
            order = np.argsort(-gap, axis=None, kind="stable")
            order = order if elements < 0 else order[:elements]
            for flat in order:
                idx = np.unravel_index(flat, p.shape)
                shown.append(ElementCheck(tuple(int(i) for i in idx), float(g[idx]), float(g_hat[idx]),
                                          float(gap[idx]), bool(kink[idx])))
        passed, verdict = _verdict(rel, max_abs, tol, atol)
        checks.append(TensorCheck(name, p.shape, rel, max_abs, passed, int(kink.sum()), shown, verdict))
    return GradcheckReport(checks, tol, eps, X.shape[0], atol, strict)


def _verdict(rel: float, max_abs: float, tol: float, atol: float) -> tuple[bool, str]:
    """(passed, verdict): a tensor of kinks only is not judged; one that passes only because every
    gap is below atol says so, since its relative error is round-off (docs/backprop.md)."""
    if np.isnan(rel):
        return True, "n/a (kinks)"
    if rel <= tol:
        return True, "pass"
    if max_abs <= atol:
        return True, "pass (atol)"
    return False, "FAIL"


def float64_trainer(config, overrides: list[str], model=None):
    """The config's trainer in float64 (gradcheck, explain), at a model file's weights if given."""
    from nnctl.config.loader import load_config
    from nnctl.errors import UsageError
    from nnctl.io import modelfile
    from nnctl.plugins import config_plugins
    from nnctl.training import trainer as trainmod
    from nnctl.training.setup import copy_weights

    trainer = trainmod.setup(load_config(config, [*overrides, "train.dtype=float64"]))
    if model is not None:
        mf = modelfile.load(model, plugin_files=config_plugins(trainer.cfg))
        try:
            copy_weights(mf.model.astype(np.float64), trainer.model)
        except ValueError as exc:
            raise UsageError(f"does not fit the config: {exc}", source=f"--model {model}") from None
    return trainer
