"""CSV reading with explicit rules and errors that name the line and column.

Rules: UTF-8 (a BOM is skipped), any line ending, a header row of unique names, the same number
of cells on every row, blank lines skipped, numbers as Python writes them, and no empty, NaN or
infinite cells. Line numbers count physical lines from 1, as a text editor does.

The fast path hands the whole body to `numpy.loadtxt` (C code); a large file is cut at line
breaks into one run of lines per core, each parsed by `numpy.loadtxt` in a forked process that
writes its rows straight into shared memory. Only when that refuses, or a column holds text
(class labels), does a careful pass with the `csv` module run, to find and name the bad cell or
to keep the text column.
"""

from __future__ import annotations

import csv
import io
import mmap
import os
import signal
import sys
import warnings
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np

from nnctl.errors import DataError, did_you_mean

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
    _index: dict[str, int] | None = None

    @property
    def text(self) -> str:
        """The body, after the header (read, decoded and checked on first use)."""
        if self._text is None:
            lines = read_text(self.path, self.source).split("\n", self.first_line - 1)
            self._text = lines[-1] if len(lines) == self.first_line else ""
        return self._text

    def column_index(self, name: str, what: str) -> int:
        if self._index is None:  # a dict: a wide file's 40 000 names are looked up in O(1) each
            self._index = {n: i for i, n in enumerate(self.header)}
        try:
            return self._index[name]
        except KeyError:
            raise DataError(f"no {what} column {name!r}{did_you_mean(name, self.header)}; "
                            f"the header has {_preview_names(self.header)}", source=self.source) from None


def _preview_names(names: list[str], k: int = 20) -> str:
    shown = ", ".join(names[:k])
    return shown + (f", … ({len(names)} columns)" if len(names) > k else "")


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
    seen: set[str] = set()
    for col, name in enumerate(names, 1):
        if not name:
            raise DataError(f"line {line}, column {col}: empty column name in the header", source=source)
        if name in seen:
            raise DataError(f"line {line}, column {col}: duplicate column name {name!r}", source=source)
        seen.add(name)
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


PARALLEL_MIN_BYTES = 8 << 20  # below this, forking costs more than it saves
CHUNK = 4096  # rows per block when moving rows in place: temporaries stay small
_LOADTXT = {"dtype": np.float64, "ndmin": 2, "quotechar": '"', "comments": None}


def _cores() -> int:
    if sys.platform != "linux":  # fork is only dependable on Linux
        return 1
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - Linux has it
        return os.cpu_count() or 1


def _count(mm: mmap.mmap, a: int, b: int, what: bytes, block: int = 1 << 22) -> int:
    return sum(mm[i:min(i + block, b)].count(what) for i in range(a, b, block))


