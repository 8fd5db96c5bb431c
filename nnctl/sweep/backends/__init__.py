"""Where sweep runs execute: a local process pool (`local`), or Ray tasks (`ray_tasks`). Both
follow `Backend`: the driver (nnctl/sweep/drive.py) only submits tasks and takes rows back."""

from __future__ import annotations

from typing import Protocol

from nnctl.sweep.runner import Task


class Backend(Protocol):
    name: str
    size: int  # runs at once

    def submit(self, task: Task) -> None:
        """Queue a run."""

    def next_result(self) -> dict:
        """The next finished run's row, with `task` (the Task it ran) and, when its worker died or
        its node was lost, `lost: True` (the row then says how, with status error)."""

    def close(self, kill: bool = False) -> None:
        """Stop every worker (at once with kill; a joined Ray cluster is left running)."""
