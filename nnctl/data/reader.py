"""The one CSV reader: whole tables (train, evaluate) and chunk streams (predict, streaming
training) go through the same chunk parser, so the rules and the messages are the same everywhere.

Rules (docs/data.md): UTF-8 (a BOM is skipped), any line ending, a header row of unique names,
the same number of cells on every row, blank lines skipped, numbers as Python writes them, no
empty, NaN or infinite cells. Line numbers count physical lines from 1, as a text editor does.

A file's body is cut at line ends into chunks of a few MB. Each chunk is parsed by an engine
(nnctl/data/engines.py: pyarrow's CSV reader with the `arrow` extra, else numpy.loadtxt); when
it refuses a chunk, the careful pass (the `csv` module and `float`) reads that chunk alone: it names the bad
cell, or keeps what the engine was too strict about. A bad cell therefore costs one parse.
"""

from __future__ import annotations

import csv
import io
import os
from contextlib import closing
from dataclasses import dataclass

import numpy as np

from nnctl.data import parallel
from nnctl.errors import DataError

CHUNK_BYTES = 2 << 20  # a chunk's size: large enough for the engines' speed, small beside the data
STREAM_CHUNK_BYTES = 1 << 20  # a streaming epoch's chunk: its parse is transient memory beside the buffer
BOM = b"\xef\xbb\xbf"
_NON_FINITE = {"nan", "inf", "infinity"}


@dataclass
class Columns:
    """What to take from each row: numeric columns (features, then numeric targets) and at most
    one label column; `names` and `source` are for messages."""

    numeric: list[int]
    label: int | None
    width: int
    names: list[str]
    source: str
    delimiter: str = ","
    kind: str = "csv"  # "parquet" names rows, not lines
    text_labels: bool = False  # every label as written, also in a chunk of numbers (`read_as_text`)

    @property
    def wanted(self) -> list[int]:
        """The columns read, in the order a parsed chunk holds them: the numbers, then the label."""
        return self.numeric + ([self.label] if self.label is not None else [])


@dataclass
class Layout:
    """Which columns training reads: features, and numeric targets or one label column."""

    features: list[int]
    targets: list[int]
    label: int | None


@dataclass
class Parsed:
    """One chunk's rows: numbers (rows, len(numeric)) float64, and labels (numbers or text)."""

    X: np.ndarray
    labels: np.ndarray | list[str] | None = None


# --- messages ----------------------------------------------------------------------------------

def where(cols: Columns, line: int, col: int) -> str:
    unit = "row" if cols.kind == "parquet" else "line"
    return f"{unit} {line}, column {col + 1} ({cols.names[col]!r})"


def bad_cell(cols: Columns, line: int, col: int, cell: str | None) -> DataError:
    """The message for a cell that is not a finite number (None: a null cell of a Parquet file)."""
    at = where(cols, line, col)
    stripped = "" if cell is None else cell.strip()
    if not stripped:
        what = "null cell" if cell is None else "empty cell"
        exc = DataError(f"{at}: {what}; expected a number (missing values are not filled in: remove "
                        "the row or fill it)", source=cols.source)
    else:
        try:
            float(stripped)
            exc = DataError(f"{at}: {stripped!r} is not finite; expected a finite number", source=cols.source)
        except ValueError:
            exc = DataError(f"{at}: {stripped!r} is not a number", source=cols.source)
    exc.column = col
    return exc


def label_ok(label: str) -> bool:
    """The rule for a label cell (stripped): not empty, and not text that reads as a missing or
    infinite number."""
    return bool(label) and label.lower().lstrip("+-") not in _NON_FINITE


def bad_label(cols: Columns, line: int, col: int, cell: str) -> DataError | None:
    """Why a label cell is refused (label_ok's rule, in words), or None."""
    stripped = cell.strip()
    if label_ok(stripped):
        return None
    if not stripped:
        return bad_cell(cols, line, col, stripped)
    exc = DataError(f"{where(cols, line, col)}: {stripped!r} reads as a missing or infinite number, not a "
                    "label; remove the row or give it a label", source=cols.source)
    exc.column = col
    return exc


def wrong_width(cols: Columns, line: int, got: int) -> DataError:
    return DataError(f"line {line}: {got} cells, expected {cols.width} as in the header", source=cols.source)


PARQUET_MAGIC = b"PAR1"  # how a Parquet file begins (and ends)


