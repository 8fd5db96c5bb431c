"""A Parquet file as a table, through pyarrow (the `arrow` extra): the same interface as a CSV
table (header, column_index, columns, chunks, row_bound), so training, evaluate and predict
read it through the one loader (nnctl/data/reader.py). Messages name a row (counted from 1) and
a column, as CSV's name a line."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnctl.data import arrow, reader
from nnctl.errors import DataError, did_you_mean

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
            self.file = pq.ParquetFile(path)
        except FileNotFoundError:
            raise DataError("no such file", source=source) from None
        except IsADirectoryError:
            raise DataError("is a folder, expected a Parquet file", source=source) from None
        except (OSError, pa.ArrowException) as exc:
            raise DataError(f"cannot read it as Parquet: {exc}", source=source) from None
        self.header = list(self.file.schema_arrow.names)
        self._index = {n: i for i, n in enumerate(self.header)}

    def column_index(self, name: str, what: str) -> int:
        try:
            return self._index[name]
        except KeyError:
            shown = ", ".join(self.header[:20]) + (", …" if len(self.header) > 20 else "")
            raise DataError(f"no {what} column {name!r}{did_you_mean(name, self.header)}; the file has "
                            f"{shown}", source=self.source) from None

    def columns(self, numeric: list[int], label: int | None = None) -> reader.Columns:
        return reader.Columns(numeric, label, len(self.header), self.header, self.source, kind="parquet")

    def row_bound(self, span=None, rows: int = 0) -> int:
        return self.file.metadata.num_rows

    def chunks(self, cols: reader.Columns, engine: str | None = None):
        """(span, parsed rows) per row group (span: its index and first row); a null or
        non-numeric cell is named by row and column."""
        row = 1
        for i in range(self.file.num_row_groups):
            span = (i, row)
            parsed = self._parse(self.file.read_row_group(i, columns=self._names(cols)), row, cols)
            yield span, parsed
            row += parsed.X.shape[0]

    def _names(self, cols: reader.Columns) -> list[str]:
        wanted = cols.numeric + ([cols.label] if cols.label is not None else [])
        return [self.header[c] for c in dict.fromkeys(wanted)]

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

    values = col.to_pylist() if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)
                                     or pa.types.is_boolean(col.type)) else None
    if values is not None:  # text (or another type): each cell by CSV's rules
        out = np.empty(len(values))
        for i, v in enumerate(values):
            try:
                out[i] = float(v) if isinstance(v, (str, int, float)) else float("nan")
            except ValueError:
                raise reader.bad_cell(cols, row + i, c, str(v)) from None
            if not np.isfinite(out[i]):
                raise reader.bad_cell(cols, row + i, c, None if v is None else str(v))
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
    """A label column: numbers when numeric (nulls and non-finite values refused), else text."""
    import pyarrow as pa

    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
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
    return reader.numeric_labels(out)


def read_table(path: str | Path, source: str | None = None) -> Table:
    return Table(Path(path), source or str(path))
