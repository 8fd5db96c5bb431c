"""`nnctl sweep`: hyperparameter search."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from nnctl.commands.common import DebugOpt, JsonOpt, QuietOpt, SetOpt, guard, overrides
from nnctl.errors import ExitStatus, UsageError
from nnctl.signals import Terminated


def sweep(
    config: Annotated[Path, typer.Argument(help="A YAML config with a sweep: section.", show_default=False)],
    workers: Annotated[int | None, typer.Option(
        "--workers", help="Runs at once (default: the number of CPU cores).", min=1)] = None,
    backend: Annotated[str, typer.Option("--backend", help="local (a process pool) or ray.")] = "local",
    address: Annotated[str | None, typer.Option(
        "--address", help="ray: an existing cluster (auto, HOST:PORT or ray://HOST:PORT); "
                          "without it a local Ray is started.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="The results folder (default <config stem>-sweep/ in the current folder).")] = None,
    trials: Annotated[int | None, typer.Option(help="Override sweep.trials.", min=1)] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue the sweep in --out: runs already in trials.csv are not run again.")] = False,
    set_: SetOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Search hyperparameters: train every point of the config's sweep: section, on every core
    or on a Ray cluster, and keep the best.

    Writes <out>/trials.csv (a row per run, as it finishes), best.yaml (nnctl train best.yaml
    reproduces the best run) and best.npz. Exit 0 when a run ended ok, 1 when none did, 2 on bad
    input, 130 Ctrl-C and 143 SIGTERM (finished runs stay; --resume continues).
    Example: nnctl sweep configs/iris_sweep.yaml --workers 2
    """
    with guard(debug):
        from nnctl import render as report
        from nnctl.sweep.search import run_sweep

        if backend not in ("local", "ray"):
            raise UsageError(f"--backend: expected local or ray, got {backend!r}")
        n = workers or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
        folder = out or Path(f"{config.stem}-sweep")
        progress = report.SweepProgress(quiet or json_)
        try:
            doc = run_sweep(config, overrides(set_), folder, n, backend, address, trials, resume,
                            on_start=progress.start, on_row=progress.row)
        except (KeyboardInterrupt, Terminated) as exc:
            progress.stop()
            term = isinstance(exc, Terminated)
            report.error(f"{'terminated (SIGTERM)' if term else 'interrupted (Ctrl-C)'}: runs in progress were "
                         f"stopped; finished runs are in {folder / 'trials.csv'}; continue with "
                         f"nnctl sweep {config} --out {folder} --resume")
            raise typer.Exit(int(ExitStatus.TERMINATED if term else ExitStatus.INTERRUPTED)) from None
        progress.stop()
        plan, board = doc.pop("plan"), doc.pop("leaderboard")
        if json_:
            report.emit_json(doc)
        elif not quiet:
            report.print_leaderboard(plan, board, doc)
        if not any(r["status"] == "ok" for r in doc["runs"]):
            raise typer.Exit(int(ExitStatus.FAILED))
