"""The points of a sweep: every combination (grid), or draws from the config's seed (random).

Points are plain dicts {dotted key: value}, keys in the order the sweep section lists them. The
same section and seed give the same points whatever runs them. Random draws come from one
Generator seeded with the config's seed, point after point and key after key, so a sweep with
more trials extends the points of one with fewer.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Iterator

import numpy as np

from nnctl.config.schema import ParamSpec, SweepConfig


def iter_grid(sweep: SweepConfig) -> Iterator[dict]:
    keys = list(sweep.parameters)
    return (dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(sweep.parameters[k].values for k in keys)))


def grid(sweep: SweepConfig) -> list[dict]:
    return list(iter_grid(sweep))


def draw(spec: ParamSpec, rng: np.random.Generator):
    kind = spec.kind
    if kind == "values":
        return spec.values[int(rng.integers(len(spec.values)))]
    low, high = getattr(spec, kind)
    if kind == "uniform":
        return float(rng.uniform(low, high))
    if kind == "log_uniform":
        return float(math.exp(rng.uniform(math.log(low), math.log(high))))
    return int(rng.integers(low, high, endpoint=True))


def iter_random(sweep: SweepConfig, seed: int, trials: int) -> Iterator[dict]:
    rng = np.random.default_rng(seed)
    for _ in range(trials):
        yield {k: draw(spec, rng) for k, spec in sweep.parameters.items()}


def random(sweep: SweepConfig, seed: int, trials: int) -> list[dict]:
    return list(iter_random(sweep, seed, trials))


def points(sweep: SweepConfig, seed: int, trials: int) -> Iterator[dict]:
    """The points of a grid or random sweep, one at a time (tpe asks Optuna instead)."""
    return iter_grid(sweep) if sweep.method == "grid" else iter_random(sweep, seed, trials)


def count(sweep: SweepConfig, trials: int) -> int:
    """How many points: every combination of a grid, else `trials`."""
    if sweep.method != "grid":
        return trials
    return math.prod(len(spec.values) for spec in sweep.parameters.values())


def contains(spec: ParamSpec, value) -> bool:
    """Whether a value read back from trials.csv can be a point of this parameter."""
    if spec.kind == "values":
        return any(type(value) is type(v) and value == v for v in spec.values) or value in spec.values
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    low, high = getattr(spec, spec.kind)
    return low <= value <= high and (spec.kind != "int_uniform" or isinstance(value, int))


def optuna_distributions(sweep: SweepConfig) -> dict:
    """The sweep's parameters as Optuna distributions, for TPE's ask-and-tell."""
    import optuna

    out = {}
    for key, spec in sweep.parameters.items():
        kind = spec.kind
        if kind == "values":
            out[key] = optuna.distributions.CategoricalDistribution(spec.values)
        elif kind == "int_uniform":
            out[key] = optuna.distributions.IntDistribution(*spec.int_uniform)
        else:
            low, high = getattr(spec, kind)
            out[key] = optuna.distributions.FloatDistribution(low, high, log=kind == "log_uniform")
    return out


def point_raw(base: dict, point: dict, source: str = "sweep parameter {key}") -> dict:
    """The raw config of one point: the base config without its sweep section, each of the
    point's dotted keys set as --set sets it (`source`, with {key}, names the key in errors)."""
    from nnctl.config.loader import set_path

    raw = copy.deepcopy(base)
    raw.pop("sweep", None)
    for key, value in point.items():
        set_path(raw, key, value, source.format(key=key))
    return raw
