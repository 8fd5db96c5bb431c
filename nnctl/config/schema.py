"""The config file's schema: pydantic models with strict types, ranges and no unknown keys.

These models are the single description of a config: `config.py` validates YAML against them
(and rewrites pydantic's errors into nnctl's form), and `nnctl schema` prints their JSON Schema.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from nnctl.core.activations import ACTIVATIONS
from nnctl.core.losses import LOSSES, REDUCTIONS
from nnctl.errors import did_you_mean

INITS = ("xavier", "he", "normal", "uniform", "zeros")
MAX_ROWS = 100_000_000  # built-in sets: 10^8 rows is 1.6 GB of float64 features already


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


# --- data -----------------------------------------------------------------------------------

class _DataBase(_Strict):
    validation_split: float = Field(0.0, ge=0.0, lt=1.0, description="fraction held out")
    standardize: bool = Field(True, description="scale inputs by training-set mean/std")


class XorData(_DataBase):
    source: Literal["xor"]


class LineData(_DataBase):
    source: Literal["line"]
    n: int = Field(100, ge=1, le=MAX_ROWS)
    slope: float = 2.0
    intercept: float = 3.0
    noise: float = Field(1.0, ge=0.0)
    x_range: list[float] = Field([-1.0, 1.0], min_length=2, max_length=2)

    @field_validator("x_range")
    @classmethod
    def _ordered(cls, v: list[float]) -> list[float]:
        if not v[0] < v[1]:
            raise ValueError(f"x_range must be [low, high] with low < high, got {v}")
        if not math.isfinite(v[1] - v[0]):
            raise ValueError(f"x_range must have a finite width (high − low), got {v}")
        return v


class PlaygroundData(_DataBase):
    """TensorFlow Playground's two-class sets, with its knobs."""

    source: Literal["circles", "moons", "gauss", "spiral"]
    n: int = Field(200, ge=2, le=MAX_ROWS)
    noise: float = Field(0.1, ge=0.0)


class _FileData(_DataBase):
    """Rows from a file: columns by name. See docs/data.md for streaming and the arrow extra."""

    path: str = Field(min_length=1, description="relative to the config file's folder")
    target: str | list[str] = Field(description="column name, or a list of names")
    features: list[str] | None = Field(None, description="default: every other column")
    stream: bool = Field(False, description="read the file in chunks every epoch instead of holding it in "
                                            "memory: for files larger than memory (docs/data.md)")
    shuffle_buffer: int = Field(65536, ge=1, description="with stream: rows shuffled together within a buffer")

    @field_validator("target")
    @classmethod
    def _nonempty(cls, v):
        if isinstance(v, list) and not v:
            raise ValueError("target must name at least one column")
        return v


class CsvData(_FileData):
    source: Literal["csv"]
    delimiter: str = Field(",", min_length=1, max_length=1)


class ParquetData(_FileData):
    """A Parquet file, through pyarrow (pip install 'nnctl[arrow]')."""

    source: Literal["parquet"]


DataConfig = Annotated[XorData | LineData | PlaygroundData | CsvData | ParquetData, Field(discriminator="source")]


# --- model ----------------------------------------------------------------------------------

def _check_activation(v: Any) -> Any:
    if isinstance(v, str):
        if v not in ACTIVATIONS:
            raise ValueError(f"unknown activation {v!r}{did_you_mean(v, ACTIVATIONS)}; "
                             f"expected one of {', '.join(ACTIVATIONS)}, or {{plugin: 'file.py:Class'}}")
        return v
    if isinstance(v, dict):
        spec = v.get("plugin")
        if set(v) != {"plugin"} or not isinstance(spec, str) or ":" not in spec:
            raise ValueError("a plugin activation is written {plugin: 'file.py:ClassName'}")
        return v
    raise ValueError(f"expected an activation name or {{plugin: 'file.py:Class'}}, got {v!r}")


