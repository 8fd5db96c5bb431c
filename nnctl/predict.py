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
        cols = [table.column_index(f, "feature") for f in mf.features]
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


def target_indices(mf: ModelFile, table: csvio.Table) -> np.ndarray:
    """A classifier's target column as class indices (n,), matched to the model's classes."""
    col = table.column_index(mf.targets[0], "target")
    keys = {label_key(c): i for i, c in enumerate(mf.classes)}
    labels = csvio.text_column(table, col, csv_delimiter(mf))
    idx = np.empty(len(labels), dtype=np.intp)
    for r, lab in enumerate(labels):
        i = keys.get(label_key(lab))
        if i is None:
            raise DataError(f"data row {r + 1}: label {lab!r} in column {mf.targets[0]!r} is not one of "
                            f"the model's classes ({', '.join(map(str, mf.classes[:20]))}"
                            f"{', …' if len(mf.classes) > 20 else ''})", source=table.source)
        idx[r] = i
    return idx


def _encoded(mf: ModelFile, idx: np.ndarray) -> np.ndarray:
    """Class indices as the loss sees them: a 0/1 column (bce) or one-hot rows."""
    if mf.meta["loss"] == "bce":
        return idx[:, None].astype(mf.model.dtype)
    Y = np.zeros((len(idx), len(mf.classes)), mf.model.dtype)
    Y[np.arange(len(idx)), idx] = 1.0
    return Y


CHUNK_CELLS = 1 << 22  # outputs evaluated at once: 32 MB of float64, whatever the class count


def evaluate_table(mf: ModelFile, table: csvio.Table) -> dict:
    """Loss, every metric of the model's kind, and the confusions of a classifier. A classifier is
    evaluated in chunks of rows, so memory stays bounded with many classes (no n × k one-hot)."""
    X = mf.transform(feature_matrix(mf, table))
    loss = LOSSES[mf.meta["loss"]]()
    n = X.shape[0]
    if not mf.classes:
        Y = csvio.numeric_columns(table, [table.column_index(t, "target") for t in mf.targets],
                                  csv_delimiter(mf)).astype(mf.model.dtype)
        out, cache = mf.model.forward(X, keep=True)
        names = metricsmod.all_for(False)
        if mf.meta.get("binary_targets") and np.isin(Y, (0.0, 1.0)).all():  # 0/1 targets: read at 0.5 too
            names += metricsmod.all_for(True)
        return {"loss": loss.value(cache.Z[-1], out, Y), "rows": int(n),
                "metrics": metricsmod.compute(names, out, Y)}
    true, classes = target_indices(mf, table), mf.classes
    pred = np.empty(n, dtype=np.intp)
    total = 0.0
    step = max(1, CHUNK_CELLS // len(classes))
    for a in range(0, n, step):
        out, cache = mf.model.forward(X[a:a + step], keep=True)
        Y = _encoded(mf, true[a:a + step])
        total += loss.value(cache.Z[-1], out, Y) * len(Y)
        pred[a:a + step] = metricsmod.class_indices(out, Y)[0]
    counts = metricsmod.Counts(None, None, pred=pred, true=true, k=len(classes))
    result = {"loss": total / n, "rows": int(n),
              "metrics": {name: metricsmod.METRICS[name](counts) for name in metricsmod.all_for(True)}}
    # k × k numbers: dense only while that stays small (10 000 classes would be 10^8 cells)
    result["confusion_matrix"] = counts.matrix().tolist() if len(classes) <= DENSE_CONFUSION else None
    result["confusions"] = [{"true": classes[t], "predicted": classes[p], "count": c}
                            for t, p, c in counts.pairs() if t != p]
    result["classes"] = classes
    return result


DENSE_CONFUSION = 50  # classes up to which evaluate gives the whole confusion matrix
