"""CSV reading with explicit rules and errors that name the line and column.

Rules: UTF-8 (a BOM is skipped), any line ending, a header row of unique names, the same number
of cells on every row, blank lines skipped, numbers as Python writes them, and no empty, NaN or
infinite cells. Line numbers count physical lines from 1, as a text editor does.

The fast path hands the whole body to `numpy.loadtxt` (C code). Only when it refuses, or a column
holds text (class labels), does a careful pass with the `csv` module run, to find and name the
bad cell or to keep the text column.
"""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError, did_you_mean

MAX_BYTES = 4 << 30


@dataclass
class Table:
    """A CSV file's header, and where its body starts; the body itself is read only if needed."""

    source: str
    header: list[str]
    path: Path | None  # None for stdin, whose text is kept in `_text`
    first_line: int  # the physical line number of the body's first line
    _text: str | None = None
    all_numeric: np.ndarray | bool | None = None  # loadtxt's parse of every column, once tried

    @property
    def text(self) -> str:
        """The body, after the header (read, decoded and checked on first use)."""
        if self._text is None:
            lines = read_text(self.path, self.source).split("\n", self.first_line - 1)
            self._text = lines[-1] if len(lines) == self.first_line else ""
        return self._text

    def column_index(self, name: str, what: str) -> int:
        try:
            return self.header.index(name)
        except ValueError:
            raise DataError(f"no {what} column {name!r}{did_you_mean(name, self.header)}; "
                            f"the header has {', '.join(self.header)}", source=self.source) from None


def read_text(path: str | Path, source: str | None = None) -> str:
    """The file (or stdin for '-') as text; a BOM is dropped and line ends are normalised."""
    source = source or str(path)
    try:
        if str(path) == "-":
            data = sys.stdin.buffer.read()
        else:
            p = Path(path)
            if p.is_dir():
                raise DataError("is a folder, expected a CSV file", source=source)
            if p.stat().st_size > MAX_BYTES:
                raise DataError(f"larger than {MAX_BYTES >> 30} GiB", source=source)
            data = p.read_bytes()
    except FileNotFoundError:
        raise DataError("no such file", source=source) from None
    except OSError as exc:
        raise DataError(f"cannot read it: {exc.strerror}", source=source) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(f"line {line}: not UTF-8 text (save the file as UTF-8)", source=source) from None
    if "\x00" in text:
        raise DataError("contains NUL bytes; expected a text CSV file", source=source)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _parse_header(first: str, source: str, delimiter: str, header: bool, line: int) -> list[str]:
    if not first.strip():
        raise DataError("the file is empty; expected a header row and data rows", source=source)
    names = next(csv.reader([first], delimiter=delimiter))
    if delimiter == "," and len(names) == 1 and ";" in first:
        raise DataError(f"line {line}: the header has no commas but has semicolons; this file looks "
                        "semicolon-separated (set data.delimiter: ';')", source=source)
    if not header:
        return [str(i) for i in range(len(names))]
    names = [n.strip() for n in names]
    for col, name in enumerate(names, 1):
        if not name:
            raise DataError(f"line {line}, column {col}: empty column name in the header", source=source)
        if names.index(name) != col - 1:
            raise DataError(f"line {line}, column {col}: duplicate column name {name!r}", source=source)
    return names