class InitConfig(_Strict):
    """An initialiser with its scale: {name: normal, std: 0.01} is N(0, 0.01²), the tutorials'
    randn·0.01; {name: uniform, limit: 0.5} is U(−0.5, 0.5). Without std or limit, the named
    scheme's own scale (LeCun normal 1/√fan_in, PyTorch's uniform ±1/√fan_in)."""

    name: Literal[INITS]  # type: ignore[valid-type]
    std: float | None = Field(None, gt=0.0, description="normal only: the standard deviation")
    limit: float | None = Field(None, gt=0.0, description="uniform only: weights in [−limit, limit]")
    bias: Literal["zeros", "same"] = Field("zeros", description="same: biases drawn as the weights are "
                                           "(the tutorials' randn·0.01 biases)")

    @model_validator(mode="after")
    def _fits_name(self):
        if self.std is not None and self.name != "normal":
            raise ValueError(f"std goes with name: normal, not {self.name}")
        if self.limit is not None and self.name != "uniform":
            raise ValueError(f"limit goes with name: uniform, not {self.name}")
        return self


InitSpec = Literal[INITS] | InitConfig  # type: ignore[valid-type]


class LayerConfig(_Strict):
    units: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        description="how many units; the output layer may say auto: one per class for cross_entropy, "
                    "1 for bce, one per target for mse")
    activation: Any = Field("identity", description="a name, or {plugin: 'file.py:Class'}")
    init: InitSpec | None = Field(None, description="this layer's initialiser (default: the model's)")

    _act = field_validator("activation")(lambda cls, v: _check_activation(v))


class ModelConfig(_Strict):
    layers: list[LayerConfig] = Field(min_length=1, description="hidden layers first, output last")
    init: InitSpec = Field("xavier", description="a name, or {name: normal, std: S} / {name: uniform, limit: A}")

    @model_validator(mode="after")
    def _softmax_last(self):
        for i, layer in enumerate(self.layers[:-1]):
            if layer.activation == "softmax":
                raise ValueError(f"layers.{i}: softmax is allowed on the output layer only")
            if layer.units == "auto":
                raise ValueError(f"layers.{i}.units: auto is for the output layer only (its size comes "
                                 "from the data); give a hidden layer a number")
        return self


# --- training -------------------------------------------------------------------------------

class SGDConfig(_Strict):
    name: Literal["sgd"]
    lr: float = Field(0.5, ge=0.0)
    momentum: float = Field(0.0, ge=0.0, lt=1.0)
    nesterov: bool = False

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self):
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov: true needs a momentum > 0 (as in PyTorch)")
        return self


class AdamConfig(_Strict):
    name: Literal["adam"]
    lr: float = Field(0.001, ge=0.0)
    betas: list[float] = Field([0.9, 0.999], min_length=2, max_length=2)
    eps: float = Field(1e-8, gt=0.0)

    @field_validator("betas")
    @classmethod
    def _betas(cls, v):
        if not all(0.0 <= b < 1.0 for b in v):
            raise ValueError(f"betas must each be in [0, 1), got {v}")
        return v


class RMSpropConfig(_Strict):
    name: Literal["rmsprop"]
    lr: float = Field(0.01, ge=0.0)
    alpha: float = Field(0.99, ge=0.0, le=1.0)
    eps: float = Field(1e-8, gt=0.0)


OptimizerConfig = Annotated[SGDConfig | AdamConfig | RMSpropConfig, Field(discriminator="name")]


class ConstantSchedule(_Strict):
    name: Literal["constant"]


class StepSchedule(_Strict):
    name: Literal["step"]
    every: int = Field(10, ge=1, description="epochs between reductions")
    gamma: float = Field(0.1, gt=0.0, description="factor per reduction")


class ExponentialSchedule(_Strict):
    name: Literal["exponential"]
    gamma: float = Field(0.95, gt=0.0, description="factor per epoch")


class CosineSchedule(_Strict):
    name: Literal["cosine"]
    t_max: int | None = Field(None, ge=1, description="period in epochs after warm-up; default epochs − warmup")
    min_lr: float = Field(0.0, ge=0.0)
    warmup: int = Field(0, ge=0, description="epochs of linear warm-up from lr/warmup to lr")


class PlateauSchedule(_Strict):
    name: Literal["plateau"]
    factor: float = Field(0.1, gt=0.0, lt=1.0)
    patience: int = Field(10, ge=0)
    min_lr: float = Field(0.0, ge=0.0)
    threshold: float = Field(1e-4, ge=0.0, description="relative improvement that counts")


ScheduleConfig = Annotated[ConstantSchedule | StepSchedule | ExponentialSchedule | CosineSchedule | PlateauSchedule,
                           Field(discriminator="name")]


