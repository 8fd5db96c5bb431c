"""The two CSV engines of the one reader (nnctl/data/reader.py, which holds the rules, the
messages and the careful pass): pyarrow's CSV reader with the `arrow` extra, else numpy.loadtxt.
Each parses one chunk of whole lines, or hands it to the careful pass when it refuses it."""

from __future__ import annotations

import io
import os
import warnings

import numpy as np

from nnctl.data import arrow, parallel, reader
from nnctl.data.reader import Columns, Parsed, decode, label_ok, numeric_labels

ENGINE_ENV = "NNCTL_CSV_ENGINE"  # "numpy" or "arrow": which engine parses CSV (default: arrow if installed)


def csv_engine() -> str:
    """'arrow' when pyarrow is importable, else 'numpy'; NNCTL_CSV_ENGINE chooses. Under a cap on
    address space (`ulimit -v`) 'numpy' unless told: importing pyarrow maps about 190 MB of it,
    room a table needs (the same numbers either way, and the parse is in one process there)."""
    told = os.environ.get(ENGINE_ENV, "").lower()
    if told == "numpy" or (told != "arrow" and parallel.address_space_capped()):
        return "numpy"
    try:
        arrow.pyarrow()
        import pyarrow.csv  # noqa: F401
    except ImportError:
        return "numpy"
    return "arrow"


def _plain_ascii(data: bytes) -> bool:
    """ASCII text with \n line ends: no decoding or normalising to do (the common case)."""
    return data.isascii() and b"\r" not in data and b"\x00" not in data


def numpy_chunk(data: bytes, line: int, cols: Columns) -> Parsed:
    if _plain_ascii(data) and _every(cols):  # loadtxt reads the bytes as they are, and checks widths
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": a chunk of blank lines
            try:
                A = _loadtxt(io.BytesIO(data), cols, None)
            except ValueError:
                A = None
        if A is not None:
            return _numbers(A, cols)
    return parse_lines(decode(data, line, cols.source).split("\n"), line, cols, b'"' not in data)


def parse_lines(lines: list[str], line: int, cols: Columns, plain: bool | None = None) -> Parsed:
    """Decoded lines (the first is line `line`) by numpy.loadtxt, or by the careful pass when
    loadtxt refuses them or a cell is not finite. A text label column is cut out of each line
    (no quotes: `plain`) while loadtxt reads the numbers."""
    wanted = cols.wanted
    every = _every(cols)
    if plain is None:
        plain = not any('"' in row for row in lines)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "input contained no data": a chunk of blank lines
        cut = cols.text_labels
        try:
            if not cut and (every or (plain and _widths_ok(lines, cols))):
                A = _loadtxt(lines, cols, None if every else wanted)
                if A is not None:
                    return _numbers(A, cols)
        except ValueError:  # perhaps text labels: the numbers alone, and the labels cut out
            cut = True
        if cut and cols.label is not None and plain and _widths_ok(lines, cols):
            try:
                A = _loadtxt(lines, cols, cols.numeric)
            except ValueError:
                A = None
            labels = _text_labels(lines, cols) if A is not None else None
            if labels is not None:
                return Parsed(A, numeric_labels(labels, cols.text_labels))
    return reader.careful("\n".join(lines), line, cols)


def _every(cols: Columns) -> bool:
    """Every column is wanted, each as a number: loadtxt reads the lines whole."""
    return cols.wanted == list(range(cols.width)) and not cols.text_labels


def _numbers(A: np.ndarray, cols: Columns) -> Parsed:
    """loadtxt's array of every wanted column: the numbers, and the label column's numbers."""
    n = len(cols.numeric)
    return Parsed(A[:, :n], A[:, n].copy()) if cols.label is not None else Parsed(A)


def _loadtxt(lines, cols: Columns, usecols: list[int] | None) -> np.ndarray | None:
    """The columns by numpy.loadtxt, or None when a number is not finite (ValueError: not a number)."""
    A = np.loadtxt(lines, delimiter=cols.delimiter, dtype=np.float64, ndmin=2, comments=None, quotechar='"',
                   usecols=usecols)
    width = cols.width if usecols is None else len(usecols)
    if A.size == 0:
        return np.empty((0, width))
    return A if A.shape[1] == width and np.isfinite(A).all() else None


def _text_labels(lines: list[str], cols: Columns) -> list[str] | None:
    """The label cell of every non-blank line (no quotes in them), or None when one is refused."""
    d, c = cols.delimiter, cols.label
    labels = [row.split(d, c + 1)[c].strip() for row in lines if row.strip()]
    if all(map(label_ok, labels)):
        return labels
    return None


def _widths_ok(lines: list[str], cols: Columns) -> bool:
    """Every non-blank line has as many cells as the header (counted by delimiters; no quotes)."""
    d, want = cols.delimiter, cols.width - 1
    return all(row.count(d) == want or not row.strip() for row in lines)


def arrow_chunk(data: bytes, line: int, cols: Columns) -> Parsed:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if not _plain_ascii(data):  # NUL bytes, CRs, UTF-8 (also in columns not read): the NumPy
        return numpy_chunk(data, line, cols)  # engine decodes, and words what is wrong
    names = [f"c{i}" for i in range(cols.width)]
    wanted = cols.wanted
    try:
        t = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=arrow.use_threads()),
            parse_options=pacsv.ParseOptions(delimiter=cols.delimiter, quote_char='"'),
            convert_options=pacsv.ConvertOptions(
                column_types={**{names[c]: pa.float64() for c in cols.numeric},
                              **({names[cols.label]: pa.string()} if cols.text_labels else {})},
                include_columns=[names[c] for c in wanted], null_values=[], strings_can_be_null=False,
                quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return numpy_chunk(data, line, cols)
    X = np.empty((t.num_rows, len(cols.numeric)), order="F")
    for j, c in enumerate(cols.numeric):
        X[:, j] = t.column(names[c]).to_numpy()
    labels = None
    if cols.label is not None:
        col = t.column(names[cols.label])
        if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
            labels = col.to_numpy().astype(np.float64, copy=False)
            ok = np.isfinite(labels).all()
        else:
            labels = [s.strip() for s in col.to_pylist()]
            ok = all(map(label_ok, labels))
            labels = numeric_labels(labels, cols.text_labels) if ok else labels
        if not ok:
            return numpy_chunk(data, line, cols)
    if not np.isfinite(X).all():
        return numpy_chunk(data, line, cols)
    return Parsed(X, labels)


ENGINES = {"numpy": numpy_chunk, "arrow": arrow_chunk}
