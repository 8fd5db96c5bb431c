"""`nnctl plot`: loss curves from the history a model file keeps, and for two-feature classifiers
the decision boundary (for one-feature regressions the fitted curve) over the training data.

matplotlib is an optional extra (`pip install 'nnctl[plot]'`); it is imported only here.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from nnctl.errors import NnctlError, UsageError
from nnctl.io.files import atomic_write
from nnctl.io.modelfile import ModelFile


def _matplotlib():
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, never a window
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("nnctl plot needs matplotlib, an optional extra: pip install 'nnctl[plot]'") from None
    return plt


def training_points(mf: ModelFile) -> tuple[np.ndarray, np.ndarray] | None:
    """The rows the model was trained on (all of them, before the split), in original units:
    built-in sets are regenerated from the saved config's seed; a CSV is read again if it is
    still where the model file says it was. None when neither is possible."""
    from nnctl.config.loader import validate
    from nnctl.data.datasets import load_raw

    try:
        cfg = validate(mf.meta["config"], "the model file's config")
        data_path = mf.meta.get("data_path")
        base = Path(data_path).parent if data_path else Path(".")
        if hasattr(cfg.data, "path"):  # a CSV or Parquet file
            if not data_path or not Path(data_path).exists():
                return None
            cfg.data.path = data_path
        raw = load_raw(cfg, base, np.random.default_rng(cfg.seed))
    except (NnctlError, KeyError, TypeError):
        return None
    y = raw.y_numeric[:, 0] if raw.y_numeric is not None else np.array(raw.y_labels)
    return raw.X, y


def plot_model(mf: ModelFile, out: str | Path, notes: list[str] | None = None) -> list[str]:
    """Draw the figure into `out` (PNG, written atomically); returns the panels drawn. `notes`
    receives what the user should know about the figure (predictions at the threshold)."""
    plt = _matplotlib()
    features, classes = mf.features, mf.classes
    boundary = len(features) == 2 and (bool(classes) or bool(mf.meta.get("binary_targets")))
    curve = len(features) == 1 and not classes and len(mf.targets) == 1
    history = mf.meta.get("history") or {}
    panels = ["loss"] + (["decision boundary"] if boundary else ["fitted curve"] if curve else [])
    if "w_norm_0" in history:  # a run with train.diagnostics
        panels.append("diagnostics")
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    _loss_panel(axes[0][0], history)
    if boundary or curve:
        points = training_points(mf)
        note = (_boundary_panel if boundary else _curve_panel)(axes[0][1], mf, points)
        if note and notes is not None:
            notes.append(note)
    if panels[-1] == "diagnostics":
        _diagnostics_panel(axes[0][-1], history)
    _save_png(plt, fig, out)
    return panels


def _save_png(plt, fig, out: str | Path) -> None:
    """The figure as a PNG, written atomically, then closed."""
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write(out, lambda fh: fh.write(buf.getvalue()))


def plot_compare(models: list[tuple[str, dict]], out: str | Path) -> list[str]:
    """Several models' loss curves in one panel (training solid, validation dashed), each
    labelled by its file name and, for a sweep's models, the values swept."""
    plt = _matplotlib()
    fig, ax = plt.subplots(figsize=(8, 5))
    positive = True
    for i, (name, meta) in enumerate(models):
        h = meta.get("history") or {}
        epochs, loss = h.get("epoch") or [], h.get("loss") or []
        swept = meta.get("sweep", {}).get("params") if isinstance(meta.get("sweep"), dict) else None
        label = name + (" (" + ", ".join(f"{k}={v}" for k, v in swept.items()) + ")" if swept else "")
        ax.plot(epochs, loss, color=f"C{i % 10}", label=label)
        val = h.get("val_loss") or []
        if any(v is not None for v in val):
            ax.plot(epochs, [np.nan if v is None else v for v in val], color=f"C{i % 10}", linestyle="--",
                    label=f"{label}, validation")
        positive = positive and all(v is None or v > 0 for v in loss + val)
    if positive:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(f"loss per epoch, {len(models)} models")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    _save_png(plt, fig, out)
    return [f"loss curves of {len(models)} models"]


def _loss_panel(ax, history: dict) -> None:
    epochs = history.get("epoch") or []
    ax.plot(epochs, history.get("loss") or [], label="training loss")
    val = [v for v in history.get("val_loss") or [] if v is not None]
    if val:
        ax.plot(epochs[: len(val)], val, label="validation loss")
    losses = [v for v in (history.get("loss") or []) + val if v is not None]
    if losses and min(losses) > 0:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title("loss per epoch")
    ax.legend()
    ax.grid(alpha=0.3)


