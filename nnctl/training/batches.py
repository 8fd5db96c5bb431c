"""Where a Trainer's batches come from.

A batch source is a small object with:

- `rows`: the number of training rows in one epoch;
- `size`: the batch size (every batch but an epoch's last has this many rows);
- `whole`: `(X, Y)` when an epoch is one batch of every row in a fixed order (full-batch
  training without shuffling: the trainer then skips the per-epoch bookkeeping), else None;
- `batches(epoch)`: an iterator over the epoch's `(X, Y)` batches, from where the epoch stands:
  a fresh epoch starts at its first row, an epoch interrupted between two batches (and possibly
  restored from a checkpoint) continues at the first batch it had not trained on. The arrays may
  be reused buffers: they are valid until the next batch is asked for;
- `targets()`: the targets of the current epoch's rows in the order its batches gave them (for
  the epoch's metrics), once its batches are done; or `targets = None` for a source that does not
  hold its rows (a stream): the Trainer then gathers an epoch's metrics batch by batch;
- `state()` / `load_state(state)`: where the epoch stands, as a dict of plain values and arrays,
  which a checkpoint stores.

`ArrayBatches` serves rows held in memory. Another source (a file streamed in pieces, say) only
needs the same members.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


class ArrayBatches:
    """Batches of `size` rows of X and Y (the last may be smaller), in a fresh random order each
    epoch (drawn from `rng` when the epoch starts) when `shuffle` and more than one batch."""

    def __init__(self, X: np.ndarray, Y: np.ndarray, size: int, shuffle: bool, rng: np.random.Generator):
        self.X, self.Y, self.rng = X, Y, rng
        self.rows = X.shape[0]
        self.size = size
        self.shuffled = shuffle and size < self.rows
        self.whole = (X, Y) if size == self.rows else None
        self.order: np.ndarray | None = None  # the current epoch's row order (shuffled only)
        self.start = 0  # the current epoch's next row
        self.in_epoch = False
        if self.shuffled:  # gathered batches land in reused buffers, not fresh arrays
            self.xbuf = np.empty((size, X.shape[1]), X.dtype)
            self.ybuf = np.empty((size, Y.shape[1]), Y.dtype)

    def batches(self, epoch: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        X, Y, n, bs = self.X, self.Y, self.rows, self.size
        if not self.in_epoch:
            self.order = self.rng.permutation(n) if self.shuffled else None
            self.start, self.in_epoch = 0, True
        order = self.order
        for start in range(self.start, n, bs):
            self.start = start
            if order is None:
                yield (X, Y) if bs == n else (X[start:start + bs], Y[start:start + bs])
            else:
                idx = order[start:start + bs]
                m = idx.shape[0]
                xb, yb = self.xbuf[:m], self.ybuf[:m]
                # mode="clip": a permutation's indices are in range, and "raise" would gather into
                # a temporary copy first (NumPy keeps `out` intact in case an index is bad)
                np.take(X, idx, axis=0, out=xb, mode="clip")
                np.take(Y, idx, axis=0, out=yb, mode="clip")
                yield xb, yb
        self.start, self.in_epoch = n, False

    def targets(self) -> np.ndarray:
        return self.Y if self.order is None else self.Y[self.order]

    def state(self) -> dict:
        return {"in_epoch": self.in_epoch, "start": self.start, "order": self.order}

    def load_state(self, state: dict) -> None:
        self.in_epoch, self.start, self.order = bool(state["in_epoch"]), int(state["start"]), state["order"]
