"""The runs of a sweep through a backend: tasks are made lazily and kept a few per worker in
flight; each row is recorded as it arrives. A run whose worker died is run again (up to
--max-failures times); a run at an ASHA rung goes on from its checkpoint or stops there; TPE is
told each point's score as its last run ends (Optuna's ask-and-tell)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import replace

import numpy as np

from nnctl.sweep.backends import Backend
from nnctl.sweep.plan import Plan, estimated_work, import_optuna
from nnctl.sweep.results import Results, run_key
from nnctl.sweep.runner import Task
from nnctl.sweep.scoring import Board

WINDOW = 64  # points ordered by their size together: the largest first, the order lazy


class Keeper:
    """The first repeat's model of every point still running, and of the best point finished so
    far: with one repeat a point, one model is held at a time."""

    def __init__(self, plan: Plan, board: Board):
        self.plan, self.board = plan, board
        self.models: dict[int, tuple] = {}  # trial → (arrays, config)
        self.best: tuple | None = None  # (trial, score, arrays, config)

    def add(self, row: dict) -> None:
        arrays, config = row.pop("arrays", None), row.pop("config", None)
        if arrays is not None:
            self.models[row["trial"]] = (arrays, config)
        point = self.board.add(row)
        if len(point.statuses) < self.plan.runs_per_point:
            return
        kept = self.models.pop(row["trial"], None)
        if kept is not None and point.score is not None and \
                (self.best is None or self.board.better(point.score, self.best[1])):
            self.best = (row["trial"], point.score, *kept)


class Driver:
    def __init__(self, plan: Plan, backend: Backend, results: Results, on_row: Callable | None = None,
                 max_failures: int = 0):
        self.plan, self.backend, self.results, self.on_row = plan, backend, results, on_row
        self.max_failures = max_failures
        self.board = Board(plan.metric, plan.mode)
        for row in results.rows.values():
            self.board.add(row)
        self.keeper = Keeper(plan, self.board)
        self.told: Callable[[dict], None] | None = None  # tpe: tell the study when a point is whole
        sched = plan.cfg.sweep.scheduler
        self.asha = None
        if sched is not None:
            from nnctl.sweep.asha import ASHA

            self.asha = ASHA(sched.min_epochs, sched.reduction, plan.cfg.train.epochs, plan.mode)

    def run(self) -> None:
        tasks = self._tpe_tasks() if self.plan.method == "tpe" else self._tasks()
        # Ordered runs (tpe's asks, ASHA's rungs) keep one run a worker in flight; the others a
        # second one queued, so a worker never waits for the parent.
        ordered = self.plan.method == "tpe" or self.asha is not None
        width = self.backend.size * (1 if ordered else 2)
        inflight = 0
        while True:
            while inflight < width:
                task = next(tasks, None)
                if task is None:
                    break
                self._submit(task)
                inflight += 1
            if not inflight:
                return
            row = self.backend.next_result()
            inflight -= 1
            task = row.pop("task")
            again = self._follow_up(row, task)
            if again is not None:
                self._submit(again)
                inflight += 1
            else:
                row["seconds"] = (row["seconds"] or 0.0) + task.spent
                self._record(row)

    def _submit(self, task: Task) -> None:
        if self.asha is not None and task.checkpoint is None and task.stop_at is None:
            task.stop_at = self.asha.first_stop
        self.backend.submit(task)

    def _follow_up(self, row: dict, task: Task) -> Task | None:
        """The same run again when its worker died and retries are left, or its next leg when it
        goes on from a rung; None when the row is its result."""
        if row.pop("lost", False):
            if task.attempt < self.max_failures:
                return replace(task, attempt=task.attempt + 1)
            if self.max_failures:
                row["message"] += f" (run {self.max_failures + 1} times)"
            return None
        if row["status"] != "rung":
            return None
        checkpoint = row.pop("checkpoint")
        nxt = self.asha.decide(row["epochs"], row["metrics"].get(self.plan.metric))
        if nxt is None:
            row["status"] = "stopped"
            return None
        return replace(task, stop_at=nxt, checkpoint=checkpoint, attempt=0, spent=task.spent + row["seconds"])

    def _record(self, row: dict) -> None:
        self.keeper.add(row)  # takes the model out of the row first
        self.results.add(row)
        if self.told is not None:
            self.told(row)
        if self.on_row:
            self.on_row(row)

    def _tasks(self) -> Iterator[Task]:
        """Every run not yet in trials.csv, point by point; within a window of points the largest
        runs first (longest-processing-time order: no worker is left with the big nets at the
        end; a run's numbers do not depend on when it runs)."""
        done = self.results.rows
        points = enumerate(self.plan.points())
        while True:
            window = list(itertools.islice(points, WINDOW))
            if not window:
                return
            todo = [t for i, p in window for t in self.plan.tasks(i, p) if run_key(t.row()) not in done]
            if not todo:
                continue
            cost = {i: estimated_work(self.plan, p) for i, p in window} if len(todo) > 1 else {}
            todo.sort(key=lambda t: -cost.get(t.trial, 0.0))  # stable: equal sizes keep trial order
            yield from todo

    def _tpe_tasks(self) -> Iterator[Task]:
        """Optuna's TPE through ask-and-tell. A resumed sweep first tells the study every finished
        point, and its sampler is seeded by how many there are, so it does not replay the points
        it drew before."""
        optuna = import_optuna()
        from nnctl.sweep import space

        plan = self.plan
        dists = space.optuna_distributions(plan.cfg.sweep)
        known = [p for p in self.board.points.values() if len(p.statuses) >= plan.runs_per_point]
        seed = plan.cfg.seed if not known else int(np.random.SeedSequence([plan.cfg.seed, len(known)])
                                                    .generate_state(1)[0])
        study = optuna.create_study(direction="minimize" if plan.mode == "min" else "maximize",
                                    sampler=optuna.samplers.TPESampler(seed=seed))
        for p in known:
            state = optuna.trial.TrialState.COMPLETE if p.score is not None else optuna.trial.TrialState.FAIL
            study.add_trial(optuna.trial.create_trial(params={k: p.params[k] for k in plan.keys}, distributions=dists,
                                                      value=p.score, state=state))
        asked: dict[int, object] = {}

        def told(row):
            t = asked.get(row["trial"])
            point = self.board.points[row["trial"]]
            if t is not None and len(point.statuses) == plan.runs_per_point:
                del asked[row["trial"]]
                if point.score is None:  # every run stopped early by ASHA: pruned, as Optuna calls it
                    pruned = "stopped" in point.statuses.values()
                    study.tell(t, state=optuna.trial.TrialState.PRUNED if pruned else optuna.trial.TrialState.FAIL)
                else:
                    study.tell(t, point.score)

        self.told = told
        done = self.results.rows
        for p in self.board.points.values():  # a point cut short: its missing runs, as they were
            if len(p.statuses) < plan.runs_per_point:
                yield from (t for t in plan.tasks(p.trial, p.params) if run_key(t.row()) not in done)
        for trial in range(plan.trials):
            if trial in self.board.points:
                continue
            t = study.ask(dists)
            asked[trial] = t
            yield from plan.tasks(trial, dict(t.params))
