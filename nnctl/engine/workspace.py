"""The fast path of a training step: preallocated buffers, fused loss gradients and (on larger
nets) plain SGD's update inside the matrix products. Computes what `nnctl.core.model.MLP`'s
forward and backward compute (tests/engine compare them); the readable version lives there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from nnctl.core.losses import Loss
from nnctl.core.model import MLP, layer_blocks

if TYPE_CHECKING:
    from nnctl.engine.blas import Gemm


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
