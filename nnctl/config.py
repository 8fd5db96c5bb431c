"""YAML → a validated, typed config: strict keys, checked types and ranges, --set overrides.

The schema is a set of pydantic models (`extra="forbid"`, strict types), so unknown keys, wrong
types and out-of-range numbers are all caught in one place, and `nnctl schema` is the same
models' JSON Schema. Pydantic's errors are then rewritten into nnctl's form: the file, the key
path with its line, what was expected, what was given, and a "did you mean" for typos.
"""

from __future__ import annotations

import difflib
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .activations import ACTIVATIONS
from .errors import ConfigError
from .losses import LOSSES
from .yamlio import format_path, load_yaml, parse_scalar

INITS = ("xavier", "he", "normal", "uniform", "zeros")
BUILTIN_SOURCES = ("xor", "line", "circles", "moons", "gauss", "spiral")


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
    n: int = Field(100, ge=1)
    slope: float = 2.0
    intercept: float = 3.0
    noise: float = Field(1.0, ge=0.0)
    x_range: list[float] = Field([-1.0, 1.0], min_length=2, max_length=2)

    @field_validator("x_range")
    @classmethod
    def _ordered(cls, v: list[float]) -> list[float]:
        if not v[0] < v[1]:
            raise ValueError(f"x_range must be [low, high] with low < high, got {v}")
        return v


class PlaygroundData(_DataBase):
    """TensorFlow Playground's two-class sets, with its knobs."""

    source: Literal["circles", "moons", "gauss", "spiral"]
    n: int = Field(200, ge=2)
    noise: float = Field(0.1, ge=0.0)


class CsvData(_DataBase):
    source: Literal["csv"]
    path: str = Field(min_length=1, description="relative to the config file's folder")
    target: str | list[str] = Field(description="column name, or a list of names")
    features: list[str] | None = Field(None, description="default: every other column")
    delimiter: str = Field(",", min_length=1, max_length=1)

    @field_validator("target")
    @classmethod
    def _nonempty(cls, v):
        if isinstance(v, list) and not v:
            raise ValueError("target must name at least one column")
        return v


DataConfig = Annotated[XorData | LineData | PlaygroundData | CsvData, Field(discriminator="source")]


# --- model ----------------------------------------------------------------------------------

def _check_activation(v: Any) -> Any:
    if isinstance(v, str):
        if v not in ACTIVATIONS:
            raise ValueError(f"unknown activation {v!r}{_did_you_mean(v, ACTIVATIONS)}; "
                             f"expected one of {', '.join(ACTIVATIONS)}, or {{plugin: 'file.py:Class'}}")
        return v
    if isinstance(v, dict):
        spec = v.get("plugin")
        if set(v) != {"plugin"} or not isinstance(spec, str) or ":" not in spec:
            raise ValueError("a plugin activation is written {plugin: 'file.py:ClassName'}")
        return v
    raise ValueError(f"expected an activation name or {{plugin: 'file.py:Class'}}, got {v!r}")


class LayerConfig(_Strict):
    units: int = Field(ge=1)
    activation: Any = Field("identity", description="a name, or {plugin: 'file.py:Class'}")
    init: Literal[INITS] | None = None  # type: ignore[valid-type]

    _act = field_validator("activation")(lambda cls, v: _check_activation(v))


class ModelConfig(_Strict):
    layers: list[LayerConfig] = Field(min_length=1, description="hidden layers first, output last")
    init: Literal[INITS] = "xavier"  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _softmax_last(self):
        for i, layer in enumerate(self.layers[:-1]):
            if layer.activation == "softmax":
                raise ValueError(f"layers.{i}: softmax is allowed on the output layer only")
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


