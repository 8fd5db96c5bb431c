"""Everything the user sees: Rich tables and progress on stderr, JSON on stdout.

Each logged epoch's row is printed once, as it comes; on a terminal a one-line progress bar
below the rows is the only live part, and when stderr is a file or a pipe the rows are plain
lines and there is no bar, never a carriage return, so logs stay readable. `NO_COLOR` is honoured by Rich itself.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
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


class TrainReporter:
    """Called after every epoch; prints each logged epoch's row once, as it comes.

    On a terminal the rows scroll into its history like Keras' and tqdm's output, under a one-line
    progress bar (epoch n/N, loss, elapsed, remaining) that is the only live part of the screen:
    however many rows a run logs, the newest row and the bar stay in view, and nothing already
    printed is drawn again. Elsewhere (a file, a pipe) the same rows are plain lines and there is
    no bar. A quiet reporter is never attached to the trainer (`active`): it costs nothing."""

    def __init__(self, metric_names: list[str], epochs: int, logged: Callable[[int], bool], validation: bool,
                 quiet: bool = False, start_epoch: int = 0):
        self.metric_names = metric_names
        self.epochs = epochs
        self.logged = logged  # the trainer's rule for which epochs make a table row
        self.validation = validation
        self.quiet = quiet
        self.active = not quiet
        self.live = stderr.is_terminal and not quiet
        self.columns = ["epoch", "loss", *metric_names]
        if validation:
            self.columns += ["val_loss", *(f"val_{m}" for m in metric_names)]
        self.columns.append("lr")
        self.start_epoch = start_epoch
        self._progress = self._task = None
        self._next_refresh = 0.0
        self.widths = [max(len(c), 10) for c in self.columns]

    def _cells(self, r) -> list[str]:
        cells = [str(r.epoch), fmt(r.loss), *(fmt(r.metrics.get(m), 4) for m in self.metric_names)]
        if self.validation:
            vm = r.val_metrics or {}
            cells += [fmt(r.val_loss), *(fmt(vm.get(m), 4) for m in self.metric_names)]
        cells.append(fmt(r.lr, 4))
        return cells

    def _line(self, cells: list[str]) -> str:
        return "  ".join(c.rjust(w) for c, w in zip(cells, self.widths, strict=True))

    def _print(self, text: str) -> None:
        if self._progress is not None:  # above the bar, which Rich redraws below it
            self._progress.console.print(Text(text), soft_wrap=True, highlight=False)
        else:
            print(text, file=sys.stderr, flush=True)

    def start(self) -> None:
        if self.quiet:
            return
        if self.live:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(TextColumn("epoch"), MofNCompleteColumn(), BarColumn(),
                                      TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(),
                                      TextColumn("left"), TimeRemainingColumn(), console=stderr, transient=True,
                                      refresh_per_second=8)
            self._task = self._progress.add_task("train", total=self.epochs, completed=self.start_epoch, loss="-")
            self._progress.start()
        self._print(self._line(self.columns))

    def __call__(self, record) -> None:
        if self.quiet:
            return
        logged = self.logged(record.epoch)
        if logged:
            self._print(self._line(self._cells(record)))
        if self._progress is not None:
            now = time.monotonic()
            if logged or now >= self._next_refresh:  # a tiny net runs 10^5 epochs a second
                self._next_refresh = now + 0.05
                self._progress.update(self._task, completed=record.epoch, loss=fmt(record.loss, 4))

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def note(self, text: str) -> None:
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)


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


def print_gradcheck(rep, rows: int) -> None:
    """gradcheck's table (stdout), per-element tables when asked for, and the verdict (stderr)."""
    kinky = rep.kinks > 0
    cols = ["tensor", "shape", "rel_error", "max_abs_error", *(["kinks"] if kinky else []), "result"]
    print_table(f"gradient check: {rows} rows, eps {rep.eps:g}, tol {rep.tol:g}, atol {rep.atol:g}"
                + (", strict" if rep.strict else ""), cols,
                [[p.name, "×".join(map(str, p.shape)), f"{p.rel_error:.3e}", f"{p.max_abs_error:.3e}",
                  *([str(p.kinks)] if kinky else []), "pass" if p.passed else "FAIL"] for p in rep.params])
    for p in rep.params:
        if p.elements:
            print_table(f"{p.name}: {len(p.elements)} of {math.prod(p.shape)} elements, largest gap first",
                        ["index", "backprop", "finite difference", "abs_error", "note"],
                        [[str(list(e.index)), f"{e.analytic:.10g}", f"{e.numeric:.10g}", f"{e.abs_error:.3e}",
                          "kink" if e.kink else ""] for e in p.elements])
    verdict = "all tensors pass" if rep.passed else "MISMATCH: backprop disagrees with finite differences"
    print(f"{verdict} (max relative error {rep.max_rel_error:.3e})", file=sys.stderr)
    if kinky:
        how = ("counted in the verdict (--strict)" if rep.strict else
               "left out of the verdict (--strict counts them)")
        print(f"{rep.kinks} element(s) at a kink: their ±eps evaluations put a unit's pre-activation on "
              "both sides of a point where its activation is not differentiable (ReLU at 0), so the "
              f"central difference mixes two slopes; {how}", file=sys.stderr)


