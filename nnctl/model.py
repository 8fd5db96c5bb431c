"""The MLP: parameters, a forward pass that caches what backward needs, and backward.

Layer i computes Z_i = A_i @ W_i + b_i and A_{i+1} = act_i(Z_i), with A_0 = X.
Shapes: X (n_samples, n_features); W_i (fan_in, fan_out); b_i (fan_out,); Z_i, A_{i+1} (n, fan_out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .activations import Activation
from .losses import Loss


def _xavier(rng, fan_in, fan_out):  # Glorot & Bengio (2010), uniform
    a = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, (fan_in, fan_out))


def _he(rng, fan_in, fan_out):  # He et al. (2015), normal: keeps ReLU activations' variance
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), (fan_in, fan_out))


def _normal(rng, fan_in, fan_out):  # LeCun normal: std 1/sqrt(fan_in)
    return rng.normal(0.0, 1.0 / np.sqrt(fan_in), (fan_in, fan_out))


def _uniform(rng, fan_in, fan_out):  # PyTorch nn.Linear's default weight init
    a = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-a, a, (fan_in, fan_out))


def _zeros(rng, fan_in, fan_out):
    return np.zeros((fan_in, fan_out))


INITIALIZERS = {"xavier": _xavier, "he": _he, "normal": _normal, "uniform": _uniform, "zeros": _zeros}


@dataclass
class Cache:
    """What forward keeps for backward: inputs of every layer (A) and pre-activations (Z)."""

    A: list[np.ndarray]
    Z: list[np.ndarray]


class MLP:
    def __init__(self, weights: list[np.ndarray], biases: list[np.ndarray],
                 activations: list[Activation]):
        if not (len(weights) == len(biases) == len(activations)):
            raise ValueError("one weight, bias and activation per layer")
        self.W = weights
        self.b = biases
        self.activations = activations

    @classmethod
    def initialize(cls, n_features: int, units: list[int], inits: list[str],
                   activations: list[Activation], rng: np.random.Generator,
                   dtype=np.float64) -> MLP:
        """Weights drawn in float64 (so float32 runs start from the same values), biases zero."""
        sizes = [n_features, *units]
        W = [INITIALIZERS[init](rng, fi, fo).astype(dtype)
             for init, fi, fo in zip(inits, sizes[:-1], sizes[1:], strict=True)]
        b = [np.zeros(fo, dtype=dtype) for fo in units]
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
        return MLP([w.astype(dtype) for w in self.W], [b.astype(dtype) for b in self.b],
                   self.activations)

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
        return self.forward(X)[0]

    def backward(self, cache: Cache, Y: np.ndarray, loss: Loss,
                 weight_decay: float = 0.0) -> list[np.ndarray]:
        """Gradients of the loss (plus weight_decay/2·ΣW²) in `params` order."""
        L = len(self.W)
        grads: list[np.ndarray] = [None] * (2 * L)  # type: ignore[list-item]
        dZ = loss.grad(cache.Z[-1], cache.A[-1], Y, self.activations[-1])
        for i in range(L - 1, -1, -1):
            gW = cache.A[i].T @ dZ
            if weight_decay:
                gW += weight_decay * self.W[i]
            grads[2 * i] = gW
            grads[2 * i + 1] = dZ.sum(axis=0)
            if i:
                dA = dZ @ self.W[i].T
                dZ = self.activations[i - 1].backward(dA, cache.Z[i - 1], cache.A[i])
        return grads

    def objective(self, X: np.ndarray, Y: np.ndarray, loss: Loss, weight_decay: float = 0.0) -> float:
        """The loss that backward differentiates: data loss plus the L2 penalty."""
        out, cache = self.forward(X, keep=True)
        value = loss.value(cache.Z[-1], out, Y)
        if weight_decay:
            value += 0.5 * weight_decay * sum(float(np.sum(W * W)) for W in self.W)
        return value

    def loss_and_grads(self, X, Y, loss: Loss, weight_decay: float = 0.0):
        out, cache = self.forward(X, keep=True)
        value = loss.value(cache.Z[-1], out, Y)
        return value, self.backward(cache, Y, loss, weight_decay)
