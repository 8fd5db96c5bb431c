"""Asynchronous successive halving (Li et al., "A System for Massively Parallel Hyperparameter
Tuning", MLSys 2020), as Ray Tune's ASHAScheduler: it only decides, at each rung a run reaches,
whether the run goes on. Rungs at min_epochs · reduction^k below train.epochs; a run goes on
while its metric is in the top 1/reduction of the runs that reached that rung so far, counted as
Ray Tune's quantile cut-off counts them: among n recorded values, the best ceil(n / reduction) go
on, and a value tied with one of those goes on too.
"""

from __future__ import annotations

import bisect
import math


class ASHA:
    def __init__(self, min_epochs: int, reduction: int, epochs: int, mode: str):
        self.rungs: list[int] = []
        e = min_epochs
        while e < epochs:
            self.rungs.append(e)
            e *= reduction
        self.reduction, self.epochs = reduction, epochs
        self.sign = 1.0 if mode == "min" else -1.0
        self.recorded: dict[int, list[float]] = {r: [] for r in self.rungs}  # sorted, best first

    @property
    def first_stop(self) -> int | None:
        """Where a new run stops first (None: no rung below train.epochs, runs go straight through)."""
        return self.rungs[0] if self.rungs else None

    def decide(self, rung: int, value: float | None) -> int | None:
        """Record a run's metric at a rung; the epoch of its next stop (train.epochs for its last
        leg) if it goes on, None if it stops here. A missing or non-finite value is the worst."""
        v = self.sign * value if value is not None and math.isfinite(value) else math.inf
        seen = self.recorded[rung]
        bisect.insort(seen, v)
        better = bisect.bisect_left(seen, v)  # values strictly better than this one
        if better >= math.ceil(len(seen) / self.reduction):
            return None
        i = self.rungs.index(rung)
        return self.rungs[i + 1] if i + 1 < len(self.rungs) else self.epochs
