"""The one CSV reader: chunks are stitched in order, both engines give the same numbers and the
same messages, and a bad cell is named by line and column wherever its chunk falls."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnctl.data import csvtable, engines, reader
from nnctl.errors import DataError

pytestmark = pytest.mark.usefixtures("csv_engine", "parse_workers")


def _load(path, header: bool = True, chunk: int | None = None, monkeypatch=None, label=None):
    if chunk is not None:
        monkeypatch.setattr(reader, "CHUNK_BYTES", chunk)
    table = csvtable.read_table(path, header=header)
    cols = [i for i in range(len(table.header)) if i != label]
    got = reader.load(table, cols, [], label)
    return got.X_aug[:, :-1], got.labels


def _expected(text: str) -> np.ndarray:
    """An independent parse: Python's float on each cell of each non-blank line after the header."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    rows = [line for line in lines if line.strip()][1:]
    return np.array([[float(c) for c in row.split(",")] for row in rows])


def _rows(n, width=3, seed=0):
    rng = np.random.default_rng(seed)
    return [",".join(f"{v:.17g}" for v in rng.normal(size=width) * 100) for _ in range(n)]


@pytest.mark.parametrize("chunk", [7, 64, 1 << 20])
def test_chunks_are_stitched_in_order(tmp_path, monkeypatch, chunk):
    text = "a,b,c\n" + "\n".join(_rows(500)) + "\n"
    p = tmp_path / "d.csv"
    p.write_text(text)
    X, _ = _load(p, chunk=chunk, monkeypatch=monkeypatch)
    np.testing.assert_array_equal(X, _expected(text))


@pytest.mark.parametrize("text", [
    "a,b\n1,2\n\n\n3,4\n5,6\n\n7,8\n\n",           # blank lines, also at the end
    "a,b\r\n1,2\r\n3,4\r\n\r\n5,6\r\n7,8\r\n",     # CRLF
    "a,b\n1,2\n3,4\n5,6\n7,8",                     # no line break after the last row
    "\n\na,b\n1,2\n3,4\n5,6\n7,8\n",               # blank lines before the header
    "a,b\n1,2\r3,4\r5,6\n7,8\n",                   # lone CRs
    'a,b\n"1",2\n3," 4"\n',                        # quoted cells
    "a,b\n1e3,-.5\n 6 ,7\n",                       # numbers as Python reads them
])
@pytest.mark.parametrize("chunk", [5, 1 << 20])
def test_layouts(tmp_path, monkeypatch, text, chunk):
    p = tmp_path / "d.csv"
    p.write_bytes(text.encode())
    X, _ = _load(p, chunk=chunk, monkeypatch=monkeypatch)
    np.testing.assert_array_equal(X, _expected(text.replace('"', "")))


def test_bom_without_header(tmp_path):
    p = tmp_path / "d.csv"
    p.write_bytes(b"\xef\xbb\xbf1,2\n3,4\n5,6\n")
    X, _ = _load(p, header=False)
    assert X.tolist() == [[1, 2], [3, 4], [5, 6]]


def test_a_quoted_line_break_is_not_cut_between_chunks(tmp_path, monkeypatch):
    p = tmp_path / "d.csv"
    p.write_text('a,t\n1,"x\ny"\n2,z\n3,"p\nq"\n')
    X, labels = _load(p, chunk=4, monkeypatch=monkeypatch, label=1)
    assert X.tolist() == [[1], [2], [3]] and labels == ["x\ny", "z", "p\nq"]


