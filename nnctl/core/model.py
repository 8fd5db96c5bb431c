"""The MLP: parameters, a forward pass that caches what backward needs, and backward.

Layer i computes Z_i = A_i @ W_i + b_i and A_{i+1} = act_i(Z_i), with A_0 = X.
Shapes: X (n_samples, n_features); W_i (fan_in, fan_out); b_i (fan_out,); Z_i, A_{i+1} (n, fan_out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnctl.core.activations import Activation
from nnctl.core.losses import Loss


def _xavier(rng, fan_in, fan_out, shape):  # Glorot & Bengio (2010), uniform
    a = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, shape)


def _he(rng, fan_in, fan_out, shape):  # He et al. (2015), normal: keeps ReLU activations' variance
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)


def _normal(rng, fan_in, fan_out, shape, std=None):  # LeCun normal: std 1/sqrt(fan_in), or the std given
    return rng.normal(0.0, 1.0 / np.sqrt(fan_in) if std is None else std, shape)


def _uniform(rng, fan_in, fan_out, shape, limit=None):  # PyTorch nn.Linear's default weight init, or ±limit
    a = 1.0 / np.sqrt(fan_in) if limit is None else limit
    return rng.uniform(-a, a, shape)


def _zeros(rng, fan_in, fan_out, shape):
    return np.zeros(shape)


INITIALIZERS = {"xavier": _xavier, "he": _he, "normal": _normal, "uniform": _uniform, "zeros": _zeros}
BLOCK_ROWS = 8192  # rows a forward pass over many rows takes at once (predict, evaluations): larger
# blocks left tens of MB more resident after a streamed run's evaluation of 200 000 rows


def standardize_in_place(X: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """X's rows scaled to (X - mean) / std in place, BLOCK_ROWS rows at a time, computed in
    float64 whatever X's dtype: the arithmetic's temporaries stay a block's size, never X's."""
    for a in range(0, X.shape[0], BLOCK_ROWS):
        X[a:a + BLOCK_ROWS] = (X[a:a + BLOCK_ROWS] - mean) / std
    return X


def _draw(init, rng, fan_in: int, fan_out: int, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """`shape` defaults to the weights' (fan_in, fan_out); a bias drawn as the weights are is (fan_out,)
    at the same scale."""
    shape = (fan_in, fan_out) if shape is None else shape
    if isinstance(init, str):
        return INITIALIZERS[init](rng, fan_in, fan_out, shape)
    scale = {k: v for k, v in init.items() if k in ("std", "limit") and v is not None}
    return INITIALIZERS[init["name"]](rng, fan_in, fan_out, shape, **scale)


def _bias(init, rng, fan_in: int, fan_out: int) -> np.ndarray:
    """Zeros, or with `bias: same` drawn right after the layer's weights, as the tutorials draw theirs."""
    if isinstance(init, dict) and init.get("bias") == "same":
        return _draw(init, rng, fan_in, fan_out, (fan_out,))
    return np.zeros(fan_out)


@dataclass
class Cache:
    """What forward keeps for backward: inputs of every layer (A) and pre-activations (Z)."""

    A: list[np.ndarray]
    Z: list[np.ndarray]


def layer_blocks(flat: np.ndarray, shapes: list[tuple[int, int]]) -> list[np.ndarray]:
    """Each layer's weights and bias as one 2-D view into a flat buffer, in layer order.

    Layer i ≥ 1 is [W_i; b_i], (fan_in + 1, fan_out): its bias row follows its weights. The first
    layer is stored transposed, [W_0ᵀ | b_0], (fan_out, fan_in + 1): its products meet the batch
    as gathered, row by row, and BLAS runs them with faster kernels that way (measured on the
    784-512-512-10 net: 3–5% of an epoch)."""
    out, at = [], 0
    for i, (fan_in, fan_out) in enumerate(shapes):
        size = (fan_in + 1) * fan_out
        out.append(flat[at:at + size].reshape((fan_out, fan_in + 1) if i == 0 else (fan_in + 1, fan_out)))
        at += size
    return out


