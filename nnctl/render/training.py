"""The training run as it goes: a row per logged epoch, under a one-line bar on a terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from rich.text import Text

from nnctl.render import fmt, stderr


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