class EarlyStoppingConfig(_Strict):
    monitor: Literal["val_loss", "loss"] = Field("val_loss", description="val_loss falls back to loss "
                                                 "when there is no validation data")
    patience: int = Field(10, ge=1)
    min_delta: float = Field(1e-4, ge=0.0)
    restore_best: bool = True


LossName = Literal[tuple(LOSSES)]  # type: ignore[valid-type]


class LossConfig(_Strict):
    """A loss with PyTorch's `reduction` (mean or sum over the batch) and, for mse, `half`:
    ½·(ŷ − y)², as the tutorials write it (docs/backprop.md)."""

    name: LossName
    reduction: Literal[REDUCTIONS] = "mean"  # type: ignore[valid-type]
    half: bool = Field(False, description="mse only: ½·(ŷ − y)²")

    @model_validator(mode="after")
    def _half_is_mse(self):
        if self.half and self.name != "mse":
            raise ValueError(f"half goes with name: mse, not {self.name}")
        return self


class TrainConfig(_Strict):
    loss: LossName | LossConfig = Field(description="a name, or {name, reduction: mean|sum, half: true (mse)}")
    optimizer: OptimizerConfig = Field(default_factory=lambda: SGDConfig(name="sgd"))
    weight_decay: float = Field(0.0, ge=0.0, description="L2 on weights, not biases")
    epochs: int = Field(2000, ge=1)
    batch_size: int | Literal["full"] = Field("full", description="an integer ≥ 1, or full")
    shuffle: bool = True
    dtype: Literal["float64", "float32"] = "float64"
    log_every: int = Field(100, ge=1)
    metrics: list[str] | None = Field(None, description="columns of the loss table; default "
                                      "accuracy for classifiers, rmse for regression")
    schedule: ScheduleConfig | None = Field(None, description="learning-rate schedule, stepped per epoch")
    early_stopping: EarlyStoppingConfig | None = None
    diagnostics: bool = Field(False, description="per layer, each epoch: weight norm, last step's gradient "
                              "norm, fraction of dead relu units (metrics CSV, history, plot)")

    @property
    def loss_name(self) -> str:
        """The loss's registry name, whichever form `loss` was written in."""
        return self.loss if isinstance(self.loss, str) else self.loss.name

    @field_validator("optimizer", "schedule", mode="before")
    @classmethod
    def _shorthand(cls, v):
        return {"name": v} if isinstance(v, str) else v  # `optimizer: adam` means its defaults

    @field_validator("early_stopping", mode="before")
    @classmethod
    def _on(cls, v):
        return {} if v is True else (None if v is False else v)  # `early_stopping: true`

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, v):
        from nnctl.core.metrics import METRICS

        for name in v or ():
            if name not in METRICS:
                raise ValueError(f"unknown metric {name!r}{did_you_mean(name, METRICS)}; "
                                 f"expected any of {', '.join(METRICS)}")
        return v

    @field_validator("batch_size")
    @classmethod
    def _positive(cls, v):
        if isinstance(v, int) and v < 1:
            raise ValueError(f"batch_size must be ≥ 1 or 'full', got {v}")
        return v


# --- sweep ----------------------------------------------------------------------------------

