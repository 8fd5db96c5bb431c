"""A sweep from start to end: the config and its points, the runs through a backend, the results
folder (trials.csv appended and flushed as runs finish, best.yaml, best.npz), resume, and the
best point. Prints nothing: progress goes to the `on_row` callback, errors are NnctlErrors.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnctl.errors import ConfigError, UsageError
from nnctl.io import jsonio
from nnctl.plugins import plugin_file
from nnctl.sweep import space
from nnctl.sweep.runner import Shared, Task

LOWER_IS_BETTER = {"loss", "rmse", "mae"}
# data keys a run may change while still training on the rows the parent read
SHARED_DATA_KEYS = {"data.validation_split", "data.standardize"}


def default_mode(metric: str) -> str:
    return "min" if metric.removeprefix("val_") in LOWER_IS_BETTER else "max"


@dataclass
class Plan:
    """Everything decided before the first run."""

    cfg: object  # the validated base Config
    raw: dict  # the base config as plain values, paths made absolute
    shared: Shared
    method: str
    trials: int
    repeats: int
    metric: str
    mode: str
    keys: list[str]
    metric_columns: list[str]
    points: list[dict] | None  # None for tpe: Optuna asks
    resolved: dict  # what a resumed sweep must match
    n_features: int = 0
    n_outputs: int = 0
    rows: int = 0


def plan(config_path: Path, overrides: list[str], trials: int | None) -> Plan:
    from nnctl.config.loader import apply_overrides, read_config_text, validate
    from nnctl.data.datasets import load_raw
    from nnctl.io.yamlio import load_yaml
    from nnctl.training.setup import prepare_data, table_metrics

    source = str(config_path)
    raw, positions = load_yaml(read_config_text(config_path), source)
    if overrides:
        if not isinstance(raw, dict):
            validate(raw, source)
        raw = apply_overrides(raw, overrides)
    base_dir = config_path.resolve().parent
    cfg = validate(raw, source, positions, base_dir)
    sw = cfg.sweep
    if sw is None:
        raise ConfigError("has no sweep: section; nnctl sweep needs one (method, parameters, …; see "
                          "nnctl init --sweep or docs/commands/sweep.md)", source=source)
    raw = _absolute_paths(copy.deepcopy(raw), cfg, base_dir)
    shared = Shared(base=raw, plugins=_plugin_sources(cfg, base_dir))
    keys = list(sw.parameters)
    _check_keys(raw, sw, source)
    n_trials = trials or sw.trials
    # the base config's data, read once: its metric columns, and the rows every run shares
    rng = np.random.default_rng(cfg.seed)
    from_file = hasattr(cfg.data, "path") and not cfg.data.stream  # a streamed file is never read whole
    sharable = from_file and not any(
        (k.startswith("data.") and k not in SHARED_DATA_KEYS) or k == "train.loss" for k in keys)
    rows = load_raw(cfg, base_dir, rng) if from_file else None
    if sharable:
        shared.X_aug = rows.X_aug.copy()
        shared.features, shared.targets = rows.features, rows.targets
        shared.y_numeric, shared.y_labels = rows.y_numeric, rows.y_labels
    prepared = prepare_data(copy.deepcopy(cfg), np.random.default_rng(cfg.seed), rows)
    names = table_metrics(cfg, prepared)
    validation = prepared.split.X_val is not None or "data.validation_split" in keys
    columns = ["loss", *names] + (["val_loss", *(f"val_{n}" for n in names)] if validation else [])
    metric = sw.metric or ("val_loss" if validation else "loss")
    if metric not in columns:
        raise ConfigError(f"sweep.metric: {metric!r} is not among this run's final metrics "
                          f"({', '.join(columns)})" + ("; val_ metrics need data.validation_split > 0"
                                                      if metric.startswith("val_") and not validation else ""),
                          source=source)
    resolved = cfg.resolved()
    resolved["sweep"] = {k: v for k, v in resolved["sweep"].items() if k != "trials"}  # more trials may resume
    resolved.pop("output", None)
    points = None if sw.method == "tpe" else space.points(sw, cfg.seed, n_trials)
    if sw.method == "tpe":
        _import_optuna()
    split = prepared.split
    return Plan(cfg, raw, shared, sw.method, len(points) if points is not None else n_trials, sw.repeats,
                metric, sw.mode or default_mode(metric), keys, columns, points, resolved,
                split.X_train.shape[1], split.Y_train.shape[1], split.X_train.shape[0])


def _import_optuna():
    try:
        import optuna
    except ImportError:
        raise UsageError("sweep.method tpe needs Optuna, an optional extra: pip install 'nnctl[tune]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _absolute_paths(raw: dict, cfg, base_dir: Path) -> dict:
    """Paths relative to the config's folder made absolute: runs happen elsewhere (a worker, a
    Ray node, best.yaml in the results folder)."""
    if hasattr(cfg.data, "path"):
        raw["data"]["path"] = str((base_dir / cfg.data.path).resolve())
    for layer in raw.get("model", {}).get("layers", []):
        act = layer.get("activation") if isinstance(layer, dict) else None
        if isinstance(act, dict) and isinstance(act.get("plugin"), str):
            path, cls = plugin_file(act["plugin"], base_dir)
            act["plugin"] = f"{path.resolve()}:{cls}"
    return raw


def _plugin_sources(cfg, base_dir: Path) -> dict[str, str]:
    out = {}
    for layer in cfg.model.layers:
        if isinstance(layer.activation, dict):
            path, cls = plugin_file(layer.activation["plugin"], base_dir)
            path = path.resolve()
            try:
                out[f"{path}:{cls}"] = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"plugin file {path}: {exc.strerror}", source=cfg.source) from None
    return out


def _check_keys(raw: dict, sw, source: str) -> None:
    """A parameter key that names no config key is a typo, not a point's error: exit 2 now."""
    from nnctl.config.loader import validate

    for key, spec in sw.parameters.items():
        value = spec.values[0] if spec.values is not None else getattr(spec, spec.kind)[0]
        try:
            validate(space.point_raw(raw, {key: value}, "sweep.parameters.{key}"), source)
        except ConfigError as exc:
            if "unknown key" in str(exc) or "list index" in str(exc) or "not a mapping" in str(exc):
                raise ConfigError(f"sweep.parameters.{key}: not a key of this config: "
                                  f"{str(exc).splitlines()[0]}", source=source) from None


