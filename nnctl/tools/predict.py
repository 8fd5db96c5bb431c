"""Predictions and evaluation of a saved model on CSV rows. Returns values; prints nothing."""

from __future__ import annotations

import math

import numpy as np

from nnctl.core import metrics as metricsmod
from nnctl.core.losses import make_loss
from nnctl.data import csvtable as csvio
from nnctl.data.datasets import label_key
from nnctl.errors import DataError
from nnctl.io import jsonio
from nnctl.io.modelfile import ModelFile


def csv_delimiter(mf: ModelFile) -> str:
    data = mf.meta.get("config", {}).get("data", {}) if isinstance(mf.meta.get("config"), dict) else {}
    d = data.get("delimiter", ",") if isinstance(data, dict) else ","
    return d if isinstance(d, str) and len(d) == 1 else ","


def feature_matrix(mf: ModelFile, table: csvio.Table, header: bool = True) -> np.ndarray:
    """The model's features from the table: matched by name, or the first columns without a header."""
    cols = _feature_columns(mf, table.header, header, table.source)
    return csvio.numeric_columns(table, cols, csv_delimiter(mf))


CHUNK_ROWS = 65536  # rows predicted at once: memory stays flat whatever the input's length
READ_BYTES = 1 << 20


class _Lines:
    """Complete, decoded lines from a byte stream, in batches: at most CHUNK_ROWS at a time, and
    whatever has arrived whenever the input pauses (a pipe fed row by row gets each row at once).
    UTF-8 with an optional BOM; CRLF and lone CR line ends; the line number of each batch's first
    line is kept for messages."""

    def __init__(self, fh, source: str):
        import codecs

        self.fh, self.source = fh, source
        self.fd = _fileno(fh)
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.pending = ""  # an incomplete last line
        self.line = 1  # the number of the next line handed out
        self.eof = False

    def _read(self) -> bytes:
        import os

        if self.fd is not None:
            return os.read(self.fd, READ_BYTES)
        read1 = getattr(self.fh, "read1", None)
        return read1(READ_BYTES) if read1 else self.fh.read(READ_BYTES)

    def _paused(self) -> bool:
        """Nothing more can be read right now (a pipe whose writer is between rows)."""
        if self.fd is None:
            return False
        import select

        try:
            return not select.select([self.fd], [], [], 0)[0]
        except (OSError, ValueError):
            return False

    def batches(self):
        lines: list[str] = []
        while not self.eof:
            data = self._read()
            if not data:
                self.eof = True
                try:
                    text = self.pending + self.decoder.decode(b"", True)
                except UnicodeDecodeError:
                    raise DataError(f"line {self.line + len(lines)}: not UTF-8 text (it ends inside a "
                                    "character)", source=self.source) from None
                self.pending = ""
                if text:
                    lines.append(text)
            else:
                try:
                    text = self.pending + self.decoder.decode(data)
                except UnicodeDecodeError as exc:
                    seen = self.pending + data[:exc.start].decode("utf-8", "replace")
                    raise DataError(f"line {self.line + len(lines) + seen.count(chr(10))}: not UTF-8 text "
                                    "(save the file as UTF-8)", source=self.source) from None
                if "\x00" in text:
                    raise DataError("contains NUL bytes; expected a text CSV file", source=self.source)
                text = text.replace("\r\n", "\n").replace("\r", "\n")
                parts = text.split("\n")
                self.pending = parts.pop()
                lines += parts
            while len(lines) >= CHUNK_ROWS:
                yield self._emit(lines[:CHUNK_ROWS])
                lines = lines[CHUNK_ROWS:]
            if lines and (self.eof or self._paused()):
                yield self._emit(lines)
                lines = []

    def _emit(self, lines: list[str]) -> tuple[int, list[str]]:
        first = self.line
        self.line += len(lines)
        return first, lines


def _fileno(fh) -> int | None:
    try:
        return fh.fileno()
    except (AttributeError, OSError, ValueError):  # an in-memory stream (tests' stdin)
        return None


