"""The MLP: parameters, a forward pass that caches what backward needs, and backward.

Layer i computes Z_i = A_i @ W_i + b_i and A_{i+1} = act_i(Z_i), with A_0 = X.
Shapes: X (n_samples, n_features); W_i (fan_in, fan_out); b_i (fan_out,); Z_i, A_{i+1} (n, fan_out).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nnctl.core.activations import Activation
from nnctl.core.losses import Loss

if TYPE_CHECKING:
    from nnctl.engine.blas import Gemm


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
        return self.forward(X)[0]

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


class _Buffers:
    """One batch size's buffers, stored feature-major: (units, m), so every block below is
    C-contiguous and BLAS can write into it directly.

    Layer i's activations live in the first rows of H[i], whose last row is all ones: the next
    layer then computes Z = [W; b]ᵀ·[A; 1], its bias folded into the matrix product, and the
    product backwards yields [gW; gb] at once. (W_i and b_i are adjacent in `flat`, so [W_i; b_i]
    is one view; see `layer_blocks`. The first layer's input is the batch itself, (m, n_features
    + 1) with its column of ones, and its block is stored transposed to meet it.)"""

    def __init__(self, model: MLP, m: int, WbT: list[np.ndarray], gWb: list[np.ndarray], loss: Loss,
                 grad_scale: float = 1.0, gemm: Gemm | None = None):
        dt = model.dtype
        units = [w.shape[1] for w in model.W]
        self.H = [np.ones((u + 1, m), dt) for u in units[:-1]]
        self.A = [h[:-1] for h in self.H] + [np.empty((units[-1], m), dt)]
        acts = model.activations
        # A hidden layer whose activation works in place keeps Z in A's buffer and dL/dA in
        # dL/dZ's; the output layer keeps its logits, which the loss reads, unless it is the identity.
        shared = [act.in_place for act in acts[:-1]] + [acts[-1].aliases_input]
        self.Z = [a if same else np.empty_like(a) for a, same in zip(self.A, shared, strict=True)]
        self.S = [np.empty_like(a) for a in self.A]  # each activation's scratch (ReLU's mask)
        self.dZ = [np.empty_like(a) for a in self.A]
        self.dA = [dz if same else np.empty_like(dz) for dz, same in zip(self.dZ[:-1], shared[:-1], strict=True)]
        self.tmp = np.empty_like(self.A[-1])
        self.ones = np.ones(self.tmp.size, dt)  # for sums as dot products (faster than .sum())
        # the (m, units) views that activations and losses work on, made once
        self.ZT, self.AT, self.ST, self.dZT = ([x.T for x in g] for g in (self.Z, self.A, self.S, self.dZ))
        self.dAT = [x.T for x in self.dA]
        self.tmpT = self.tmp.T
        # What a step does, layer by layer, as tuples of prebound arrays and methods: a tiny net's
        # step is a few microseconds, and indexing a dozen lists per layer would be a third of it.
        W, L, ZT, AT, ST, dZT, dAT = model.W, len(acts), self.ZT, self.AT, self.ST, self.dZT, self.dAT
        self.first = (WbT[0], self.Z[0], acts[0].forward_into, ZT[0], AT[0], ST[0], gWb[0], self.dZ[0])
        self.forward = [(WbT[i], self.H[i - 1], self.Z[i], acts[i].forward_into, ZT[i], AT[i], ST[i])
                        for i in range(1, L)]
        # the loss gradient's factor, times the workspace's grad_scale; its own 0-d array, updated in place
        self.k_base = loss.grad_scale(m, units[-1])
        self.k = np.array(self.k_base * grad_scale, dt)
        self.loss = (loss.value_and_grad_into, ZT[-1], AT[-1], acts[-1], dZT[-1], ST[-1], self.tmpT, self.ones,
                     self.k)
        self.backward = [(self.H[i - 1], dZT[i], gWb[i], W[i], self.dZ[i], self.dA[i - 1], acts[i - 1].backward_into,
                          dAT[i - 1], ZT[i - 1], AT[i - 1], dZT[i - 1], ST[i - 1]) for i in range(L - 1, 0, -1)]
        self.fused = self.update_first = None
        if gemm is not None:  # Workspace.fuse_update: [W; b] ← [W; b] − H·dZᵀ, and W₀'s block ← it − dZ₀·Xa
            self.fused = [(gemm.bind(H, False, dZ, True, WbT[i].T, -1.0, 1.0), W, dZ, dA, backward, dAT, ZT, AT,
                           dZT_in, ST)
                          for i, (H, _, _, W, dZ, dA, backward, dAT, ZT, AT, dZT_in, ST)
                          in zip(range(L - 1, 0, -1), self.backward, strict=True)]
            self.update_first = gemm.bind(self.dZ[0], False, None, False, WbT[0], -1.0, 1.0)


# From this many parameters on, plain SGD's update goes inside the products (Workspace.fuse_update).
# Measured per epoch against the separate update: 0.89× at 1,674 parameters, 0.96× at 5,898,
# 1.05× at 22,026, 1.07× at 85,002 (the medium case), 1.05–1.14× at 669,706 (the large one).
FUSE_MIN_PARAMS = 16384


class Workspace:
    """Preallocated buffers for training steps on batches of at most `rows` rows.

    `step(Xa, Y)` runs forward, the fused loss gradient and backward with `out=` everywhere and
    leaves the gradient in `grad`, a flat vector laid out like `model.flat`. Nothing is allocated
    per step; a second set of buffers serves a smaller last batch. Activations and losses see
    the usual (m, units) orientation through transposed views.
    """

    def __init__(self, model: MLP, loss: Loss, rows: int, weight_decay: float = 0.0):
        self.model, self.loss = model, loss
        for part in (*model.activations, loss):
            part.prepare(model.dtype)
        self.grad = np.empty_like(model.flat)
        blocks = layer_blocks(model.flat, model.shapes)
        # what multiplies a layer's input: [W; b]ᵀ, which the first layer stores as it is
        self.WbT = [blocks[0]] + [w.T for w in blocks[1:]]
        self.gWb = layer_blocks(self.grad, model.shapes)
        self.decay = model.decay_mask(weight_decay) if weight_decay else None
        self.decay_tmp = np.empty_like(model.flat) if weight_decay else None
        self._sizes: dict[int, _Buffers] = {}
        self.grad_scale = 1.0
        self.gemm: Gemm | None = None
        self._buffers(rows)
        self.output = None

    def _buffers(self, m: int) -> _Buffers:
        buf = self._sizes[m] = _Buffers(self.model, m, self.WbT, self.gWb, self.loss, self.grad_scale, self.gemm)
        return buf

    def fuse_update(self) -> bool:
        """From now on `step` also applies plain SGD's update, W ← W − grad_scale·g, and leaves
        `grad` alone: each weight gradient is subtracted from its weights inside its own product
        (BLAS gemm with β = 1, see `blas`), after the product that reads the old weights. Saves the
        update's pass over every parameter; worth it from FUSE_MIN_PARAMS parameters on, where it
        outweighs a microsecond per call through ctypes. Returns False, changing nothing, where
        NumPy's BLAS cannot be reached, with weight decay, or on a smaller net."""
        from nnctl.engine import blas

        if self.decay is not None or self.model.flat.size < FUSE_MIN_PARAMS:
            return False
        self.gemm = blas.gemm(self.model.dtype)
        if self.gemm is None:
            return False
        for m in list(self._sizes):
            self._buffers(m)
        return True

    def set_grad_scale(self, scale: float) -> None:
        """Make `step` leave scale × the gradient in `grad`: the backward pass is linear in the
        loss gradient, so the factor costs nothing there (plain SGD folds its learning rate in and
        its update becomes one subtraction). Not with weight decay, whose term is added unscaled."""
        if self.decay is not None and scale != 1.0:
            raise ValueError("grad_scale with weight decay")
        self.grad_scale = scale
        for buf in self._sizes.values():
            buf.k[...] = buf.k_base * scale

    def step(self, Xa: np.ndarray, Y: np.ndarray) -> float:
        """Loss of the batch Xa (m, n_features + 1: the inputs and a column of ones), Y (m, n_outputs);
        its gradient, times `grad_scale`, goes to `grad` — or, once `fuse_update` is on, is
        subtracted from the weights; `output` is left holding the network's outputs (m, n_outputs)."""
        m = Xa.shape[0]
        buf = self._sizes.get(m) or self._buffers(m)
        WbT0, Z0, forward0, ZT0, AT0, ST0, gWb0, dZ0 = buf.first
        dot(WbT0, Xa.T, Z0)
        forward0(ZT0, AT0, ST0)
        for WbT, H, Z, forward, ZT, AT, ST in buf.forward:
            dot(WbT, H, Z)
            forward(ZT, AT, ST)
        loss, ZT, AT, act, dZT, ST, tmpT, ones, k = buf.loss
        self.output = AT
        value = loss(ZT, AT, Y, act, dZT, ST, tmpT, ones, k)
        fused = buf.fused
        if fused is None:
            for H, dZT, gWb, W, dZ, dA, backward, dAT, ZT, AT, dZT_in, ST in buf.backward:
                dot(H, dZT, gWb)
                dot(W, dZ, dA)
                backward(dAT, ZT, AT, dZT_in, ST)
            dot(dZ0, Xa, gWb0)  # [gW_0ᵀ | gb_0], the first layer's transposed layout
            if self.decay is not None:
                np.multiply(self.model.flat, self.decay, out=self.decay_tmp)
                self.grad += self.decay_tmp
            return value
        # fused: each layer's input gradient reads its old weights, then they are updated
        for update, W, dZ, dA, backward, dAT, ZT, AT, dZT_in, ST in fused:
            dot(W, dZ, dA)
            update()
            backward(dAT, ZT, AT, dZT_in, ST)
        buf.update_first(Xa)
        return value


dot = np.dot  # a module global: one lookup per call fewer, on the tiny net's hot path
