"""The loss registry. Each loss is a mean over the batch, as PyTorch's default `reduction="mean"`.

`bce` and `cross_entropy` are computed from the output layer's logits Z, never from its
probabilities, so they stay finite for any logit. For them the gradient is fused with the output
activation: with a sigmoid output under BCE, or a softmax output under cross-entropy,
dL/dZ = (A − Y) / N exactly, where N is the number of elements (BCE) or rows (CE) averaged over.
`mse` works with any output activation and back-propagates through it.
"""

from __future__ import annotations

import numpy as np

from .activations import Activation, log_softmax


class Loss:
    name = ""
    output: str | None = None  # the output activation this loss requires, if any
    classifier = False

    def value(self, z: np.ndarray, a: np.ndarray, y: np.ndarray) -> float:
        """The mean loss. z, a: output logits and activations (n, k); y: targets (n, k)."""
        raise TypeError  # pragma: no cover

    def grad(self, z: np.ndarray, a: np.ndarray, y: np.ndarray, act: Activation) -> np.ndarray:
        """dL/dZ of the output layer, shape (n, k)."""
        raise TypeError  # pragma: no cover


class MSE(Loss):
    name = "mse"

    def value(self, z, a, y):
        d = a - y
        return float(np.mean(d * d))

    def grad(self, z, a, y, act):
        da = (a - y) * (2.0 / y.size)
        return act.backward(da.astype(z.dtype, copy=False), z, a)


class BCE(Loss):
    name = "bce"
    output = "sigmoid"
    classifier = True

    def value(self, z, a, y):
        # −[y·log σ(z) + (1−y)·log(1−σ(z))] = max(z, 0) − z·y + log(1 + e^−|z|)
        return float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))

    def grad(self, z, a, y, act):
        return (a - y) * z.dtype.type(1.0 / y.size)


class CrossEntropy(Loss):
    name = "cross_entropy"
    output = "softmax"
    classifier = True

    def value(self, z, a, y):
        # y is one-hot, so −Σ y·log softmax(z) picks each row's class.
        return float(-np.sum(log_softmax(z) * y) / z.shape[0])

    def grad(self, z, a, y, act):
        return (a - y) * z.dtype.type(1.0 / z.shape[0])


LOSSES: dict[str, type[Loss]] = {"mse": MSE, "bce": BCE, "cross_entropy": CrossEntropy}
