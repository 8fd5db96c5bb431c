"""Predictions and evaluation of a saved model on CSV or Parquet rows. Returns values; prints nothing."""

from __future__ import annotations

import math

import numpy as np

from nnctl.core import metrics as metricsmod
from nnctl.core.losses import make_loss
from nnctl.core.model import BLOCK_ROWS
from nnctl.data import csvtable, engines, reader
from nnctl.data.datasets import ClassIndex, open_table
from nnctl.data.linestream import Lines
from nnctl.errors import DataError
from nnctl.io import jsonio
from nnctl.io.modelfile import ModelFile


def csv_delimiter(mf: ModelFile) -> str:
    data = mf.meta.get("config", {}).get("data", {}) if isinstance(mf.meta.get("config"), dict) else {}
    d = data.get("delimiter", ",") if isinstance(data, dict) else ","
    return d if isinstance(d, str) and len(d) == 1 else ","


def read_input(mf: ModelFile, path: str):
    """The table a labelled input holds: Parquet by its suffix, else CSV (stdin for '-')."""
    source = "stdin" if path == "-" else path
    if path.lower().endswith(".parquet"):
        return open_table("parquet", path)
    return csvtable.read_table(path, csv_delimiter(mf), source=source)


class _Formatter:
    """Prediction rows as CSV or JSON text: a classifier's label (and probabilities), or a
    regression's numbers, as the shortest repr that round-trips. A number that is not finite is
    null in JSON (docs/commands/predict.md); a classifier's row whose outputs are not all finite
    has no label (null in JSON, an empty cell in CSV) rather than whichever class comes first."""

    def __init__(self, mf: ModelFile, proba: bool, fmt: str):
        self.mf, self.proba, self.json = mf, proba, fmt == "json"
        classes = mf.classes
        self.columns = list(mf.targets)
        if classes:
            self.columns = [mf.targets[0]] + ([f"p_{c}" for c in classes] if proba else [])
            self.labels = [jsonio.dumps(c) for c in classes] if self.json else [_csv_cell(str(c)) for c in classes]
        self.keys = [jsonio.dumps(c) for c in self.columns]
        self.first = True

    def header(self) -> str:
        return "[" if self.json else ",".join(_csv_cell(c) for c in self.columns) + "\n"

    def rows(self, out: np.ndarray) -> str:
        out = out.astype(np.float64, copy=False)
        if self.mf.classes:
            return self._classes(out)
        if not self.json:
            return "".join([",".join(map(repr, r)) + "\n" for r in out.tolist()])
        return self._objects([_json_numbers(r) for r in out.tolist()])

    def _classes(self, out: np.ndarray) -> str:
        idx = metricsmod.predicted_indices(out).tolist()
        if out.shape[1] == 1:  # bce: one sigmoid unit, the probability of classes[1]
            out = np.c_[1.0 - out[:, 0], out[:, 0]]
        labels = [self.labels[i] for i in idx]
        bad = ~np.isfinite(out).all(axis=1)
        if bad.any():
            for r in np.flatnonzero(bad).tolist():
                labels[r] = "null" if self.json else ""
        if not self.json:  # the common case, built line by line in one pass: 1M rows are 2M floats
            if not self.proba:
                return "\n".join(labels) + "\n"
            return "".join([f"{lab},{','.join(map(repr, p))}\n" for lab, p in zip(labels, out.tolist(), strict=True)])
        if not self.proba:
            return self._objects([[lab] for lab in labels])
        return self._objects([[lab, *_json_numbers(p)] for lab, p in zip(labels, out.tolist(), strict=True)])

    def _objects(self, cells: list[list[str]]) -> str:
        text = ",".join("{" + ", ".join(f"{k}: {v}" for k, v in zip(self.keys, r, strict=True)) + "}"
                        for r in cells)
        if not self.first:
            text = ", " + text
        self.first = False
        return text

    def footer(self) -> str:
        return "]\n" if self.json else ""


def _json_numbers(row: list[float]) -> list[str]:
    """JSON number literals: repr (the shortest that round-trips) or null where not finite."""
    return [repr(v) if math.isfinite(v) else "null" for v in row]


