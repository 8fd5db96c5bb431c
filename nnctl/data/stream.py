"""Training rows from a file larger than memory (`data.stream: true`, docs/data.md): a batch
source that reads its rows from disk, chunk by chunk, every epoch.

A first pass parses every chunk once for what training needs up front: the row count, the
training rows' mean and std (combined chunk by chunk, Chan et al.'s parallel formula), the
classes. Validation rows are chosen by the seed, per chunk, and kept in memory; the training
rows are spilled to an unlinked binary file at the training dtype, so that an epoch reads numbers
rather than parsing text again. Each epoch visits the chunks in a seeded order and shuffles rows
within a buffer of `shuffle_buffer` rows (tf.data's shuffle buffer, Ray Data's local shuffle):
peak memory is the buffer and one chunk, whatever the file's size. An epoch is a pure function
of (seed, epoch), so resuming mid-epoch replays the epoch's reading up to the batch where it
stopped.
"""

from __future__ import annotations

import errno
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from nnctl.core import metrics
from nnctl.core.model import standardize_in_place
from nnctl.data import datasets, reader
from nnctl.data.reader import Layout
from nnctl.errors import DataError, WriteError


class StreamSource:
    """Batches (X_aug (m, n_features + 1), Y (m, n_outputs)) at `dtype`, chunk by chunk."""

    def __init__(self, table, layout: Layout, loss: str, out_units, *, seed: int, validation_split: float,
                 standardize: bool, dtype, batch_size: int | None, shuffle_buffer: int, shuffle: bool = True,
                 units_key: str = "model.layers.-1.units", spill_dir: str | None = None):
        self.table, self.layout, self.loss, self.seed = table, layout, loss, seed
        self.fraction, self.dtype, self.shuffle = validation_split, np.dtype(dtype), shuffle
        self.buffer_rows = shuffle_buffer
        if hasattr(table, "chunk_bytes"):  # a CSV file: chunks of a size that keeps the peak near the buffer
            table.chunk_bytes = table.chunk_bytes or reader.STREAM_CHUNK_BYTES
        self.cols = table.columns(layout.features + layout.targets, layout.label)
        # The spill: the training rows parsed once, as binary, so an epoch reads numbers instead of
        # parsing text again. Unlinked files (gone on any exit), beside the data when that folder
        # is writable (the system's temporary folder may be memory), else in the temporary folder.
        folder = spill_dir or _writable_folder(getattr(table, "path", None))
        self.folder = folder
        self.spill_width_y = len(layout.targets)
        with _spilling(folder):
            self.spill_x, self.spill_y = tempfile.TemporaryFile(dir=folder), tempfile.TemporaryFile(dir=folder)
            self._first_pass(standardize, out_units, units_key)
            self.spill_x.flush()
            self.spill_y.flush()
            if self.x_mean is not None:
                self._standardize_spill()
        self.batch = self.n if batch_size is None else min(batch_size, self.n)
        self.epoch, self.batches_done = 0, 0  # where the stream is: batches handed out in `epoch`
        self._buffer = self._batch = None  # the shuffle buffer and the batch arrays (_buffers)

    # --- the first pass ---------------------------------------------------------------------

    def _first_pass(self, standardize: bool, out_units, units_key: str) -> None:
        """Parse the file once: statistics, classes and validation rows, and the training rows
        written to the spill (features at the training dtype, targets), chunk by chunk."""
        nf = len(self.layout.features)
        count, mean, m2 = 0, np.zeros(nf), np.zeros(nf)
        self.chunks: list[tuple[int, int]] = []  # (first row in the spill, rows)
        # The validation rows' features wait in a file too, read back as one array at the end:
        # gathered in a list and joined, they would be held twice at the first pass's peak.
        val_x, val_y, sample, n_val = tempfile.TemporaryFile(dir=self.folder), [], None, 0
        self._labels: dict = {}  # label → provisional id, in order of appearance (text or numbers)
        self.binary = self.layout.label is None and len(self.layout.targets) == 1  # every target 0 or 1
        for i, (_, parsed) in enumerate(self.table.chunks(self.cols)):
            keep = self._is_train(i, parsed.X.shape[0])
            X = parsed.X[keep, :nf]
            if X.shape[0]:
                count, mean, m2 = metrics.combine(count, mean, m2, X)
            self.chunks.append((self.chunks[-1][0] + self.chunks[-1][1] if self.chunks else 0, X.shape[0]))
            X_aug = np.empty((X.shape[0], nf + 1), self.dtype)  # the layout training reads: [x, 1]
            X_aug[:, :nf], X_aug[:, nf] = X, 1.0
            self.spill_x.write(X_aug.tobytes())
            self.spill_y.write(self._targets(parsed, keep).tobytes())
            val_x.write(parsed.X[~keep, :nf].astype(self.dtype).tobytes())
            n_val += parsed.X.shape[0] - X.shape[0]
            val_y.append(self._targets(parsed, ~keep))
            if self.layout.label is None:
                self.binary = self.binary and bool(np.isin(parsed.X[:, nf:], (0.0, 1.0)).all())
                if sample is None and parsed.X.shape[0]:
                    sample = parsed.X[:1, nf:]
        if not self.cols.text_labels and reader.read_as_text(self._labels):  # again, every label as written
            self.cols.text_labels = True
            val_x.close()
            for spill in (self.spill_x, self.spill_y):
                spill.seek(0)
                spill.truncate()
            return self._first_pass(standardize, out_units, units_key)
        if count == 0:
            raise DataError("has no training rows" if n_val else "has a header but no data rows",
                            source=self.table.source)
        self.n = count
        self.x_mean = self.x_std = None
        if standardize:
            std = np.sqrt(m2 / count)
            std[~(std > 1e-12 * np.maximum(1.0, np.abs(mean)))] = 1.0
            self.x_mean, self.x_std = mean, std
        self.classes, self.features, self.target_names = self._classes(sample, out_units, units_key)
        val_x.seek(0)
        X_val = np.fromfile(val_x, self.dtype, n_val * nf).reshape(n_val, nf)
        val_x.close()
        self.X_val = self.Y_val = None
        if X_val.shape[0]:
            self.X_val = self._scaled(X_val)
            self.Y_val = self._encode(np.concatenate(val_y)).astype(self.dtype)
        self.n_outputs = len(self.classes) if self.classes and loss_one_hot(self.loss) else (
            1 if self.classes else len(self.layout.targets))

    def _is_train(self, chunk: int, m: int) -> np.ndarray:
        """Which of a chunk's rows train (the others validate): a seeded draw per chunk, the same every epoch."""
        if self.fraction <= 0:
            return np.ones(m, dtype=bool)
        return np.random.default_rng([self.seed, 0x5A11, chunk]).random(m) >= self.fraction

    def _targets(self, parsed: reader.Parsed, rows: np.ndarray) -> np.ndarray:
        """Numeric targets (rows, n_targets) float64, or labels as provisional ids (rows,) int64."""
        if self.layout.label is None:
            return np.ascontiguousarray(parsed.X[rows, len(self.layout.features):])
        labels = parsed.labels
        if isinstance(labels, np.ndarray):
            distinct, inverse = np.unique(labels[rows], return_inverse=True)
            ids = np.array([self._labels.setdefault(v, len(self._labels)) for v in distinct.tolist()], np.int64)
            return ids[inverse.reshape(-1)] if len(distinct) else np.empty(0, np.int64)
        return np.fromiter((self._labels.setdefault(lab, len(self._labels))
                            for lab, r in zip(labels, rows, strict=True) if r), np.int64)

    def _classes(self, sample, out_units, units_key):
        """Check the targets against the loss and the output layer, as an in-memory run does
        (datasets.encode, given one row per distinct label), and keep the classes."""
        header = self.table.header
        features = [header[i] for i in self.layout.features]
        targets = [header[i] for i in (self.layout.targets or [self.layout.label])]
        if self.layout.label is None:
            raw = datasets.RawData(np.zeros((1, len(features))), features, targets,
                                   sample if sample is not None else np.zeros((1, len(targets))))
        else:
            labels = list(self._labels)
            numeric = all(isinstance(v, float) for v in labels)
            raw = datasets.RawData(np.zeros((len(labels), len(features))), features, targets,
                                   np.array(labels)[:, None] if numeric else None,
                                   None if numeric else [reader.label_text(v) for v in labels])
        enc = datasets.encode(raw, self.loss, out_units, units_key)
        self._class_of = datasets.ClassIndex(enc.classes or []).rows(list(self._labels))
        return enc.classes, features, targets

    def _standardize_spill(self) -> None:
        """Scale the spilled rows once, in place, chunk by chunk: epochs then only read."""
        width = len(self.layout.features) + 1
        for first, rows in self.chunks:
            at = first * width * self.dtype.itemsize
            self.spill_x.seek(at)
            X = np.fromfile(self.spill_x, self.dtype, rows * width).reshape(rows, width)
            self._scaled(X[:, :-1])
            self.spill_x.seek(at)
            self.spill_x.write(X.tobytes())
        self.spill_x.flush()

    def _scaled(self, X: np.ndarray) -> np.ndarray:
        """X at the training dtype, standardised (in float64, chunk by chunk, in place)."""
        X = X.astype(self.dtype, copy=False)
        return X if self.x_mean is None else standardize_in_place(X, self.x_mean, self.x_std)

    def _encode(self, y: np.ndarray) -> np.ndarray:
        """Targets as the loss wants them: numbers (mse), a 0/1 column (bce) or one-hot rows."""
        if not self.classes:
            return y
        idx = self._class_of[y]
        if not loss_one_hot(self.loss):
            return idx[:, None].astype(np.float64)
        Y = np.zeros((len(idx), len(self.classes)))
        Y[np.arange(len(idx)), idx] = 1.0
        return Y

    # --- epochs --------------------------------------------------------------------------------

    # The batch-source protocol the Trainer reads: rows, size, whole, batches, targets, state.
    whole = None  # an epoch is never one fixed batch
    targets = None  # an epoch's rows are not held: the Trainer gathers its metrics batch by batch

    @property
    def rows(self) -> int:
        return self.n

    @property
    def size(self) -> int:
        return self.batch

    def batches(self, epoch: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The rest of the current epoch's batches; the position advances as they are taken.
        (The source counts its own epochs: `epoch` is the caller's number for the same one.)"""
        epoch, skip = self.epoch, self.batches_done
        for i, batch in enumerate(self._epoch(epoch)):
            if i >= skip:
                self.batches_done = i  # a batch handed out is done when the next one is asked for
                yield batch
        self.epoch, self.batches_done = epoch + 1, 0

    def _epoch(self, epoch: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The epoch's batches: the chunks, in a seeded order, are read straight into one buffer;
        whenever it holds `buffer_rows` rows (and at the end) they are shuffled and its full
        batches gathered into reused batch arrays; the rows left over move to its front."""
        rng = np.random.default_rng([self.seed, 0xE90C, epoch])
        order = rng.permutation(len(self.chunks)) if self.shuffle else range(len(self.chunks))
        X, Y = self._buffers()
        held = 0
        for i in order:
            held += self._read(i, X[held:], Y[held:])
            if held >= self.buffer_rows:
                held = yield from self._drain(rng, X, Y, held, last=False)
        yield from self._drain(rng, X, Y, held, last=True)

    def _buffers(self) -> tuple[np.ndarray, np.ndarray]:
        """The shuffle buffer, allocated once: it holds fewer than max(buffer_rows, batch) rows
        when a chunk is added to it (else it would have been drained)."""
        if self._buffer is None:
            largest = max(rows for _, rows in self.chunks)
            cap = min(self.n, max(self.buffer_rows, self.batch) + largest)
            width, bs = len(self.layout.features) + 1, self.batch
            self._buffer = (np.empty((cap, width), self.dtype), np.empty((cap, self.n_outputs), self.dtype))
            self._batch = (np.empty((bs, width), self.dtype), np.empty((bs, self.n_outputs), self.dtype))
        return self._buffer

    def _read(self, chunk: int, X: np.ndarray, Y: np.ndarray) -> int:
        """Chunk `chunk`'s spilled rows into the first rows of X and Y; their count."""
        first, rows = self.chunks[chunk]
        width = len(self.layout.features) + 1
        self.spill_x.seek(first * width * self.dtype.itemsize)
        want = rows * width * self.dtype.itemsize
        if self.spill_x.readinto(X[:rows].reshape(-1).view(np.uint8)) != want:
            raise OSError("the spill file of data.stream ended early")
        yw, ydt = (self.spill_width_y, np.float64) if self.layout.label is None else (1, np.int64)
        self.spill_y.seek(first * yw * 8)
        y = np.fromfile(self.spill_y, ydt, rows * yw)
        Y[:rows] = self._encode(y.reshape(rows, yw) if self.layout.label is None else y)
        return rows

    def _drain(self, rng, X: np.ndarray, Y: np.ndarray, held: int, last: bool):
        """Shuffle the buffer's `held` rows and hand out its full batches (every row at the
        epoch's end); returns how many rows are left over, now at the buffer's front."""
        bs = self.batch
        n = held if last else held // bs * bs
        perm = rng.permutation(held) if self.shuffle and held else None
        xb, yb = self._batch
        for a in range(0, n, bs):
            b = min(a + bs, n)
            if perm is None:
                yield X[a:b], Y[a:b]
                continue
            # mode="clip": a permutation's indices are in range, and "raise" would gather into a
            # temporary first (training/batches.py does the same)
            np.take(X, perm[a:b], axis=0, out=xb[:b - a], mode="clip")
            np.take(Y, perm[a:b], axis=0, out=yb[:b - a], mode="clip")
            yield xb[:b - a], yb[:b - a]
        rest = held - n
        if rest:  # an indexed read copies before the assignment, so the overlap is safe
            keep = perm[n:] if perm is not None else slice(n, held)
            X[:rest], Y[:rest] = X[keep], Y[keep]
        return rest

    @property
    def batches_per_epoch(self) -> int:
        return math.ceil(self.n / self.batch)

    def state(self) -> dict:
        """Where the stream is: its epoch, and the batches of it trained on."""
        return {"epoch": self.epoch, "batches_done": self.batches_done}

    def load_state(self, state: dict) -> None:
        self.epoch, self.batches_done = int(state["epoch"]), int(state["batches_done"])


def loss_one_hot(loss: str) -> bool:
    return loss == "cross_entropy"


@contextmanager
def _spilling(folder: str | None):
    """A spill that cannot be written (a full disk, a file-size limit, a quota) is a WriteError
    naming where it was written, not an internal error."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in _FULL:
            raise
        where = folder or tempfile.gettempdir()
        raise WriteError(f"cannot write the spill file of data.stream (the training rows at train.dtype, "
                         f"docs/data.md) here: {exc.strerror}", source=where) from None


_FULL = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EROFS, errno.EACCES}


def _writable_folder(path) -> str | None:
    folder = os.path.dirname(os.path.abspath(path)) if path is not None else None
    return folder if folder is not None and os.access(folder, os.W_OK) else None
