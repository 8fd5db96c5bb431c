"""best.yaml and best.npz: the best point's full config and its model, which `nnctl train
best.yaml` reproduces bit for bit."""

from __future__ import annotations

import json

import numpy as np

from nnctl.sweep.backends import Backend
from nnctl.sweep.drive import Keeper
from nnctl.sweep.plan import Plan
from nnctl.sweep.results import Results
from nnctl.sweep.runner import Task
from nnctl.sweep.scoring import Point


def best_files(plan: Plan, backend: Backend, results: Results, keeper: Keeper, board: list[Point]) -> dict | None:
    """The best point's first repeat's model as the run returned it; or trained now in a worker
    (after a resume, when that run happened earlier; with folds, the refit on every training row
    of the base config's data section, as GridSearchCV's refit): the same code, data and seed
    give the same numbers. None when no run ended ok."""
    from nnctl.io.jsonio import dumps
    from nnctl.io.modelfile import atomic_write, write_npz_atomic
    from nnctl.io.yamlio import dump_yaml

    if not board:
        return None
    best = board[0]
    seed = best.params.get("seed", plan.cfg.seed)
    if keeper.best is not None and keeper.best[0] == best.trial:
        arrays, config = keeper.best[2], keeper.best[3]
    else:
        backend.submit(Task(best.trial, 0, seed, best.params, keep_model=True))
        row = backend.next_result()
        if row["status"] != "ok" or "arrays" not in row:
            return {"trial": best.trial, "params": best.params, "score": best.score, "config": None, "model": None,
                    "message": f"training the best point again failed: {row['message']}"}
        arrays, config = row["arrays"], row["config"]
    config.pop("sweep", None)
    config["output"] = None  # nnctl train best.yaml writes best.npz in the current folder
    meta = json.loads(str(arrays["meta"][()]))
    meta["config"] = config
    meta["sweep"] = {"trial": best.trial, "params": best.params, "metric": plan.metric, "score": best.score,
                     **({"folds": plan.folds} if plan.folds else {})}
    arrays["meta"] = np.array(dumps(meta, sort_keys=True))
    what = ("its refit on every training row after a " + f"{plan.folds}-fold cross-validation" if plan.folds
            else "its first repeat's seed")
    header = (f"# The best point of the sweep (trial {best.trial}, {plan.metric} {best.score:.6g}), {what}.\n"
              "# nnctl train best.yaml reproduces best.npz.\n")
    atomic_write(results.folder / "best.yaml", lambda fh: fh.write((header + dump_yaml(config)).encode()))
    write_npz_atomic(results.folder / "best.npz", arrays)
    return {"trial": best.trial, "params": best.params, "score": best.score, "config": config,
            "model": str(results.folder / "best.npz")}