def flat_views(flat: np.ndarray, shapes: list[tuple[int, int]]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Views W_i (fan_in, fan_out) and b_i (fan_out,) into a flat buffer laid out by `layer_blocks`
    (W_0 and b_0 are strided views: that layer is stored transposed)."""
    W, b = [], []
    for i, block in enumerate(layer_blocks(flat, shapes)):
        if i == 0:
            W.append(block[:, :-1].T)
            b.append(block[:, -1])
        else:
            W.append(block[:-1])
            b.append(block[-1])
    return W, b


class MLP:
    """All parameters live in one contiguous vector `flat`; `W` and `b` are views into it, so an
    optimizer updates every tensor with a handful of NumPy calls, however many layers there are.
    (The layout is `layer_blocks`'; anything outside the engine goes through `W`, `b` and `params`.)"""

    def __init__(self, weights: list[np.ndarray], biases: list[np.ndarray],
                 activations: list[Activation]):
        if not (len(weights) == len(biases) == len(activations)):
            raise ValueError("one weight, bias and activation per layer")
        dtype = np.result_type(*weights, *biases)
        self.shapes = [w.shape for w in weights]
        self.flat = np.empty(sum(w.size + len(bb) for w, bb in zip(weights, biases, strict=True)), dtype)
        self.W, self.b = flat_views(self.flat, self.shapes)
        for dst, src in zip(self.W + self.b, list(weights) + list(biases), strict=True):
            dst[...] = src
        self.activations = activations

    @classmethod
    def initialize(cls, n_features: int, units: list[int], inits: list,
                   activations: list[Activation], rng: np.random.Generator,
                   dtype=np.float64) -> MLP:
        """Weights drawn in float64 (so float32 runs start from the same values), biases zero
        unless the init says `bias: same`. Each init is a name or a mapping {name, std or limit, bias}."""
        sizes = [n_features, *units]
        W, b = [], []
        for init, fi, fo in zip(inits, sizes[:-1], sizes[1:], strict=True):
            W.append(_draw(init, rng, fi, fo).astype(dtype))
            b.append(_bias(init, rng, fi, fo).astype(dtype))
        return cls(W, b, activations)

    @property
    def params(self) -> list[np.ndarray]:
        """[W0, b0, W1, b1, …]: the order of the model file and of the optimizer's state."""
        return [p for pair in zip(self.W, self.b, strict=True) for p in pair]

    @property
    def param_names(self) -> list[str]:
        return [f"{k}{i}" for i in range(len(self.W)) for k in ("W", "b")]

    @property
    def dtype(self):
        return self.W[0].dtype

    @property
    def n_parameters(self) -> int:
        return sum(p.size for p in self.params)

    def astype(self, dtype) -> MLP:
        """A copy in another dtype (or the same one)."""
        return MLP([w.astype(dtype) for w in self.W], [b.astype(dtype) for b in self.b],
                   self.activations)

    def decay_mask(self, weight_decay: float) -> np.ndarray:
        """weight_decay on every weight's slot of `flat`, 0 on the biases'."""
        mask = np.zeros_like(self.flat)
        for W in flat_views(mask, self.shapes)[0]:
            W[...] = weight_decay
        return mask

    def forward(self, X: np.ndarray, keep: bool = False) -> tuple[np.ndarray, Cache | None]:
        """Output activations (n, n_outputs); with keep=True, also the cache for backward."""
        A, As, Zs = X, [X], []
        for W, b, act in zip(self.W, self.b, self.activations, strict=True):
            Z = A @ W
            Z += b
            A = act.forward(Z)
            if keep:
                Zs.append(Z)
                As.append(A)
        return A, (Cache(As, Zs) if keep else None)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Output activations, BLOCK_ROWS rows at a time: a layer's activations for millions of
        rows would cost more memory than the rows themselves."""
        if X.shape[0] <= BLOCK_ROWS:
            return self.forward(X)[0]
        out = np.empty((X.shape[0], self.W[-1].shape[1]), np.result_type(X.dtype, self.W[-1].dtype))
        for a in range(0, X.shape[0], BLOCK_ROWS):
            out[a:a + BLOCK_ROWS] = self.forward(X[a:a + BLOCK_ROWS])[0]
        return out

    def loss_in_blocks(self, loss: Loss, X: np.ndarray, Y, each=None, rows: int | None = None) -> float:
        """The loss on rows X and targets Y (an array, or a function (start, stop) → that block's
        targets), a block of `rows` (BLOCK_ROWS) rows at a time, as one pass over every row gives it
        up to round-off; each(start, outputs, targets) sees every block. A pass over every row at
        once would hold each layer's values for all of them."""
        n, step = X.shape[0], rows or BLOCK_ROWS
        total = 0.0
        for a in range(0, n, step):
            out, cache = self.forward(X[a:a + step], keep=True)
            yb = Y(a, a + out.shape[0]) if callable(Y) else Y[a:a + step]
            value = loss.value(cache.Z[-1], out, yb)
            total += value * out.shape[0] if loss.reduction == "mean" else value
            if each is not None:
                each(a, out, yb)
        return total / max(n, 1) if loss.reduction == "mean" else total

    def backward(self, cache: Cache, Y: np.ndarray, loss: Loss,
                 weight_decay: float = 0.0, trace: list | None = None) -> list[np.ndarray]:
        """Gradients of the loss (plus weight_decay/2·ΣW²) in `params` order. With a `trace`
        list, each layer's intermediates are appended to it, output layer first: {layer, dZ, dW,
        db, dA_prev} (`nnctl explain` shows these very numbers)."""
        L = len(self.W)
        grads: list[np.ndarray] = [None] * (2 * L)  # type: ignore[list-item]
        dZ = loss.grad(cache.Z[-1], cache.A[-1], Y, self.activations[-1])
        for i in range(L - 1, -1, -1):
            gW = cache.A[i].T @ dZ
            if weight_decay:
                gW += weight_decay * self.W[i]
            grads[2 * i] = gW
            grads[2 * i + 1] = dZ.sum(axis=0)
            dA = dZ @ self.W[i].T if i else None
            if trace is not None:
                trace.append({"layer": i, "dZ": dZ, "dW": gW, "db": grads[2 * i + 1], "dA_prev": dA})
            if i:
                dZ = self.activations[i - 1].backward(dA, cache.Z[i - 1], cache.A[i])
        return grads

    def objective(self, X: np.ndarray, Y: np.ndarray, loss: Loss, weight_decay: float = 0.0) -> float:
        """The loss that backward differentiates: data loss plus the L2 penalty."""
        return self.objective_and_cache(X, Y, loss, weight_decay)[0]

    def objective_and_cache(self, X, Y, loss: Loss, weight_decay: float = 0.0) -> tuple[float, Cache]:
        """The objective and the forward pass's cache (every layer's Z and A)."""
        out, cache = self.forward(X, keep=True)
        value = loss.value(cache.Z[-1], out, Y)
        if weight_decay:
            value += 0.5 * weight_decay * sum(float(np.sum(W * W)) for W in self.W)
        return value, cache

    def loss_and_grads(self, X, Y, loss: Loss, weight_decay: float = 0.0):
        out, cache = self.forward(X, keep=True)
        value = loss.value(cache.Z[-1], out, Y)
        return value, self.backward(cache, Y, loss, weight_decay)
