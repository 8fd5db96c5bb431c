"""A sweep from start to end: plan it, check its folder, start the backend, run, write the best
files. Prints nothing: progress goes to the `on_row` callback, errors are NnctlErrors. Any error
before the first run leaves no results folder behind (or the one that was there as it was)."""

from __future__ import annotations

import time
from pathlib import Path

from nnctl.errors import UsageError
from nnctl.sweep.best import best_files
from nnctl.sweep.drive import Driver
from nnctl.sweep.plan import Plan, plan
from nnctl.sweep.results import Results


def make_backend(name: str, workers: int, p: Plan, address: str | None, pool=None):
    if name == "ray":
        from nnctl.sweep.backends.ray_tasks import RayBackend

        return RayBackend(workers, p.shared, address)
    if pool is None:  # forked workers, started now with the shared part
        from nnctl.sweep.backends.local import LocalPool

        return LocalPool(workers, p.shared)
    pool.share(p.shared)
    return pool


def _early_checks(backend_name: str, address: str | None) -> None:
    if address and backend_name != "ray":
        raise UsageError("--address goes with --backend ray")
    if backend_name == "ray":
        from nnctl.sweep.backends.ray_tasks import _import_ray, address_from, check_address

        _import_ray()
        target, named = address_from(address)
        if target:
            check_address(target, named)  # before anything is written


def run_sweep(config_path: Path, overrides: list[str], out: Path, workers: int, backend_name: str,
              address: str | None, trials: int | None, resume: bool, on_start=None, on_row=None,
              max_failures: int = 0, restart_errored: bool = False) -> dict:
    """The whole sweep; returns the --json document (with `plan` and `leaderboard` for the renderer)."""
    t0 = time.perf_counter()
    if restart_errored and not resume:
        raise UsageError("--restart-errored goes with --resume")
    _early_checks(backend_name, address)
    pool = None
    if backend_name == "local":
        from nnctl.sweep.backends.local import LocalPool, fork_start

        if not fork_start():
            pool = LocalPool(workers)  # spawned workers start up while the sweep is planned
    results = backend = None
    try:
        p = plan(config_path, overrides, trials)
        results = Results(out, p.layout)
        results.check(resume, p.resolved, restart_errored)
        backend = make_backend(backend_name, workers, p, address, pool)
        results.open(p.resolved)
    except BaseException:
        started = backend or pool
        if started is not None:
            started.close(kill=True)
        if results is not None:
            results.abandon()
        raise
    try:
        if on_start:
            on_start(p, p.total, len(results.rows))
        driver = Driver(p, backend, results, on_row, max_failures)
        driver.run()
        board = driver.board.ranked()
        best = best_files(p, backend, results, driver.keeper, board)
    except BaseException:
        backend.close(kill=True)
        results.close()
        raise
    backend.close()
    results.close()
    return {"out": str(out), "method": p.method, "backend": backend_name, "workers": workers,
            "seconds": time.perf_counter() - t0, "metric": p.metric, "mode": p.mode,
            "runs": [{k: r[k] for k in ("trial", "repeat", "seed", "status", "params", "metrics", "epochs",
                                        "seconds", "message")} | ({"fold": r["fold"]} if p.folds else {})
                     for r in results.rows.values()],
            "best": best, "leaderboard": board, "plan": p}
