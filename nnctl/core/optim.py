"""Optimizers, in order of increasing complexity, with PyTorch's exact update formulas.

Each updates one flat vector in place in `step` — the trainer's `model.flat`, which holds every
weight and bias — so a step costs a handful of NumPy calls whatever the depth of the net, and
keeps its state in plain attributes (arrays shaped like the parameters). Scalars are kept as
0-d arrays of the parameters' dtype: NumPy's fast path for them is twice as quick as for Python
floats on tiny arrays, and the result is the same (a float32 run stays float32).

`step` consumes the gradient: it overwrites it with intermediate values once it has read it. The
training loop recomputes it every batch, and on a large net every array a step touches is cold
after the matrix products, so a scratch array fewer is a third faster (measured on 669,706
float32 parameters right after a GEMM: 282 µs against 453 µs for plain SGD).

These NumPy steps are the reference. Where the trainer asks (`accelerate`, on large nets with
numba installed), a step runs instead as one compiled loop from `kernels`, which does the same
operations in the same order and gives the same bits in one pass over memory.
"""

from __future__ import annotations

import math

import numpy as np


class Optimizer:
    state_names: tuple[str, ...] = ()
    kernel_name: str | None = None  # which of `kernels`' compiled steps is this optimizer's

    def __init__(self, param: np.ndarray, lr: float):
        if lr < 0:
            raise ValueError(f"Invalid learning rate: {lr}")
        self.param = param
        self.dtype = param.dtype
        self.t = 0  # steps taken
        self.kernel = None  # a compiled one-pass step (`kernels`), once `accelerate` gave one
        self.decay = np.zeros(0, param.dtype)  # weight decay's mask, when the step adds its term
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

    def _s(self, value: float):
        """`value` as a scalar of the parameters' dtype (what a compiled step takes)."""
        return self.dtype.type(value)

    def accelerate(self, fns: dict, decay: np.ndarray | None = None) -> bool:
        """Run each step as the compiled one-pass loop `fns[kernel_name]` (see `kernels`), which
        gives the NumPy step's results to the bit. With `decay` (weight decay's mask, λ on the
        weights' slots), the step also adds the decay term g + W·mask to the gradient it is
        given, in the same pass: the caller then leaves it out. Returns whether it took effect."""
        name = self.kernel_name
        if name is None or fns is None:
            return False
        self.kernel = fns[name]
        if decay is not None:
            self.decay = decay
        return True

    def state(self) -> dict[str, np.ndarray | int]:
        """Everything a resumed run needs to continue exactly."""
        return {"t": self.t, **{k: getattr(self, k) for k in self.state_names}}

    def load_state(self, state: dict) -> None:
        self.t = int(state["t"])
        for k in self.state_names:
            getattr(self, k)[...] = state[k]

    # Subclasses define step(g). One whose update is W − lr·g also defines step_scaled(lr_g),
    # given lr·g directly (the trainer has the backward pass produce it), and step_applied(_),
    # which only counts a step the backward pass has applied itself, and sets this to True.
    takes_scaled_gradient = False


class SGD(Optimizer):
    """v ← μ·v + g; W ← W − lr·v (Nesterov: W ← W − lr·(g + μ·v))."""

    state_names = ("velocity",)

    def __init__(self, param, lr: float, momentum: float = 0.0, nesterov: bool = False):
        super().__init__(param, lr)
        self.momentum = momentum
        self.nesterov = nesterov
        self._mu = self._k(momentum)
        self.velocity = np.zeros_like(param)
        self.tmp = np.empty_like(param) if nesterov else None
        self.takes_scaled_gradient = not momentum
        self.kernel_name = "sgd_nesterov" if nesterov else "sgd_momentum" if momentum else "sgd_plain"

    def step_scaled(self, lr_g):
        self.t += 1
        np.subtract(self.param, lr_g, self.param)

    def step_applied(self, _unused):
        """The step when the workspace has already applied W − lr·g (Workspace.fuse_update)."""
        self.t += 1

    def step(self, g):
        self.t += 1
        if self.kernel is not None:
            self.kernel(self.param, g, self.velocity, self.decay, self._s(self.lr), self._s(self.momentum))
            return
        p, lr = self.param, self._lr_arr
        if not self.momentum:
            np.multiply(g, lr, g)
            np.subtract(p, g, p)
            return
        v, mu = self.velocity, self._mu
        np.multiply(v, mu, v)
        np.add(v, g, v)
        if self.nesterov:
            tmp = self.tmp
            np.multiply(v, mu, tmp)
            np.add(tmp, g, tmp)
            np.multiply(tmp, lr, tmp)
            np.subtract(p, tmp, p)
        else:
            np.multiply(v, lr, g)
            np.subtract(p, g, p)


class RMSprop(Optimizer):
    """s ← α·s + (1−α)·g²; W ← W − lr·g / (√s + eps)."""

    state_names = ("square_avg",)
    kernel_name = "rmsprop"

    def __init__(self, param, lr: float, alpha: float = 0.99, eps: float = 1e-8):
        super().__init__(param, lr)
        self.alpha, self.eps = alpha, eps
        self._alpha, self._one_minus_alpha, self._eps = self._k(alpha), self._k(1 - alpha), self._k(eps)
        self.square_avg = np.zeros_like(param)
        self.tmp = np.empty_like(param)

    def step(self, g):
        self.t += 1
        if self.kernel is not None:
            self.kernel(self.param, g, self.square_avg, self.decay, self._s(self.lr), self._s(self.alpha),
                        self._s(1 - self.alpha), self._s(self.eps))
            return
        p, s, tmp = self.param, self.square_avg, self.tmp
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
    kernel_name = "adam"

    def __init__(self, param, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8):
        super().__init__(param, lr)
        self.beta1, self.beta2 = betas
        self.eps = eps
        self._1mb1, self._b2, self._1mb2, self._eps = (self._k(1 - self.beta1), self._k(self.beta2),
                                                       self._k(1 - self.beta2), self._k(eps))
        self.exp_avg = np.zeros_like(param)
        self.exp_avg_sq = np.zeros_like(param)
        self.tmp = np.empty_like(param)

    def step(self, g):
        self.t += 1
        step_size = self.lr / (1 - self.beta1 ** self.t)
        bc2_sqrt = math.sqrt(1 - self.beta2 ** self.t)
        if self.kernel is not None:
            s = self._s
            self.kernel(self.param, g, self.exp_avg, self.exp_avg_sq, self.decay, s(1 - self.beta1), s(self.beta2),
                        s(1 - self.beta2), s(self.eps), s(step_size), s(bc2_sqrt))
            return
        self.numpy_step(self.param, g, self.exp_avg, self.exp_avg_sq, self.tmp, self._k(step_size), self._k(bc2_sqrt))

    def numpy_step(self, p, g, m, v, tmp, step_size, bc2_sqrt) -> None:
        """The step in NumPy calls on these arrays: the optimizer's own, or views of them (as
        benchmarks/optim_step.py runs it on blocks and halves)."""
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


def make_optimizer(cfg, param: np.ndarray) -> Optimizer:
    """The optimizer a config's `train.optimizer` section names, over the flat vector `param`."""
    opts = cfg.model_dump()
    name = opts.pop("name")
    if "betas" in opts:
        opts["betas"] = tuple(opts["betas"])
    return OPTIMIZERS[name](param, **opts)