class SweepProgress:
    """A sweep's progress on stderr: a bar on a terminal, one plain line per finished run elsewhere."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self._progress = self._task = None
        self.done = self.total = 0

    def start(self, plan, total: int, already: int) -> None:
        self.total, self.done = total, already
        if self.quiet:
            return
        note = f" ({already} already in trials.csv)" if already else ""
        print(f"sweep: {plan.method}, {plan.trials} points × {plan.repeats} repeats = {total} runs{note}; "
              f"{plan.metric} ({plan.mode})", file=sys.stderr, flush=True)
        if stderr.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("runs"), MofNCompleteColumn(), BarColumn(),
                                      TextColumn("{task.fields[last]}"), TimeElapsedColumn(), console=stderr,
                                      transient=True)
            self._task = self._progress.add_task("sweep", total=total, completed=already, last="")
            self._progress.start()

    def row(self, row: dict) -> None:
        self.done += 1
        if self.quiet:
            return
        if self._progress is not None:
            self._progress.update(self._task, completed=self.done, last=f"trial {row['trial']} {row['status']}")
            return
        metrics = ", ".join(f"{k} {fmt(v, 4)}" for k, v in row["metrics"].items() if v is not None)
        print(f"run {self.done}/{self.total}: trial {row['trial']} repeat {row['repeat']} {row['status']}"
              + (f" ({metrics})" if row["status"] == "ok" else f": {row['message']}"), file=sys.stderr, flush=True)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def print_leaderboard(plan, board, doc, top: int = 10) -> None:
    """The best points: parameters, the score's mean and spread over repeats, status counts."""
    cols = ["rank", "trial", *plan.keys, f"{plan.metric} mean", "± std", "runs ok/diverged/error"]
    rows = [[str(i + 1), str(p.trial), *(str(p.params.get(k)) for k in plan.keys), fmt(p.score),
             fmt(p.spread, 3), f"{p.counts.get('ok', 0)}/{p.counts.get('diverged', 0)}/{p.counts.get('error', 0)}"]
            for i, p in enumerate(board[:top])]
    print_table(f"best {min(top, len(board))} of {len(board)} scored points ({plan.mode} {plan.metric})", cols, rows,
                console=stderr)
    statuses = [r["status"] for r in doc["runs"]]
    best = doc["best"]
    line = (f"{len(statuses)} runs: {statuses.count('ok')} ok, {statuses.count('diverged')} diverged, "
            f"{statuses.count('error')} error, in {doc['seconds']:.1f} s")
    if best and best.get("model"):
        line += f"; best: trial {best['trial']} → {doc['out']}/best.yaml, best.npz"
    elif best:
        line += f"; {best.get('message', '')}"
    print(line, file=sys.stderr, flush=True)
