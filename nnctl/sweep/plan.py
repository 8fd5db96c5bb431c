"""Everything decided before a sweep's first run: the config and its points (generated lazily),
the data the runs share, the metric, the columns of trials.csv, the runs of a point."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from nnctl.errors import ConfigError, UsageError
from nnctl.plugins import plugin_file
from nnctl.sweep import space
from nnctl.sweep.results import Layout
from nnctl.sweep.runner import Shared, Task

LOWER_IS_BETTER = {"loss", "rmse", "mae"}
# data keys a run may change while still training on the rows the parent read
SHARED_DATA_KEYS = {"data.validation_split", "data.standardize"}
MAX_GRID_RUNS = 100_000


def default_mode(metric: str) -> str:
    return "min" if metric.removeprefix("val_") in LOWER_IS_BETTER else "max"


@dataclass
class Plan:
    cfg: object  # the validated base Config
    raw: dict  # the base config as plain values, paths made absolute
    shared: Shared
    method: str
    trials: int  # points
    repeats: int
    folds: int | None
    metric: str
    mode: str
    keys: list[str]  # the swept keys, `seed` included when swept
    layout: Layout
    resolved: dict  # what a resumed sweep must match
    n_features: int = 0
    n_outputs: int = 0
    rows: int = 0

    @property
    def runs_per_point(self) -> int:
        return self.repeats * (self.folds or 1)

    @property
    def total(self) -> int:
        return self.trials * self.runs_per_point

    def points(self) -> Iterator[dict]:
        """grid and random points, one at a time (tpe asks Optuna instead)."""
        return space.points(self.cfg.sweep, self.cfg.seed, self.trials)

    def tasks(self, trial: int, point: dict) -> list[Task]:
        """The runs of a point: repeat r has seed + r (the point's seed when seed is swept), and
        each fold when the sweep has folds; repeat 0 brings its model back when its model is
        the point's (no folds), so the best point's is best.npz with no run again."""
        seed = point.get("seed", self.cfg.seed)
        return [Task(trial, r, seed + r, point, keep_model=r == 0 and not self.folds, fold=f)
                for r in range(self.repeats) for f in (range(self.folds) if self.folds else [None])]


def plan(config_path: Path, overrides: list[str], trials: int | None) -> Plan:
    cfg, raw, base_dir = _load(config_path, overrides)
    source, sw = str(config_path), cfg.sweep
    if trials is not None and sw.method == "grid":
        raise UsageError("--trials: a grid runs every combination of its values; use sweep.method random for "
                         "a number of points")
    raw = _absolute_paths(copy.deepcopy(raw), cfg, base_dir)
    keys = list(sw.parameters)
    _check_keys(raw, sw, source)
    _check_folds(sw, keys, source)
    n_points = space.count(sw, trials or sw.trials)
    runs = n_points * sw.repeats * (sw.folds or 1)
    if sw.method == "grid" and runs > MAX_GRID_RUNS:
        raise ConfigError(f"sweep: this grid is {runs:,} runs ({n_points:,} points × {sw.repeats} repeats"
                          + (f" × {sw.folds} folds" if sw.folds else "") + f"), more than the {MAX_GRID_RUNS:,} "
                          "a sweep takes; use fewer values, or method random with trials", source=source)
    shared = Shared(base=raw, plugins=_plugin_sources(cfg, base_dir))
    prepared = _share_rows(cfg, keys, base_dir, shared)
    columns, metric = _metric(cfg, prepared, keys, source)
    resolved = cfg.resolved()
    resolved["sweep"] = {k: v for k, v in resolved["sweep"].items() if k != "trials"}  # more trials may resume
    resolved.pop("output", None)
    if sw.method == "tpe":
        import_optuna()
    layout = Layout([k for k in keys if k != "seed"], columns, sw.repeats, sw.folds, cfg.seed, "seed" in keys,
                    lambda key, value: space.contains(sw.parameters[key], value))
    split = prepared.split
    return Plan(cfg, raw, shared, sw.method, n_points, sw.repeats, sw.folds, metric, sw.mode or default_mode(metric),
                keys, layout, resolved, split.X_train.shape[1], split.Y_train.shape[1], split.X_train.shape[0])


def _load(config_path: Path, overrides: list[str]):
    """The validated config with its --set overrides, the raw mapping, and the config's folder."""
    from nnctl.config.loader import apply_overrides, read_config_text, validate
    from nnctl.io.yamlio import load_yaml

    source = str(config_path)
    raw, positions = load_yaml(read_config_text(config_path), source)
    if overrides:
        if not isinstance(raw, dict):
            validate(raw, source)
        raw = apply_overrides(raw, overrides)
    base_dir = config_path.resolve().parent
    cfg = validate(raw, source, positions, base_dir)
    if cfg.sweep is None:
        raise ConfigError("has no sweep: section; nnctl sweep needs one (method, parameters, …; see "
                          "nnctl init --sweep or docs/commands/sweep.md)", source=source)
    return cfg, raw, base_dir


def _share_rows(cfg, keys: list[str], base_dir: Path, shared: Shared):
    """Read the data once, in the parent: the rows every run shares (a CSV that no swept key reads
    differently; with folds, always), each row's fold; the base config's prepared data."""
    from nnctl.data.datasets import load_raw
    from nnctl.training.setup import prepare_data

    sw = cfg.sweep
    from_file = hasattr(cfg.data, "path") and not cfg.data.stream  # a streamed file is never read whole
    sharable = from_file and not any(
        (k.startswith("data.") and k not in SHARED_DATA_KEYS) or k == "train.loss" for k in keys)
    rows = load_raw(cfg, base_dir, np.random.default_rng(cfg.seed)) if from_file or sw.folds else None
    if sharable or sw.folds:
        shared.X_aug = rows.X_aug.copy() if rows.X_aug is not None else np.c_[rows.X, np.ones(len(rows.X))]
        shared.features, shared.targets = rows.features, rows.targets
        shared.y_numeric, shared.y_labels = rows.y_numeric, rows.y_labels
        shared.plain = sharable  # built-in sets' rows are the config's only with its own generator
    prepared = prepare_data(copy.deepcopy(cfg), np.random.default_rng(cfg.seed),
                            rows if from_file else None)
    if sw.folds:
        from nnctl.sweep.folds import assign

        shared.fold_of = assign(_labels(prepared, rows), len(shared.X_aug), sw.folds, cfg.seed)
    return prepared


def _metric(cfg, prepared, keys: list[str], source: str) -> tuple[list[str], str]:
    """trials.csv's metric columns, and the sweep's metric among them."""
    from nnctl.training.setup import table_metrics

    sw = cfg.sweep
    names = table_metrics(cfg, prepared)
    validation = prepared.split.X_val is not None or "data.validation_split" in keys or bool(sw.folds)
    columns = ["loss", *names] + (["val_loss", *(f"val_{n}" for n in names)] if validation else [])
    metric = sw.metric or ("val_loss" if validation else "loss")
    if metric not in columns:
        raise ConfigError(f"sweep.metric: {metric!r} is not among this run's final metrics "
                          f"({', '.join(columns)})" + ("; val_ metrics need data.validation_split > 0 or sweep.folds"
                                                      if metric.startswith("val_") and not validation else ""),
                          source=source)
    return columns, metric


def _labels(prepared, rows) -> np.ndarray | None:
    """Each row's class index for stratified folds, or None for a regression."""
    from nnctl.data.datasets import ClassIndex

    if not prepared.classifier:
        return None
    return ClassIndex(prepared.classes).rows(rows.y_labels if rows.y_labels is not None else rows.y_numeric[:, 0])


def _check_folds(sw, keys: list[str], source: str) -> None:
    if not sw.folds:
        return
    moved = [k for k in keys if k.startswith("data.") and k != "data.standardize"] + \
        [k for k in keys if k == "train.loss"]
    if moved:
        raise ConfigError(f"sweep.parameters.{moved[0]}: with sweep.folds every run cuts the same rows into "
                          "folds, so the data and the loss cannot be swept", source=source)


def import_optuna():
    try:
        import optuna
    except ImportError:
        raise UsageError("sweep.method tpe needs Optuna, an optional extra: pip install 'nnctl[tune]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _absolute_paths(raw: dict, cfg, base_dir: Path) -> dict:
    """Paths relative to the config's folder made absolute: runs happen elsewhere (a worker, a
    Ray node, best.yaml in the results folder)."""
    if hasattr(cfg.data, "path"):  # a CSV or Parquet file
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
    """A parameter key that names no config key is a typo, not a point's error: exit 2 now. It is
    recognised by where it fails: setting the path, or pydantic's `extra_forbidden`."""
    from nnctl.config.loader import Config, set_path, validate

    for key, spec in sw.parameters.items():
        value = spec.values[0] if spec.values is not None else getattr(spec, spec.kind)[0]
        point = copy.deepcopy(raw)
        point.pop("sweep", None)
        try:
            set_path(point, key, value, f"sweep.parameters.{key}")
            Config.model_validate(point)
        except ConfigError as exc:
            raise ConfigError(f"not a key of this config: {exc}", source=source) from None
        except ValidationError as exc:
            if any(e["type"] == "extra_forbidden" for e in exc.errors()):
                try:
                    validate(point, "-")
                except ConfigError as err:
                    raise ConfigError(f"sweep.parameters.{key}: not a key of this config: "
                                      f"{str(err).splitlines()[0].removeprefix('-: ')}", source=source) from None


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