class _Formatter:
    """Prediction rows as CSV or JSON text: a classifier's label (and probabilities), or a
    regression's numbers, as the shortest repr that round-trips. A number that is not finite is
    null in JSON (docs/commands/predict.md); a classifier's row whose outputs are not all finite
    has no label (null in JSON, an empty cell in CSV) rather than whichever class comes first."""

    def __init__(self, mf: ModelFile, proba: bool, fmt: str):
        self.mf, self.proba, self.json = mf, proba, fmt == "json"
        classes = mf.classes
        self.columns = list(mf.targets)
        if classes:
            self.columns = [mf.targets[0]] + ([f"p_{c}" for c in classes] if proba else [])
            self.labels = [jsonio.dumps(c) for c in classes] if self.json else [_csv_cell(str(c)) for c in classes]
        self.keys = [jsonio.dumps(c) for c in self.columns]
        self.first = True

    def header(self) -> str:
        return "[" if self.json else ",".join(_csv_cell(c) for c in self.columns) + "\n"

    def rows(self, out: np.ndarray) -> str:
        out = out.astype(np.float64, copy=False)
        if self.mf.classes:
            return self._classes(out)
        if not self.json:
            return "".join([",".join(map(repr, r)) + "\n" for r in out.tolist()])
        return self._objects([_json_numbers(r) for r in out.tolist()])

    def _classes(self, out: np.ndarray) -> str:
        if out.shape[1] == 1:  # bce: one sigmoid unit, the probability of classes[1]
            out = np.c_[1.0 - out[:, 0], out[:, 0]]
            idx = (out[:, 1] > 0.5).astype(np.intp).tolist()
        else:
            idx = out.argmax(axis=1).tolist()
        labels = [self.labels[i] for i in idx]
        bad = ~np.isfinite(out).all(axis=1)
        if bad.any():
            for r in np.flatnonzero(bad).tolist():
                labels[r] = "null" if self.json else ""
        if not self.json:  # the common case, built line by line in one pass: 1M rows are 2M floats
            if not self.proba:
                return "\n".join(labels) + "\n"
            return "".join([f"{lab},{','.join(map(repr, p))}\n" for lab, p in zip(labels, out.tolist(), strict=True)])
        if not self.proba:
            return self._objects([[lab] for lab in labels])
        return self._objects([[lab, *_json_numbers(p)] for lab, p in zip(labels, out.tolist(), strict=True)])

    def _objects(self, cells: list[list[str]]) -> str:
        text = ",".join("{" + ", ".join(f"{k}: {v}" for k, v in zip(self.keys, r, strict=True)) + "}"
                        for r in cells)
        if not self.first:
            text = ", " + text
        self.first = False
        return text

    def footer(self) -> str:
        return "]\n" if self.json else ""


def _json_numbers(row: list[float]) -> list[str]:
    """JSON number literals: repr (the shortest that round-trips) or null where not finite."""
    return [repr(v) if math.isfinite(v) else "null" for v in row]


