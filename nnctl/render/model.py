"""What `nnctl info` and `nnctl evaluate` show on a terminal."""

from __future__ import annotations

import sys

import numpy as np

from nnctl.render import fmt, print_kv, print_table, print_text

SHOWN_CLASSES = 20  # evaluate's terminal view: a full confusion matrix up to this many classes


def model_info(name: str, doc: dict) -> None:
    """`modelfile.describe`'s document as tables, then the commands to run next."""
    layers = doc["layers"]
    print_table(name, ["layer", "in", "units", "activation"],
                [[str(la["index"]), str(la["in"]), str(la["units"]), str(la["activation"])] for la in layers])
    print_kv("summary", _summary(doc))
    for key, W in (doc.get("weights") or {}).items():
        if key.startswith("W"):
            _weights(key[1:], np.asarray(W), np.asarray(doc["weights"][f"b{key[1:]}"]))
    if doc["metrics"]:
        print_table("final metrics", ["metric", "value"], [[k, fmt(v)] for k, v in doc["metrics"].items()])
    if isinstance(doc["config"], dict):
        from nnctl.io.yamlio import dump_yaml

        print_text("training config", dump_yaml(doc["config"]))
    plugin = any(not isinstance(la["activation"], str) for la in layers)
    hints = [f"nnctl predict {name} rows.csv --proba", f"nnctl evaluate {name} labelled.csv",
             f"nnctl plot {name}"] + ([] if plugin else [f"nnctl export {name}   (ONNX, for onnxruntime)"])
    print("next: " + "\n      ".join(hints), file=sys.stderr)


def _summary(doc: dict) -> list[tuple[str, str]]:
    pairs = [("parameters", str(doc["parameters"])), ("features", ", ".join(doc["features"])),
             ("targets", ", ".join(doc["targets"])), ("loss function", doc["loss"]), ("dtype", doc["dtype"])]
    if doc["classes"]:
        pairs.append(("classes", ", ".join(map(str, doc["classes"]))))
    if doc["epochs"] is not None:
        pairs.append(("epochs trained", str(doc["epochs"])))
    line = doc.get("line")
    if line is not None:
        sign = "-" if line["intercept"] < 0 else "+"
        pairs.append(("fitted line", f"{doc['targets'][0]} = {line['slope']:.6g}·{doc['features'][0]} "
                                     f"{sign} {abs(line['intercept']):.6g}"
                                     + ("  (in the data's units: standardisation undone)"
                                        if doc["standardized"] else "")))
    return pairs


def _weights(i: str, W: np.ndarray, b: np.ndarray) -> None:
    print_table(f"W{i} ({W.shape[0]}×{W.shape[1]}: rows are inputs, columns units) and b{i}",
                ["", *(f"unit {j}" for j in range(W.shape[1]))],
                [[f"W{i}[{r}]", *(fmt(float(v)) for v in row)] for r, row in enumerate(W)]
                + [[f"b{i}", *(fmt(float(v)) for v in b)]])


def evaluation(title: str, result: dict) -> None:
    """`predict.evaluate_table`'s result: loss and metrics, then the confusion matrix (or, with
    many classes, the most frequent confusions)."""
    rows = [["loss", fmt(result["loss"])], ["rows", str(result["rows"])]]
    rows += [[k, fmt(v, 4)] for k, v in result["metrics"].items()]
    print_table(title, ["metric", "value"], rows)
    from nnctl.core.metrics import threshold_note

    note = threshold_note(result.get("at_threshold", 0), result["rows"])
    if note:
        print(note, file=sys.stderr)
    if "classes" not in result:
        return
    labels = [str(c) for c in result["classes"]]
    if len(labels) <= SHOWN_CLASSES:
        print_table("confusion matrix (rows: true, columns: predicted)", ["", *labels],
                    [[lab, *map(str, r)] for lab, r in zip(labels, result["confusion_matrix"], strict=True)])
    else:
        top = result["confusions"][:SHOWN_CLASSES]
        print_table(f"the {len(top)} most frequent confusions of {len(labels)} classes",
                    ["true", "predicted", "rows"],
                    [[str(c["true"]), str(c["predicted"]), str(c["count"])] for c in top])
