"""A CSV file as a table: its header (checked: unique names, where the body starts) and its body
as parsed chunks, through the one reader (nnctl/data/reader.py), which holds the cell rules."""

from __future__ import annotations

import csv
import io
import math
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from nnctl.data import reader
from nnctl.errors import DataError, did_you_mean

MAX_BYTES = 4 << 30  # what stdin or a lone-CR file may hold: such text is read whole


@dataclass
class Table:
    """A CSV file's header, and where its body starts; the body is read in chunks when asked."""

    source: str
    header: list[str]
    path: Path | None  # None for stdin, whose text is kept in `_text`
    first_line: int  # the physical line number of the body's first line
    _text: str | None = None
    delimiter: str = ","
    _index: dict[str, int] | None = None
    chunk_bytes: int | None = None  # None: reader.CHUNK_BYTES; a stream reads smaller chunks

    def column_index(self, name: str, what: str) -> int:
        if self._index is None:  # a dict: a wide file's 40 000 names are looked up in O(1) each
            self._index = {n: i for i, n in enumerate(self.header)}
        try:
            return self._index[name]
        except KeyError:
            raise DataError(f"no {what} column {name!r}{did_you_mean(name, self.header)}; "
                            f"the header has {preview_names(self.header)}", source=self.source) from None

    def columns(self, numeric: list[int], label: int | None = None) -> reader.Columns:
        return reader.Columns(numeric, label, len(self.header), self.header, self.source, self.delimiter)

    @contextmanager
    def _body(self):
        """A binary stream standing at the body's first line."""
        if self.path is None:
            yield io.BytesIO(self._text.encode())
            return
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise DataError(f"cannot read it: {exc.strerror}", source=self.source) from None
        with fh:
            for _ in range(self.first_line - 1):
                fh.readline()
            yield fh

    def row_bound(self, span: tuple[int, int, int], rows: int) -> int:
        """About how many rows the body holds, judged by its first chunk (`rows` rows in `span`)."""
        offset, length, _ = span
        size = len(self._text.encode()) if self.path is None else self.path.stat().st_size
        return math.ceil((size - offset) / max(length, 1) * rows * 1.02)

    def chunks(self, cols: reader.Columns, engine: str | None = None):
        """(span, parsed chunk) for the body, in order; a span says where the chunk was."""
        with self._body() as fh:
            yield from reader.parse_chunks(fh, self.first_line, cols, engine, self.chunk_bytes, self.path)


def preview_names(names: list[str], k: int = 20) -> str:
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
        raise reader.not_utf8(line, source, data) from None
    if "\x00" in text:
        raise DataError("contains NUL bytes; expected a text CSV file", source=source)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_header(first: str, source: str, delimiter: str, header: bool, line: int) -> list[str]:
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
        raise reader.not_utf8(number, source, raw if number == 1 else b"") from None
    return first, number, more


def _table_from_text(text: str, source: str, delimiter: str, header: bool) -> Table:
    lines = text.split("\n")
    number = next((i for i, line in enumerate(lines, 1) if line.strip()), len(lines))
    names = parse_header(lines[number - 1], source, delimiter, header, number)
    skip = number if header else number - 1
    body = "\n".join(lines[skip:])
    if not body.strip():
        raise DataError("has a header but no data rows", source=source)
    return Table(source, names, None, skip + 1, body, delimiter)


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
    names = parse_header(first, source, delimiter, header, number)
    if not header:
        return Table(source, names, p, number, delimiter=delimiter)
    if not more:
        raise DataError("has a header but no data rows", source=source)
    return Table(source, names, p, number + 1, delimiter=delimiter)


