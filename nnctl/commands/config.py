"""`nnctl init`, `nnctl config`, `nnctl schema` and `nnctl completion`: configs and the shell."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from nnctl.commands.common import DebugOpt, QuietOpt, SetOpt, guard, overrides
from nnctl.errors import UsageError


def init(
    kind: Annotated[str, typer.Argument(help="xor, line or csv.")] = "xor",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the config here instead of stdout.")] = None,
    with_sweep: Annotated[bool, typer.Option(
        "--sweep", help="Add a commented sweep: section for nnctl sweep.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --out file.")] = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Write a commented starter config (to stdout without --out).

    Example: nnctl init csv --out my.yaml
    """
    with guard(debug):
        from nnctl.io import files
        from nnctl.starters import STARTERS, for_file, sweep_section

        if kind not in STARTERS:
            raise UsageError(f"unknown starter {kind!r}; expected one of {', '.join(STARTERS)}")
        text = STARTERS[kind] + (sweep_section(kind) if with_sweep else "")
        if out is None:
            sys.stdout.write(text)
            return
        if out.exists() and not force:
            raise UsageError("already exists; pass --force to overwrite it", source=str(out))
        files.check_writable(out)
        text = for_file(text, kind, str(out))
        files.atomic_write(out, lambda fh: fh.write(text.encode()))
        if not quiet:
            print(f"wrote {out}: edit it, then run nnctl train {out}", file=sys.stderr)


def show_config(
    config: Annotated[Path, typer.Argument(help="The YAML config file.", show_default=False)],
    set_: SetOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Print the fully resolved config (every default filled in) as YAML.

    Example: nnctl config configs/xor.yaml --set train.optimizer=adam
    """
    with guard(debug):
        from nnctl.config.loader import load_config
        from nnctl.io.yamlio import dump_yaml
        from nnctl.training.setup import resolve_units

        cfg = resolve_units(load_config(config, overrides(set_)))
        sys.stdout.write(dump_yaml(cfg.resolved()))


def schema(debug: DebugOpt = False) -> None:
    """Print the config's JSON Schema, for editors that complete and check YAML files.

    Example: nnctl schema > nnctl.config.schema.json
    """
    with guard(debug):
        from nnctl.config.loader import json_schema
        from nnctl.io import jsonio

        sys.stdout.write(jsonio.dumps(json_schema(), indent=2) + "\n")


SHELLS = ("bash", "zsh", "fish")


COMPLETE_VAR = "_NNCTL_COMPLETE"


def completion_classes():
    """Typer's completion classes for bash, zsh and fish, registered with Click's machinery."""
    from typer._completion_classes import completion_init

    try:
        from typer._click.shell_completion import get_completion_class
    except ImportError:  # pragma: no cover - a typer on plain click
        from click.shell_completion import get_completion_class
    completion_init()
    return get_completion_class


def completion(
    shell: Annotated[str, typer.Argument(help="bash, zsh or fish.", show_default=False)],
    debug: DebugOpt = False,
) -> None:
    """Print the shell completion script for nnctl (Click's completion machinery).

    Install it once, e.g. for bash:
    nnctl completion bash > ~/.local/share/bash-completion/completions/nnctl
    (zsh: > "${fpath[1]}/_nnctl"; fish: > ~/.config/fish/completions/nnctl.fish)
    """
    with guard(debug):
        if shell not in SHELLS:
            raise UsageError(f"unknown shell {shell!r}; expected one of {', '.join(SHELLS)}")
        cls = completion_classes()(shell)
        sys.stdout.write(cls(typer.main.get_command(_app()), {}, "nnctl", COMPLETE_VAR).source() + "\n")


def _app():
    from nnctl.cli import app  # the app that registers this command: imported when it runs

    return app