def grid_extent(X: np.ndarray | None, mf: ModelFile):
    if X is not None:
        lo, hi = X.min(axis=0), X.max(axis=0)
    elif mf.x_mean is not None:
        lo, hi = mf.x_mean - 3 * mf.x_std, mf.x_mean + 3 * mf.x_std
    else:
        lo, hi = np.full(len(mf.features), -1.0), np.full(len(mf.features), 1.0)
    pad = 0.1 * np.maximum(hi - lo, 1e-9)
    return lo - pad, hi + pad


def _boundary_panel(ax, mf: ModelFile, points) -> str | None:
    X = points[0] if points else None
    lo, hi = grid_extent(X, mf)
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 200), np.linspace(lo[1], hi[1], 200))
    out = mf.model.predict(mf.transform(np.c_[gx.ravel(), gy.ravel()])).astype(np.float64)
    classes = mf.classes or [0, 1]  # an mse model on 0/1 targets: its output read at 0.5
    if out.shape[1] == 1:
        fill = np.clip(out[:, 0], 0.0, 1.0)  # an mse output may stray outside [0, 1]
        ax.contourf(gx, gy, fill.reshape(gx.shape), levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.6)
        ax.contour(gx, gy, out[:, 0].reshape(gx.shape), levels=[0.5], colors="k", linewidths=1.5)
    else:
        ax.contourf(gx, gy, out.argmax(axis=1).reshape(gx.shape), levels=np.arange(len(classes) + 1) - 0.5,
                    cmap="tab10", alpha=0.4)
    if points:
        from nnctl.data.datasets import ClassIndex

        index = ClassIndex(classes)
        idx = np.array([index.get(v, 0) for v in points[1]])
        size = 40 if len(idx) < 50 else 14
        for i, c in enumerate(classes):
            sel = idx == i
            ax.scatter(points[0][sel, 0], points[0][sel, 1], s=size, edgecolors="k", linewidths=0.4, label=str(c))
        ax.legend(title=mf.targets[0])
    ax.set_xlabel(mf.features[0])
    ax.set_ylabel(mf.features[1])
    note = None
    if points:  # a boundary drawn from outputs of 0.5 ± round-off is not a boundary: say so on the figure
        from nnctl.core.metrics import at_threshold, threshold_note

        k = at_threshold(mf.model.predict(mf.transform(points[0])))
        note = threshold_note(k, len(points[0]))
    ax.set_title("decision boundary" + (f"\n({note})" if note else ""), fontsize=None if not note else 9)
    return note


def _curve_panel(ax, mf: ModelFile, points) -> None:
    X = points[0] if points else None
    lo, hi = grid_extent(X, mf)
    xs = np.linspace(lo[0], hi[0], 400)
    if points:
        ax.scatter(points[0][:, 0], points[1].astype(float), s=8, alpha=0.5, label="data")
    ax.plot(xs, mf.model.predict(mf.transform(xs[:, None]))[:, 0], color="C3", linewidth=2, label="model")
    ax.set_xlabel(mf.features[0])
    ax.set_ylabel(mf.targets[0])
    ax.set_title("fitted curve")
    ax.legend()


def _diagnostics_panel(ax, history: dict) -> None:
    """Per layer: weight norm (solid) and the last step's gradient norm (dashed) on a log scale;
    the fraction of dead ReLU units on a second axis (dotted)."""
    epochs = history.get("epoch") or []
    i = 0
    while f"w_norm_{i}" in history:
        color = f"C{i % 10}"
        ax.plot(epochs, history[f"w_norm_{i}"], color=color, label=f"‖W{i}‖")
        g = [v if v is not None and v > 0 else np.nan for v in history[f"g_norm_{i}"]]
        ax.plot(epochs, g, color=color, linestyle="--", label=f"‖∂L/∂W{i}‖")
        i += 1
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("norm")
    ax.set_title("weights, gradients and dead units per layer")
    dead = [k for k in history if k.startswith("dead_")]
    handles, labels = ax.get_legend_handles_labels()
    if dead:
        twin = ax.twinx()
        for k in dead:
            line, = twin.plot(epochs, history[k], color=f"C{int(k[5:]) % 10}", linestyle=":",
                              label=f"dead units {k[5:]}")
            handles.append(line)
            labels.append(line.get_label())
        twin.set_ylim(-0.05, 1.05)
        twin.set_ylabel("fraction of dead ReLU units")
    ax.legend(handles, labels, fontsize=8)
    ax.grid(alpha=0.3)
