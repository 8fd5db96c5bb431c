"""The parallel CSV parse (one forked loadtxt per run of lines) gives exactly what one loadtxt
gives, or steps aside: the serial path then parses and names any bad cell as before."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnctl.data import csvtable as csvio
from nnctl.errors import DataError


def _load(path, monkeypatch, parallel: bool, cores: int = 2, header: bool = True):
    monkeypatch.setattr(csvio, "PARALLEL_MIN_BYTES", 0 if parallel else 1 << 62)
    monkeypatch.setattr(csvio, "_cores", lambda: cores)
    table = csvio.read_table(path, header=header)
    return csvio.numeric_columns(table, list(range(len(table.header))))


def _both(path, monkeypatch, **kw):
    serial = _load(path, monkeypatch, False, **kw)
    parallel = _load(path, monkeypatch, True, **kw)
    return serial, parallel


def _rows(n, width=3, seed=0):
    rng = np.random.default_rng(seed)
    return [",".join(f"{v:.6g}" for v in rng.normal(size=width) * 100) for _ in range(n)]


@pytest.mark.parametrize("cores", [2, 3, 4, 7])
def test_parts_are_stitched_in_order(tmp_path, monkeypatch, cores):
    p = tmp_path / "d.csv"
    p.write_text("a,b,c\n" + "\n".join(_rows(1000)) + "\n")
    serial, parallel = _both(p, monkeypatch, cores=cores)
    assert parallel.shape == (1000, 3)
    np.testing.assert_array_equal(parallel, serial)


def test_the_parallel_path_is_taken(tmp_path, monkeypatch):
    calls = []
    real = csvio._parallel_loadtxt
    monkeypatch.setattr(csvio, "_parallel_loadtxt", lambda *a: calls.append(a) or real(*a))
    p = tmp_path / "d.csv"
    p.write_text("a,b,c\n" + "\n".join(_rows(50)) + "\n")
    out = _load(p, monkeypatch, True)
    assert len(calls) == 1 and out.shape == (50, 3)
    assert real(p, 2, 3, ",") is not None  # it parsed, rather than stepping aside


@pytest.mark.parametrize("text", [
    "a,b\n1,2\n\n\n3,4\n5,6\n\n7,8\n\n",           # blank lines, also at the end
    "a,b\r\n1,2\r\n3,4\r\n\r\n5,6\r\n7,8\r\n",     # CRLF
    "a,b\n1,2\n3,4\n5,6\n7,8",                     # no line break after the last row
    "\n\na,b\n1,2\n3,4\n5,6\n7,8\n",               # blank lines before the header
    "a,b\n1,2\n",                                  # fewer rows than parts
])
@pytest.mark.parametrize("cores", [2, 4])
def test_layouts_match_the_serial_parse(tmp_path, monkeypatch, text, cores):
    p = tmp_path / "d.csv"
    p.write_bytes(text.encode())
    serial, parallel = _both(p, monkeypatch, cores=cores)
    np.testing.assert_array_equal(parallel, serial)


def test_bom_without_header(tmp_path, monkeypatch):
    p = tmp_path / "d.csv"
    p.write_bytes(b"\xef\xbb\xbf1,2\n3,4\n5,6\n")
    serial, parallel = _both(p, monkeypatch, header=False)
    np.testing.assert_array_equal(parallel, serial)
    assert parallel.tolist() == [[1, 2], [3, 4], [5, 6]]


@pytest.mark.parametrize("body", ['"1",2\n3,4\n', "1,2\r3,4\r5,6\n7,8\n"])
def test_quotes_and_lone_cr_step_aside_and_parse_as_before(tmp_path, monkeypatch, body):
    p = tmp_path / "d.csv"
    p.write_bytes(b"a,b\n" + body.encode())
    assert csvio._parallel_loadtxt(p, 2, 2, ",") is None
    serial, parallel = _both(p, monkeypatch)
    np.testing.assert_array_equal(parallel, serial)


@pytest.mark.parametrize("bad", ["x", "", "nan", "1,2,3"])
def test_a_bad_cell_in_a_later_part_gets_the_serial_message(tmp_path, monkeypatch, bad):
    rows = _rows(200, width=2)
    rows[170] = f"1.5,{bad}"
    p = tmp_path / "d.csv"
    p.write_text("a,b\n" + "\n".join(rows) + "\n")
    messages = []
    for parallel in (False, True):
        with pytest.raises(DataError) as err:
            _load(p, monkeypatch, parallel)
        messages.append(str(err.value))
    assert messages[0] == messages[1]
    assert "line 172" in messages[1]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.one_of(st.just(""), st.lists(st.integers(-999, 999), min_size=2, max_size=2).map(
           lambda r: ",".join(map(str, r)))), min_size=1, max_size=40),
       newline=st.sampled_from(["\n", "\r\n"]), last=st.booleans(), cores=st.integers(2, 5))
def test_any_blank_line_pattern_matches_the_serial_parse(tmp_path, monkeypatch, rows, newline, last, cores):
    if not any(rows):
        rows = [*rows, "1,2"]
    p = tmp_path / "d.csv"
    p.write_bytes(("a,b" + newline + newline.join(rows) + (newline if last else "")).encode())
    serial, parallel = _both(p, monkeypatch, cores=cores)
    np.testing.assert_array_equal(parallel, serial)


def test_ctrl_c_while_parsing_stops_and_reaps_the_children(tmp_path, monkeypatch):
    import os

    p = tmp_path / "d.csv"
    p.write_text("a,b,c\n" + "\n".join(_rows(3000)) + "\n")
    monkeypatch.setattr(csvio, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(csvio, "_cores", lambda: 2)
    forked, real_fork, real_wait = [], os.fork, os.waitpid

    def fork():
        pid = real_fork()
        forked.append(pid)
        return pid

    def wait(pid, options):
        if not getattr(wait, "interrupted", False):
            wait.interrupted = True
            raise KeyboardInterrupt
        return real_wait(pid, options)

    monkeypatch.setattr(csvio.os, "fork", fork)
    monkeypatch.setattr(csvio.os, "waitpid", wait)
    with pytest.raises(KeyboardInterrupt):
        csvio._parallel_loadtxt(p, 2, 3, ",")
    assert len(forked) == 2
    for pid in forked:  # killed and reaped: no child is left, not even a zombie
        with pytest.raises(ChildProcessError):
            real_wait(pid, os.WNOHANG)
