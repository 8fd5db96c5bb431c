"""Strict, safe YAML reading: YAML 1.2 scalars, no duplicate keys, no tags, bounded size.

PyYAML's own loaders follow YAML 1.1 (`1e-3` is a string, `yes` a boolean) and silently keep
the last of two duplicate keys. Here the document is only *composed* into nodes by PyYAML and
then turned into plain Python values by a walk that checks every node, so no constructor runs,
aliases cannot expand without bound, and each key's line and column are remembered for messages.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.nodes import MappingNode, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from nnctl.errors import ConfigError

MAX_BYTES = 1 << 20  # a config is a few hundred bytes; a megabyte is generous
MAX_NODES = 100_000  # counts nodes *after* alias expansion: a "billion laughs" stops here
MAX_DEPTH = 64

Path = tuple[str | int, ...]

STR, NULL, BOOL, INT, FLOAT = (f"tag:yaml.org,2002:{t}" for t in ("str", "null", "bool", "int", "float"))
SEQ, MAP = "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"


class _Core12Resolver(BaseResolver):
    """The YAML 1.2 core schema: what `1e-3`, `true`, `null` and `0x1F` mean to users today."""

    yaml_implicit_resolvers: dict = {}


for _tag, _regex, _first in [
    (NULL, r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    (BOOL, r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    (INT, r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    (FLOAT, r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", list("-+.0123456789")),
]:
    _Core12Resolver.add_implicit_resolver(_tag, re.compile(_regex), _first)


class _Loader(Reader, Scanner, Parser, Composer, _Core12Resolver):
    def __init__(self, stream: str):
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        _Core12Resolver.__init__(self)


def _short(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!")


def _scalar(node: ScalarNode) -> Any:
    v, tag = node.value, node.tag
    if tag == STR or tag == "!":
        return v
    if tag == NULL:
        return None
    if tag == BOOL:
        return v.lower() == "true"
    if tag == INT:
        return int(v, 0) if v[:2] in ("0o", "0x") else int(v, 10)
    if tag == FLOAT:
        low = v.lower().lstrip("+")
        if low in (".inf", "-.inf", ".nan"):
            return float(low.replace(".", ""))
        return float(v)
    raise ValueError(f"the tag {_short(tag)!r} is not allowed (nnctl configs hold plain values only)")


def format_path(path: Path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


class _Walker:
    def __init__(self, source: str):
        self.source = source
        self.positions: dict[Path, tuple[int, int]] = {}
        self.count = 0

    def fail(self, node, message: str) -> ConfigError:
        m = node.start_mark
        return ConfigError(message, source=self.source, where=f"line {m.line + 1}, column {m.column + 1}")

    def walk(self, node, path: Path, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.fail(node, f"the document expands to more than {MAX_NODES} nodes "
                                  "(aliases repeated too often?)")
        if depth > MAX_DEPTH:
            raise self.fail(node, f"nesting deeper than {MAX_DEPTH} levels")
        if isinstance(node, ScalarNode):
            try:
                return _scalar(node)
            except ValueError as exc:
                raise self.fail(node, str(exc)) from None
        if node.tag not in (SEQ, MAP):
            raise self.fail(node, f"the tag {_short(node.tag)!r} is not allowed "
                                  "(nnctl configs hold plain values only)")
        if isinstance(node, SequenceNode):
            out = []
            for i, item in enumerate(node.value):
                self.positions.setdefault((*path, i), (item.start_mark.line + 1,
                                                       item.start_mark.column + 1))
                out.append(self.walk(item, (*path, i), depth + 1))
            return out
        assert isinstance(node, MappingNode)
        result: dict[str, Any] = {}
        for knode, vnode in node.value:
            if knode.tag == "tag:yaml.org,2002:merge":
                raise self.fail(knode, "merge keys (<<) are not supported")
            if not isinstance(knode, ScalarNode):
                raise self.fail(knode, "a mapping key must be a plain name")
            key = str(self.walk(knode, path, depth + 1)) if knode.tag != STR else knode.value
            if key == "<<":
                raise self.fail(knode, "merge keys (<<) are not supported; write the keys out")
            where = format_path((*path, key))
            if key in result:
                first = self.positions.get((*path, key), ("?", "?"))
                raise self.fail(knode, f"duplicate key {where!r} (first given at line {first[0]})")
            self.positions[(*path, key)] = (knode.start_mark.line + 1, knode.start_mark.column + 1)
            result[key] = self.walk(vnode, (*path, key), depth + 1)
        return result


def load_yaml(text: str, source: str) -> tuple[Any, dict[Path, tuple[int, int]]]:
    """Parse one YAML document into plain values, and the (line, column) of every key path."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise ConfigError(f"the file is larger than {MAX_BYTES} bytes; is this really a config?",
                          source=source)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise ConfigError(f"invalid YAML: {problem}", source=source, where=where) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", source=source) from None
    except RecursionError:
        raise ConfigError(f"nesting deeper than {MAX_DEPTH} levels", source=source) from None
    finally:
        loader.dispose()
    if node is None:
        return None, {}
    walker = _Walker(source)
    return walker.walk(node, (), 0), walker.positions


def parse_scalar(text: str, source: str) -> Any:
    """A --set VALUE: a YAML scalar or flow collection, read with the same rules as a config."""
    value, _ = load_yaml(text, source)
    return value


class _Dumper(yaml.emitter.Emitter, yaml.serializer.Serializer, yaml.representer.SafeRepresenter, _Core12Resolver):
    """PyYAML's safe dumper with the YAML 1.2 resolver: a string that 1.2 reads as a number or a
    boolean (`1e3`, `.5`) is quoted, so what `nnctl config` prints loads back to the same config."""

    def __init__(self, stream, **kw):
        yaml.emitter.Emitter.__init__(self, stream, allow_unicode=True, width=kw.get("width"))
        yaml.serializer.Serializer.__init__(self)
        yaml.representer.SafeRepresenter.__init__(self, default_flow_style=kw.get("default_flow_style"),
                                                  sort_keys=False)
        _Core12Resolver.__init__(self)


def dump_yaml(value: Any, flow: bool | None = None) -> str:
    """Plain values as YAML text that `load_yaml` reads back to equal values."""
    return yaml.dump(value, Dumper=_Dumper, default_flow_style=flow)