class TrainConfig(_Strict):
    loss: Literal[tuple(LOSSES)]  # type: ignore[valid-type]
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
        from .metrics import METRICS

        for name in v or ():
            if name not in METRICS:
                raise ValueError(f"unknown metric {name!r}{_did_you_mean(name, METRICS)}; "
                                 f"expected any of {', '.join(METRICS)}")
        return v

    @field_validator("batch_size")
    @classmethod
    def _positive(cls, v):
        if isinstance(v, int) and v < 1:
            raise ValueError(f"batch_size must be ≥ 1 or 'full', got {v}")
        return v


class Config(_Strict):
    seed: int = Field(0, ge=0)
    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    output: str | None = Field(None, description="default: <config file stem>.npz")

    @model_validator(mode="after")
    def _loss_fits_output(self):
        loss = LOSSES[self.train.loss]
        out = self.model.layers[-1]
        act = out.activation if isinstance(out.activation, str) else "plugin"
        if loss.output and ACTIVATIONS.get(act, None) is not ACTIVATIONS[loss.output]:
            raise ValueError(f"loss {loss.name} needs a {loss.output} output layer, "
                             f"but model.layers.{len(self.model.layers) - 1} has activation {act!r}")
        from .metrics import CLASSIFICATION

        for name in self.train.metrics or ():
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


# --- loading --------------------------------------------------------------------------------

def _did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _model_at(raw: Any, loc: tuple) -> tuple[type[BaseModel] | None, tuple]:
    """Walk pydantic's error location through the schema; return the model there and the path
    as the user wrote it (discriminator tags, which pydantic inserts, are dropped)."""
    model: Any = Config
    path: list = []
    node = raw
    i = 0
    while i < len(loc):
        key = loc[i]
        if isinstance(model, type) and issubclass(model, BaseModel) and key in model.model_fields:
            path.append(key)
            node = node.get(key) if isinstance(node, dict) else None
            model = model.model_fields[key].annotation
        elif isinstance(key, int):
            path.append(key)
            node = node[key] if isinstance(node, list) and key < len(node) else None
            model = typing.get_args(model)[0] if typing.get_args(model) else None
        else:
            # a discriminator tag, a union branch name, or the unknown key itself
            for arm in typing.get_args(model) or ():
                if isinstance(arm, type) and issubclass(arm, BaseModel):
                    tag_field = "source" if "source" in arm.model_fields else "name"
                    tags = typing.get_args(arm.model_fields[tag_field].annotation) if \
                        tag_field in arm.model_fields else ()
                    if key in tags or key == arm.__name__:
                        model = arm
                        break
            else:
                path.extend(loc[i:])
                return (model if isinstance(model, type) else None), tuple(path)
        i += 1
    return (model if isinstance(model, type) and issubclass(model, BaseModel) else None), tuple(path)


def _expected(err: dict) -> str:
    kind, ctx = err["type"], err.get("ctx", {})
    simple = {
        "int_type": "an integer", "int_parsing": "an integer", "float_type": "a number",
        "bool_type": "true or false", "string_type": "a string", "list_type": "a list",
        "model_type": "a mapping of keys", "dict_type": "a mapping of keys",
        "finite_number": "a finite number", "missing": None,
    }
    if kind in simple and simple[kind]:
        return f"expected {simple[kind]}"
    bounds = {"greater_than_equal": "≥", "greater_than": ">", "less_than_equal": "≤", "less_than": "<"}
    if kind in bounds:
        key = {"greater_than_equal": "ge", "greater_than": "gt", "less_than_equal": "le",
               "less_than": "lt"}[kind]
        return f"expected a number {bounds[kind]} {ctx[key]}"
    if kind == "literal_error":
        return f"expected one of {ctx['expected'].replace(chr(39), '')}"
    if kind in ("too_short", "too_long"):
        return err["msg"].replace("List", "expected a list").replace("Value", "expected a list")
    if kind == "union_tag_invalid":
        return f"expected one of {ctx['expected_tags'].replace(chr(39), '')}"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return err["msg"]


