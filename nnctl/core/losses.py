"""The loss registry. Each loss is a mean over the batch, as PyTorch's default `reduction="mean"`,
or with `reduction="sum"` a sum (the tutorials' loops sum their gradients over the rows); mse with
`half=True` is ½·(ŷ − y)², the tutorials' form whose gradient has no factor 2 (docs/backprop.md).

`bce` and `cross_entropy` are computed from the output layer's logits Z, never from its
probabilities, so they stay finite for any logit. For them the gradient is fused with the output
activation: with a sigmoid output under BCE, or a softmax output under cross-entropy,
dL/dZ = (A − Y) / N exactly, where N is the number of elements (BCE) or rows (CE) averaged over.
`mse` works with any output activation and back-propagates through it.
"""

from __future__ import annotations

import numpy as np

from nnctl.core.activations import Activation, const, log_softmax


class Loss:
    name = ""
    zero = np.array(0.0)
    output: str | None = None  # the output activation this loss requires, if any
    classifier = False
    half = False  # only mse takes it

    def __init__(self, reduction: str = "mean", half: bool = False):
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}")
        if half and self.name != "mse":
            raise ValueError(f"half goes with mse, not {self.name}")
        self.reduction, self.half = reduction, half

    def reduce(self, total: float, count: int) -> float:
        """A sum of `count` per-element (or per-row) losses as the reduction asks."""
        value = total / count if self.reduction == "mean" else total
        return 0.5 * value if self.half else value

    def scale(self, count: int) -> float:
        """The factor `reduce` applies to a sum: what each term's gradient is multiplied by."""
        return (1.0 / count if self.reduction == "mean" else 1.0) * (0.5 if self.half else 1.0)

    def value(self, z: np.ndarray, a: np.ndarray, y: np.ndarray) -> float:
        """The mean loss. z, a: output logits and activations (n, k); y: targets (n, k)."""
        raise TypeError  # pragma: no cover

    def grad(self, z: np.ndarray, a: np.ndarray, y: np.ndarray, act: Activation) -> np.ndarray:
        """dL/dZ of the output layer, shape (n, k)."""
        raise TypeError  # pragma: no cover

    def prepare(self, dtype) -> None:
        """Make the 0-d constants the in-place form uses, once per training run."""
        self.zero = const(0.0, dtype)

    def grad_scale(self, rows: int, units: int) -> float:
        """The factor of dL/dZ (or dL/dA) for a batch of `rows` rows: 1/N for a mean over N numbers."""
        return self.scale(rows * units)

    def value_and_grad_into(self, z, a, y, act: Activation, dz: np.ndarray, act_scratch: np.ndarray,
                            tmp: np.ndarray, ones: np.ndarray, k: np.ndarray) -> float:
        """The training loop's form: the loss, with dL/dZ written into dz. `act_scratch` is the
        output activation's own buffer (a ReLU mask), `tmp` a free buffer shaped like z, `ones` a
        vector of z.size ones (a dot product with it is the fastest sum), `k` the 0-d
        `grad_scale` for this batch size, made once per size."""
        dz[...] = self.grad(z, a, y, act)  # pragma: no cover - every loss overrides it
        return self.value(z, a, y)  # pragma: no cover


class MSE(Loss):
    name = "mse"

    def value(self, z, a, y):
        d = a - y
        return self.reduce(float(np.sum(d * d)), d.size)

    def grad(self, z, a, y, act):
        da = (a - y) * self.grad_scale(*y.shape)
        return act.backward(da.astype(z.dtype, copy=False), z, a)

    def grad_scale(self, rows, units):
        return 2.0 * self.scale(rows * units)  # d(ŷ − y)²/dŷ = 2(ŷ − y); ½ of it when half

    def value_and_grad_into(self, z, a, y, act, dz, act_scratch, tmp, ones, k):
        da = dz if act.aliases_input else tmp  # identity output: dL/dA is dL/dZ
        np.subtract(a, y, da)
        value = self.reduce(float(np.vdot(da, da)), y.size)
        np.multiply(da, k, da)
        act.backward_into(da, z, a, dz, act_scratch)
        return value