def _csv_cell(text: str) -> str:
    if any(ch in text for ch in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def stream_predict(mf: ModelFile, fh, write, source: str, header: bool = True, proba: bool = False,
                   fmt: str = "csv") -> int:
    """Read CSV rows from the binary stream `fh`, predict and `write(text)` in chunks, so memory
    stays flat and the first answers leave before the input ends. Columns are matched to the
    model's features by name (or taken positionally without a header). A bad row raises
    DataError naming its line and column; rows before its chunk have been written already.
    Returns the number of rows."""
    delim = csv_delimiter(mf)
    formatter = _Formatter(mf, proba, fmt)
    lines = _Lines(fh, source)
    cols: list[int] | None = None
    width = 0
    rows = 0
    for first, batch in lines.batches():
        if cols is None:  # the header: the first non-blank line
            skip = next((i for i, line in enumerate(batch) if line.strip()), None)
            if skip is None:
                continue
            names = csvio._parse_header(batch[skip], source, delim, header, first + skip)
            width = len(names)
            cols = _feature_columns(mf, names, header, source)
            if header:
                first, batch = first + skip + 1, batch[skip + 1:]
        X = _parse_rows(batch, first, cols, width, delim, source, names)
        if X.shape[0] == 0:
            continue
        with np.errstate(over="ignore", invalid="ignore"):  # such a row's outputs are null
            out = mf.model.predict(mf.transform(X))
        write((formatter.header() if rows == 0 else "") + formatter.rows(out))
        rows += X.shape[0]
    if cols is None:
        raise DataError("the input is empty; expected a header row and data rows", source=source)
    if rows == 0:
        raise DataError("has a header but no data rows", source=source)
    write(formatter.footer())
    return rows


def _feature_columns(mf: ModelFile, names: list[str], header: bool, source: str) -> list[int]:
    """Where the model's features are among the columns `names`: by name, or the first columns
    without a header (evaluate's table and predict's stream alike)."""
    n = len(mf.features)
    if not header:
        if len(names) < n:
            raise DataError(f"rows have {len(names)} columns; the model needs {n} ({', '.join(mf.features)})",
                            source=source)
        return list(range(n))
    index = {name: i for i, name in enumerate(names)}
    missing = [f for f in mf.features if f not in index]
    if missing:
        raise DataError(f"missing feature column(s) {', '.join(map(repr, missing))}; the model "
                        f"needs {', '.join(mf.features)} and the header has "
                        f"{csvio._preview_names(names)}", source=source)
    return [index[f] for f in mf.features]


def _fast_rows(batch: list[str], cols: list[int], width: int, delim: str) -> np.ndarray | None:
    """numpy.loadtxt over the chunk: every column first (loadtxt itself then checks that each row
    has as many cells), and when another column holds text, only the model's columns, each line's
    width counted. None when a cell or a row is off, or quotes make counting unreliable."""
    import warnings

    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "input contained no data": a chunk of blank lines
        try:
            X = np.loadtxt(batch, delimiter=delim, dtype=np.float64, ndmin=2, comments=None)
            if X.size == 0:
                return np.empty((0, len(cols)))
            X = X[:, cols] if X.shape[1] == width else None
        except ValueError:
            X = None
            joined = "".join(batch)
            if '"' not in joined and all(line.count(delim) == width - 1 or not line.strip() for line in batch):
                try:
                    X = np.loadtxt(batch, delimiter=delim, usecols=cols, dtype=np.float64, ndmin=2, comments=None)
                except ValueError:
                    return None
    if X is None or not np.isfinite(X).all():
        return None
    return X.reshape(-1, len(cols))


def _parse_rows(batch: list[str], first: int, cols: list[int], width: int, delim: str, source: str,
                names: list[str]) -> np.ndarray:
    """A chunk of lines as floats (rows, features): numpy.loadtxt when every line is plain, else
    (or to name a bad cell) a careful pass line by line."""
    X = _fast_rows(batch, cols, width, delim)
    if X is not None:
        return X
    import csv

    out = []
    for number, line in enumerate(batch, first):
        if not line.strip():
            continue
        cells = next(csv.reader([line], delimiter=delim))
        if len(cells) != width:
            raise DataError(f"line {number}: {len(cells)} cells, expected {width} as in the header", source=source)
        row = []
        for c in cols:
            try:
                v = float(cells[c])
            except ValueError:
                v = None
            if v is None or not np.isfinite(v):
                table = csvio.Table(source, names, None, number)
                raise csvio._bad_cell(table, number, c, cells[c])
            row.append(v)
        out.append(row)
    return np.array(out, dtype=np.float64).reshape(len(out), len(cols))


def target_indices(mf: ModelFile, table: csvio.Table) -> np.ndarray:
    """A classifier's target column as class indices (n,), matched to the model's classes."""
    col = table.column_index(mf.targets[0], "target")
    keys = {label_key(c): i for i, c in enumerate(mf.classes)}
    labels = csvio.text_column(table, col, csv_delimiter(mf))
    idx = np.empty(len(labels), dtype=np.intp)
    for r, lab in enumerate(labels):
        i = keys.get(label_key(lab))
        if i is None:
            raise DataError(f"data row {r + 1}: label {lab!r} in column {mf.targets[0]!r} is not one of "
                            f"the model's classes ({', '.join(map(str, mf.classes[:20]))}"
                            f"{', …' if len(mf.classes) > 20 else ''})", source=table.source)
        idx[r] = i
    return idx


def _encoded(mf: ModelFile, idx: np.ndarray) -> np.ndarray:
    """Class indices as the loss sees them: a 0/1 column (bce) or one-hot rows."""
    if mf.meta["loss"] == "bce":
        return idx[:, None].astype(mf.model.dtype)
    Y = np.zeros((len(idx), len(mf.classes)), mf.model.dtype)
    Y[np.arange(len(idx)), idx] = 1.0
    return Y


def _trained_loss(mf: ModelFile):
    """The loss as trained: its reduction and ½ live in the saved config (meta "loss" is the name,
    already validated; the config is only trusted where it agrees with it)."""
    spec = ((mf.meta.get("config") or {}).get("train") or {}).get("loss")
    try:
        loss = make_loss(spec) if isinstance(spec, dict) else None
    except (KeyError, ValueError, TypeError):
        loss = None
    return loss if loss is not None and loss.name == mf.meta["loss"] else make_loss(mf.meta["loss"])


CHUNK_CELLS = 1 << 22  # outputs evaluated at once: 32 MB of float64, whatever the class count


def evaluate_table(mf: ModelFile, table: csvio.Table) -> dict:
    """Loss, every metric of the model's kind, and the confusions of a classifier. A classifier is
    evaluated in chunks of rows, so memory stays bounded with many classes (no n × k one-hot)."""
    X = mf.transform(feature_matrix(mf, table))
    loss = _trained_loss(mf)
    n = X.shape[0]
    if not mf.classes:
        Y = csvio.numeric_columns(table, [table.column_index(t, "target") for t in mf.targets],
                                  csv_delimiter(mf)).astype(mf.model.dtype)
        out, cache = mf.model.forward(X, keep=True)
        names = metricsmod.all_for(False)
        result = {"loss": loss.value(cache.Z[-1], out, Y), "rows": int(n)}
        if mf.meta.get("binary_targets") and np.isin(Y, (0.0, 1.0)).all():  # 0/1 targets: read at 0.5 too
            names += metricsmod.all_for(True)
            result["at_threshold"] = metricsmod.at_threshold(out)
        return {**result, "metrics": metricsmod.compute(names, out, Y)}
    true, classes = target_indices(mf, table), mf.classes
    pred = np.empty(n, dtype=np.intp)
    total, ties = 0.0, 0
    step = max(1, CHUNK_CELLS // len(classes))
    for a in range(0, n, step):
        out, cache = mf.model.forward(X[a:a + step], keep=True)
        Y = _encoded(mf, true[a:a + step])
        total += loss.value(cache.Z[-1], out, Y) * len(Y)
        pred[a:a + step] = metricsmod.class_indices(out, Y)[0]
        ties += metricsmod.at_threshold(out)
    counts = metricsmod.Counts(None, None, pred=pred, true=true, k=len(classes))
    result = {"loss": total / n, "rows": int(n), "at_threshold": ties,
              "metrics": {name: metricsmod.METRICS[name](counts) for name in metricsmod.all_for(True)}}
    # k × k numbers: dense only while that stays small (10 000 classes would be 10^8 cells)
    result["confusion_matrix"] = counts.matrix().tolist() if len(classes) <= DENSE_CONFUSION else None
    result["confusions"] = [{"true": classes[t], "predicted": classes[p], "count": c}
                            for t, p, c in counts.pairs() if t != p]
    result["classes"] = classes
    return result


DENSE_CONFUSION = 50  # classes up to which evaluate gives the whole confusion matrix
