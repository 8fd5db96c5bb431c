"""YAML → a validated, typed config: strict loading, --set overrides, and clear messages.

The schema lives in `schema.py` (pydantic models, `extra="forbid"`, strict types). Pydantic's
errors are rewritten here into nnctl's form: the file, the key path with its line, what was
expected, what was given, and a "did you mean" for typos.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from nnctl.config.schema import Config, json_schema
from nnctl.errors import ConfigError, did_you_mean
from nnctl.io.yamlio import format_path, load_yaml, parse_scalar

__all__ = ["Config", "apply_overrides", "json_schema", "load_config", "validate"]


# --- loading --------------------------------------------------------------------------------

def _model_at(raw: Any, loc: tuple) -> tuple[type[BaseModel] | None, tuple]:
    """Walk pydantic's error location through the schema; return the model there and the path
    as the user wrote it (discriminator tags, which pydantic inserts, are dropped)."""
    model: Any = Config
    path: list = []
    node = raw
    i = 0
    while i < len(loc):
        key = loc[i]
        model = _optional_arm(model)
        if typing.get_origin(model) is dict and isinstance(key, str):  # a mapping of models by the user's keys
            path.append(key)
            node = node.get(key) if isinstance(node, dict) else None
            model = typing.get_args(model)[1]
        elif isinstance(model, type) and issubclass(model, BaseModel) and key in model.model_fields:
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
                    # a member with a validator is labelled `function-after[check(), Name]`
                    if key in tags or key == arm.__name__ or str(key).endswith(f", {arm.__name__}]"):
                        model = arm
                        break
            else:
                if isinstance(node, dict) and key in node:  # the unknown key itself
                    path.extend(loc[i:])
                    return (model if isinstance(model, type) else None), tuple(path)
                # a union member's label (`str`, `list[str]`, `literal['full']`): not the user's key
        i += 1
    return (model if isinstance(model, type) and issubclass(model, BaseModel) else None), tuple(path)


def _optional_arm(model: Any) -> Any:
    """`X | None` is X, for walking the schema (an optional section such as `sweep`)."""
    if typing.get_origin(model) in (typing.Union, types.UnionType):
        arms = [a for a in typing.get_args(model) if a is not type(None)]
        if len(arms) == 1:
            return arms[0]
    return model


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
    if kind == "too_short":
        return f"expected a list of at least {ctx['min_length']} items"
    if kind == "too_long":
        return f"expected a list of at most {ctx['max_length']} items"
    if kind == "union_tag_invalid":
        return f"expected one of {ctx['expected_tags'].replace(chr(39), '')}"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return err["msg"]


def _messages(exc: ValidationError, raw: Any, positions: dict, source: str) -> list[str]:
    """One message per key path: a union's failed members (`str | list[str]`) are merged into
    one `expected a string or a list`."""
    merged: dict[tuple, list] = {}
    for err in exc.errors():
        loc = tuple(err["loc"])
        parent_model, path = _model_at(raw, loc)
        kind = err["type"]
        if kind == "extra_forbidden":
            key = path[-1]
            allowed = list(parent_model.model_fields) if parent_model else []
            hint = MOVED_KEYS.get(key) if parent_model and parent_model.__name__ == "TrainConfig" else None
            msg = (f"unknown key {key!r}{f' (did you mean {hint!r}?)' if hint else did_you_mean(key, allowed)}; "
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
            msg = f"unknown value {given!r}{did_you_mean(given, choices)}; expected one of {', '.join(choices)}"
        else:
            expected = _expected(err)
            got = (f", got {err['input']!r}" if kind != "value_error" and "input" in err
                   and not isinstance(err["input"], dict) else "")
            if kind == "literal_error" and isinstance(err.get("input"), str):
                got += did_you_mean(err["input"], _choices(err))  # `loss: MSE` means mse
            # a union's scalar member (`normal`) says nothing useful about a mapping the user wrote
            moot = isinstance(err.get("input"), dict) and kind in _SCALAR_KINDS
            if path in merged and merged[path][1] is not None:
                merged[path][0].append((expected.removeprefix("expected "), moot))
                continue
            merged[path] = [[(expected, moot)], got]
            continue
        merged.setdefault(path, [[(msg, False)], None])
    out = []
    for path, (parts, got) in merged.items():
        if all(moot for _, moot in parts) and any(p[:len(path)] == path and p != path for p in merged):
            continue  # a mapping the user wrote, with its own error inside: that error says it
        kept = [p for p, moot in parts if not moot] or [p for p, _ in parts]
        msg = kept[0] + "".join(" or " + p for p in kept[1:]) + (got or "")
        line = _line_of(positions, path)
        where = format_path(path) + (f" (line {line})" if line else "")
        out.append(f"{source}: {where}: {msg}")
    return out


# Keys other libraries put under train: where nnctl keeps them (Keras' learning_rate is the optimizer's lr).
MOVED_KEYS = {"learning_rate": "train.optimizer.lr", "lr": "train.optimizer.lr", "momentum": "train.optimizer.momentum"}


def _choices(err: dict) -> list[str]:
    return [c.strip(" '") for c in err["ctx"]["expected"].replace(" or ", ", ").split(",")]


_SCALAR_KINDS = {"literal_error", "string_type", "int_type", "float_type", "bool_type", "int_parsing"}


def _line_of(positions: dict, path: tuple) -> int | None:
    """The line of the key path, or of its nearest parent the file has."""
    for k in range(len(path), 0, -1):
        if path[:k] in positions:
            return positions[path[:k]][0]
    return None


def apply_overrides(raw: Any, overrides: list[str]) -> Any:
    """Apply `--set a.b.0.c=VALUE` overrides to the raw mapping (before validation)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        key, text = item.split("=", 1)
        set_path(raw, key, parse_scalar(text, f"--set {key}"), f"--set {key}")
    return raw


