"""Predictions and evaluation of a saved model on CSV rows. Returns values; prints nothing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import csvio
from . import metrics as metricsmod
from .data import label_key
from .errors import DataError
from .losses import LOSSES
from .modelfile import ModelFile


def csv_delimiter(mf: ModelFile) -> str:
    data = mf.meta.get("config", {}).get("data", {}) if isinstance(mf.meta.get("config"), dict) else {}
    d = data.get("delimiter", ",") if isinstance(data, dict) else ","
    return d if isinstance(d, str) and len(d) == 1 else ","


def feature_matrix(mf: ModelFile, table: csvio.Table, header: bool = True) -> np.ndarray:
    """The model's features from the table: matched by name, or the first columns without a header."""
    n = len(mf.features)
    if header:
        missing = [f for f in mf.features if f not in table.header]
        if missing:
            raise DataError(f"missing feature column(s) {', '.join(map(repr, missing))}; the model "
                            f"needs {', '.join(mf.features)} and the header has "
                            f"{', '.join(table.header)}", source=table.source)
        cols = [table.header.index(f) for f in mf.features]
    else:
        if len(table.header) < n:
            raise DataError(f"rows have {len(table.header)} columns; the model needs {n} "
                            f"({', '.join(mf.features)})", source=table.source)
        cols = list(range(n))
    return csvio.numeric_columns(table, cols, csv_delimiter(mf))


def _fmt(v: float) -> str:
    return repr(float(v))


@dataclass
class Predictions:
    columns: list[str]
    rows: list[list]  # JSON-ready values


def predict_table(mf: ModelFile, table: csvio.Table, header: bool = True,
                  proba: bool = False) -> Predictions:
    out = mf.model.predict(mf.transform(feature_matrix(mf, table, header))).astype(np.float64)
    classes = mf.classes
    if not classes:
        return Predictions(list(mf.targets), out.tolist())
    if out.shape[1] == 1:  # bce: one sigmoid unit, the probability of classes[1]
        out = np.c_[1.0 - out[:, 0], out[:, 0]]
        idx = (out[:, 1] > 0.5).astype(np.intp)
    else:
        idx = out.argmax(axis=1)
    columns = [mf.targets[0]]
    rows = [[classes[i]] for i in idx]
    if proba:
        columns += [f"p_{c}" for c in classes]
        rows = [r + p for r, p in zip(rows, out.tolist(), strict=True)]
    return Predictions(columns, rows)


def to_csv(pred: Predictions) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(pred.columns)
    for row in pred.rows:
        w.writerow([_fmt(v) if isinstance(v, float) else v for v in row])
    return buf.getvalue()


def to_json(pred: Predictions) -> str:
    import json

    return json.dumps([dict(zip(pred.columns, r, strict=True)) for r in pred.rows]) + "\n"


def encode_targets(mf: ModelFile, table: csvio.Table) -> np.ndarray:
    """The table's target column(s) encoded as the model was trained: numbers, 0/1 or one-hot."""
    delim = csv_delimiter(mf)
    cols = [table.column_index(t, "target") for t in mf.targets]
    classes = mf.classes
    if not classes:
        return csvio.numeric_columns(table, cols, delim)
    keys = {label_key(c): i for i, c in enumerate(classes)}
    labels = csvio.text_column(table, cols[0], delim)
    idx = np.empty(len(labels), dtype=np.intp)
    for r, lab in enumerate(labels):
        i = keys.get(label_key(lab))
        if i is None:
            raise DataError(f"data row {r + 1}: label {lab!r} in column {mf.targets[0]!r} is not one of "
                            f"the model's classes ({', '.join(map(str, classes))})", source=table.source)
        idx[r] = i
    if mf.meta["loss"] == "bce":
        return idx[:, None].astype(np.float64)
    Y = np.zeros((len(idx), len(classes)))
    Y[np.arange(len(idx)), idx] = 1.0
    return Y


def evaluate_table(mf: ModelFile, table: csvio.Table) -> dict:
    """Loss, every metric of the model's kind, and a confusion matrix for classifiers."""
    X = mf.transform(feature_matrix(mf, table))
    Y = encode_targets(mf, table).astype(mf.model.dtype)
    loss = LOSSES[mf.meta["loss"]]()
    out, cache = mf.model.forward(X, keep=True)
    result = {"loss": loss.value(cache.Z[-1], out, Y), "rows": int(X.shape[0])}
    classifier = bool(mf.classes)
    result["metrics"] = metricsmod.compute(metricsmod.all_for(classifier), out, Y)
    if classifier:
        result["confusion_matrix"] = metricsmod.confusion_matrix(out, Y).tolist()
        result["classes"] = mf.classes
    return result
