"""The activation registry: the names users write in YAML, mapped to small classes.

Each activation maps pre-activations Z to activations A (same shape) and back-propagates
dL/dA to dL/dZ. Elementwise activations only need `derivative(z, a)` (dA/dZ, elementwise);
softmax couples a row's units, so it overrides `backward` with its Jacobian-vector product.
"""

from __future__ import annotations

import numpy as np

_CONSTANTS: dict[tuple[float, np.dtype], np.ndarray] = {}


def const(value: float, dtype) -> np.ndarray:
    """A cached 0-d array: NumPy takes its fast path for it, where a Python float costs twice as
    much per call on small arrays (a tiny net makes dozens of such calls per step)."""
    key = (value, np.dtype(dtype))
    c = _CONSTANTS.get(key)
    if c is None:
        c = _CONSTANTS[key] = np.array(value, dtype=dtype)
    return c


class Activation:
    """Subclasses define `forward(z)` and either `derivative(z, a)` or `backward(da, z, a)`.

    The training loop calls the in-place forms `forward_into` and `backward_into`, which write
    into preallocated buffers; `scratch` is a per-layer buffer of the same shape that lives from
    forward to backward (ReLU keeps its mask there). The defaults fall back on the plain forms.
    """

    name = ""
    aliases_input = False  # identity: the activation buffer is Z itself, nothing to compute
    # The in-place forms work with out is z (forward) and out is da (backward), and backward
    # never reads z: a hidden layer can then keep Z, A, dL/dA and dL/dZ in two buffers instead
    # of four, which matters because every buffer is cold after the matrix products between uses.
    in_place = False
    # Points z where the activation is not differentiable: a central difference across one of
    # them disagrees with a correct derivative, and gradcheck counts such an element as a kink.
    kinks: tuple[float, ...] = ()

    def backward(self, da: np.ndarray, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        """dL/dZ from dL/dA for an elementwise activation. Shapes: (n_samples, units)."""
        return da * self.derivative(z, a)

    def prepare(self, dtype) -> None:
        """Make the 0-d constants the in-place forms use, once per training run."""
        self.one, self.zero = const(1.0, dtype), const(0.0, dtype)
        self.slope_k = const(getattr(self, "slope", 0.0), dtype)
        self.keep_k = const(1.0 - getattr(self, "slope", 0.0), dtype)

    def forward_into(self, z: np.ndarray, out: np.ndarray, scratch: np.ndarray) -> None:
        out[...] = self.forward(z)

    def backward_into(self, da, z, a, out: np.ndarray, scratch: np.ndarray) -> None:
        out[...] = self.backward(da, z, a)


class Identity(Activation):
    name = "identity"
    aliases_input = True
    in_place = True

    def forward(self, z):
        return z.copy()

    def derivative(self, z, a):
        return np.ones_like(z)

    def backward(self, da, z, a):
        return da

    def forward_into(self, z, out, scratch):
        if out is not z:
            out[...] = z

    def backward_into(self, da, z, a, out, scratch):
        if out is not da:
            out[...] = da


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^−z), PyTorch's formula; e^−z may overflow to inf, giving exactly 0."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


class Sigmoid(Activation):
    name = "sigmoid"
    in_place = True

    def forward(self, z):
        return sigmoid(z)

    def derivative(self, z, a):
        return a * (1.0 - a)

    def backward(self, da, z, a):
        return da * (1.0 - a) * a  # torch's sigmoid_backward: grad · (1 − y) · y

    def forward_into(self, z, out, scratch):
        np.negative(z, out)
        np.exp(out, out)
        np.add(out, self.one, out)
        np.reciprocal(out, out)

    def backward_into(self, da, z, a, out, scratch):
        np.subtract(self.one, a, scratch)
        np.multiply(scratch, da, scratch)
        np.multiply(scratch, a, out)


class Tanh(Activation):
    name = "tanh"
    in_place = True

    def forward(self, z):
        return np.tanh(z)

    def derivative(self, z, a):
        return 1.0 - a * a

    def forward_into(self, z, out, scratch):
        np.tanh(z, out)

    def backward_into(self, da, z, a, out, scratch):
        np.multiply(a, a, scratch)
        np.subtract(self.one, scratch, scratch)
        np.multiply(da, scratch, out)


class ReLU(Activation):
    name = "relu"
    in_place = True
    kinks = (0.0,)

    def forward(self, z):
        return np.maximum(z, 0)

    def derivative(self, z, a):
        # PyTorch's convention: the derivative at exactly 0 is 0.
        return (z > 0).astype(z.dtype)

    def forward_into(self, z, out, scratch):
        # A float mask kept for backward: a compare and a multiply beat np.maximum, and
        # multiplying by a float mask beats boolean indexing (measured, see benchmarks/).
        np.greater(z, self.zero, scratch)
        np.multiply(z, scratch, out)

    def backward_into(self, da, z, a, out, scratch):
        np.multiply(da, scratch, out)


