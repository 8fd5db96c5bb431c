"""Optimizers, in order of increasing complexity, with PyTorch's exact update formulas.

Each keeps its state in plain attributes (lists of arrays, one per parameter, in the model's
`params` order) and updates the parameters in place in `step`.
"""

from __future__ import annotations

import numpy as np


class Optimizer:
    state_names: tuple[str, ...] = ()

    def __init__(self, params: list[np.ndarray], lr: float):
        if lr < 0:
            raise ValueError(f"Invalid learning rate: {lr}")
        self.params = params
        self.lr = lr
        self.t = 0  # steps taken

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
        self.velocity = [np.zeros_like(p) for p in params] if momentum else []

    def step(self, grads: list[np.ndarray]) -> None:
        self.t += 1
        if not self.momentum:
            for p, g in zip(self.params, grads, strict=True):
                p -= self.lr * g
            return
        for p, g, v in zip(self.params, grads, self.velocity, strict=True):
            v *= self.momentum
            v += g
            p -= self.lr * (g + self.momentum * v) if self.nesterov else self.lr * v


class RMSprop(Optimizer):
    """s ← α·s + (1−α)·g²; W ← W − lr·g / (√s + eps)."""

    state_names = ("square_avg",)

    def __init__(self, params, lr: float, alpha: float = 0.99, eps: float = 1e-8):
        super().__init__(params, lr)
        self.alpha, self.eps = alpha, eps
        self.square_avg = [np.zeros_like(p) for p in params]

    def step(self, grads):
        self.t += 1
        for p, g, s in zip(self.params, grads, self.square_avg, strict=True):
            s *= self.alpha
            s += (1 - self.alpha) * g * g
            p -= self.lr * g / (np.sqrt(s) + self.eps)


class Adam(Optimizer):
    """Kingma & Ba with bias correction, as torch.optim.Adam computes it:
    W ← W − (lr / (1−β1^t)) · m / (√v / √(1−β2^t) + eps)."""

    state_names = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8):
        super().__init__(params, lr)
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.exp_avg = [np.zeros_like(p) for p in params]
        self.exp_avg_sq = [np.zeros_like(p) for p in params]

    def step(self, grads):
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        step_size = self.lr / (1 - b1 ** self.t)
        bc2_sqrt = np.sqrt(1 - b2 ** self.t)
        for p, g, m, v in zip(self.params, grads, self.exp_avg, self.exp_avg_sq, strict=True):
            m += (1 - b1) * (g - m)  # torch's exp_avg.lerp_(grad, 1 - beta1)
            v *= b2
            v += (1 - b2) * g * g
            p -= step_size * (m / (np.sqrt(v) / bc2_sqrt + self.eps))


OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam}


def make_optimizer(cfg, params: list[np.ndarray]) -> Optimizer:
    """The optimizer a config's `train.optimizer` section names, over `params`."""
    opts = cfg.model_dump()
    name = opts.pop("name")
    if "betas" in opts:
        opts["betas"] = tuple(opts["betas"])
    return OPTIMIZERS[name](params, **opts)