# --- the results folder -----------------------------------------------------------------------

@dataclass
class Results:
    folder: Path
    keys: list[str]
    metric_columns: list[str]
    rows: list[dict] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return ["trial", "repeat", "seed", "status", *self.keys, "epochs", "seconds", *self.metric_columns, "message"]

    @property
    def path(self) -> Path:
        return self.folder / "trials.csv"

    def open(self, resume: bool, resolved: dict) -> None:
        from nnctl.io.files import check_writable

        state = self.folder / "sweep.json"
        if self.folder.exists() and not self.folder.is_dir():
            raise UsageError("is not a folder; --out names the sweep's results folder", source=str(self.folder))
        if self.path.exists() and not resume:
            raise UsageError(f"already holds a sweep ({self.path.name}); pass --resume to continue it, or "
                             "choose another --out", source=str(self.folder))
        if resume and self.path.exists():
            try:
                before = json.loads(state.read_text())
            except (OSError, ValueError):
                raise UsageError(f"{state.name} is missing or unreadable; cannot check that this is the same "
                                 "sweep", source=str(self.folder)) from None
            from nnctl.config.diff import first_difference

            diff = first_difference(before, resolved)
            if diff:
                raise UsageError(f"--resume: the config differs from the sweep in this folder at {diff}; "
                                 "resume with the same config, or choose another --out", source=str(self.folder))
            self.rows = self._read()
        self.folder.mkdir(parents=True, exist_ok=True)
        check_writable(self.path)
        from nnctl.io.files import atomic_write

        atomic_write(state, lambda fh: fh.write(jsonio.dumps_private(resolved, sort_keys=True, indent=1).encode()))
        if not self.path.exists():
            with open(self.path, "w", newline="", encoding="utf-8") as fh:
                csv.writer(fh, lineterminator="\n").writerow(self.columns)

    def _read(self) -> list[dict]:
        from nnctl.io.yamlio import parse_scalar

        with open(self.path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames != self.columns:
                raise UsageError(f"{self.path.name}: its columns differ from this sweep's; resume with the same "
                                 "config", source=str(self.folder))
            rows = []
            for r in reader:
                rows.append({"trial": int(r["trial"]), "repeat": int(r["repeat"]), "seed": int(r["seed"]),
                             "status": r["status"], "params": {k: parse_scalar(r[k], k) for k in self.keys},
                             "metrics": {k: float(r[k]) for k in self.metric_columns if r[k] != ""},
                             "epochs": int(r["epochs"]) if r["epochs"] else None,
                             "seconds": float(r["seconds"]) if r["seconds"] else None, "message": r["message"]})
        return rows

    def add(self, row: dict) -> None:
        """Append the run's row and flush it: a sweep stopped at any moment keeps every finished run."""
        from nnctl.io.yamlio import dump_yaml

        def cell(v):
            if v is None:
                return ""
            return repr(float(v)) if isinstance(v, float) else str(v)

        values = [row["trial"], row["repeat"], row["seed"], row["status"],
                  *(dump_yaml(row["params"][k], flow=True).strip().removesuffix("...").strip() for k in self.keys),
                  cell(row["epochs"]), cell(row["seconds"]),
                  *(cell(row["metrics"].get(k)) if row["status"] == "ok" else "" for k in self.metric_columns),
                  row["message"]]
        with open(self.path, "a", newline="", encoding="utf-8") as fh:
            csv.writer(fh, lineterminator="\n").writerow(values)
            fh.flush()
        self.rows.append(row)


# --- scores -------------------------------------------------------------------------------------

@dataclass
class Point:
    trial: int
    params: dict
    scores: list[float]
    counts: dict[str, int]

    @property
    def score(self) -> float | None:
        return statistics.fmean(self.scores) if self.scores else None

    @property
    def spread(self) -> float | None:
        return statistics.pstdev(self.scores) if len(self.scores) > 1 else (0.0 if self.scores else None)


def points_of(rows: list[dict], metric: str) -> list[Point]:
    by_trial: dict[int, Point] = {}
    for r in sorted(rows, key=lambda r: (r["trial"], r["repeat"])):
        p = by_trial.setdefault(r["trial"], Point(r["trial"], r["params"], [], {}))
        p.counts[r["status"]] = p.counts.get(r["status"], 0) + 1
        value = r["metrics"].get(metric) if r["status"] == "ok" else None
        if value is not None and math.isfinite(value):
            p.scores.append(value)
    return list(by_trial.values())


def ranked(points: list[Point], mode: str) -> list[Point]:
    scored = [p for p in points if p.score is not None]
    return sorted(scored, key=lambda p: (p.score if mode == "min" else -p.score, p.trial))


# --- running ------------------------------------------------------------------------------------

def tasks_for(trial: int, point: dict, plan: Plan) -> list[Task]:
    # the first repeat brings its model back: the best point's is best.npz, with no run again
    return [Task(trial, r, plan.cfg.seed + r, point, keep_model=r == 0) for r in range(plan.repeats)]


class Keeper:
    """The first repeat's model of every point still running, and of the best point finished so
    far: with one repeat a point, one model is held at a time."""

    def __init__(self, plan: Plan, results: Results):
        self.plan, self.results = plan, results
        self.models: dict[int, tuple] = {}  # trial → (arrays, config)
        self.best: tuple | None = None  # (trial, score, arrays, config)

    def add(self, row: dict) -> None:
        arrays, config = row.pop("arrays", None), row.pop("config", None)
        if arrays is not None:
            self.models[row["trial"]] = (arrays, config)
        trial = row["trial"]
        rows = [r for r in self.results.rows if r["trial"] == trial] + [row]
        if len(rows) < self.plan.repeats:
            return
        kept = self.models.pop(trial, None)
        point = points_of(rows, self.plan.metric)[0]
        if kept is None or point.score is None:
            return
        better = self.best is None or (point.score < self.best[1] if self.plan.mode == "min" else
                                       point.score > self.best[1])
        if better:
            self.best = (trial, point.score, *kept)


def execute(plan: Plan, backend, results: Results, on_row=None) -> Keeper:
    """Run every run not yet in the results, through the backend, recording each as it ends."""
    keeper = Keeper(plan, results)
    done = {(r["trial"], r["repeat"]) for r in results.rows}
    if plan.method == "tpe":
        _execute_tpe(plan, backend, results, done, on_row, keeper)
        return keeper
    todo = [t for i, p in enumerate(plan.points) for t in tasks_for(i, p, plan) if (t.trial, t.repeat) not in done]
    # the largest runs first (longest-processing-time scheduling): no worker is left with the big
    # nets at the end; each run's numbers do not depend on when it runs
    cost = {i: estimated_work(plan, p) for i, p in enumerate(plan.points)}
    todo.sort(key=lambda t: -cost[t.trial])
    for t in todo:
        backend.submit(t)
    for _ in todo:
        _record(backend.next_result(), results, keeper, on_row)
    return keeper


def estimated_work(plan: Plan, point: dict) -> float:
    """Multiply-adds of a run, roughly: parameters × rows × epochs (0 for a point that is invalid)."""
    from nnctl.config.loader import validate

    try:
        cfg = validate(space.point_raw(plan.raw, point, "{key}"))
    except Exception:  # noqa: BLE001 - the run itself will say what is wrong
        return 0.0
    sizes = [plan.n_features] + [plan.n_outputs if layer.units == "auto" else layer.units for layer in cfg.model.layers]
    params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    return float(params) * plan.rows * cfg.train.epochs


def _record(row: dict, results: Results, keeper: Keeper, on_row) -> None:
    keeper.add(row)  # takes the model out of the row first
    results.add(row)
    if on_row:
        on_row(row)


def _execute_tpe(plan: Plan, backend, results: Results, done: set, on_row, keeper: Keeper) -> None:
    """Optuna's TPE through ask-and-tell: up to `workers` points in flight, each told its score
    (the mean over its repeats) when its last repeat ends. One worker: the same points every time."""
    optuna = _import_optuna()
    dists = space.optuna_distributions(plan.cfg.sweep)
    direction = "minimize" if plan.mode == "min" else "maximize"
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=plan.cfg.seed))
    for p in points_of(results.rows, plan.metric):  # a resumed sweep: what is known already
        state = optuna.trial.TrialState.COMPLETE if p.score is not None else optuna.trial.TrialState.FAIL
        study.add_trial(optuna.trial.create_trial(params={k: p.params[k] for k in plan.keys}, distributions=dists,
                                                  value=p.score, state=state))
    started = {r["trial"] for r in results.rows}
    next_trial = 0
    inflight: dict[int, tuple] = {}  # trial → (optuna trial, rows so far)
    width = getattr(backend, "size", 1)
    while True:
        while len(inflight) < width:
            while next_trial in started:
                next_trial += 1
            if next_trial >= plan.trials:
                break
            t = study.ask(dists)
            inflight[next_trial] = (t, [])
            for task in tasks_for(next_trial, dict(t.params), plan):
                backend.submit(task)
            next_trial += 1
        if not inflight:
            return
        row = backend.next_result()
        _record(row, results, keeper, on_row)
        t, rows = inflight[row["trial"]]
        rows.append(row)
        if len(rows) == plan.repeats:
            del inflight[row["trial"]]
            score = points_of(rows, plan.metric)[0].score
            if score is None:
                study.tell(t, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(t, score)


def best_files(plan: Plan, backend, results: Results, keeper: Keeper) -> dict | None:
    """best.yaml and best.npz for the best point: its first repeat's model as the run returned it,
    or (after a resume, when that run happened earlier) trained again in a worker: the same code,
    data and seed give the same numbers. None when no run ended ok."""
    from nnctl.io.files import atomic_write
    from nnctl.io.jsonio import dumps
    from nnctl.io.modelfile import write_npz_atomic
    from nnctl.io.yamlio import dump_yaml

    board = ranked(points_of(results.rows, plan.metric), plan.mode)
    if not board:
        return None
    best = board[0]
    if keeper.best is not None and keeper.best[0] == best.trial:
        arrays, config = keeper.best[2], keeper.best[3]
    else:
        backend.submit(Task(best.trial, 0, plan.cfg.seed, best.params, keep_model=True))
        row = backend.next_result()
        if row["status"] != "ok" or "arrays" not in row:
            return {"trial": best.trial, "params": best.params, "score": best.score, "config": None, "model": None,
                    "message": f"training the best point again failed: {row['message']}"}
        arrays, config = row["arrays"], row["config"]
    config.pop("sweep", None)
    config["output"] = None  # nnctl train best.yaml writes best.npz in the current folder
    meta = json.loads(str(arrays["meta"][()]))
    meta["config"] = config
    meta["sweep"] = {"trial": best.trial, "params": best.params, "metric": plan.metric, "score": best.score}
    arrays["meta"] = np.array(dumps(meta, sort_keys=True))
    header = (f"# The best point of the sweep (trial {best.trial}, {plan.metric} {best.score:.6g}), its first "
              f"repeat's seed.\n# nnctl train best.yaml reproduces best.npz.\n")
    atomic_write(results.folder / "best.yaml", lambda fh: fh.write((header + dump_yaml(config)).encode()))
    write_npz_atomic(results.folder / "best.npz", arrays)
    return {"trial": best.trial, "params": best.params, "score": best.score, "config": config,
            "model": str(results.folder / "best.npz")}


def make_backend(name: str, workers: int, plan: Plan, address: str | None, pool=None):
    if name == "ray":
        from nnctl.sweep.backends.ray_tasks import RayBackend

        return RayBackend(workers, plan.shared, address)
    if pool is None:  # forked workers, started now with the shared part
        from nnctl.sweep.backends.local import LocalPool

        return LocalPool(workers, plan.shared)
    pool.share(plan.shared)
    return pool


def run_sweep(config_path: Path, overrides: list[str], out: Path, workers: int, backend_name: str,
              address: str | None, trials: int | None, resume: bool, on_start=None, on_row=None) -> dict:
    """The whole sweep; returns the --json document (without `seconds`' rounding)."""
    t0 = time.perf_counter()
    if address and backend_name != "ray":
        raise UsageError("--address goes with --backend ray")
    if backend_name == "ray":
        from nnctl.sweep.backends.ray_tasks import _import_ray, check_address

        _import_ray()
        if address:
            check_address(address)  # before anything is written
    pool = None
    if backend_name == "local":
        from nnctl.sweep.backends.local import LocalPool, fork_start

        if not fork_start():
            pool = LocalPool(workers)  # spawned workers start up while the sweep is planned
    try:
        p = plan(config_path, overrides, trials)
        results = Results(out, p.keys, p.metric_columns)
        results.open(resume, p.resolved)
        backend = make_backend(backend_name, workers, p, address, pool)
    except BaseException:
        if pool is not None:
            pool.close(kill=True)
        raise
    try:
        total = p.trials * p.repeats
        if on_start:
            on_start(p, total, len(results.rows))
        keeper = execute(p, backend, results, on_row)
        best = best_files(p, backend, results, keeper)
    except BaseException:
        backend.close(kill=True)
        raise
    backend.close()
    return {"out": str(out), "method": p.method, "backend": backend_name, "workers": workers,
            "seconds": time.perf_counter() - t0, "metric": p.metric, "mode": p.mode,
            "runs": [{k: r[k] for k in ("trial", "repeat", "seed", "status", "params", "metrics", "epochs",
                                        "seconds", "message")} for r in results.rows],
            "best": best, "leaderboard": ranked(points_of(results.rows, p.metric), p.mode),
            "plan": p}
