"""`nnctl info`: what a model file holds."""

from __future__ import annotations

import sys
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
        from nnctl import render as report
        from nnctl.io import modelfile

        meta, arrays = modelfile.inspect(model)
        layers = []
        fan_in = len(meta["features"])
        for i, layer in enumerate(meta["layers"]):
            layers.append({"index": i, "in": fan_in, "units": layer["units"], "activation": layer["activation"]})
            fan_in = layer["units"]
        n_params = sum(int(arrays[f"{k}{i}"].size) for i in range(len(layers)) for k in "Wb")
        doc = {"layers": layers, "parameters": n_params, "features": meta["features"],
               "targets": meta["targets"], "classes": meta.get("classes"), "loss": meta["loss"],
               "dtype": str(arrays["W0"].dtype), "standardized": "x_mean" in arrays,
               "epochs": meta.get("epochs"), "config": meta.get("config"), "metrics": meta.get("metrics")}
        line = modelfile.fitted_line(meta, arrays)
        if line is not None:
            doc["line"] = line
        if weights:
            doc["weights"] = {f"{k}{i}": arrays[f"{k}{i}"].tolist() for i in range(len(layers)) for k in "Wb"}
        if json_:
            report.emit_json(doc)
            return
        if quiet:
            return
        report.print_table(f"{model}", ["layer", "in", "units", "activation"],
                           [[str(la["index"]), str(la["in"]), str(la["units"]), str(la["activation"])]
                            for la in layers])
        pairs = [("parameters", str(n_params)), ("features", ", ".join(meta["features"])),
                 ("targets", ", ".join(meta["targets"])), ("loss function", meta["loss"]), ("dtype", doc["dtype"])]
        if doc["classes"]:
            pairs.append(("classes", ", ".join(map(str, doc["classes"]))))
        if doc["epochs"] is not None:
            pairs.append(("epochs trained", str(doc["epochs"])))
        if line is not None:
            pairs.append(("fitted line", f"{meta['targets'][0]} = {line['slope']:.6g}·{meta['features'][0]} "
                                         f"{'-' if line['intercept'] < 0 else '+'} {abs(line['intercept']):.6g}"
                                         + ("  (in the data's units: standardisation undone)"
                                            if doc["standardized"] else "")))
        report.print_kv("summary", pairs)
        if weights:
            for i in range(len(layers)):
                W, b = arrays[f"W{i}"], arrays[f"b{i}"]
                report.print_table(f"W{i} ({W.shape[0]}×{W.shape[1]}: rows are inputs, columns units) and b{i}",
                                   ["", *(f"unit {j}" for j in range(W.shape[1]))],
                                   [[f"W{i}[{r}]", *(report.fmt(float(v)) for v in row)] for r, row in enumerate(W)]
                                   + [[f"b{i}", *(report.fmt(float(v)) for v in b)]])
        if doc["metrics"]:
            report.print_table("final metrics", ["metric", "value"],
                               [[k, report.fmt(v)] for k, v in doc["metrics"].items()])
        if isinstance(doc["config"], dict):
            from nnctl.io.yamlio import dump_yaml

            report.print_text("training config", dump_yaml(doc["config"]))
        plugin = any(not isinstance(la["activation"], str) for la in layers)
        hints = [f"nnctl predict {model} rows.csv --proba", f"nnctl evaluate {model} labelled.csv",
                 f"nnctl plot {model}"] + ([] if plugin else [f"nnctl export {model}   (ONNX, for onnxruntime)"])
        print("next: " + "\n      ".join(hints), file=sys.stderr)