def _messages(exc: ValidationError, raw: Any, positions: dict, source: str) -> list[str]:
    out = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        parent_model, path = _model_at(raw, loc)
        kind = err["type"]
        if kind == "extra_forbidden":
            key = path[-1]
            allowed = list(parent_model.model_fields) if parent_model else []
            msg = (f"unknown key {key!r}{_did_you_mean(key, allowed)}; "
                   f"allowed keys here: {', '.join(allowed)}")
        elif kind == "missing":
            msg = "this required key is missing"
        elif kind in ("union_tag_not_found",):
            tag = err.get("ctx", {}).get("discriminator", "").strip("'")
            path = (*path, tag)
            msg = "this required key is missing"
        elif kind == "union_tag_invalid":
            ctx = err["ctx"]
            tag = ctx["discriminator"].strip("'")
            path = (*path, tag)
            given = ctx["tag"]
            choices = ctx["expected_tags"].replace("'", "").split(", ")
            msg = f"unknown value {given!r}{_did_you_mean(given, choices)}; expected one of {', '.join(choices)}"
        else:
            msg = _expected(err)
            if kind not in ("value_error",) and "input" in err and not isinstance(err["input"], dict | list):
                msg += f", got {err['input']!r}"
        line = positions.get(path) or positions.get(path[:-1])
        where = format_path(path) + (f" (line {line[0]})" if line else "")
        out.append(f"{source}: {where}: {msg}")
    return out


def apply_overrides(raw: Any, overrides: list[str]) -> Any:
    """Apply `--set a.b.0.c=VALUE` overrides to the raw mapping (before validation)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        key, text = item.split("=", 1)
        parts = [p for p in key.strip().split(".")]
        if not all(parts):
            raise ConfigError(f"--set: {key!r} is not a dotted key path")
        value = parse_scalar(text, f"--set {key}")
        node = raw
        for j, part in enumerate(parts):
            last = j == len(parts) - 1
            where = ".".join(parts[: j + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"--set {key}: {where} must be a list index below {len(node)}")
                idx: Any = int(part)
            elif isinstance(node, dict):
                idx = part
            else:
                raise ConfigError(f"--set {key}: {'.'.join(parts[:j])} is not a mapping or list")
            if last:
                node[idx] = value
            else:
                if isinstance(node, dict) and not isinstance(node.get(idx), dict | list):
                    node[idx] = {} if node.get(idx) is None else node[idx]
                    if not isinstance(node[idx], dict):
                        node[idx] = {"name": node[idx]} if where == "train.optimizer" else node[idx]
                node = node[idx]
    return raw


def validate(raw: Any, source: str = "<config>", positions: dict | None = None,
             base_dir: Path | None = None) -> Config:
    if raw is None:
        raise ConfigError("the config is empty; expected a mapping with data, model and train",
                          source=source)
    if not isinstance(raw, dict):
        raise ConfigError(f"the top level must be a mapping of keys, got a {type(raw).__name__}",
                          source=source)
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as exc:
        msgs = _messages(exc, raw, positions or {}, source)
        raise ConfigError("\n".join(msgs[:1] + ["  also " + m for m in msgs[1:5]])) from None
    cfg._base_dir = base_dir or Path(".")
    cfg._source = source
    return cfg


def read_config_text(path: str | Path) -> str:
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError("no such file", source=str(path)) from None
    except IsADirectoryError:
        raise ConfigError("is a folder, expected a YAML file", source=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read it: {exc.strerror}", source=str(path)) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", source=str(path)) from None


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read, override and validate a config file. Raises ConfigError."""
    source = str(path)
    raw, positions = load_yaml(read_config_text(path), source)
    if overrides:
        if not isinstance(raw, dict):
            validate(raw, source)  # reports the empty or non-mapping document
        raw = apply_overrides(raw, overrides)
    return validate(raw, source, positions, Path(path).resolve().parent)


def config_stem(path: str | Path) -> str:
    return Path(path).stem
