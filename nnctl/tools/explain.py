"""`nnctl explain`: the config's own training steps, number by number (render/explain.py shows them).

Everything comes from the engine's own code paths, never from a second implementation: the
batches are train's (its seeded shuffle, its batch size), the model's forward pass, the loss's
`value`, `MLP.backward` (which records each layer's dZ, dW, db and dA_prev when asked),
gradcheck's central differences and kink masks, and the trainer's own step for the update, so
that the weights after the last step are the ones `train` reaches. All in float64.
"""

from __future__ import annotations

import numpy as np

from nnctl.errors import UsageError
from nnctl.tools.gradcheck import numeric_gradient, relative_error
from nnctl.training import trainer as trainmod

ATOL = 1e-10  # gradcheck's: below it both gradients are round-off and their ratio means nothing


def batches(trainer: trainmod.Trainer, rows: int | None, steps: int) -> tuple[list[np.ndarray], str]:
    """The row indices of train's first `steps` batches (its seeded shuffle per epoch, batch_size
    rows each), or with `rows` the first rows in data order for every step; and how to say which."""
    n = trainer.prepared.split.X_train.shape[0]
    if rows is not None:
        if rows > n:
            raise UsageError(f"--rows {rows}: the training data has {n} row{'s' * (n != 1)}; expected at most {n}")
        return [np.arange(rows)] * steps, "rows_first"
    if steps > 1 and trainer.cfg.train.schedule is not None and steps > -(-n // trainer.batch):
        raise UsageError("--steps: beyond the first epoch this config's schedule changes the learning rate, "
                         "which explain does not follow; expected at most one epoch of steps")
    out: list[np.ndarray] = []
    shuffled = trainer.source.shuffled
    while len(out) < steps:
        order = trainer.rng.permutation(n) if shuffled else np.arange(n)  # train's draw, as its batch source makes it
        out += [order[i:i + trainer.batch] for i in range(0, n, trainer.batch)]
    return out[:steps], ("full_batch" if trainer.batch == n else "shuffled" if shuffled else "in_order")


def explain(trainer: trainmod.Trainer, rows: int | None = None, steps: int = 1, eps: float = 1e-6) -> list[dict]:
    """train's first `steps` steps, each as the one-step document; each starts from the weights
    the last one ended with, and ends with train's own update (so `steps` = steps per epoch ends
    with the weights `train --epochs 1` saves)."""
    chosen, how = batches(trainer, rows, steps)
    docs = []
    for k, idx in enumerate(chosen):
        doc = one_step(trainer, idx, eps)
        doc.update(step=k + 1, batch_rows=idx, batch=how, batch_size=trainer.batch,
                   standardized=trainer.cfg.data.standardize)
        docs.append(doc)
    return docs


def one_step(trainer: trainmod.Trainer, idx: np.ndarray, eps: float) -> dict:
    """One step on the training rows `idx`, as plain arrays (the --json document)."""
    cfg, model, loss = trainer.cfg, trainer.model, trainer.prepared.loss
    wd = cfg.train.weight_decay
    split = trainer.prepared.split
    X, Y = np.ascontiguousarray(split.X_train[idx]), np.ascontiguousarray(split.Y_train[idx])
    n = X.shape[0]
    out, cache = model.forward(X, keep=True)
    value = loss.value(cache.Z[-1], out, Y)
    per_row = [loss.value(cache.Z[-1][r:r + 1], out[r:r + 1], Y[r:r + 1]) for r in range(n)]
    trace: list[dict] = []
    grads = model.backward(cache, Y, loss, wd, trace)
    trace = [{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in t.items()} for t in trace]
    numeric = _numeric(model, X, Y, loss, wd, grads, eps)
    before = [p.copy() for p in model.params]
    forward = [{"layer": i, "activation": a.name, "W": model.W[i].copy(), "b": model.b[i].copy(), "Z": cache.Z[i],
                "A": cache.A[i + 1]} for i, a in enumerate(model.activations)]
    lr = trainer.schedule.lr
    trainer.step(np.ascontiguousarray(split.X_train_aug[idx]), Y, lr)  # train's own update
    params = [{"name": name, "before": b, "grad": g, "after": after.copy()} for name, b, g, after
              in zip(model.param_names, before, grads, model.params, strict=True)]
    return {
        "rows": n, "inputs": X, "targets": Y, "loss_name": cfg.train.loss_name, "loss_spec": loss,
        "weight_decay": wd, "forward": forward, "loss": value, "loss_per_row": per_row,
        "backward": trace, "numeric": numeric,
        "update": {"optimizer": cfg.train.optimizer.name, "lr": lr, "settings": cfg.train.optimizer.model_dump(),
                   "params": params},
    }


def _numeric(model, X, Y, loss, wd: float, grads: list[np.ndarray], eps: float) -> list[dict]:
    """Central differences per layer, with gradcheck's kink masks and its `below atol` case."""
    kinks = [tuple(getattr(a, "kinks", ())) for a in model.activations]

    def objective():
        v, c = model.objective_and_cache(X, Y, loss, wd)
        return v, c.Z

    out = []
    for i, (W, b) in enumerate(zip(model.W, model.b, strict=True)):
        entry = {"layer": i}
        for name, p, g in (("dW", W, grads[2 * i]), ("db", b, grads[2 * i + 1])):
            num, mask = numeric_gradient(objective, p, eps, kinks)
            counted = ~mask
            entry[name] = num
            entry[f"kinks_{name}"] = int(mask.sum())
            if not counted.any():
                entry[f"rel_error_{name}"], entry[f"verdict_{name}"] = None, "kinks"
            elif max(np.abs(g[counted]).max(), np.abs(num[counted]).max()) < ATOL:
                entry[f"rel_error_{name}"], entry[f"verdict_{name}"] = None, "below_atol"
            else:
                entry[f"rel_error_{name}"] = relative_error(g[counted], num[counted])
                entry[f"verdict_{name}"] = "rel"
        out.append(entry)
    return out


def as_json(doc: dict) -> dict:
    """The --json document (docs/backprop-check.md): matrices as lists of rows."""
    def plain(v):
        if isinstance(v, np.ndarray):
            return v.tolist()
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v
    out = plain({k: v for k, v in doc.items() if k != "loss_spec"})
    out["numeric"] = [{"layer": d["layer"], "dW": d["dW"], "db": d["db"], "kinks_dW": d["kinks_dW"],
                       "kinks_db": d["kinks_db"]} for d in out["numeric"]]
    out["update"] = {"optimizer": out["update"]["optimizer"], "lr": out["update"]["lr"],
                     "params": out["update"]["params"]}
    for key in ("loss_name", "weight_decay", "standardized"):
        out.pop(key)
    return out