def _parallel_loadtxt(path: Path, first_line: int, width: int, delimiter: str,
                      usecols: list[int] | None = None) -> np.ndarray | None:
    """The body of a large file, parsed by numpy.loadtxt in one forked process per core, each
    taking a run of whole lines and writing its rows into shared memory. None when this does not
    apply (a small file, one core, no fork, a quote character, which may hide a line break) or a
    part does not parse; the caller then parses the usual way, which also names a bad cell."""
    k = _cores()
    if k < 2:
        return None
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size < PARALLEL_MIN_BYTES:
            return None
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            start = 0
            for _ in range(first_line - 1):
                start = mm.find(b"\n", start) + 1
                if start == 0:
                    return None
            if mm.find(b'"', start) != -1:
                return None
            cuts = [start]
            for i in range(1, k):
                at = mm.find(b"\n", max(cuts[-1], start + (size - start) * i // k))
                cuts.append(size if at == -1 else at + 1)
            cuts.append(size)
            parts = list(pairwise(cuts))
            # rows a part can hold at most: its line breaks, plus an unterminated last line
            bounds = [_count(mm, a, b, b"\n") + (b > a and mm[b - 1] != 10) for a, b in parts]
            offsets = np.cumsum([0, *bounds]).tolist()
            out_mm = mmap.mmap(-1, max(offsets[-1] * width * 8, 1))
            counts = np.frombuffer(mmap.mmap(-1, 8 * k), np.int64)
            out = np.frombuffer(out_mm, np.float64, count=offsets[-1] * width).reshape(-1, width)
            pids: list[int] = []
            try:
                with warnings.catch_warnings():  # Python 3.12 warns of fork in a threaded process; the
                    warnings.simplefilter("ignore", DeprecationWarning)  # child runs no other thread's code
                    for i, (a, b) in enumerate(parts):
                        if a == b:
                            continue
                        pid = os.fork()
                        if pid == 0:  # pragma: no cover - runs in the child, which coverage does not follow
                            _parse_part(mm, a, b, i, width, delimiter, out[offsets[i]:offsets[i + 1]], counts,
                                        usecols)
                        pids.append(pid)
                codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]
            except BaseException:  # Ctrl-C while parsing: stop the children too
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                        os.waitpid(pid, 0)
                    except OSError:
                        pass
                raise
    if any(codes):
        return None
    rows = 0
    for i, n in enumerate(counts.tolist()):  # close the gaps that blank lines leave
        for j in range(0, n, CHUNK):
            c = min(CHUNK, n - j)
            if offsets[i] + j != rows + j:
                out[rows + j:rows + j + c] = out[offsets[i] + j:offsets[i] + j + c]
        rows += n
    return out[:rows]


def _parse_part(mm, a, b, i, width, delimiter, dest, counts, usecols=None) -> None:  # pragma: no cover - a child
    code = 1
    try:
        warnings.simplefilter("ignore")  # a part of blank lines only "contained no data"
        part = np.loadtxt(io.BytesIO(mm[a:b]), delimiter=delimiter, encoding="utf-8-sig" if i == 0 else "utf-8",
                          usecols=usecols, **_LOADTXT)
        if part.size == 0:
            counts[i], code = 0, 0
        elif part.shape[1] == width and len(part) <= len(dest):
            dest[:len(part)] = part
            counts[i], code = len(part), 0
    finally:
        os._exit(code)


def _fast_numeric(table: Table, delimiter: str) -> np.ndarray | None:
    """Every column through numpy.loadtxt, or None when any cell (or row width) is off."""
    if table.all_numeric is None:
        try:
            with np.errstate(all="ignore"):
                if table.path is not None:  # loadtxt reads the file itself: fastest, and no copy of the text
                    out = _parallel_loadtxt(table.path, table.first_line, len(table.header), delimiter)
                    if out is None:
                        out = np.loadtxt(table.path, delimiter=delimiter, skiprows=table.first_line - 1,
                                         encoding="utf-8-sig", **_LOADTXT)
                else:
                    out = np.loadtxt(table.text.split("\n"), delimiter=delimiter, **_LOADTXT)
            ok = out.shape == (out.shape[0], len(table.header)) and np.isfinite(out).all()
            table.all_numeric = out if ok else False
        except (ValueError, UnicodeDecodeError):
            table.all_numeric = False
    return table.all_numeric if table.all_numeric is not False else None


def _fast_columns(table: Table, cols: list[int], delimiter: str) -> np.ndarray | None:
    """Only the given columns through numpy.loadtxt (`usecols`): a text column elsewhere (the
    labels) does not send every number through the slow careful pass. None when a cell is off."""
    try:
        with np.errstate(all="ignore"):
            if table.path is not None:
                out = _parallel_loadtxt(table.path, table.first_line, len(cols), delimiter, cols)
                if out is None:
                    out = np.loadtxt(table.path, delimiter=delimiter, skiprows=table.first_line - 1,
                                     encoding="utf-8-sig", usecols=cols, **_LOADTXT)
            else:
                out = np.loadtxt(table.text.split("\n"), delimiter=delimiter, usecols=cols, **_LOADTXT)
    except (ValueError, UnicodeDecodeError):
        return None
    ok = out.shape == (out.shape[0], len(cols)) and np.isfinite(out).all()
    return out if ok and _widths_checked(table, delimiter) else None


def _widths_checked(table: Table, delimiter: str) -> bool:
    """Every non-blank row has as many cells as the header (DataError naming the first that has
    not); False when quotes make counting delimiters unreliable (the careful pass then checks)."""
    text = table.text
    if '"' in text:
        return False
    width = len(table.header)
    for number, row in enumerate(text.split("\n"), table.first_line):
        if row.count(delimiter) != width - 1 and row.strip():
            raise DataError(f"line {number}: {row.count(delimiter) + 1} cells, expected {width} as in "
                            "the header", source=table.source)
    return True


def fast_numeric_columns(table: Table, cols: list[int], delimiter: str = ",") -> np.ndarray | None:
    """The given columns as float64 (n_rows, len(cols)) through the fast parsers only, or None when
    a cell is not a finite number (without the careful pass that would name it)."""
    fast = _fast_numeric(table, delimiter)
    if fast is not None:
        return fast[:, cols] if cols != list(range(len(table.header))) else fast
    if cols and len(cols) < len(table.header):
        return _fast_columns(table, cols, delimiter)
    return None


def numeric_columns(table: Table, cols: list[int], delimiter: str = ",") -> np.ndarray:
    """The given columns as a float64 array (n_rows, len(cols)); a bad cell raises DataError."""
    fast = fast_numeric_columns(table, cols, delimiter)
    if fast is not None:
        return fast
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


def _label_cells(table: Table, col: int, delimiter: str):
    """(line, cell) of one column for every non-blank row. Without quotes in the file, each line is
    cut at the delimiter in C and only the cell wanted is kept; otherwise the csv module reads it."""
    if not _widths_checked(table, delimiter):
        for line, cells in _rows(table, delimiter):
            yield line, cells[col]
        return
    for number, row in enumerate(table.text.split("\n"), table.first_line):
        if row.strip():
            yield number, row.split(delimiter, col + 1)[col]


def text_column(table: Table, col: int, delimiter: str = ",") -> list[str]:
    """A column of labels, stripped. Empty cells and cells that read as a missing or infinite
    number (`nan`, `inf`) are refused with their line and column: no label may stand for a gap."""
    out = []
    for line, raw in _label_cells(table, col, delimiter):
        cell = raw.strip()
        if not cell:
            raise _bad_cell(table, line, col, cell)
        if cell.lower().lstrip("+-") in _NON_FINITE:
            raise DataError(f"line {line}, column {col + 1} ({table.header[col]!r}): {cell!r} reads as a "
                            "missing or infinite number, not a label; remove the row or give it a label",
                            source=table.source)
        out.append(cell)
    return out


_NON_FINITE = {"nan", "inf", "infinity"}
