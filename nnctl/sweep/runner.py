"""One run of a sweep: the base config with a point's values set as --set sets them, trained on
the data the parent read (or, for built-in sets and swept data keys, read here), → a result row.

Pure: nothing is printed or written; every failure becomes the row's status and message.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnctl.errors import ConfigError, DivergedError, NnctlError


@dataclass
class Task:
    trial: int
    repeat: int
    seed: int
    params: dict
    keep_model: bool = False  # return the model file's arrays (the best run, trained again at the end)

    def row(self, status: str = "ok", message: str = "") -> dict:
        """This run's row of trials.csv, before its results are filled in (an error row as it is)."""
        return {"trial": self.trial, "repeat": self.repeat, "seed": self.seed, "status": status,
                "params": dict(self.params), "metrics": {}, "epochs": None, "seconds": None, "message": message}


@dataclass
class Shared:
    """What every run of a sweep shares, sent to each worker once: the base config (raw, with
    paths made absolute), plugin files as source text, and the CSV's parsed rows when the runs
    do not change how the data is read."""

    base: dict
    plugins: dict[str, str] = field(default_factory=dict)  # spec → source text
    X_aug: np.ndarray | None = None  # features and a column of ones, float64
    features: list | None = None
    targets: list | None = None
    y_numeric: np.ndarray | None = None
    y_labels: list | None = None


def run(task: Task, shared: Shared, plugin_dir: Path | None = None) -> dict:
    """Train one (point, seed); the row: trial, repeat, seed, status (ok, error, diverged), params,
    metrics, epochs, seconds, message; with keep_model, also `arrays` of its model file."""
    from nnctl.config.loader import validate
    from nnctl.sweep.space import point_raw
    from nnctl.training.history import final_metrics
    from nnctl.training.run import model_arrays, run_training

    row = task.row()
    t0 = time.perf_counter()
    try:
        raw = point_raw(shared.base, task.params)
        raw["seed"] = task.seed
        cfg = validate(raw, "the point's config")
        files = _plugin_files(shared.plugins, plugin_dir)
        rows = None
        if shared.X_aug is not None:
            from nnctl.data.datasets import RawData

            X_aug = shared.X_aug.copy()  # the split rearranges it in place
            rows = RawData(X_aug[:, :-1], shared.features, shared.targets, shared.y_numeric, shared.y_labels, X_aug)
        result = run_training(cfg, plugin_files=files, raw=rows)
        row["metrics"] = final_metrics(result.final)
        row["epochs"] = result.epochs
        if task.keep_model:
            row["arrays"] = model_arrays(cfg, result)
            row["config"] = cfg.resolved()
    except DivergedError as exc:
        row["status"], row["message"] = "diverged", str(exc)
    except (ConfigError, NnctlError) as exc:
        row["status"], row["message"] = "error", str(exc).replace("\n", " ")
    except MemoryError:
        row["status"], row["message"] = "error", "not enough memory for this run"
    except Exception as exc:  # a bug or a plugin's own failure: the sweep goes on, the row says what
        row["status"], row["message"] = "error", f"{type(exc).__name__}: {exc}"
    row["seconds"] = time.perf_counter() - t0
    return row


def _plugin_files(sources: dict[str, str], folder: Path | None) -> dict[str, Path]:
    """Plugin activations travel as source text; each is written once per worker to a file."""
    if not sources:
        return {}
    folder = folder or Path(tempfile.mkdtemp(prefix="nnctl-plugins-"))
    out = {}
    for spec, text in sources.items():
        path = folder / (f"p{abs(hash(spec)) % 10**8}_" + os.path.basename(spec.rpartition(":")[0]))
        if not path.exists():
            path.write_text(text, encoding="utf-8")
        out[spec] = path
    return out