def _csv_cell(text: str) -> str:
    if any(ch in text for ch in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def stream_predict(mf: ModelFile, fh, write, source: str, header: bool = True, proba: bool = False,
                   fmt: str = "csv") -> int:
    """Read CSV rows from the binary stream `fh`, predict and `write(text)` in chunks, so memory
    stays flat and the first answers leave before the input ends. Columns are matched to the
    model's features by name (or taken positionally without a header). A bad row raises
    DataError naming its line and column; rows before its chunk have been written already.
    Returns the number of rows."""
    delim = csv_delimiter(mf)
    out = _Output(mf, write, proba, fmt)
    cols: reader.Columns | None = None
    for first, batch in Lines(fh, source).batches():
        if cols is None:  # the header: the first non-blank line
            skip = next((i for i, line in enumerate(batch) if line.strip()), None)
            if skip is None:
                continue
            names = csvtable.parse_header(batch[skip], source, delim, header, first + skip)
            cols = reader.Columns(_feature_columns(mf, names, header, source), None, len(names), names, source, delim)
            if header:
                first, batch = first + skip + 1, batch[skip + 1:]
        out.chunk(engines.parse_lines(batch, first, cols))
    if cols is None:
        raise DataError("the input is empty; expected a header row and data rows", source=source)
    return out.end(source)


def predict_table(mf: ModelFile, table, write, proba: bool = False, fmt: str = "csv") -> int:
    """stream_predict for a table read by chunks (a Parquet file)."""
    out = _Output(mf, write, proba, fmt)
    for _, chunk in table.chunks(table.columns(_feature_columns(mf, table.header, True, table.source))):
        out.chunk(chunk)
    return out.end(table.source)


class _Output:
    """Predictions of parsed chunks, written as they come: the header before the first row."""

    def __init__(self, mf: ModelFile, write, proba: bool, fmt: str):
        self.mf, self.write, self.formatter, self.rows = mf, write, _Formatter(mf, proba, fmt), 0

    def chunk(self, parsed: reader.Parsed) -> None:
        if parsed.X.shape[0] == 0:
            return
        with np.errstate(over="ignore", invalid="ignore"):  # such a row's outputs are null
            out = self.mf.model.predict(self.mf.transform(parsed.X))
        self.write((self.formatter.header() if self.rows == 0 else "") + self.formatter.rows(out))
        self.rows += parsed.X.shape[0]

    def end(self, source: str) -> int:
        if self.rows == 0:
            raise DataError("has a header but no data rows", source=source)
        self.write(self.formatter.footer())
        return self.rows


def _feature_columns(mf: ModelFile, names: list[str], header: bool, source: str) -> list[int]:
    """Where the model's features are among the columns `names`: by name, or the first columns
    without a header (evaluate's table and predict's stream alike)."""
    n = len(mf.features)
    if not header:
        if len(names) < n:
            raise DataError(f"rows have {len(names)} columns; the model needs {n} ({', '.join(mf.features)})",
                            source=source)
        return list(range(n))
    index = {name: i for i, name in enumerate(names)}
    missing = [f for f in mf.features if f not in index]
    if missing:
        raise DataError(f"missing feature column(s) {', '.join(map(repr, missing))}; the model "
                        f"needs {', '.join(mf.features)} and the header has "
                        f"{csvtable.preview_names(names)}", source=source)
    return [index[f] for f in mf.features]


def class_indices(mf: ModelFile, labels, source: str) -> np.ndarray:
    """A classifier's labels (numbers or text) as class indices (n,), matched to the model's classes."""
    idx = ClassIndex(mf.classes).rows(labels)
    unknown = np.flatnonzero(idx < 0)
    if unknown.size:
        r = int(unknown[0])
        raise _unknown_label(mf, r, labels[r].item() if isinstance(labels, np.ndarray) else labels[r], source)
    return idx


def _unknown_label(mf: ModelFile, r: int, label, source: str) -> DataError:
    return DataError(f"data row {r + 1}: label {reader.label_text(label)!r} in column {mf.targets[0]!r} is not one "
                     f"of the model's classes ({', '.join(map(str, mf.classes[:20]))}"
                     f"{', …' if len(mf.classes) > 20 else ''})", source=source)


def _encoded(mf: ModelFile, idx: np.ndarray) -> np.ndarray:
    """Class indices as the loss sees them: a 0/1 column (bce) or one-hot rows."""
    if mf.meta["loss"] == "bce":
        return idx[:, None].astype(mf.model.dtype)
    Y = np.zeros((len(idx), len(mf.classes)), mf.model.dtype)
    Y[np.arange(len(idx)), idx] = 1.0
    return Y


def _trained_loss(mf: ModelFile):
    """The loss as trained: its reduction and ½ live in the saved config (meta "loss" is the name,
    already validated; the config is only trusted where it agrees with it)."""
    spec = ((mf.meta.get("config") or {}).get("train") or {}).get("loss")
    try:
        loss = make_loss(spec) if isinstance(spec, dict) else None
    except (KeyError, ValueError, TypeError):
        loss = None
    return loss if loss is not None and loss.name == mf.meta["loss"] else make_loss(mf.meta["loss"])


CHUNK_CELLS = 1 << 22  # outputs evaluated at once: 32 MB of float64, whatever the class count


def labelled_rows(mf: ModelFile, table) -> tuple[np.ndarray, np.ndarray]:
    """A classifier's rows as read for evaluation: the raw features (n, n_features), before the
    model's standardization, and the true class indices (n,)."""
    features = _feature_columns(mf, table.header, True, table.source)
    got = reader.load(table, features, [], table.column_index(mf.targets[0], "target"),
                      text_labels=_text_classes(mf))
    return got.X_aug[:, :-1], class_indices(mf, got.labels, table.source)


def _text_classes(mf: ModelFile) -> bool:
    """Whether a classifier's labels are read as text even where they are numbers: some class
    is text ('01' and '1' are two classes), or a whole number too large for float64's digits."""
    return bool(mf.classes) and ClassIndex(mf.classes).as_text


def evaluate_table(mf: ModelFile, table) -> dict:
    """Loss, every metric of the model's kind, and the confusions of a classifier. A classifier is
    evaluated in chunks of rows, so memory stays bounded with many classes (no n × k one-hot)."""
    f_idx = _feature_columns(mf, table.header, True, table.source)
    t_idx = [table.column_index(t, "target") for t in mf.targets]
    got = reader.load(table, f_idx, [] if mf.classes else t_idx, t_idx[0] if mf.classes else None,
                      text_labels=_text_classes(mf))
    X = mf.transform(got.X_aug[:, :-1], in_place=True)
    loss = _trained_loss(mf)
    n = X.shape[0]
    if not mf.classes:
        Y = got.Y.astype(mf.model.dtype)
        out = np.empty(Y.shape, mf.model.dtype)

        def keep(a, block, _):
            out[a:a + len(block)] = block

        value = mf.model.loss_in_blocks(loss, X, Y, keep)
        names = metricsmod.all_for(False)
        result = {"loss": value, "rows": int(n)}
        if mf.meta.get("binary_targets") and np.isin(Y, (0.0, 1.0)).all():  # 0/1 targets: read at 0.5 too
            names += metricsmod.all_for(True)
            result["at_threshold"] = metricsmod.at_threshold(out)
        return {**result, "metrics": metricsmod.compute(names, out, Y)}
    true, classes = class_indices(mf, got.labels, table.source), mf.classes
    pred = np.empty(n, dtype=np.intp)
    ties = [0]

    def each(a, out, Y):
        pred[a:a + len(out)] = metricsmod.class_indices(out, Y)[0]
        ties[0] += metricsmod.at_threshold(out)

    step = max(1, min(BLOCK_ROWS, CHUNK_CELLS // len(classes)))  # no n × k one-hot: a block's own
    value = mf.model.loss_in_blocks(loss, X, lambda a, b: _encoded(mf, true[a:b]), each, step)
    counts = metricsmod.Counts(None, None, pred=pred, true=true, k=len(classes))
    result = {"loss": value, "rows": int(n), "at_threshold": ties[0],
              "metrics": {name: metricsmod.METRICS[name](counts) for name in metricsmod.all_for(True)}}
    # k × k numbers: dense only while that stays small (10 000 classes would be 10^8 cells)
    result["confusion_matrix"] = counts.matrix().tolist() if len(classes) <= DENSE_CONFUSION else None
    result["confusions"] = [{"true": classes[t], "predicted": classes[p], "count": c}
                            for t, p, c in counts.pairs() if t != p]
    result["classes"] = classes
    precision, recall, f1 = counts.per_class()
    result["per_class"] = {"precision": precision.tolist(), "recall": recall.tolist(), "f1": f1.tolist(),
                           "support": counts.n_true.astype(int).tolist()}
    return result


DENSE_CONFUSION = 50  # classes up to which evaluate gives the whole confusion matrix