class ParamSpec(_Strict):
    """Where a swept parameter's values come from: exactly one of these keys."""

    values: list[Any] | None = Field(None, min_length=1, description="the values to try (grid: all of them)")
    uniform: list[float] | None = Field(None, min_length=2, max_length=2, description="[low, high]")
    log_uniform: list[float] | None = Field(None, min_length=2, max_length=2,
                                            description="[low, high], both > 0, drawn uniformly in log space")
    int_uniform: list[int] | None = Field(None, min_length=2, max_length=2,
                                          description="[low, high], both ends included")

    @model_validator(mode="after")
    def _one_kind(self):
        given = [k for k in ("values", "uniform", "log_uniform", "int_uniform") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of values, uniform, log_uniform, int_uniform"
                             + (f" (got {', '.join(given)})" if given else ""))
        kind = given[0]
        if kind != "values":
            low, high = getattr(self, kind)
            if not (low < high if kind != "int_uniform" else low <= high):
                raise ValueError(f"{kind} must be [low, high] with low < high, got {[low, high]}")
            if kind == "log_uniform" and low <= 0:
                raise ValueError(f"log_uniform needs low > 0, got {[low, high]}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("values", "uniform", "log_uniform", "int_uniform") if getattr(self, k) is not None)


class SchedulerConfig(_Strict):
    """Asynchronous successive halving (ASHA, as Ray Tune's ASHAScheduler): see docs/commands/sweep.md."""

    name: Literal["asha"] = Field(description="asha: runs out of the top 1/reduction at a rung stop there")
    min_epochs: int = Field(ge=1, description="the first rung; rungs at min_epochs·reduction^k below train.epochs")
    reduction: int = Field(3, ge=2, description="1/reduction of the runs reaching a rung go on")


class SweepConfig(_Strict):
    method: Literal["grid", "random", "tpe"] = Field("grid", description="tpe needs the tune extra (optuna)")
    trials: int = Field(20, ge=1, description="random and tpe: how many points; grid: every combination")
    repeats: int = Field(1, ge=1, description="runs per point, seeds seed, seed+1, …; a point scores their mean")
    metric: str | None = Field(None, description="a final metric: loss, val_loss, accuracy, val_f1, …; "
                               "default val_loss with validation data, else loss")
    mode: Literal["min", "max"] | None = Field(None, description="default min for loss, val_loss, rmse, mae "
                                               "(and val_ forms), else max")
    parameters: dict[str, ParamSpec] = Field(min_length=1, description="dotted config keys, as --set takes them")
    folds: int | None = Field(None, ge=2, le=20, description="K-fold cross-validation in place of the validation "
                              "split (stratified for classifiers); a point scores the mean over folds × repeats")
    scheduler: SchedulerConfig | None = Field(None, description="early stopping of weak runs: {name: asha, "
                                              "min_epochs, reduction}")

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, v):
        if v is None:
            return v
        from nnctl.core.metrics import METRICS

        known = ["loss", *METRICS]
        names = known + [f"val_{n}" for n in known]
        if v not in names:
            raise ValueError(f"unknown metric {v!r}{did_you_mean(v, names)}; expected one of {', '.join(names)}")
        return v

    @field_validator("scheduler", mode="before")
    @classmethod
    def _scheduler_by_name(cls, v):
        return {"name": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _grid_needs_values(self):
        if self.method == "grid":
            for key, spec in self.parameters.items():
                if spec.values is None:
                    raise ValueError(f"parameters.{key}: method grid needs a list of values, not a range "
                                     f"({spec.kind}); use method random or tpe for ranges")
        return self


class Config(_Strict):
    seed: int = Field(0, ge=0)
    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    output: str | None = Field(None, description="default: <config file stem>.npz")
    sweep: SweepConfig | None = Field(None, description="hyperparameter search for nnctl sweep (train ignores it)")

    @model_validator(mode="after")
    def _loss_fits_output(self):
        loss = LOSSES[self.train.loss_name]
        out = self.model.layers[-1]
        act = out.activation if isinstance(out.activation, str) else "plugin"
        if loss.output and ACTIVATIONS.get(act, None) is not ACTIVATIONS[loss.output]:
            raise ValueError(f"loss {loss.name} needs a {loss.output} output layer, "
                             f"but model.layers.{len(self.model.layers) - 1} has activation {act!r}")
        from nnctl.core.metrics import CLASSIFICATION

        for name in self.train.metrics or ():
            if name in CLASSIFICATION and loss.name == "mse":
                continue  # allowed when every target is 0 or 1: checked against the data
            if (name in CLASSIFICATION) != loss.classifier:
                kind = "classifier" if name in CLASSIFICATION else "regression"
                raise ValueError(f"train.metrics: {name!r} is a {kind} metric, "
                                 f"but loss {loss.name} is {'a classifier' if loss.classifier else 'regression'}")
        return self

    # Where the config came from: not part of the schema, used to resolve relative paths.
    _base_dir: Path = Path(".")
    _source: str = "<config>"

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    @property
    def source(self) -> str:
        return self._source

    def resolved(self) -> dict[str, Any]:
        """Every key with its value, defaults filled in: enough to re-run the experiment."""
        return self.model_dump(mode="json")


def json_schema() -> dict[str, Any]:
    """The config file's JSON Schema (draft 2020-12), as pydantic derives it from the models."""
    schema = Config.model_json_schema()
    return {**schema, "$schema": "https://json-schema.org/draft/2020-12/schema", "title": "nnctl config"}
