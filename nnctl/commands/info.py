"""`nnctl info`: what a model file holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nnctl.commands.common import DebugOpt, JsonOpt, QuietOpt, guard


def info(
    model: Annotated[Path, typer.Argument(help="The model file (.npz).", show_default=False)],
    weights: Annotated[bool, typer.Option(
        "--weights", help="Show every W and b (rounded in the tables, full precision with --json).")] = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Architecture, parameter count, training config and final metrics of a model file.

    Plugin activations are named, never loaded. A one-feature model of one identity unit also
    states its line, y = w·x + b, in the data's own units. Example: nnctl info line.npz --weights
    """
    with guard(debug):
        from nnctl import render
        from nnctl.io import modelfile
        from nnctl.render.model import model_info

        doc = modelfile.describe(model, weights=weights)
        if json_:
            render.emit_json(doc)
        elif not quiet:
            model_info(str(model), doc)