def set_path(raw: Any, key: str, value: Any, source: str) -> None:
    """Set the dotted key (list indices allowed) of the raw mapping to value, as --set does; a
    short form on the way (`optimizer: adam`) is expanded first. ConfigError naming `source`."""
    parts = _sweep_parameter(key.strip().split("."), value)
    if not all(parts):
        raise ConfigError(f"{source}: {key!r} is not a dotted key path")
    node = raw
    for j, part in enumerate(parts):
        last = j == len(parts) - 1
        where = ".".join(parts[: j + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"{source}: {where} must be a list index below {len(node)}")
            idx: Any = int(part)
        elif isinstance(node, dict):
            idx = part
        else:
            raise ConfigError(f"{source}: {'.'.join(parts[:j])} is not a mapping or list")
        if last:
            node[idx] = value
        else:
            if isinstance(node, dict) and not isinstance(node.get(idx), dict | list):
                node[idx] = _expand_short_form(parts[: j + 1], node.get(idx))
            node = node[idx]


_PARAM_SPEC_KEYS = {"values", "uniform", "log_uniform", "int_uniform"}


def _sweep_parameter(parts: list[str], value: Any) -> list[str]:
    """`sweep.parameters.train.optimizer.lr.values`: the swept key is itself dotted, so the parts
    between `parameters` and a ParamSpec key (values, uniform, …, or a typo of one: the value is
    not a mapping) are one key."""
    if parts[:2] != ["sweep", "parameters"] or len(parts) < 4:
        return parts
    if parts[-1] in _PARAM_SPEC_KEYS or not isinstance(value, dict):
        return [*parts[:2], ".".join(parts[2:-1]), parts[-1]]
    return [*parts[:2], ".".join(parts[2:])]


# Keys whose short form (`optimizer: adam`, `schedule: cosine`, `init: he`, `early_stopping:
# true`) stands for a mapping; --set expands it first, so it can set one key inside.
_NAMED = {("train", "optimizer"), ("train", "schedule"), ("model", "init"), ("model", "layers", "*", "init")}


# A key left out stands for its default, which --set must start from: {lr: 0.1} alone names no optimizer.
_DEFAULT_FORMS = {("train", "optimizer"): {"name": "sgd"}, ("model", "init"): {"name": "xavier"}}


def _expand_short_form(parts: list[str], value: Any) -> Any:
    shape = tuple("*" if p.isdigit() else p for p in parts)
    if value is None:
        return dict(_DEFAULT_FORMS.get(shape, {}))
    if shape in _NAMED and isinstance(value, str):
        return {"name": value}
    if shape == ("train", "early_stopping") and isinstance(value, bool):
        return {}  # setting one of its keys turns early stopping on, with defaults for the rest
    return value


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