class BCE(Loss):
    name = "bce"
    output = "sigmoid"
    classifier = True

    def value(self, z, a, y):
        # −[y·log σ(z) + (1−y)·log(1−σ(z))] = max(z, 0) − z·y + log(1 + e^−|z|)
        return self.reduce(float(np.sum(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))), z.size)

    def grad(self, z, a, y, act):
        return (a - y) * z.dtype.type(self.grad_scale(*y.shape))

    def value_and_grad_into(self, z, a, y, act, dz, act_scratch, tmp, ones, k):
        # The same form as `value`, as two sums of non-negative terms: Σ log(1 + e^−|z|) and
        # Σ (max(z, 0) − z·y). softplus(z) − z·y, summed apart, cancels: in float32 a run near
        # convergence reported 40% too little, and exactly 0 past logits of ~20.
        np.abs(z, tmp)
        np.negative(tmp, tmp)
        np.exp(tmp, tmp)
        np.log1p(tmp, tmp)
        value = float(np.vdot(tmp, ones))
        np.maximum(z, self.zero, out=dz)
        np.multiply(z, y, tmp)
        np.subtract(dz, tmp, dz)
        value = self.reduce(value + float(np.vdot(dz, ones)), y.size)
        np.subtract(a, y, dz)
        np.multiply(dz, k, dz)
        return value


class CrossEntropy(Loss):
    name = "cross_entropy"
    output = "softmax"
    classifier = True

    def value(self, z, a, y):
        # y is one-hot, so −Σ y·log softmax(z) picks each row's class.
        return self.reduce(float(-np.sum(log_softmax(z)[np.arange(z.shape[0]), y.argmax(axis=1)])), z.shape[0])

    def grad(self, z, a, y, act):
        return (a - y) * z.dtype.type(self.grad_scale(*y.shape))

    def grad_scale(self, rows, units):
        return self.scale(rows)  # a mean over rows: each row's loss already sums over its classes

    def prepare(self, dtype) -> None:
        super().prepare(dtype)
        self.one = const(1.0, dtype)

    def value_and_grad_into(self, z, a, y, act, dz, act_scratch, tmp, ones, k):
        # y is one-hot (nnctl encodes classes so), and is read once, in its own memory layout, for
        # each row's class: the workspace keeps z, a and dz feature-major while the batch's targets
        # are row-major, and an elementwise op across the two layouts is ~10x slower with many
        # classes (24 ms against 2 ms for 256 rows of 8 631). Only m cells are then touched:
        # dz = a − y is a, less one at each row's class (bit for bit the same numbers).
        m = z.shape[0]
        cls = y.argmax(axis=1)
        rows = np.arange(m)
        np.subtract(z, z.max(axis=1, keepdims=True), out=tmp)  # log-softmax, from the logits
        np.exp(tmp, dz)
        log_norm = np.log(dz.sum(axis=1))
        value = self.reduce(float(log_norm.sum()) - float(tmp[rows, cls].sum()), m)
        np.copyto(dz, a)
        dz[rows, cls] -= self.one
        np.multiply(dz, k, dz)
        return value


REDUCTIONS = ("mean", "sum")  # PyTorch's names

LOSSES: dict[str, type[Loss]] = {"mse": MSE, "bce": BCE, "cross_entropy": CrossEntropy}


def make_loss(spec) -> Loss:
    """The loss a config's `train.loss` names: a name, or {name, reduction, half} (a mapping or
    the schema's model)."""
    if isinstance(spec, str):
        return LOSSES[spec]()
    spec = spec if isinstance(spec, dict) else spec.model_dump()
    return LOSSES[spec["name"]](spec.get("reduction", "mean"), bool(spec.get("half", False)))
