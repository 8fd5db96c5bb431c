"""Scores: a point's score is the mean of its ok runs' metric (over repeats, and folds); the
board keeps each point's runs as they finish, so a finished run costs the same however many came
before."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from nnctl.sweep.results import run_key


@dataclass
class Point:
    trial: int
    params: dict
    scores: dict[tuple, float] = field(default_factory=dict)  # run key → metric
    statuses: dict[tuple, str] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.statuses.values():
            out[s] = out.get(s, 0) + 1
        return out

    @property
    def score(self) -> float | None:
        return statistics.fmean(self.scores.values()) if self.scores else None

    @property
    def spread(self) -> float | None:
        values = list(self.scores.values())
        return statistics.pstdev(values) if len(values) > 1 else (0.0 if values else None)


class Board:
    """Every point's runs by trial; `add` returns the point the row belongs to."""

    def __init__(self, metric: str, mode: str):
        self.metric, self.mode = metric, mode
        self.points: dict[int, Point] = {}

    def add(self, row: dict) -> Point:
        p = self.points.get(row["trial"])
        if p is None:
            p = self.points[row["trial"]] = Point(row["trial"], row["params"])
        key = run_key(row)
        p.statuses[key] = row["status"]
        p.scores.pop(key, None)
        value = row["metrics"].get(self.metric) if row["status"] == "ok" else None
        if value is not None and math.isfinite(value):
            p.scores[key] = value
        return p

    def better(self, a: float, b: float | None) -> bool:
        return b is None or (a < b if self.mode == "min" else a > b)

    def ranked(self) -> list[Point]:
        scored = [p for p in self.points.values() if p.score is not None]
        return sorted(scored, key=lambda p: (p.score if self.mode == "min" else -p.score, p.trial))