def not_utf8(line: int, source: str, head: bytes = b"") -> DataError:
    """Bytes that are not UTF-8 text at `line`; `head`, the file's first bytes, may show it is Parquet."""
    if head.startswith(PARQUET_MAGIC):
        return DataError("is a Parquet file, not CSV text (set data.source: parquet; predict and evaluate read "
                         "a file whose name ends in .parquet as Parquet)", source=source)
    return DataError(f"line {line}: not UTF-8 text (save the file as UTF-8)", source=source)


def decode(data: bytes, line: int, source: str) -> str:
    """A chunk's text: UTF-8, no NUL bytes, line ends normalised to \\n."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        at = line + data[: exc.start].count(b"\n")
        raise not_utf8(at, source) from None
    if "\x00" in text:
        raise DataError("contains NUL bytes; expected a text CSV file", source=source)
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


# --- chunks of a file's body -----------------------------------------------------------------------

def body_chunks(fh, line: int, size: int | None = None):
    """(byte offset, line number of the chunk's first line, bytes of whole lines) from the binary
    stream `fh`, which stands at the body's first line. A chunk never ends inside a quoted cell."""
    offset, size = fh.tell(), size or CHUNK_BYTES
    rest, first = b"", True
    while True:
        data = fh.read(size)
        if first and data.startswith(BOM):
            data, offset = data[len(BOM):], offset + len(BOM)
        first = False
        if not data:
            if rest:
                yield offset, line, rest
            return
        data = rest + data if rest else data
        cut = data.rfind(b"\n") + 1
        while cut and data.find(b'"', 0, cut) != -1 and data.count(b'"', 0, cut) % 2:  # inside quotes:
            # back up to an earlier line end
            cut = data.rfind(b"\n", 0, cut - 1) + 1
        if not cut:
            rest = data
            continue
        yield offset, line, data[:cut]
        line += data.count(b"\n", 0, cut)
        offset += cut
        rest = data[cut:]


# --- the careful pass ----------------------------------------------------------------------------

def careful(text: str, line: int, cols: Columns) -> Parsed:
    """Every non-blank row of `text` by the `csv` module and `float`: the values, or a DataError
    naming the first bad row or cell."""
    reader = csv.reader(io.StringIO(text), delimiter=cols.delimiter)
    values, labels = [], []
    for cells in reader:
        number = line + reader.line_num - 1
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue
        if len(cells) != cols.width:
            raise wrong_width(cols, number, len(cells))
        row = []
        for c in cols.numeric:
            try:
                v = float(cells[c])
            except ValueError:
                raise bad_cell(cols, number, c, cells[c]) from None
            if v != v or v in (float("inf"), float("-inf")):
                raise bad_cell(cols, number, c, cells[c])
            row.append(v)
        values.append(row)
        if cols.label is not None:
            exc = bad_label(cols, number, cols.label, cells[cols.label])
            if exc is not None:
                raise exc
            labels.append(cells[cols.label].strip())
    X = np.array(values, dtype=np.float64).reshape(len(values), len(cols.numeric))
    return Parsed(X, numeric_labels(labels, cols.text_labels) if cols.label is not None else None)


def numeric_labels(labels: list[str], text: bool = False) -> np.ndarray | list[str]:
    """Labels as float64 when every one is a finite number (the common case: 8 bytes a row), else
    text; always text when `text` (Columns.text_labels)."""
    if text:
        return labels
    try:
        out = np.array(labels, dtype=np.float64)
    except ValueError:
        return labels
    return out if np.isfinite(out).all() else labels


def parse_chunks(fh, line: int, cols: Columns, engine: str | None = None, size: int | None = None,
                 path=None):
    """(span, parsed chunk) for the body that the binary stream `fh` stands at (line: its line
    number); a span is where the chunk was: (byte offset, length, first line). The chunks of a
    large file (`path`: `fh`'s file) are parsed on every core (nnctl/data/parallel.py)."""
    from nnctl.data import engines  # which builds on this module's rules and careful pass

    engine = engine or engines.csv_engine()
    parse = engines.ENGINES[engine]
    n = parallel.workers(os.fstat(fh.fileno()).st_size) if path is not None else 1
    if n < 2 or (engine == "numpy" and not parallel.can_fork()):
        for offset, first, data in body_chunks(fh, line, size):
            yield (offset, len(data), first), parse(data, first, cols)
        return
    threads = engine == "arrow"  # pyarrow parses without the interpreter's lock; loadtxt holds it,
    # so its chunks go to forked processes, each reading its own span of the file
    jobs = (((offset, len(data), first), data if threads else str(path), cols)
            for offset, first, data in body_chunks(fh, line, size))
    chunks = parallel.ordered(parallel.pool(n, processes=not threads), _job, jobs, 2 * n)
    with closing(chunks):
        for (span, *_), parsed in chunks:
            yield span, parsed
    parallel.give_back()


def _job(span: tuple[int, int, int], data: bytes | str, cols: Columns) -> Parsed:
    """A pool's chunk: its bytes (a thread), or the path of the file to read its span from (a
    forked process: the bytes need not travel)."""
    from nnctl.data import engines

    offset, length, line = span
    if isinstance(data, bytes):
        return engines.ENGINES["arrow"](data, line, cols)
    with open(data, "rb") as fh:  # pragma: no cover - runs in a worker process
        fh.seek(offset)
        return engines.ENGINES["numpy"](fh.read(length), line, cols)


def read_as_text(labels) -> bool:
    """Whether labels (or chunks of labels) read as numbers have lost what the classes need, so
    the column is read again with `Columns.text_labels` (docs/data.md): numbers beside text (a
    chunk of numbers forgot how they were written: '01', '1.0', '1e3'), or a whole number from
    2**53 on (float64 has lost its digits)."""
    if len({isinstance(v, (str, list)) for v in labels}) > 1:
        return True
    return any(bool((np.abs(np.asarray(v, dtype=np.float64)) >= 2.0 ** 53).any())
               for v in labels if not isinstance(v, (str, list)))


def join_labels(parts: list) -> np.ndarray | list[str]:
    """One label column from chunks that all found numbers, or all text."""
    if all(isinstance(p, np.ndarray) for p in parts):
        return np.concatenate(parts) if parts else np.empty(0)
    return [lab for p in parts for lab in p]


def label_text(label) -> str:
    """A label as text: a whole number read as a float by its integer's digits ('1', not '1.0'),
    any other label as written."""
    if isinstance(label, float):
        return str(int(label)) if label.is_integer() else repr(label)
    return str(label)


# --- whole tables --------------------------------------------------------------------------------

@dataclass
class Loaded:
    """A table's rows as training reads them: X_aug (n, n_features + 1) at the training dtype, its
    last column ones (the first layer's bias rides along in its matrix product); numeric targets
    Y (n, n_targets) float64; or one label per row (numbers or text)."""

    X_aug: np.ndarray
    Y: np.ndarray | None
    labels: np.ndarray | list[str] | None


def load(table, features: list[int], targets: list[int], label: int | None, dtype=np.float64,
         engine: str | None = None, text_labels: bool = False) -> Loaded:
    """The features (and numeric `targets`, or a `label` column) of a CSV or Parquet table, parsed
    in chunks straight into one array at `dtype`: the file's numbers exist once, and the peak is
    that array plus a chunk. The array grows in place (realloc) when the first chunk's rows per
    byte underestimated the file, and gives back what blank lines left unused. Labels are text
    as written when `text_labels`, or when read as numbers they lost what classes need (the
    column is read again: `read_as_text`)."""
    nf = len(features)
    cols = table.columns(features + targets, label)
    cols.text_labels = text_labels
    X = Y = None
    parts: list = []
    n = 0
    for span, chunk in table.chunks(cols, engine):
        m = chunk.X.shape[0]
        if X is None:
            X = np.empty((max(table.row_bound(span, m), m), nf + 1), dtype)
            Y = np.empty((X.shape[0], len(targets))) if targets else None
        elif n + m > X.shape[0]:
            X, Y = _resized(X, n + m + X.shape[0] // 8), None if Y is None else _resized(Y, n + m + Y.shape[0] // 8)
        X[n:n + m, :nf] = chunk.X[:, :nf]
        if Y is not None:
            Y[n:n + m] = chunk.X[:, nf:]
        if label is not None:
            parts.append(chunk.labels)
        n += m
    if n == 0:
        raise DataError("has a header but no data rows", source=table.source)
    X = _resized(X, n)
    X[:, nf] = 1.0
    if label is not None and not cols.text_labels and read_as_text(parts):
        cols.text_labels = True
        parts = [chunk.labels for _, chunk in table.chunks(cols, engine)]
    return Loaded(X, None if Y is None else _resized(Y, n), join_labels(parts) if label is not None else None)


def _resized(A: np.ndarray, n: int) -> np.ndarray:
    """A with n rows, in place when NumPy can (realloc), else as a copy."""
    if n == A.shape[0]:
        return A
    try:
        A.resize((n, *A.shape[1:]), refcheck=False)
        return A
    except ValueError:
        B = np.empty((n, *A.shape[1:]), A.dtype)
        k = min(n, A.shape[0])
        B[:k] = A[:k]
        return B
