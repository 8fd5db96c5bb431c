"""Learning-rate schedules, stepped once per epoch, with PyTorch's formulas.

The rate used in epoch k (counting from 1) is the one the PyTorch scheduler gives after k − 1
calls of `step()`: `lr` is the current rate, `step(metric)` is called after every epoch. The
recursive forms PyTorch uses (not the closed forms) are kept, so the rates agree to the last bit.
"""

from __future__ import annotations

import math


class Schedule:
    def __init__(self, base_lr: float):
        self.base_lr = base_lr
        self.lr = base_lr
        self.last_epoch = 0  # steps taken

    def step(self, metric: float | None = None) -> None:
        self.last_epoch += 1
        self.lr = self._next(metric)

    def _next(self, metric):
        return self.lr

    def state(self) -> dict:
        return {k: v for k, v in vars(self).items() if isinstance(v, int | float)}

    def load_state(self, state: dict) -> None:
        for k, v in state.items():
            setattr(self, k, v)


class Constant(Schedule):
    pass


class StepLR(Schedule):
    """lr · gamma every `every` epochs (torch.optim.lr_scheduler.StepLR)."""

    def __init__(self, base_lr, every: int = 10, gamma: float = 0.1):
        super().__init__(base_lr)
        self.every, self.gamma = every, gamma

    def _next(self, metric):
        return self.lr * self.gamma if self.last_epoch % self.every == 0 else self.lr


class ExponentialLR(Schedule):
    """lr · gamma every epoch (torch.optim.lr_scheduler.ExponentialLR)."""

    def __init__(self, base_lr, gamma: float = 0.95):
        super().__init__(base_lr)
        self.gamma = gamma

    def _next(self, metric):
        return self.lr * self.gamma


class CosineLR(Schedule):
    """Linear warm-up over `warmup` epochs (lr · k / warmup in epoch k), then
    torch.optim.lr_scheduler.CosineAnnealingLR(T_max=t_max, eta_min=min_lr)."""

    def __init__(self, base_lr, t_max: int, min_lr: float = 0.0, warmup: int = 0):
        super().__init__(base_lr)
        self.t_max, self.min_lr, self.warmup = t_max, min_lr, warmup
        if warmup:
            self.lr = base_lr / warmup

    def _next(self, metric):
        if self.last_epoch < self.warmup:
            return self.base_lr * (self.last_epoch + 1) / self.warmup
        t, T, lr, eta = self.last_epoch - self.warmup, self.t_max, self.lr, self.min_lr
        if t == 0:
            return self.base_lr
        if (t - 1 - T) % (2 * T) == 0:
            return lr + (self.base_lr - eta) * (1 - math.cos(math.pi / T)) / 2
        return (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T)) * (lr - eta) + eta


    def retarget(self, t_max: int) -> None:
        """Follow a new period from here on (a run resumed with more epochs): the rate of the
        current epoch is recomputed from the closed form with the new t_max, and the recursive
        form carries on from it."""
        if t_max == self.t_max:
            return
        self.t_max = t_max
        t = self.last_epoch - self.warmup
        if t > 0:
            eta = self.min_lr
            self.lr = eta + (self.base_lr - eta) * (1 + math.cos(math.pi * t / t_max)) / 2


class PlateauLR(Schedule):
    """torch.optim.lr_scheduler.ReduceLROnPlateau(mode="min", threshold_mode="rel"): lr · factor
    once the monitored loss has not improved by more than `threshold` (relative) for more than
    `patience` epochs, never below min_lr."""

    EPS = 1e-8  # PyTorch ignores reductions smaller than this

    def __init__(self, base_lr, factor: float = 0.1, patience: int = 10, min_lr: float = 0.0,
                 threshold: float = 1e-4):
        super().__init__(base_lr)
        self.factor, self.patience, self.min_lr, self.threshold = factor, patience, min_lr, threshold
        self.best = math.inf
        self.num_bad_epochs = 0

    def _next(self, metric):
        if metric < self.best * (1 - self.threshold):
            self.best = metric
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.num_bad_epochs > self.patience:
            self.num_bad_epochs = 0
            new_lr = max(self.lr * self.factor, self.min_lr)
            if self.lr - new_lr > self.EPS:
                return new_lr
        return self.lr


SCHEDULES: dict[str, type[Schedule]] = {"constant": Constant, "step": StepLR, "exponential": ExponentialLR,
                                        "cosine": CosineLR, "plateau": PlateauLR}


def make_schedule(cfg, base_lr: float, epochs: int) -> Schedule:
    """The schedule a config's `train.schedule` names (None: constant)."""
    if cfg is None:
        return Constant(base_lr)
    opts = cfg.model_dump()
    name = opts.pop("name")
    if name == "cosine" and opts.get("t_max") is None:
        opts["t_max"] = max(epochs - opts.get("warmup", 0), 1)
    return SCHEDULES[name](base_lr, **opts)


class EarlyStopping:
    """Keras' EarlyStopping: stop once the monitored loss has not improved by more than
    min_delta for `patience` epochs; with restore_best, end with the best epoch's weights."""

    def __init__(self, patience: int = 10, min_delta: float = 1e-4, restore_best: bool = True):
        self.patience, self.min_delta, self.restore_best = patience, min_delta, restore_best
        self.best = math.inf
        self.best_epoch: int | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None
        self.best_weights = None

    def update(self, epoch: int, value: float, weights) -> bool:
        """Called after each epoch; True means stop now."""
        self.wait += 1
        if value + self.min_delta < self.best:  # Keras: an improvement beats the best by min_delta
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self.best_weights = weights.copy()
            return False
        if self.wait >= self.patience and epoch > 1:
            self.stopped_epoch = epoch
            return True
        return False

    def state(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "stopped_epoch": self.stopped_epoch}

    def load_state(self, state: dict) -> None:
        for k, v in state.items():
            setattr(self, k, v)
