"""Everything the user sees: Rich tables and progress on stderr, JSON on stdout.

Each logged epoch's row is printed once, as it comes; on a terminal a one-line progress bar
below the rows is the only live part, and when stderr is a file or a pipe the rows are plain
lines and there is no bar, never a carriage return, so logs stay readable. `NO_COLOR` is honoured by Rich itself.
"""

from __future__ import annotations

import math
import sys
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

stderr = Console(stderr=True, highlight=False)
stdout = Console(highlight=False)


def emit_json(doc: Any) -> None:
    """Exactly one JSON document on stdout (non-finite numbers as null)."""
    from nnctl.io.jsonio import dumps

    sys.stdout.write(dumps(doc) + "\n")
    sys.stdout.flush()


def fmt(v: float | None, digits: int = 6) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return f"{v:.{digits}g}"


def error(message: str) -> None:
    """One `error: …` line. The message is text, never markup: it quotes file names, column
    names and cells (`income[usd]`, `yes[/b]`) that must appear as they are."""
    if stderr.is_terminal:
        stderr.print(Text.assemble(("error:", "bold red"), " ", message), soft_wrap=True, highlight=False)
    else:
        print(f"error: {message}", file=sys.stderr)


def literal(value: Any) -> Text:
    """A table cell, title or header from data, a config or a file name: shown as written."""
    return value if isinstance(value, Text) else Text(str(value))


def print_table(title: str | None, columns: list[str], rows: list[list[str]],
                console: Console = stdout) -> None:
    t = Table(title=None if title is None else literal(title), header_style="bold")
    for i, c in enumerate(columns):
        t.add_column(literal(c), justify="left" if i == 0 else "right", overflow="fold")
    for r in rows:
        t.add_row(*map(literal, r))
    console.print(t)


def print_kv(title: str, pairs: list[tuple[str, str]], console: Console = stdout) -> None:
    t = Table(title=literal(title), show_header=False, header_style="bold")
    t.add_column("", style="bold")
    t.add_column("", overflow="fold")
    for k, v in pairs:
        t.add_row(literal(k), literal(v))
    console.print(t)


def print_text(title: str, text: str, console: Console = stdout) -> None:
    """A titled block of literal text (a YAML config, say)."""
    console.print(Text(f"{title}:", style="bold"))
    console.print(literal(text.rstrip("\n")), soft_wrap=True)


# What each command family shows, in its own module (imported here so that `render.X` names them).
from nnctl.render.gradcheck import print_gradcheck  # noqa: E402
from nnctl.render.sweep import SweepProgress, print_leaderboard  # noqa: E402
from nnctl.render.training import TrainReporter  # noqa: E402

__all__ = ["stderr", "stdout", "emit_json", "fmt", "error", "literal", "print_table", "print_kv", "print_text",
           "TrainReporter", "print_gradcheck", "SweepProgress", "print_leaderboard"]