def test_labels_numbers_or_text(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a,t\n1,0\n2,1\n3,1\n")
    assert _load(p, label=1)[1].tolist() == [0.0, 1.0, 1.0]
    p.write_text("a,t\n1,cat\n2,dog\n")
    assert _load(p, label=1)[1] == ["cat", "dog"]


@pytest.mark.parametrize(("bad", "message"), [
    ("x", "line 172, column 2 ('b'): 'x' is not a number"),
    ("", "line 172, column 2 ('b'): empty cell"),
    ("nan", "line 172, column 2 ('b'): 'nan' is not finite"),
    ("2,3", "line 172: 3 cells, expected 2 as in the header"),
])
@pytest.mark.parametrize("chunk", [300, 1 << 20])
def test_a_bad_cell_in_a_later_chunk_is_named(tmp_path, monkeypatch, bad, message, chunk):
    rows = _rows(200, width=2)
    rows[170] = f"1.5,{bad}"
    p = tmp_path / "d.csv"
    p.write_text("a,b\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError) as err:
        _load(p, chunk=chunk, monkeypatch=monkeypatch)
    assert message in str(err.value)


@pytest.mark.parametrize(("data", "message"), [
    (b"a,b\n1,2\n\xff,3\n", "line 3: not UTF-8"),
    (b"a,b\n1,2\n3,\x004\n", "NUL bytes"),
    (b"a,t\n1,cat\n2,nan\n", "line 3, column 2 ('t'): 'nan' reads as a missing or infinite number"),
    (b"a,t\n1,cat\n2, \n", "line 3, column 2 ('t'): empty cell"),
])
def test_rules_hold_for_every_column(tmp_path, data, message):
    p = tmp_path / "d.csv"
    p.write_bytes(data)
    with pytest.raises(DataError) as err:
        _load(p, label=1)
    assert message in str(err.value)


def test_float32_is_parsed_into_one_float32_array(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a,b\n0.1,2\n3,4\n")
    table = csvtable.read_table(p)
    got = reader.load(table, [0, 1], [], None, np.float32)
    assert got.X_aug.dtype == np.float32 and got.X_aug.tolist() == np.float32([[0.1, 2, 1], [3, 4, 1]]).tolist()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.one_of(st.just(""), st.lists(st.integers(-999, 999), min_size=2, max_size=2).map(
           lambda r: ",".join(map(str, r)))), min_size=1, max_size=40),
       newline=st.sampled_from(["\n", "\r\n"]), last=st.booleans(), chunk=st.integers(3, 40))
def test_any_blank_line_pattern(tmp_path, monkeypatch, rows, newline, last, chunk):
    if not any(rows):
        rows = [*rows, "1,2"]
    text = "a,b" + newline + newline.join(rows) + (newline if last else "")
    p = tmp_path / "d.csv"
    p.write_bytes(text.encode())
    X, _ = _load(p, chunk=chunk, monkeypatch=monkeypatch)
    np.testing.assert_array_equal(X, _expected(text))


def test_a_bad_cell_costs_one_parse(tmp_path, monkeypatch, csv_engine):
    """Each chunk is parsed once by the engine, and only the bad cell's chunk again, carefully
    (the calls are logged to files: a pool's worker may be another process)."""
    rows = _rows(2000, width=2)
    rows[-1] = "1.5,oops"
    p = tmp_path / "d.csv"
    p.write_text("a,b\n" + "\n".join(rows) + "\n")
    monkeypatch.setattr(reader, "CHUNK_BYTES", 4000)
    engine_log, careful_log = tmp_path / "engine.log", tmp_path / "careful.log"
    engine, careful = engines.ENGINES[csv_engine], reader.careful

    def logged(log, fn):
        def call(text, line, cols):
            with open(log, "a") as fh:
                fh.write(f"{line}\n")
            return fn(text, line, cols)
        return call

    monkeypatch.setitem(engines.ENGINES, csv_engine, logged(engine_log, engine))
    monkeypatch.setattr(reader, "careful", logged(careful_log, careful))
    with pytest.raises(DataError, match="line 2001, column 2"):
        _load(p)
    engine_calls = [int(v) for v in engine_log.read_text().split()]
    careful_calls = [int(v) for v in careful_log.read_text().split()]
    assert len(engine_calls) == len(set(engine_calls)) > 5  # no chunk twice
    assert careful_calls == [max(engine_calls)]  # the last chunk, once more


def test_a_missing_column_is_worded_alike_for_csv_and_parquet(tmp_path):
    """One preview of a wide header (the first 20 names and the count) for both kinds of table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from nnctl.data import datasets

    names = [f"c{i}" for i in range(30)]
    (tmp_path / "w.csv").write_text(",".join(names) + "\n" + ",".join("1" * 30) + "\n")
    pq.write_table(pa.table({n: [1.0] for n in names}), tmp_path / "w.parquet")
    said = []
    for kind in ("csv", "parquet"):
        table = datasets.open_table(kind, tmp_path / f"w.{kind}")
        with pytest.raises(DataError) as exc:
            table.column_index("c99", "target")
        said.append(str(exc.value).split(": ", 1)[1])
    assert said[0].replace("the header has", "the file has") == said[1]
    assert said[1].endswith("c19, … (30 columns)")


def test_a_parquet_row_group_is_read_in_batches(tmp_path):
    """A writer's default row group holds a million rows: read whole, one group was a streamed
    run's peak (1.8 GB for 1.8M × 21). Its rows come BATCH_ROWS at a time, the same values."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from nnctl.data import parquet

    n = 2 * parquet.BATCH_ROWS + 5
    rng = np.random.default_rng(0)
    a, y = rng.normal(size=n), rng.integers(0, 3, n)
    pq.write_table(pa.table({"a": a, "y": y}), tmp_path / "one.parquet", row_group_size=n)
    table = parquet.read_table(tmp_path / "one.parquet")
    assert table.file.num_row_groups == 1
    chunks = list(table.chunks(table.columns([0], 1)))
    assert [p.X.shape[0] for _, p in chunks] == [parquet.BATCH_ROWS, parquet.BATCH_ROWS, 5]
    assert [span for span, _ in chunks] == [(0, 1), (0, 1 + parquet.BATCH_ROWS), (0, 1 + 2 * parquet.BATCH_ROWS)]
    assert np.concatenate([p.X[:, 0] for _, p in chunks]).tobytes() == a.tobytes()
    assert np.concatenate([p.labels for _, p in chunks]).tolist() == y.astype(float).tolist()


def test_the_columns_read_are_the_numbers_then_the_label():
    cols = reader.Columns([3, 0], 2, 4, ["a", "b", "c", "d"], "d.csv")
    assert cols.wanted == [3, 0, 2]
    assert reader.Columns([1], None, 2, ["a", "b"], "d.csv").wanted == [1]


MIXED = ["01", "1", "1.0", "-0", "0", "1e3", "2"]  # each a number, written its own way


def _mixed_file(path, n_numbers=300, n_mixed=40):
    """Rows whose labels are all numbers first (a chunk of its own), then numbers and text."""
    labels = [MIXED[i % len(MIXED)] for i in range(n_numbers)]
    labels += [(MIXED + ["cat"])[i % (len(MIXED) + 1)] for i in range(n_mixed)]
    path.write_text("a,y\n" + "".join(f"{i},{lab}\n" for i, lab in enumerate(labels)))
    return labels


@pytest.mark.parametrize("chunk", [200, 1 << 20])
def test_a_label_column_of_numbers_and_text_keeps_every_label_as_written(tmp_path, monkeypatch, chunk):
    """A chunk of numbers has lost how they were written: read alone, '01' there became 1.0 (the
    class '1') while '01' in a chunk with text stayed '01', so one label made two classes."""
    labels = _mixed_file(tmp_path / "d.csv")
    X, got = _load(tmp_path / "d.csv", chunk=chunk, monkeypatch=monkeypatch, label=1)
    assert got == labels and X[:, 0].tolist() == list(range(len(labels)))


def test_parquet_row_groups_of_numbers_and_text_keep_every_label_as_written(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from nnctl.data import parquet

    labels = MIXED * 3 + ["cat", "01", "1e3"]
    pq.write_table(pa.table({"a": np.arange(len(labels), dtype=float), "y": labels}), tmp_path / "d.parquet",
                   row_group_size=len(MIXED))
    table = parquet.read_table(tmp_path / "d.parquet")
    assert reader.load(table, [0], [], 1).labels == labels


def test_whole_numbers_beyond_float64s_digits_are_read_again_as_text(tmp_path):
    """float64 rounds 9007199254740993 to ...992: such a label column is read again as text, so
    the classes keep every id's digits (CSV, and a Parquet column of int64)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from nnctl.data import parquet
    from nnctl.data.datasets import ClassIndex, sort_classes

    ids = [9007199254740993, 9007199254740992, 1, 12345678901234567891]
    (tmp_path / "d.csv").write_text("a,y\n" + "".join(f"{i},{v}\n" for i, v in enumerate(ids)))
    assert _load(tmp_path / "d.csv", label=1)[1] == [str(v) for v in ids]
    pq.write_table(pa.table({"a": [0.0, 1.0, 2.0], "y": pa.array(ids[:3], pa.int64())}), tmp_path / "d.parquet")
    got = reader.load(parquet.read_table(tmp_path / "d.parquet"), [0], [], 1).labels
    assert got == [str(v) for v in ids[:3]]
    classes = sort_classes(got)
    assert classes == [1, 9007199254740992, 9007199254740993]
    assert [ClassIndex(classes)[v] for v in got] == [2, 1, 0] and ClassIndex(classes).as_text
