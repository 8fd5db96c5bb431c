"""`nnctl explain`: one optimizer step of the config's network, number by number.

Everything comes from the engine's own code paths, never from a second implementation: the
model's forward pass (as predict and validation run it), the loss's `value`, `MLP.backward`
(which records each layer's dZ, dW, db and dA_prev when asked), gradcheck's central differences,
and the config's optimizer class taking its first step from a fresh state. All in float64.
"""

from __future__ import annotations

import numpy as np

from nnctl.core.model import flat_views
from nnctl.core.optim import make_optimizer
from nnctl.tools.gradcheck import numeric_gradient, relative_error
from nnctl.training import trainer as trainmod

# Why the output layer's dZ is what it is, per loss (the fused forms are exact, not approximations).
OUTPUT_GRADIENT = {
    "cross_entropy": ("∂L/∂Z = (A − Y) / n", "softmax and cross-entropy fused: the softmax Jacobian and the "
                      "log's derivative cancel, leaving A − Y per row, averaged over the n rows"),
    "bce": ("∂L/∂Z = (A − Y) / (n·k)", "sigmoid and binary cross-entropy fused: σ'(z) = σ(1 − σ) cancels "
            "the log's 1/(σ(1 − σ)), leaving A − Y, averaged over the n·k outputs"),
    "mse": ("∂L/∂Z = 2(A − Y) / (n·k) ⊙ act'(Z)", "the mean of squares' derivative 2(A − Y)/(n·k), through "
            "the output activation's derivative"),
}
LOSS_FORMULA = {
    "mse": "L = mean over rows and outputs of (A − Y)²",
    "bce": "L = mean of −[y·log σ(z) + (1 − y)·log(1 − σ(z))], from the logits z: max(z, 0) − z·y + log(1 + e^−|z|)",
    "cross_entropy": "L = mean over rows of −log softmax(Z)[class], from the logits",
}
UPDATE_FORMULA = {
    "sgd": "v ← μ·v + g;  W ← W − lr·v   (Nesterov: W ← W − lr·(g + μ·v); plain SGD: W ← W − lr·g)",
    "adam": "m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²;  W ← W − lr/(1 − β1^t) · m / (√v/√(1 − β2^t) + eps)",
    "rmsprop": "s ← α·s + (1 − α)·g²;  W ← W − lr·g / (√s + eps)",
}


def explain(trainer: trainmod.Trainer, rows: int, eps: float = 1e-6) -> dict:
    """One step on the first `rows` training rows, as plain lists (the --json document)."""
    cfg, model, loss = trainer.cfg, trainer.model, trainer.prepared.loss
    wd = cfg.train.weight_decay
    split = trainer.prepared.split
    n = min(rows, split.X_train.shape[0])
    X, Y = np.ascontiguousarray(split.X_train[:n]), np.ascontiguousarray(split.Y_train[:n])
    out, cache = model.forward(X, keep=True)
    value = loss.value(cache.Z[-1], out, Y)
    per_row = [loss.value(cache.Z[-1][r:r + 1], out[r:r + 1], Y[r:r + 1]) for r in range(n)]
    trace: list[dict] = []
    grads = model.backward(cache, Y, loss, wd, trace)
    kinks = [tuple(getattr(a, "kinks", ())) for a in model.activations]
    numeric = []

    def objective():
        v, c = model.objective_and_cache(X, Y, loss, wd)
        return v, c.Z

    for i, (W, b) in enumerate(zip(model.W, model.b, strict=True)):
        dW, _ = numeric_gradient(objective, W, eps, kinks)
        db, _ = numeric_gradient(objective, b, eps, kinks)
        numeric.append({"layer": i, "dW": dW, "db": db, "rel_error_dW": relative_error(grads[2 * i], dW),
                        "rel_error_db": relative_error(grads[2 * i + 1], db)})
    # the update: the config's optimizer, a fresh state, its first step, at the first epoch's rate
    after_model = model.astype(np.float64)
    flat_grad = np.zeros_like(after_model.flat)
    gW, gb = flat_views(flat_grad, after_model.shapes)
    for i in range(len(model.W)):
        gW[i][...] = grads[2 * i]
        gb[i][...] = grads[2 * i + 1]
    opt = make_optimizer(cfg.train.optimizer, after_model.flat)
    lr = trainer.schedule.lr
    opt.lr = lr
    opt.step(flat_grad.copy())
    params = [{"name": name, "before": before, "grad": g, "after": after} for name, before, g, after
              in zip(model.param_names, model.params, grads, after_model.params, strict=True)]
    acts = [a.name for a in model.activations]
    return {
        "rows": n, "inputs": X, "targets": Y, "loss_name": cfg.train.loss_name, "weight_decay": wd,
        "forward": [{"layer": i, "activation": acts[i], "W": model.W[i], "b": model.b[i], "Z": cache.Z[i],
                     "A": cache.A[i + 1]} for i in range(len(model.W))],
        "loss": value, "loss_per_row": per_row,
        "backward": trace,
        "numeric": numeric,
        "update": {"optimizer": cfg.train.optimizer.name, "lr": lr, "settings": cfg.train.optimizer.model_dump(),
                   "params": params},
    }


