"""`nnctl explain`'s pages: the same sections for a terminal (Rich panels) and for notes
(Markdown). Words go through gettext (`_`); formulas and numbers are the same in every language."""

from __future__ import annotations

import numpy as np

# Why the output layer's dZ is what it is, per loss (the fused forms are exact, not approximations).
OUTPUT_GRADIENT = {
    "cross_entropy": ("∂L/∂Z = (A − Y){per}", "softmax and cross-entropy fused: the softmax Jacobian and the "
                      "log's derivative cancel, leaving A − Y per row"),
    "bce": ("∂L/∂Z = (A − Y){per}", "sigmoid and binary cross-entropy fused: σ'(z) = σ(1 − σ) cancels "
            "the log's 1/(σ(1 − σ)), leaving A − Y"),
    "mse": ("∂L/∂Z = {two}(A − Y){per} ⊙ act'(Z)", "the derivative of the squares, through the output "
            "activation's derivative"),
}
# The formulas are gettext msgids too: their few words (from the logits, plain SGD) are translated,
# the symbols kept.
LOSS_FORMULA = {
    "mse": "L = {agg} {half}(A − Y)²",
    "bce": "L = {agg} −[y·log σ(z) + (1 − y)·log(1 − σ(z))], from the logits z: max(z, 0) − z·y + log(1 + e^−|z|)",
    "cross_entropy": "L = {agg} −log softmax(Z)[class], from the logits",
}
UPDATE_FORMULA = {
    "sgd": "v ← μ·v + g;  W ← W − lr·v   (Nesterov: W ← W − lr·(g + μ·v); plain SGD: W ← W − lr·g)",
    "adam": "m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²;  W ← W − lr/(1 − β1^t) · m / (√v/√(1 − β2^t) + eps)",
    "rmsprop": "s ← α·s + (1 − α)·g²;  W ← W − lr·g / (√s + eps)",
}
BATCH = {
    "rows_first": "the first {rows} in data order (--rows), as one batch",
    "full_batch": "all {rows} as one batch (batch_size: full), as train's every step takes them",
    "shuffled": "the batch train's step {step} takes: {which} of the data (batch_size {bs}, after train's "
                "seeded shuffle)",
    "in_order": "the batch train's step {step} takes: {which} of the data (batch_size {bs}, in data order)",
}


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def _rows(n: int, _) -> str:
    return (_("{n} row") if n == 1 else _("{n} rows")).format(n=n)


def _matrix(a: np.ndarray, full: bool, _, limit: int = 8) -> tuple[list[list[str]], str]:
    """Rows of formatted numbers, at most limit × limit unless full, and the shape's note."""
    m = np.atleast_2d(a)
    r, c = m.shape if a.ndim == 2 else (1, a.shape[0])
    shown = m if full else m[:limit, :limit]
    note = _("shape {shape}").format(shape=tuple(a.shape))
    if not (full or (r <= limit and c <= limit)):
        note += ", " + _("first {r}×{c} shown").format(r=shown.shape[0], c=shown.shape[1])
    return [[_fmt(float(v)) for v in row] for row in shown], note


def _loss_text(doc: dict, _) -> tuple[str, str, str]:
    """The loss's formula, its output gradient and why, for the config's reduction and ½."""
    loss, name = doc["loss_spec"], doc["loss_name"]
    mean = loss.reduction == "mean"
    per_element = name != "cross_entropy"
    agg = (_("mean over rows and outputs of") if per_element else _("mean over rows of")) if mean else \
        (_("sum over rows and outputs of") if per_element else _("sum over rows of"))
    formula = _(LOSS_FORMULA[name]).format(agg=agg, half="½·" if loss.half else "")
    per = (" / (n·k)" if per_element else " / n") if mean else ""
    grad, why = OUTPUT_GRADIENT[name]
    return formula, grad.format(per=per, two="" if loss.half else "2"), _(why)


def _check_text(num: dict, i: int, _) -> str:
    parts = []
    for key, name in (("dW", f"W{i}"), ("db", f"b{i}")):
        verdict, kinks = num[f"verdict_{key}"], num[f"kinks_{key}"]
        if verdict == "kinks":
            parts.append(_("{name}: every element at a kink, not judged (n/a, as gradcheck)").format(name=name))
        elif verdict == "below_atol":
            parts.append(_("{name}: below atol (both under 1e-10: round-off, no ratio to take)").format(name=name))
        else:
            text = _("relative error {err} ({name})").format(err=f"{num[f'rel_error_{key}']:.2e}", name=name)
            if kinks:
                text += " " + _("({k} at a kink, left out as gradcheck does)").format(k=kinks)
            parts.append(text)
    return _("central differences (L(θ + eps) − L(θ − eps)) / 2eps beside them:") + " " + "; ".join(parts)


def _batch_items(doc: dict, _) -> list:
    listed = ", ".join(map(str, doc["batch_rows"][:12])) + (", …" if len(doc["batch_rows"]) > 12 else "")
    which = (_("row {i}") if len(doc["batch_rows"]) == 1 else _("rows {i}")).format(i=listed)
    head = _(BATCH[doc["batch"]]).format(rows=_rows(doc["rows"], _), step=doc["step"], which=which,
                                         bs=doc["batch_size"])
    inputs = _("inputs after standardisation") if doc["standardized"] else \
        _("inputs as the data has them (standardize: false)")
    return [("text", f"{_rows(doc['rows'], _)}: {head}; {inputs}; "
                     + _("targets as the loss sees them (one-hot for cross_entropy)")),
            ("matrix", "A0 = X", doc["inputs"]), ("matrix", "Y", doc["targets"])]


