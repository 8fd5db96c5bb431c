"""Optimizers, in order of increasing complexity, with PyTorch's exact update formulas.

Each keeps its state in plain attributes (lists of arrays, one per parameter tensor) and updates
the parameters in place in `step`. The trainer hands them one flat vector holding every weight
and bias, so a step costs a handful of NumPy calls whatever the depth of the net. Scalars are
kept as 0-d arrays of the parameters' dtype: NumPy's fast path for them is twice as quick as for
Python floats on tiny arrays, and the result is the same (a float32 run stays float32).

`step` consumes the gradients: it overwrites them with intermediate values once it has read
them. The training loop recomputes them every batch, and on a large net every array a step
touches is cold after the matrix products, so a scratch array fewer is a third faster (measured
on 669,706 float32 parameters right after a GEMM: 282 µs against 453 µs for plain SGD).
"""

from __future__ import annotations

import math

import numpy as np


class Optimizer:
    state_names: tuple[str, ...] = ()

    def __init__(self, params: list[np.ndarray], lr: float):
        if lr < 0:
            raise ValueError(f"Invalid learning rate: {lr}")
        self.params = params
        self.dtype = params[0].dtype
        self.t = 0  # steps taken
        self.lr = lr

    @property
    def lr(self) -> float:
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = value
        self._lr_arr = self._k(value)

    def _k(self, value: float) -> np.ndarray:
        return np.array(value, dtype=self.dtype)

    def state(self) -> dict[str, list[np.ndarray] | int]:
        """Everything a resumed run needs to continue exactly."""
        return {"t": self.t, **{k: getattr(self, k) for k in self.state_names}}

    def load_state(self, state: dict) -> None:
        self.t = int(state["t"])
        for k in self.state_names:
            for dst, src in zip(getattr(self, k), state[k], strict=True):
                dst[...] = src


class SGD(Optimizer):
    """v ← μ·v + g; W ← W − lr·v (Nesterov: W ← W − lr·(g + μ·v))."""

    state_names = ("velocity",)

    def __init__(self, params, lr: float, momentum: float = 0.0, nesterov: bool = False):
        super().__init__(params, lr)
        self.momentum = momentum
        self.nesterov = nesterov
        self._mu = self._k(momentum)
        self.velocity = [np.zeros_like(p) for p in params] if momentum else []
        self.tmp = [np.empty_like(p) for p in params] if nesterov else []

    def step(self, grads: list[np.ndarray]) -> None:
        self.t += 1
        lr, mu = self._lr_arr, self._mu
        if not self.momentum:
            for p, g in zip(self.params, grads, strict=True):
                np.multiply(g, lr, g)
                np.subtract(p, g, p)
            return
        if self.nesterov:
            for p, g, v, tmp in zip(self.params, grads, self.velocity, self.tmp, strict=True):
                np.multiply(v, mu, v)
                np.add(v, g, v)
                np.multiply(v, mu, tmp)
                np.add(tmp, g, tmp)
                np.multiply(tmp, lr, tmp)
                np.subtract(p, tmp, p)
            return
        for p, g, v in zip(self.params, grads, self.velocity, strict=True):
            np.multiply(v, mu, v)
            np.add(v, g, v)
            np.multiply(v, lr, g)
            np.subtract(p, g, p)


class RMSprop(Optimizer):
    """s ← α·s + (1−α)·g²; W ← W − lr·g / (√s + eps)."""

    state_names = ("square_avg",)

    def __init__(self, params, lr: float, alpha: float = 0.99, eps: float = 1e-8):
        super().__init__(params, lr)
        self.alpha, self.eps = alpha, eps
        self._alpha, self._one_minus_alpha, self._eps = self._k(alpha), self._k(1 - alpha), self._k(eps)
        self.square_avg = [np.zeros_like(p) for p in params]
        self.tmp = [np.empty_like(p) for p in params]

    def step(self, grads):
        self.t += 1
        for p, g, s, tmp in zip(self.params, grads, self.square_avg, self.tmp, strict=True):
            np.multiply(s, self._alpha, s)
            np.multiply(g, g, tmp)
            np.multiply(tmp, self._one_minus_alpha, tmp)
            np.add(s, tmp, s)
            np.sqrt(s, tmp)
            np.add(tmp, self._eps, tmp)
            np.multiply(g, self._lr_arr, g)  # torch's addcdiv: (lr·g) / (√s + eps)
            np.divide(g, tmp, g)
            np.subtract(p, g, p)


class Adam(Optimizer):
    """Kingma & Ba with bias correction, as torch.optim.Adam computes it:
    W ← W − (lr / (1−β1^t)) · m / (√v / √(1−β2^t) + eps)."""

    state_names = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8):
        super().__init__(params, lr)
        self.beta1, self.beta2 = betas
        self.eps = eps
        self._1mb1, self._b2, self._1mb2, self._eps = (self._k(1 - self.beta1), self._k(self.beta2),
                                                       self._k(1 - self.beta2), self._k(eps))
        self.exp_avg = [np.zeros_like(p) for p in params]
        self.exp_avg_sq = [np.zeros_like(p) for p in params]
        self.tmp = [np.empty_like(p) for p in params]

    def step(self, grads):
        self.t += 1
        step_size = self._k(self.lr / (1 - self.beta1 ** self.t))
        bc2_sqrt = self._k(math.sqrt(1 - self.beta2 ** self.t))
        for p, g, m, v, tmp in zip(self.params, grads, self.exp_avg, self.exp_avg_sq, self.tmp, strict=True):
            np.subtract(g, m, tmp)  # torch's exp_avg.lerp_(grad, 1 − β1)
            np.multiply(tmp, self._1mb1, tmp)
            np.add(m, tmp, m)
            np.multiply(v, self._b2, v)
            np.multiply(g, g, tmp)
            np.multiply(tmp, self._1mb2, tmp)
            np.add(v, tmp, v)
            np.sqrt(v, tmp)
            np.divide(tmp, bc2_sqrt, tmp)
            np.add(tmp, self._eps, tmp)
            np.multiply(m, step_size, g)  # torch's addcdiv: (step_size·m) / denom
            np.divide(g, tmp, g)
            np.subtract(p, g, p)


OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam}


def make_optimizer(cfg, params: list[np.ndarray]) -> Optimizer:
    """The optimizer a config's `train.optimizer` section names, over `params`."""
    opts = cfg.model_dump()
    name = opts.pop("name")
    if "betas" in opts:
        opts["betas"] = tuple(opts["betas"])
    return OPTIMIZERS[name](params, **opts)
