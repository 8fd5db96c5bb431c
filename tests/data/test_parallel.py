"""The pool that parses a large file's chunks: how many workers, results in order, errors and
early exits (nnctl/data/parallel.py)."""

from __future__ import annotations

import resource
import time

import pytest

from nnctl.data import parallel
from nnctl.errors import DataError


def test_how_many_workers(monkeypatch):
    monkeypatch.delenv(parallel.WORKERS_ENV, raising=False)
    assert parallel.workers(parallel.MIN_BYTES - 1) == 1
    assert parallel.workers(parallel.MIN_BYTES) >= 1
    monkeypatch.setenv(parallel.WORKERS_ENV, "3")
    assert parallel.workers(parallel.MIN_BYTES) == 3
    monkeypatch.setenv(parallel.WORKERS_ENV, "0")
    assert parallel.workers(parallel.MIN_BYTES) == 1
    capped = (1 << 40, resource.RLIM_INFINITY)  # `ulimit -v`: threads would reserve address space
    monkeypatch.setattr(resource, "getrlimit", lambda what: capped if what == resource.RLIMIT_AS else (0, 0))
    assert parallel.workers(1 << 40) == 1


def _slow_square(i: int, delay: float) -> int:
    time.sleep(delay)
    if i == 7:
        raise DataError("line 7: bad", source="d.csv")
    return i * i


@pytest.mark.parametrize("processes", [False, True])
def test_results_come_in_order_and_an_error_stops_the_pool(processes):
    jobs = [(i, 0.02 * ((i * 5) % 3)) for i in range(6)]  # later jobs may finish first
    got = list(parallel.ordered(parallel.pool(2, processes), _slow_square, jobs, 4))
    assert [job for job, _ in got] == jobs and [r for _, r in got] == [i * i for i in range(6)]
    taken = []
    ex = parallel.pool(2, processes)
    with pytest.raises(DataError, match="d.csv: line 7: bad"):  # the worker's exception, as raised there
        for _job, result in parallel.ordered(ex, _slow_square, ((i, 0.01) for i in range(100)), 4):
            taken.append(result)
    assert taken == [i * i for i in range(7)]
    with pytest.raises(RuntimeError, match="shutdown"):  # the pool is shut, the jobs not started cancelled
        ex.submit(int)


def test_pyarrow_starts_no_threads_of_its_own_under_a_cap_on_address_space(monkeypatch):
    """Under `ulimit -v` Arrow's thread pool failed to start ('Failed to launch worker thread',
    an internal error) or aborted a Parquet read (std::bad_alloc) where a one-thread read fits."""
    import threading

    from nnctl.data import arrow

    assert arrow.use_threads()
    seen = []
    t = threading.Thread(target=lambda: seen.append(arrow.use_threads()))  # a parse pool's thread
    t.start()
    t.join()
    assert seen == [False]
    capped = (1 << 40, resource.RLIM_INFINITY)
    monkeypatch.setattr(resource, "getrlimit", lambda what: capped if what == resource.RLIMIT_AS else (0, 0))
    assert not arrow.use_threads()


def test_csv_is_parsed_by_numpy_under_a_cap_on_address_space_unless_told(monkeypatch):
    """pyarrow's import maps ~190 MB of address space: under `ulimit -v 700000` a 1.8M-row file
    ran out of memory with it and trains without it (the same numbers either way)."""
    from nnctl.data import engines

    monkeypatch.delenv(engines.ENGINE_ENV, raising=False)
    assert engines.csv_engine() == "arrow"  # pyarrow is a test extra
    capped = (1 << 40, resource.RLIM_INFINITY)
    monkeypatch.setattr(resource, "getrlimit", lambda what: capped if what == resource.RLIMIT_AS else (0, 0))
    assert engines.csv_engine() == "numpy"
    monkeypatch.setenv(engines.ENGINE_ENV, "arrow")
    assert engines.csv_engine() == "arrow"