class LeakyReLU(Activation):
    name = "leaky_relu"
    in_place = True
    kinks = (0.0,)
    slope = 0.01  # PyTorch's and Keras' default negative slope

    def forward(self, z):
        return np.where(z > 0, z, z * z.dtype.type(self.slope))

    def derivative(self, z, a):
        return np.where(z > 0, z.dtype.type(1), z.dtype.type(self.slope))

    def forward_into(self, z, out, scratch):
        np.greater(z, self.zero, scratch)  # 1 or 0, then 1 or 0.01 (exact in float32 and 64)
        np.multiply(scratch, self.keep_k, scratch)
        np.add(scratch, self.slope_k, scratch)
        np.multiply(z, scratch, out)

    def backward_into(self, da, z, a, out, scratch):
        np.multiply(da, scratch, out)


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax; subtracting the row max keeps exp from overflowing."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


class Softmax(Activation):
    name = "softmax"
    in_place = True

    def forward(self, z):
        return softmax(z)

    def backward(self, da, z, a):
        # J^T da for J = diag(a) - a a^T, one row at a time.
        return a * (da - (da * a).sum(axis=1, keepdims=True))

    def forward_into(self, z, out, scratch):
        np.subtract(z, z.max(axis=1, keepdims=True), out=out)
        np.exp(out, out)
        out /= out.sum(axis=1, keepdims=True)


ACTIVATIONS: dict[str, type[Activation]] = {
    "identity": Identity,
    "linear": Identity,  # Keras' name for the same thing
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "softmax": Softmax,
}


# What an output activation can produce: a target outside it can never be reached.
OUTPUT_RANGES = {"sigmoid": (0.0, 1.0), "softmax": (0.0, 1.0), "tanh": (-1.0, 1.0)}


def unreachable_targets(activation: str, Y) -> str | None:
    """Why the output activation cannot fit these targets, or None when it can: a sigmoid output
    under mse asked for y = 5 stays below 1 however long it trains."""
    bounds = OUTPUT_RANGES.get(activation)
    if bounds is None or Y.size == 0:
        return None
    lo, hi = float(Y.min()), float(Y.max())
    if bounds[0] <= lo and hi <= bounds[1]:
        return None
    return (f"the targets run from {lo:.6g} to {hi:.6g}, but a {activation} output lies in "
            f"[{bounds[0]:g}, {bounds[1]:g}]: it cannot reach them (an identity output can)")


class PluginActivation(Activation):
    """Wraps a user's class that has `forward(z)` and `derivative(z, a)`; checks what it returns."""

    def __init__(self, obj, spec: str):
        self.obj = obj
        self.name = spec
        self.spec = spec
        self.kinks = _kinks_of(obj, spec)

    def _check(self, what: str, out, z: np.ndarray) -> np.ndarray:
        from nnctl.errors import PluginError

        out = np.asarray(out)
        if out.shape != z.shape:
            raise PluginError(f"{what} returned shape {out.shape}, expected {z.shape} "
                              "(an elementwise activation keeps the shape)", source=self.spec)
        if not np.issubdtype(out.dtype, np.floating):
            raise PluginError(f"{what} returned dtype {out.dtype}, expected floats", source=self.spec)
        return out.astype(z.dtype, copy=False)

    def _call(self, what: str, fn, *args) -> np.ndarray:
        from nnctl.errors import PluginError

        try:
            out = fn(*args)
        except Exception as exc:  # the user's code may raise anything
            raise PluginError(f"{what} raised {type(exc).__name__}: {exc}", source=self.spec) from exc
        return self._check(what, out, args[0])

    def forward(self, z):
        return self._call("forward(z)", self.obj.forward, z)

    def derivative(self, z, a):
        return self._call("derivative(z, a)", self.obj.derivative, z, a)


def _kinks_of(obj, spec: str) -> tuple[float, ...]:
    """A plugin's optional `kinks`: the points where it is not differentiable, as finite numbers."""
    import math

    from nnctl.errors import PluginError

    raw = getattr(obj, "kinks", ())
    try:
        points = tuple(float(k) for k in raw)
    except (TypeError, ValueError):
        raise PluginError(f"kinks must be a list of numbers (where the activation is not "
                          f"differentiable), got {raw!r}", source=spec) from None
    if not all(math.isfinite(k) for k in points):
        raise PluginError(f"kinks must be finite numbers, got {raw!r}", source=spec)
    return points