def as_json(doc: dict) -> dict:
    """The SPEC's document: matrices as lists of rows."""
    def plain(v):
        if isinstance(v, np.ndarray):
            return v.tolist()
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v
    out = plain(doc)
    out["numeric"] = [{"layer": d["layer"], "dW": d["dW"], "db": d["db"]} for d in out["numeric"]]
    out["update"] = {"optimizer": out["update"]["optimizer"], "lr": out["update"]["lr"],
                     "params": out["update"]["params"]}
    for key in ("loss_name", "weight_decay"):
        out.pop(key)
    return out


# --- rendering: the same sections for a terminal (Rich) and for notes (Markdown) -------------------

def _fmt(v: float) -> str:
    return f"{v:.6g}"


def _matrix(a: np.ndarray, full: bool, limit: int = 8) -> tuple[list[list[str]], str]:
    """Rows of formatted numbers, at most limit × limit unless full, and the shape's note."""
    m = np.atleast_2d(a)
    r, c = m.shape if a.ndim == 2 else (1, a.shape[0])
    shown = m if full else m[:limit, :limit]
    note = f"shape {tuple(a.shape)}" + ("" if full or (r <= limit and c <= limit) else f", first {shown.shape[0]}×"
                                                                                       f"{shown.shape[1]} shown")
    return [[_fmt(float(v)) for v in row] for row in shown], note


