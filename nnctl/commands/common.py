"""What every command shares: its common options, and the guard that turns every way a command
can end into one message and an exit code (2 bad input, 1 diverged or a gradcheck mismatch, 130
Ctrl-C, 143 SIGTERM); a traceback only with --debug."""

from __future__ import annotations

import errno
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from nnctl.errors import ExitStatus, NnctlError
from nnctl.signals import Terminated, raised_within

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout and nothing else.")]

QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No table, progress or summary.")]

DebugOpt = Annotated[bool, typer.Option("--debug", help="Show Python tracebacks on errors.")]

SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", metavar="KEY=VALUE",
    help="Override a config key (dotted path, list indices allowed), e.g. train.optimizer.lr=0.1. Repeatable.")]

PluginOpt = Annotated[list[Path] | None, typer.Option(
    "--plugin", metavar="FILE.py",
    help="The file of a plugin activation the model names (loading it runs its code). Repeatable.")]


@contextmanager
def guard(debug: bool):
    """Map every way a command can end onto one message and an exit code."""
    from nnctl import render as report

    try:
        yield
    except typer.Exit:
        raise
    except NnctlError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        report.error(str(exc))
        raise typer.Exit(int(exc.exit_status)) from None
    except (KeyboardInterrupt, Terminated) as exc:
        _signalled(report, exc)
    except MemoryError:
        if debug:
            raise
        _out_of_memory(report)

    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python from complaining at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(0) from None
    except Exception as exc:
        wrapped = raised_within(exc)
        if wrapped is not None:
            _signalled(report, wrapped)
        if debug:
            raise
        if isinstance(exc, OSError) and exc.errno == errno.ENOMEM:  # mmap and allocations outside Python's
            _out_of_memory(report)
        report.error(f"internal error: {type(exc).__name__}: {exc} (run again with --debug for the traceback)")
        raise typer.Exit(int(ExitStatus.FAILED)) from None


_reported: list[bool] = [False]


def signal_reported() -> bool:
    """Whether a command's guard has already said why it ended on a signal."""
    return _reported[0]


def _signalled(report, exc: BaseException):
    term = isinstance(exc, Terminated)
    _reported[0] = True
    report.error(f"{'terminated (SIGTERM)' if term else 'interrupted (Ctrl-C)'}; no file was changed")
    raise typer.Exit(int(ExitStatus.TERMINATED if term else ExitStatus.INTERRUPTED)) from None


def _out_of_memory(report) -> None:
    report.error("not enough memory for this run (the data or the network is too large for this machine; "
                 "a file larger than memory trains with data.stream: true, see docs/data.md); nothing was written")
    raise typer.Exit(int(ExitStatus.BAD_INPUT)) from None


def overrides(set_: list[str] | None, seed: int | None = None, epochs: int | None = None) -> list[str]:
    out = list(set_ or [])
    if seed is not None:
        out.append(f"seed={seed}")
    if epochs is not None:
        out.append(f"train.epochs={epochs}")
    return out
