"""A Parquet file as a table, through pyarrow (the `arrow` extra): the same interface as a CSV
table (header, column_index, columns, chunks, row_bound), so training, evaluate and predict
read it through the one loader (nnctl/data/reader.py). Messages name a row (counted from 1) and
a column, as CSV's name a line."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnctl.data import arrow, csvtable, reader
from nnctl.errors import DataError, did_you_mean

BATCH_ROWS = 1 << 16  # rows read at once: a chunk of a load or of a streamed epoch
EXTRA = "Parquet files need pyarrow, an optional extra: pip install 'nnctl[arrow]'"


def _pyarrow(source: str):
    try:
        pa = arrow.pyarrow()
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(EXTRA, source=source) from None
    return pa, pq


class Table:
    """A Parquet file: its column names, and its rows in batches when asked."""

    def __init__(self, path: Path, source: str):
        pa, pq = _pyarrow(source)
        self.path, self.source = path, source
        try:
            # buffered reads: a column chunk is read a MB at a time, not whole (a row group's every
            # column chunk at once was most of a streamed run's peak)
            self.file = pq.ParquetFile(path, buffer_size=1 << 20, pre_buffer=False)
        except FileNotFoundError:
            raise DataError("no such file", source=source) from None
        except IsADirectoryError:
            raise DataError("is a folder, expected a Parquet file", source=source) from None
        except (OSError, pa.ArrowException) as exc:
            raise DataError(f"cannot read it as Parquet: {_said(exc)}", source=source) from None
        self.header = list(self.file.schema_arrow.names)
        self._index = {n: i for i, n in enumerate(self.header)}
        if len(self._index) < len(self.header):  # as a CSV header's: a name must say which column
            col = next(i for i, n in enumerate(self.header) if n in self.header[:i])
            raise DataError(f"column {col + 1}: duplicate column name {self.header[col]!r}", source=source)

    def column_index(self, name: str, what: str) -> int:
        try:
            return self._index[name]
        except KeyError:
            raise DataError(f"no {what} column {name!r}{did_you_mean(name, self.header)}; the file has "
                            f"{csvtable.preview_names(self.header)}", source=self.source) from None

    def columns(self, numeric: list[int], label: int | None = None) -> reader.Columns:
        return reader.Columns(numeric, label, len(self.header), self.header, self.source, kind="parquet")

    def row_bound(self, span=None, rows: int = 0) -> int:
        return self.file.metadata.num_rows

    def chunks(self, cols: reader.Columns, engine: str | None = None):
        """(span, parsed rows) per BATCH_ROWS rows of each row group (span: the row group's index
        and the batch's first row); a null or non-numeric cell is named by row and column."""
        row = 1
        for i in range(self.file.num_row_groups):
            for batch in self._row_group(i, cols):
                parsed = self._parse(batch, row, cols)
                yield (i, row), parsed
                row += parsed.X.shape[0]

    def _row_group(self, i: int, cols: reader.Columns):
        """Row group i's columns, BATCH_ROWS rows at a time (a writer's default row group holds a
        million rows or more: read whole, it would be a streamed run's peak); a damaged row group
        is a DataError (the footer read, a page did not)."""
        import pyarrow as pa

        batches = self.file.iter_batches(BATCH_ROWS, row_groups=[i], columns=self._names(cols),
                                         use_threads=arrow.use_threads())
        while True:
            try:
                batch = next(batches, None)
            except MemoryError:  # pyarrow's ArrowMemoryError is an ArrowException too: out of memory
                raise
            except (OSError, pa.ArrowException) as exc:
                if isinstance(exc, OSError) and exc.errno is not None:  # the disk, not the file's bytes
                    raise DataError(f"cannot read it: {exc.strerror}", source=self.source) from None
                raise DataError(f"row group {i + 1} of {self.file.num_row_groups}: cannot read it as Parquet "
                                f"(the file is damaged or truncated): {_said(exc)}", source=self.source) from None
            if batch is None:
                return
            yield batch

    def _names(self, cols: reader.Columns) -> list[str]:
        return [self.header[c] for c in dict.fromkeys(cols.wanted)]

    def _parse(self, batch, row: int, cols: reader.Columns) -> reader.Parsed:
        X = np.empty((batch.num_rows, len(cols.numeric)))
        for j, c in enumerate(cols.numeric):
            X[:, j] = _numbers(batch.column(self.header[c]), row, c, cols)
        labels = None
        if cols.label is not None:
            labels = _labels(batch.column(self.header[cols.label]), row, cols.label, cols)
        return reader.Parsed(X, labels)


def _numbers(col, row: int, c: int, cols: reader.Columns) -> np.ndarray:
    """A column of a batch as float64; nulls, text that is not a number and non-finite values
    are bad cells."""
    import pyarrow as pa

    if pa.types.is_decimal(col.type):  # numbers written exactly: read as their text is, the nearest
        col = col.cast(pa.string())  # float64 (Arrow's cast to float64 can be one unit in the last place off)
    if not (_is_number(col.type) or pa.types.is_boolean(col.type)):  # text (or another type): each cell
        out = np.empty(len(col))  # by CSV's rules
        for i, v in enumerate(col.to_pylist()):
            if v is not None and not isinstance(v, str):  # a date, a list, a struct: not a number, whatever its text
                exc = DataError(f"{reader.where(cols, row + i, c)}: {str(v)!r} ({col.type}) is not a number",
                                source=cols.source)
                exc.column = c
                raise exc
            try:
                out[i] = float("nan") if v is None else float(v)
            except ValueError:
                raise reader.bad_cell(cols, row + i, c, v) from None
            if not np.isfinite(out[i]):
                raise reader.bad_cell(cols, row + i, c, v)
        return out
    if col.null_count:
        i = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
        raise reader.bad_cell(cols, row + i, c, None)
    out = col.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        raise reader.bad_cell(cols, row + int(bad[0]), c, repr(float(out[bad[0]])))
    return out


def _labels(col, row: int, c: int, cols: reader.Columns):
    """A label column: numbers when numeric (nulls and non-finite values refused), else text;
    integers as the text of their digits when labels are read as text (reader.read_as_text)."""
    import pyarrow as pa

    if _is_number(col.type) and not (cols.text_labels and pa.types.is_integer(col.type)):
        return _numbers(col, row, c, cols)
    values = col.to_pylist()
    out = []
    for i, v in enumerate(values):
        if v is None:
            raise reader.bad_cell(cols, row + i, c, None)
        exc = reader.bad_label(cols, row + i, c, str(v))
        if exc is not None:
            raise exc
        out.append(str(v).strip())
    return reader.numeric_labels(out, cols.text_labels)


def _said(exc: Exception) -> str:
    """Arrow's message on one line (it spans several for a damaged page)."""
    return " ".join(str(exc).split())


def _is_number(t) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(t) or pa.types.is_floating(t)


def read_table(path: str | Path, source: str | None = None) -> Table:
    return Table(Path(path), source or str(path))