def sections(doc: dict, full: bool, big: bool) -> list[tuple[str, list]]:
    """(title, items) per phase; an item is ("text", str) or ("matrix", label, array)."""
    out = []
    inputs = [("text", f"{doc['rows']} rows as one batch, after standardisation; targets as the loss sees them "
                       "(one-hot for cross_entropy)"),
              ("matrix", "A0 = X (inputs)", doc["inputs"]), ("matrix", "Y (targets)", doc["targets"])]
    out.append(("The batch", inputs))
    for f in doc["forward"]:
        i = f["layer"]
        items = [("text", f"Z{i} = A{i}·W{i} + b{i};  A{i + 1} = {f['activation']}(Z{i})")]
        if not big:
            items += [("matrix", f"W{i}", f["W"]), ("matrix", f"b{i}", f["b"])]
        items += [("matrix", f"Z{i}", f["Z"]), ("matrix", f"A{i + 1} = {f['activation']}(Z{i})", f["A"])]
        out.append((f"Forward, layer {i}", items))
    loss_items = [("text", LOSS_FORMULA[doc["loss_name"]]), ("text", f"L = {_fmt(doc['loss'])}"),
                  ("matrix", "loss per row", np.array(doc["loss_per_row"]))]
    if doc["weight_decay"]:
        loss_items.append(("text", f"the gradient adds weight decay's term λ·W (λ = {doc['weight_decay']:g}) to "
                                   "each weight gradient: the objective has λ/2·ΣW² (the reported loss does not)"))
    out.append(("The loss", loss_items))
    last = len(doc["forward"]) - 1
    for k, b in enumerate(doc["backward"]):
        i = b["layer"]
        if k == 0:
            formula, why = OUTPUT_GRADIENT[doc["loss_name"]]
            items = [("text", f"{formula.replace('Z', f'Z{last}')}: {why}")]
        else:
            act = doc["forward"][i]["activation"]
            items = [("text", f"∂L/∂Z{i} = ∂L/∂A{i + 1} ⊙ act'(Z{i})  ({act}'s derivative)")]
        items += [("matrix", f"∂L/∂Z{i}", b["dZ"]),
                  ("text", f"∂L/∂W{i} = A{i}ᵀ·∂L/∂Z{i}" + (" + λ·W" if doc["weight_decay"] else "")
                   + f";  ∂L/∂b{i} = Σ over rows of ∂L/∂Z{i}"),
                  ("matrix", f"∂L/∂W{i}", b["dW"]), ("matrix", f"∂L/∂b{i}", b["db"])]
        num = doc["numeric"][i]
        items += [("text", f"central differences (L(θ + eps) − L(θ − eps)) / 2eps beside them: relative error "
                           f"{num['rel_error_dW']:.2e} (W{i}), {num['rel_error_db']:.2e} (b{i})"),
                  ("matrix", f"numeric ∂L/∂W{i}", num["dW"]), ("matrix", f"numeric ∂L/∂b{i}", num["db"])]
        if b["dA_prev"] is not None:
            items += [("text", f"∂L/∂A{i} = ∂L/∂Z{i}·W{i}ᵀ"), ("matrix", f"∂L/∂A{i}", b["dA_prev"])]
        out.append((f"Backward, layer {i}", items))
    up = doc["update"]
    items = [("text", f"{up['optimizer']} from a fresh state, its first step at lr {up['lr']:g}: "
                      f"{UPDATE_FORMULA[up['optimizer']]}")]
    for p in up["params"]:
        items += [("matrix", f"{p['name']} before", p["before"]), ("matrix", f"{p['name']} gradient g", p["grad"]),
                  ("matrix", f"{p['name']} after", p["after"])]
    out.append(("The update", items))
    if big:
        for _, its in out:
            its[:] = [it if it[0] == "text" else ("matrix", it[1], np.atleast_2d(it[2])[:2]) for it in its]
    return out


def markdown(doc: dict, full: bool, big: bool) -> str:
    lines = []
    for title, items in sections(doc, full, big):
        lines.append(f"## {title}\n")
        for item in items:
            if item[0] == "text":
                lines.append(item[1] + "\n")
                continue
            rows, note = _matrix(item[2], full)
            lines.append(f"**{item[1]}** ({note})\n")
            lines.append("| " + " | ".join(f"{j}" for j in range(len(rows[0]))) + " |")
            lines.append("|" + "---:|" * len(rows[0]))
            lines += ["| " + " | ".join(r) + " |" for r in rows]
            lines.append("")
    return "\n".join(lines) + "\n"


def render(doc: dict, full: bool, big: bool, console) -> None:
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    for title, items in sections(doc, full, big):
        parts = []
        for item in items:
            if item[0] == "text":
                parts.append(Text(item[1]))
                continue
            rows, note = _matrix(item[2], full)
            parts.append(Text(f"{item[1]}  ({note})", style="bold"))
            t = Table(show_header=False, box=None, padding=(0, 1))
            for _ in rows[0]:
                t.add_column(justify="right")
            for r in rows:
                t.add_row(*r)
            parts.append(t)
        from rich.console import Group

        console.print(Panel(Group(*parts), title=Text(title), title_align="left"))