def _head_of_file(p: Path, source: str) -> tuple[str, int, bool]:
    """The first non-blank line (BOM dropped), its line number, and whether a non-blank line follows."""
    try:
        if p.is_dir():
            raise DataError("is a folder, expected a CSV file", source=source)
        if p.stat().st_size > MAX_BYTES:
            raise DataError(f"larger than {MAX_BYTES >> 30} GiB", source=source)
        with open(p, "rb") as fh:
            number, raw = 0, b""
            for number, raw in enumerate(fh, 1):  # noqa: B007 - the loop finds the first non-blank line
                if raw.strip():
                    break
            else:
                return "", max(number, 1), False
            more = any(line.strip() for line in fh)
    except FileNotFoundError:
        raise DataError("no such file", source=source) from None
    except OSError as exc:
        raise DataError(f"cannot read it: {exc.strerror}", source=source) from None
    try:
        first = raw.decode("utf-8-sig" if number == 1 else "utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise DataError(f"line {number}: not UTF-8 text (save the file as UTF-8)", source=source) from None
    return first, number, more


def _table_from_text(text: str, source: str, delimiter: str, header: bool) -> Table:
    lines = text.split("\n")
    number = next((i for i, line in enumerate(lines, 1) if line.strip()), len(lines))
    names = _parse_header(lines[number - 1], source, delimiter, header, number)
    skip = number if header else number - 1
    body = "\n".join(lines[skip:])
    if not body.strip():
        raise DataError("has a header but no data rows", source=source)
    return Table(source, names, None, skip + 1, body)


def read_table(path: str | Path, delimiter: str = ",", header: bool = True,
               source: str | None = None) -> Table:
    """The header of a CSV file (or of stdin for '-'). With header=False, the first row is data
    and the columns are named 0, 1, 2, …"""
    source = source or str(path)
    if str(path) == "-":
        return _table_from_text(read_text(path, source), source, delimiter, header)
    p = Path(path)
    first, number, more = _head_of_file(p, source)
    if "\r" in first:  # old Mac line ends (a lone CR): only the normalised text splits into lines
        return _table_from_text(read_text(p, source), source, delimiter, header)
    names = _parse_header(first, source, delimiter, header, number)
    if not header:
        return Table(source, names, p, number)
    if not more:
        raise DataError("has a header but no data rows", source=source)
    return Table(source, names, p, number + 1)


def _rows(table: Table, delimiter: str):
    """(line number, cells) for every non-blank row, checking that each has as many cells as the header."""
    width = len(table.header)
    reader = csv.reader(io.StringIO(table.text), delimiter=delimiter)
    for cells in reader:
        line = table.first_line + reader.line_num - 1
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue
        if len(cells) != width:
            raise DataError(f"line {line}: {len(cells)} cells, expected {width} as in the header",
                            source=table.source)
        yield line, cells


def _bad_cell(table: Table, line: int, col: int, cell: str) -> DataError:
    where = f"line {line}, column {col + 1} ({table.header[col]!r})"
    stripped = cell.strip()
    if not stripped:
        return DataError(f"{where}: empty cell; expected a number (missing values are not "
                         "filled in: remove the row or fill it)", source=table.source)
    try:
        float(stripped)
    except ValueError:
        return DataError(f"{where}: {stripped!r} is not a number", source=table.source)
    return DataError(f"{where}: {stripped!r} is not finite; expected a finite number",
                     source=table.source)


def _fast_numeric(table: Table, delimiter: str) -> np.ndarray | None:
    """Every column through numpy.loadtxt, or None when any cell (or row width) is off."""
    if table.all_numeric is None:
        try:
            with np.errstate(all="ignore"):
                if table.path is not None:  # loadtxt reads the file itself: fastest, and no copy of the text
                    out = np.loadtxt(table.path, delimiter=delimiter, dtype=np.float64, ndmin=2, quotechar='"',
                                     comments=None, skiprows=table.first_line - 1, encoding="utf-8-sig")
                else:
                    out = np.loadtxt(table.text.split("\n"), delimiter=delimiter, dtype=np.float64, ndmin=2,
                                     quotechar='"', comments=None)
            ok = out.shape == (out.shape[0], len(table.header)) and np.isfinite(out).all()
            table.all_numeric = out if ok else False
        except (ValueError, UnicodeDecodeError):
            table.all_numeric = False
    return table.all_numeric if table.all_numeric is not False else None


def numeric_columns(table: Table, cols: list[int], delimiter: str = ",") -> np.ndarray:
    """The given columns as a float64 array (n_rows, len(cols)); a bad cell raises DataError."""
    fast = _fast_numeric(table, delimiter)
    if fast is not None:
        return fast[:, cols] if cols != list(range(len(table.header))) else fast
    values = []
    for line, cells in _rows(table, delimiter):
        row = []
        for c in cols:
            try:
                v = float(cells[c])
            except ValueError:
                raise _bad_cell(table, line, c, cells[c]) from None
            if v != v or v in (float("inf"), float("-inf")):
                raise _bad_cell(table, line, c, cells[c])
            row.append(v)
        values.append(row)
    return np.array(values, dtype=np.float64).reshape(len(values), len(cols))


CHUNK = 4096  # rows per block when rearranging in place: temporaries stay small


def augmented_features(table: Table, cols: list[int], delimiter: str = ",") -> np.ndarray:
    """The given columns followed by a column of ones, (n_rows, len(cols) + 1) float64 — the
    layout training uses. When every column parsed as numbers and there is a column to spare,
    the parsed array's own memory is rearranged in place, so the file's numbers exist once.
    Read any other columns (the targets) first: the parse is consumed."""
    nf = len(cols)
    fast = _fast_numeric(table, delimiter)
    if fast is None or fast.shape[1] <= nf:
        X = numeric_columns(table, cols, delimiter)
        out = np.empty((X.shape[0], nf + 1))
        out[:, :nf] = X
        out[:, nf] = 1.0
        return out
    table.all_numeric = None  # its memory now holds the features; parse again if asked
    in_place = cols == list(range(nf))
    for a in range(0, fast.shape[0], CHUNK):
        if not in_place:
            fast[a:a + CHUNK, :nf] = fast[a:a + CHUNK][:, cols]
        fast[a:a + CHUNK, nf] = 1.0
    return fast[:, :nf + 1]


def text_column(table: Table, col: int, delimiter: str = ",") -> list[str]:
    out = []
    for line, cells in _rows(table, delimiter):
        cell = cells[col].strip()
        if not cell:
            raise _bad_cell(table, line, col, cell)
        out.append(cell)
    return out
