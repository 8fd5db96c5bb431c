"""`nnctl sweep`: hyperparameter search."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Annotated

import typer

from nnctl.commands.common import DebugOpt, JsonOpt, QuietOpt, SetOpt, guard, overrides, signal_exit
from nnctl.errors import ExitStatus, UsageError
from nnctl.signals import Terminated


def sweep(
    config: Annotated[Path, typer.Argument(help="A YAML config with a sweep: section.", show_default=False)],
    workers: Annotated[int | None, typer.Option(
        "--workers", help="Runs at once (default: the number of CPU cores).", min=1)] = None,
    backend: Annotated[str, typer.Option("--backend", help="local (a process pool) or ray.")] = "local",
    address: Annotated[str | None, typer.Option(
        "--address", help="ray: an existing cluster (auto, HOST:PORT or ray://HOST:PORT; default RAY_ADDRESS); "
                          "without either a local Ray is started.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="The results folder (default <config stem>-sweep/ in the current folder).")] = None,
    trials: Annotated[int | None, typer.Option(help="Override sweep.trials (random and tpe).", min=1)] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue the sweep in --out: runs already in trials.csv are not run again.")] = False,
    restart_errored: Annotated[bool, typer.Option(
        "--restart-errored", help="With --resume: run every run recorded as error again.")] = False,
    max_failures: Annotated[int, typer.Option(
        "--max-failures", help="Run a run whose worker died (or whose Ray node was lost) again, up to N times.",
        min=0)] = 0,
    set_: SetOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Search hyperparameters: train every point of the config's sweep: section, on every core
    or on a Ray cluster, and keep the best.

    Writes <out>/trials.csv (a row per run, as it finishes), best.yaml (nnctl train best.yaml
    reproduces the best run) and best.npz. Exit 0 when a run ended ok, 1 when none did, 2 on bad
    input, 130 Ctrl-C and 143 SIGTERM (finished runs stay; --resume continues). See docs/commands/sweep.md.
    Example: nnctl sweep configs/iris_sweep.yaml --workers 2
    """
    with guard(debug):
        from nnctl import render as report
        from nnctl.sweep.search import run_sweep

        if backend not in ("local", "ray"):
            raise UsageError(f"--backend: expected local or ray, got {backend!r}")
        if quiet or json_:
            import warnings

            warnings.filterwarnings("ignore", module=r"optuna(\..*)?$")
        n = workers or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
        folder = out or Path(f"{config.stem}-sweep")
        progress = report.SweepProgress(quiet or json_)
        try:
            doc = run_sweep(config, overrides(set_), folder, n, backend, address, trials, resume,
                            on_start=progress.start, on_row=progress.row, max_failures=max_failures,
                            restart_errored=restart_errored)
        except (KeyboardInterrupt, Terminated) as exc:
            progress.stop()
            term = isinstance(exc, Terminated)
            again = resume_command(config, set_, workers, backend, address, folder, trials, max_failures,
                                   json_, quiet)
            signal_exit(f"{'terminated (SIGTERM)' if term else 'interrupted (Ctrl-C)'}: runs in progress were "
                        f"stopped; finished runs are in {folder / 'trials.csv'}; continue with {again}",
                        int(ExitStatus.TERMINATED if term else ExitStatus.INTERRUPTED))
        progress.stop()
        plan, board = doc.pop("plan"), doc.pop("leaderboard")
        if json_:
            report.emit_json(doc)
        elif not quiet:
            report.print_leaderboard(plan, board, doc)
        if not any(r["status"] == "ok" for r in doc["runs"]):
            raise typer.Exit(int(ExitStatus.FAILED))


def resume_command(config: Path, set_, workers, backend, address, folder: Path, trials, max_failures,
                   json_: bool, quiet: bool) -> str:
    """The command that continues this sweep: every flag it was started with, and --resume."""
    args = ["nnctl", "sweep", str(config)]
    for item in set_ or []:
        args += ["--set", item]
    options = {"--backend": backend if backend != "local" else None, "--address": address,
               "--workers": workers, "--trials": trials, "--max-failures": max_failures or None,
               "--out": folder}
    for flag, value in options.items():
        if value is not None:
            args += [flag, str(value)]
    args += [flag for flag, on in (("--json", json_), ("--quiet", quiet)) if on]
    return shlex.join([*args, "--resume"])
