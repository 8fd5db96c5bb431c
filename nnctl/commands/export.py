"""`nnctl export`: the model as ONNX."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from nnctl.commands.common import DebugOpt, QuietOpt, guard


def export(
    model: Annotated[Path, typer.Argument(help="The model file (.npz).", show_default=False)],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="The ONNX file (default <model stem>.onnx in the current folder).")] = None,
    opset: Annotated[int, typer.Option(help="ONNX opset, 17 or later.")] = 17,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Write the model as ONNX, for onnxruntime (C#, Java, JavaScript, C++, Python, a database).

    The graph takes `input` [N, n_features] in the model's dtype and feature order and gives a
    classifier's `label` and `probabilities`, or a regression's `prediction`, as nnctl predict
    --proba computes them. Needs the onnx extra: pip install 'nnctl[onnx]'.
    Example: nnctl export iris.npz --out iris.onnx
    """
    with guard(debug):
        from nnctl.io import files
        from nnctl.tools.export import export_file

        target = out or Path(f"{model.stem}.onnx")
        files.check_writable(target)
        meta = export_file(model, target, opset)
        if not quiet:
            print(f"wrote {target} (opset {opset}): inputs input[N, {len(meta['features'])}]", file=sys.stderr)
