"""A sweep's progress line and its leaderboard."""

from __future__ import annotations

import sys

from nnctl.render import fmt, print_table, stderr


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
        folds = f" × {plan.folds} folds" if plan.folds else ""
        print(f"sweep: {plan.method}, {plan.trials} points × {plan.repeats} repeats{folds} = {total} runs{note}; "
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
        fold = f" fold {row['fold']}" if row.get("fold") is not None else ""
        print(f"run {self.done}/{self.total}: trial {row['trial']} repeat {row['repeat']}{fold} {row['status']}"
              + (f" ({metrics})" if row["status"] in ("ok", "stopped") else f": {row['message']}"), file=sys.stderr,
              flush=True)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def print_leaderboard(plan, board, doc, top: int = 10) -> None:
    """The best points: parameters, the score's mean and spread over repeats, status counts."""
    kinds = ["ok", "stopped", "diverged", "error"] if plan.cfg.sweep.scheduler else ["ok", "diverged", "error"]
    cols = ["rank", "trial", *plan.keys, f"{plan.metric} mean", "± std", "runs " + "/".join(kinds)]
    rows = []
    for i, p in enumerate(board[:top]):
        counts = p.counts
        rows.append([str(i + 1), str(p.trial), *(str(p.params.get(k)) for k in plan.keys), fmt(p.score),
                     fmt(p.spread, 3), "/".join(str(counts.get(k, 0)) for k in kinds)])
    print_table(f"best {min(top, len(board))} of {len(board)} scored points ({plan.mode} {plan.metric})", cols, rows,
                console=stderr)
    statuses = [r["status"] for r in doc["runs"]]
    best = doc["best"]
    stopped = f", {statuses.count('stopped')} stopped" if "stopped" in statuses else ""
    line = (f"{len(statuses)} runs: {statuses.count('ok')} ok{stopped}, {statuses.count('diverged')} diverged, "
            f"{statuses.count('error')} error, in {doc['seconds']:.1f} s")
    if best and best.get("model"):
        line += f"; best: trial {best['trial']} → {doc['out']}/best.yaml, best.npz"
    elif best:
        line += f"; {best.get('message', '')}"
    print(line, file=sys.stderr, flush=True)