def sections(doc: dict, full: bool, big: bool, _=lambda t: t) -> list[tuple[str, list]]:
    """(title, items) per phase; an item is ("text", str) or ("matrix", label, array)."""
    out = [(_("The batch"), _batch_items(doc, _))]
    for f in doc["forward"]:
        i = f["layer"]
        items = [("text", f"Z{i} = A{i}·W{i} + b{i};  A{i + 1} = {f['activation']}(Z{i})")]
        if not big:
            items += [("matrix", f"W{i}", f["W"]), ("matrix", f"b{i}", f["b"])]
        items += [("matrix", f"Z{i}", f["Z"]), ("matrix", f"A{i + 1} = {f['activation']}(Z{i})", f["A"])]
        out.append((_("Forward, layer {i}").format(i=i), items))
    formula, grad, why = _loss_text(doc, _)
    loss_items = [("text", formula), ("text", f"L = {_fmt(doc['loss'])}"),
                  ("matrix", _("loss per row"), np.array(doc["loss_per_row"]))]
    if doc["weight_decay"]:
        loss_items.append(("text", _("the gradient adds weight decay's term λ·W (λ = {wd}) to each weight gradient: "
                                     "the objective has λ/2·ΣW² (the reported loss does not)").format(
                                         wd=f"{doc['weight_decay']:g}")))
    out.append((_("The loss"), loss_items))
    last = len(doc["forward"]) - 1
    for k, b in enumerate(doc["backward"]):
        i = b["layer"]
        if k == 0:
            items = [("text", f"{grad.replace('Z', f'Z{last}')}: {why}")]
        else:
            act = doc["forward"][i]["activation"]
            items = [("text", f"∂L/∂Z{i} = ∂L/∂A{i + 1} ⊙ act'(Z{i})  ("
                              + _("{act}'s derivative").format(act=act) + ")")]
        items += [("matrix", f"∂L/∂Z{i}", b["dZ"]),
                  ("text", f"∂L/∂W{i} = A{i}ᵀ·∂L/∂Z{i}" + (" + λ·W" if doc["weight_decay"] else "")
                   + f";  ∂L/∂b{i} = Σ_rows ∂L/∂Z{i}"),
                  ("matrix", f"∂L/∂W{i}", b["dW"]), ("matrix", f"∂L/∂b{i}", b["db"])]
        num = doc["numeric"][i]
        items += [("text", _check_text(num, i, _)),
                  ("matrix", _("numeric") + f" ∂L/∂W{i}", num["dW"]),
                  ("matrix", _("numeric") + f" ∂L/∂b{i}", num["db"])]
        if b["dA_prev"] is not None:
            items += [("text", f"∂L/∂A{i} = ∂L/∂Z{i}·W{i}ᵀ"), ("matrix", f"∂L/∂A{i}", b["dA_prev"])]
        out.append((_("Backward, layer {i}").format(i=i), items))
    up = doc["update"]
    lead = _("{opt}, train's step {step} at lr {lr}").format(opt=up["optimizer"], step=doc["step"], lr=f"{up['lr']:g}")
    items = [("text", f"{lead}: {_(UPDATE_FORMULA[up['optimizer']])}")]
    for p in up["params"]:
        items += [("matrix", p["name"] + " " + _("before"), p["before"]),
                  ("matrix", p["name"] + " " + _("gradient g"), p["grad"]),
                  ("matrix", p["name"] + " " + _("after"), p["after"])]
    out.append((_("The update"), items))
    if big:
        for _title, its in out:
            its[:] = [it if it[0] == "text" else ("matrix", it[1], np.atleast_2d(it[2])[:2]) for it in its]
    return out


def _titled(docs: list[dict], full: bool, big: bool, _) -> list[tuple[str, list]]:
    """Every step's sections; with several steps each title says which step."""
    if len(docs) == 1:
        return sections(docs[0], full, big, _)
    return [(_("Step {k}").format(k=d["step"]) + " · " + title, items)
            for d in docs for title, items in sections(d, full, big, _)]


def markdown(docs: list[dict], full: bool, big: bool, _=lambda t: t) -> str:
    lines = []
    for title, items in _titled(docs, full, big, _):
        lines.append(f"## {title}\n")
        for item in items:
            if item[0] == "text":
                lines.append(item[1] + "\n")
                continue
            rows, note = _matrix(item[2], full, _)
            lines.append(f"**{item[1]}** ({note})\n")
            lines.append("| " + " | ".join(f"{j}" for j in range(len(rows[0]))) + " |")
            lines.append("|" + "---:|" * len(rows[0]))
            lines += ["| " + " | ".join(r) + " |" for r in rows]
            lines.append("")
    return "\n".join(lines) + "\n"


def render(docs: list[dict], full: bool, big: bool, console, _=lambda t: t) -> None:
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    for title, items in _titled(docs, full, big, _):
        parts = []
        for item in items:
            if item[0] == "text":
                parts.append(Text(item[1]))
                continue
            rows, note = _matrix(item[2], full, _)
            parts.append(Text(f"{item[1]}  ({note})", style="bold"))
            t = Table(show_header=False, box=None, padding=(0, 1))
            for _col in rows[0]:
                t.add_column(justify="right")
            for r in rows:
                t.add_row(*r)
            parts.append(t)
        console.print(Panel(Group(*parts), title=Text(title), title_align="left"))
