"""`nnctl report MODEL.npz`: one page on one model file — its summary, config and final metrics,
the loss curves per recorded epoch (any other history column on request), a heatmap per weight
matrix; with `--data`, the model evaluated on those rows by `nnctl evaluate`'s own code (metrics,
confusion matrix, per-class metrics) and, for two-feature classifiers, the decision boundary."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnctl.pages.html import Page, axes, esc, fmt, line_mode, plot_text, table, value_axis
from nnctl.pages.labels import labels

HEATMAP_SIDE = 128  # rows and columns of a weight matrix drawn at most
NAMES_SHOWN = 32  # feature or class names listed in the summary at most
BOUNDARY_GRID = 120  # points per side of the decision boundary's grid
DIVERGING = "RdBu"
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]  # one colour per class, the same in the field and the points


def page(model_path: str | Path, data: str | None = None, lang: str | None = None,
         plugin_files: list[Path] | None = None) -> str:
    """The page's HTML. The model file is read without loading plugins unless `data` needs the
    network itself (then `plugin_files` as for predict)."""
    from nnctl.io import modelfile

    t = labels(lang)
    meta, arrays = modelfile.inspect(model_path)
    history = meta.get("history") or {}
    report = {"kind": "model", "model": str(model_path), "history": history, "metrics": meta.get("metrics") or {},
              "config": meta.get("config"), "features": meta["features"], "targets": meta["targets"],
              "classes": meta.get("classes"), "layers": meta["layers"], "loss": meta["loss"]}
    pg = Page(f"{t['model']}: {Path(model_path).name}", lang)
    _summary(pg, t, meta, arrays)
    _curves(pg, t, history)
    if data is not None:
        report["data"] = _on_data(pg, t, modelfile.load(model_path, plugin_files=plugin_files), data)
    _weights(pg, t, meta, arrays)
    _other_columns(pg, t, history)
    _config(pg, t, meta)
    return pg.render(report)


def _summary(pg: Page, t: dict, meta: dict, arrays: dict) -> None:
    sizes = [str(len(meta["features"]))] + [f"{la['units']} {la['activation']}" for la in meta["layers"]]
    n_params = sum(int(arrays[f"{k}{i}"].size) for i in range(len(meta["layers"])) for k in "Wb")
    rows = [[t["layers"], " → ".join(sizes)], [t["parameters"], n_params], [t["loss_fn"], meta["loss"]]]
    rows += [[t[key], _names(meta[key], t)] for key in ("features", "targets", "classes") if meta.get(key)]
    metrics = [[k, fmt(v)] for k, v in (meta.get("metrics") or {}).items()]
    pg.add(f'<div class="row"><div><h2>{esc(t["summary"])}</h2>{table(["", ""], rows)}</div>'
           f'<div><h2>{esc(t["final_metrics"])}</h2>{table([t["metric"], t["value"]], metrics)}</div></div>')


def _names(names: list, t: dict) -> str:
    """The first NAMES_SHOWN names and how many more (784 pixel names would fill a screen); all
    of them are in the embedded JSON."""
    shown = ", ".join(map(str, names[:NAMES_SHOWN]))
    return shown if len(names) <= NAMES_SHOWN else f"{shown}, … " + t["more"].format(n=len(names) - NAMES_SHOWN)


def _curves(pg: Page, t: dict, history: dict) -> None:
    pg.heading(t["curves"])
    epochs = history.get("epoch") or []
    if not epochs:
        pg.add(f'<p class="note">{esc(t["no_history"])}</p>')
        return
    traces = [{"x": epochs, "y": history[c], "mode": line_mode(epochs), "name": t[c]}
              for c in ("loss", "val_loss") if any(v is not None for v in history.get(c) or [])]
    values = [v for trace in traces for v in trace["y"]]
    pg.add(pg.figure(traces, axes(t["epoch"], t["loss"], legend={"orientation": "h"}, yaxis=value_axis(values)),
                     "loss-chart"))


def _other_columns(pg: Page, t: dict, history: dict) -> None:
    epochs = history.get("epoch") or []
    others = [c for c in history if c not in ("epoch", "loss", "val_loss")]
    if not epochs or not others:
        return
    options = "".join(f'<option value="{esc(c)}">{esc(c)}</option>' for c in others)
    pg.heading(t["other_columns"])
    pg.add(f'<div class="controls"><label for="history-column">{esc(t["column"])}</label>'
           f'<select id="history-column">{options}</select></div>')
    first = others[0]
    pg.add(pg.figure([{"x": epochs, "y": history[first], "mode": line_mode(epochs), "name": plot_text(first)}],
                     axes(t["epoch"]), "history-chart"))


def _weights(pg: Page, t: dict, meta: dict, arrays: dict) -> None:
    pg.heading(t["weights"])
    charts = []
    inputs = [plot_text(f) for f in meta["features"]]
    for i, layer in enumerate(meta["layers"]):
        full = arrays[f"W{i}"]
        W = full[:HEATMAP_SIDE, :HEATMAP_SIDE]  # a 784×512 layer would be 400 000 cells in the page
        units = [f"{t['units']} {j}" for j in range(W.shape[1])]
        title = t["heatmap"].format(i=i, rows=full.shape[0], cols=full.shape[1])
        if W.shape != full.shape:
            title += " " + t["first_shown"].format(rows=W.shape[0], cols=W.shape[1])
        charts.append(pg.figure(
            [{"type": "heatmap", "z": W, "x": units, "y": inputs[:HEATMAP_SIDE], "colorscale": DIVERGING, "zmid": 0,
              "hovertemplate": "%{y} → %{x}: %{z:.4g}<extra></extra>"}],
            {"title": {"text": title},
             "xaxis": {"type": "category"},
             "yaxis": {"type": "category", "autorange": "reversed", "automargin": True}}))
        inputs = [f"{t['units']} {j}" for j in range(layer["units"])]
    pg.add('<div class="grid">' + "".join(charts) + "</div>")


def _on_data(pg: Page, t: dict, mf, data: str) -> dict:
    from nnctl.tools import predict as predmod

    tab = predmod.read_input(mf, data)
    result = predmod.evaluate_table(mf, tab)
    pg.heading(t["on_data"].format(file=Path(data).name, rows=result["rows"]))
    overall = table([t["metric"], t["value"]],
                    [[t["loss"], fmt(result["loss"])], *([k, fmt(v)] for k, v in result["metrics"].items())])
    if "classes" not in result:
        pg.add(overall)
        return {"file": data, **result}
    names = [str(c) for c in result["classes"]]
    pc = result["per_class"]
    per_class = table([t["class"], t["precision"], t["recall"], t["f1"], t["support"]],
                      [[n, fmt(p, 4), fmt(r, 4), fmt(f, 4), s] for n, p, r, f, s in
                       zip(names, pc["precision"], pc["recall"], pc["f1"], pc["support"], strict=True)])
    pg.add(f'<div class="row"><div>{overall}</div><div><h3>{esc(t["per_class"])}</h3>{per_class}</div></div>')
    charts = []
    if result["confusion_matrix"] is not None:
        shown = [plot_text(n) for n in names]
        hover = f"{t['true']} %{{y}}, {t['predicted']} %{{x}}: %{{z}}<extra></extra>"
        charts.append(f"<div><h3>{esc(t['confusion'])}</h3>" + pg.figure(
            [{"type": "heatmap", "z": result["confusion_matrix"], "x": shown, "y": shown, "colorscale": "Blues",
              "reversescale": True, "texttemplate": "%{z}", "hovertemplate": hover}],
            axes(t["predicted"], t["true"], xaxis={"type": "category"},
                 yaxis={"type": "category", "autorange": "reversed"}),
            "confusion-chart", css="chart tall") + "</div>")
    if len(mf.features) == 2:
        X, true = predmod.labelled_rows(mf, tab)
        charts.append(f"<div><h3>{esc(t['boundary'])}</h3>" + _boundary(pg, mf, X, true) + "</div>")
    pg.add('<div class="pair">' + "".join(charts) + "</div>")
    return {"file": data, **result}


def _boundary(pg: Page, mf, X: np.ndarray, true: np.ndarray) -> str:
    """The predicted class over a grid spanning the rows (bce: p(classes[1]) with its 0.5
    contour), and the rows coloured by their true class; returns the chart's div."""
    from nnctl.tools.plot import grid_extent

    lo, hi = grid_extent(X, mf)
    xs, ys = np.linspace(lo[0], hi[0], BOUNDARY_GRID), np.linspace(lo[1], hi[1], BOUNDARY_GRID)
    gx, gy = np.meshgrid(xs, ys)
    out = mf.model.predict(mf.transform(np.c_[gx.ravel(), gy.ravel()])).astype(np.float64)
    classes = [str(c) for c in mf.classes]
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(classes))]
    if out.shape[1] == 1:
        field = {"type": "contour", "x": xs, "y": ys, "z": out[:, 0].reshape(gx.shape), "opacity": 0.55,
                 "colorscale": [[0, colors[0]], [0.5, "#ffffff"], [1, colors[1]]], "zmin": 0, "zmax": 1,
                 "contours": {"start": 0, "end": 1, "size": 0.1},
                 "colorbar": {"title": {"text": plot_text(f"p({classes[1]})")}}}
    else:  # one band of colour per class: the colour scale in steps, class i at i / (k - 1)
        k = len(classes)
        steps = [[max(0.0, (i - 0.5) / (k - 1)) if edge == 0 else min(1.0, (i + 0.5) / (k - 1)), colors[i]]
                 for i in range(k) for edge in (0, 1)]
        field = {"type": "heatmap", "x": xs, "y": ys, "z": out.argmax(axis=1).reshape(gx.shape), "opacity": 0.35,
                 "colorscale": steps, "zmin": 0, "zmax": k - 1, "showscale": False, "hoverinfo": "skip"}
    points = [{"type": "scatter", "mode": "markers", "x": X[true == i, 0], "y": X[true == i, 1],
               "name": plot_text(c), "marker": {"size": 8, "color": colors[i], "line": {"width": 1, "color": "#222"}}}
              for i, c in enumerate(classes)]
    legend = {"title": {"text": plot_text(mf.targets[0])}, "orientation": "h", "y": 1.12}
    return pg.figure([field, *points], axes(plot_text(mf.features[0]), plot_text(mf.features[1]), legend=legend),
                     "boundary-chart", css="chart tall")


def _config(pg: Page, t: dict, meta: dict) -> None:
    from nnctl.io.yamlio import dump_yaml

    pg.heading(t["config"])
    pg.add(f"<pre>{esc(dump_yaml(meta.get('config') or {}))}</pre>")
