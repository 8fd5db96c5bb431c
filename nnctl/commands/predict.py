"""`nnctl predict` and `nnctl evaluate`: a saved model on new rows."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from nnctl.commands.common import DebugOpt, JsonOpt, PluginOpt, QuietOpt, guard
from nnctl.errors import UsageError


def predict(
    model: Annotated[Path, typer.Argument(help="The model file (.npz).", show_default=False)],
    input: Annotated[str, typer.Argument(help="CSV with a header, a .parquet file, or - for stdin.")] = "-",
    proba: Annotated[bool, typer.Option("--proba", help="Add a probability column p_<label> per class.")] = False,
    format: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    no_header: Annotated[bool, typer.Option(
        "--no-header", help="The input has no header: take the first columns in the model's feature order.")] = False,
    output: Annotated[Path | None, typer.Option("--output", help="Write here instead of stdout.")] = None,
    plugin: PluginOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Predict for CSV rows; write one output row per input row, in order.

    Columns are matched to the model's features by name; other columns (the target, ids) are
    ignored. Classifiers write the class label, regressions the number.

    Example: nnctl predict iris.npz datasets/iris.csv --proba > predictions.csv
    """
    with guard(debug):
        from nnctl.data.linestream import open_input
        from nnctl.io import files, modelfile
        from nnctl.tools import predict as predmod

        if format not in ("csv", "json"):
            raise UsageError(f"--format: expected csv or json, got {format!r}")
        if output is not None:
            files.check_writable(output)
        mf = modelfile.load(model, plugin_files=plugin)
        if proba and not mf.classes:
            print(f"note: --proba does not apply to {model}: a regression model has no classes, so its "
                  "predictions are numbers, written without probability columns", file=sys.stderr)
        source = "stdin" if input == "-" else input
        with open_input(input) as fh:
            def run(write):
                if input.lower().endswith(".parquet"):
                    predmod.predict_table(mf, predmod.read_input(mf, input), write, proba=proba, fmt=format)
                else:
                    predmod.stream_predict(mf, fh, write, source, header=not no_header, proba=proba, fmt=format)

            if output is None:
                run(_write_stdout)
            else:  # the file appears, whole, only when every row succeeded
                files.atomic_write(output, lambda out: run(lambda text: out.write(text.encode())))


def _write_stdout(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()  # a reader on a pipe gets each chunk of answers as it is ready




def evaluate(
    model: Annotated[Path, typer.Argument(help="The model file (.npz).", show_default=False)],
    data: Annotated[str, typer.Argument(help="Labelled CSV or .parquet (features and target columns), or -.",
                                        show_default=False)],
    plugin: PluginOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Loss and metrics of a saved model on labelled data.

    Example: nnctl evaluate iris.npz datasets/iris.csv --json
    """
    with guard(debug):
        from nnctl import render
        from nnctl.io import modelfile
        from nnctl.render.model import evaluation
        from nnctl.tools import predict as predmod

        mf = modelfile.load(model, plugin_files=plugin)
        table = predmod.read_input(mf, data)
        result = predmod.evaluate_table(mf, table)
        if json_:
            render.emit_json(result)
        elif not quiet:
            evaluation(f"{model} on {data}", result)
