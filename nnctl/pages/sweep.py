"""`nnctl report SWEEP_DIR`: one page on a sweep's folder — the leaderboard of its points (a
sortable table), a parallel-coordinates chart (one line per finished run), the score against
each parameter, and the learning curves of the best points from `runs/<trial>-<repeat>.csv`.

trials.csv is read with the csv module: its columns are `trial, repeat, seed, status`, the
parameters, `epochs, seconds`, the final metrics, `message` (docs/commands/sweep.md); sweep.json says
which metric scores a point. Scores and ranks are the sweep's own (`Board`, `ranked`).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from nnctl.errors import NnctlError, UsageError
from nnctl.pages.html import LOG_RATIO, Page, axes, esc, fmt, line_mode, plot_text, table, value_axis
from nnctl.pages.labels import labels
from nnctl.pages.model import PALETTE

BEST_CURVES = 5  # points whose runs' learning curves are drawn


def read_trials(folder: Path) -> tuple[list[dict], list[str], int]:
    """trials.csv's runs (trial, repeat, fold, seed, status, params, metrics, epochs, seconds,
    message; a run's latest row), the parameter keys in the file's order, and how many rows could
    not be read (a sweep still running or killed may leave its last row cut short)."""
    from nnctl.io.yamlio import parse_scalar

    path = folder / "trials.csv"
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            body = list(reader)
    except OSError as exc:
        raise UsageError(f"expected a sweep's folder holding trials.csv: {exc.strerror}", source=str(path)) from None
    start = ["trial", "repeat", "fold", "seed", "status"] if header and header[2:3] == ["fold"] else \
        ["trial", "repeat", "seed", "status"]
    if not header or header[:len(start)] != start or "epochs" not in header or header[-1] != "message":
        raise UsageError("line 1: expected the header of a sweep's trials.csv (trial, repeat, seed, status, "
                         "the parameters, epochs, seconds, the metrics, message)", source=str(path))
    e = header.index("epochs")
    keys, metric_cols = header[len(start):e], header[e + 2:-1]
    runs: dict[tuple, dict] = {}
    unread = 0
    for cells in body:
        r = dict(zip(header, cells, strict=False))
        try:
            if len(cells) != len(header):
                raise ValueError(cells)
            row = {"trial": int(r["trial"]), "repeat": int(r["repeat"]),
                   "fold": int(r["fold"]) if "fold" in r else None, "seed": int(r["seed"]),
                   "status": r["status"], "params": {k: parse_scalar(r[k], k) for k in keys},
                   "metrics": {k: float(r[k]) for k in metric_cols if r[k] != ""},
                   "epochs": int(r["epochs"]) if r["epochs"] else None,
                   "seconds": float(r["seconds"]) if r["seconds"] else None, "message": r["message"]}
        except (ValueError, NnctlError):
            unread += 1
            continue
        key = (row["trial"], row["repeat"], row["fold"])
        runs.pop(key, None)  # a run done again (--restart-errored): its latest row is its result
        runs[key] = row
    return list(runs.values()), keys, unread


def read_history(folder: Path, row: dict) -> dict[str, list] | None:
    """The run's runs/<trial>-<repeat>[-<fold>].csv as columns of numbers (None for an empty or
    non-finite cell); None when the run kept none."""
    name = f"{row['trial']}-{row['repeat']}" + (f"-{row['fold']}" if row.get("fold") is not None else "")
    try:
        with open(folder / "runs" / f"{name}.csv", newline="", encoding="utf-8") as fh:
            table = list(csv.reader(fh))
    except OSError:
        return None
    if not table:
        return None
    out: dict[str, list] = {column: [] for column in table[0]}
    for cells in table[1:]:
        for column, text in zip(table[0], cells, strict=False):
            out[column].append(_number(text))
    return out


def _number(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _sweep_section(folder: Path) -> dict:
    """sweep.json's `sweep` section as the sweep resolved it ({} when missing or unreadable)."""
    try:
        sweep = json.loads((folder / "sweep.json").read_text(encoding="utf-8")).get("sweep") or {}
    except (OSError, ValueError, AttributeError):
        sweep = {}
    return sweep if isinstance(sweep, dict) else {}


def swept_seed(folder: Path, rows: list[dict], keys: list[str]) -> list[str]:
    """A swept `seed` has no column of its own in trials.csv (its `seed` column is the point's seed
    + repeat, docs/commands/sweep.md): put it back among each run's parameters, first."""
    if "seed" not in (_sweep_section(folder).get("parameters") or {}):
        return keys
    for r in rows:
        r["params"] = {"seed": r["seed"] - r["repeat"], **r["params"]}
    return ["seed", *keys]


def scoring(folder: Path, rows: list[dict]) -> tuple[str, str]:
    """The sweep's metric and mode, from sweep.json as the sweep resolved its config."""
    from nnctl.sweep.plan import default_mode

    sweep = _sweep_section(folder)
    has_val = any("val_loss" in r["metrics"] for r in rows)
    metric = sweep.get("metric") or ("val_loss" if has_val else "loss")
    return metric, sweep.get("mode") or default_mode(metric)


def page(folder: str | Path, lang: str | None = None) -> str:
    from nnctl.sweep.scoring import Board

    folder = Path(folder)
    t = labels(lang)
    rows, keys, unread = read_trials(folder)
    keys = swept_seed(folder, rows, keys)
    metric, mode = scoring(folder, rows)
    scores = Board(metric, mode)
    for r in rows:
        scores.add(r)
    board = scores.ranked()
    runs = [{"trial": r["trial"], "repeat": r["repeat"], **({"fold": r["fold"]} if r["fold"] is not None else {}),
             "status": r["status"], "params": r["params"], "metrics": r["metrics"],
             "history": read_history(folder, r)} for r in rows]
    report = {"kind": "sweep", "folder": str(folder), "metric": metric, "mode": mode, "parameters": keys,
              "runs": runs}
    pg = Page(f"{t['sweep']}: {folder.resolve().name}", lang)
    summary = t["sweep_summary"].format(runs=len(rows), points=len(board), metric=metric, mode=mode)
    if unread:
        summary += "; " + t["unread"].format(n=unread)
    pg.add(f'<p class="note">{esc(summary)}</p>')
    _leaderboard(pg, t, board, keys, metric)
    scored = [r for r in runs if r["status"] == "ok" and _finite(r["metrics"].get(metric))]
    if scored:
        _parallel(pg, t, scored, keys, metric)
        _against(pg, t, scored, keys, metric)
        _curves(pg, t, board[:BEST_CURVES], runs, metric)
    failed = [r for r in rows if r["status"] != "ok"]
    if failed:
        pg.heading(t["failed"])
        pg.add(table([t["trial"], t["repeat"], t["status"], t["message"]],
                     [[r["trial"], r["repeat"], r["status"], r["message"]] for r in failed], "failed-runs"))
    return pg.render(report)


def _finite(v) -> bool:
    return isinstance(v, float) and math.isfinite(v)


def _leaderboard(pg: Page, t: dict, board, keys: list[str], metric: str) -> None:
    pg.heading(t["leaderboard"])
    if not board:
        pg.add(f'<p class="note">{esc(t["no_runs"])}</p>')
        return
    headers = [t["rank"], t["trial"], *keys, f"{t['score']} ({metric})", t["spread"], t["runs"]]
    rows, values = [], []
    for rank, p in enumerate(board, start=1):
        params = [p.params[k] for k in keys]
        counts = ", ".join(f"{n} {s}" for s, n in sorted(p.counts.items()))
        rows.append([rank, p.trial, *map(_text, params), fmt(p.score), fmt(p.spread), counts])
        values.append([rank, p.trial, *(v if isinstance(v, int | float) else None for v in params), p.score,
                       p.spread, None])
    pg.add(table(headers, rows, "leaderboard", values))


def _text(v) -> str:
    return fmt(v) if isinstance(v, float) else json.dumps(v) if isinstance(v, list | dict) else str(v)


def _axis(values: list) -> dict:
    """How a parameter is drawn: numbers (on a log axis when positive and spanning orders of
    magnitude), or categories (strings, lists, booleans) at their index."""
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if numeric:
        lo, hi = min(values), max(values)
        return {"log": lo > 0 and hi / lo >= LOG_RATIO, "categories": None}
    return {"log": False, "categories": sorted({_text(v) for v in values})}


def _parallel(pg: Page, t: dict, runs: list[dict], keys: list[str], metric: str) -> None:
    dims = []
    for k in keys:
        values = [r["params"][k] for r in runs]
        ax = _axis(values)
        if ax["categories"] is not None:
            index = {c: i for i, c in enumerate(ax["categories"])}
            dims.append({"label": plot_text(k), "values": [index[_text(v)] for v in values],
                         "tickvals": list(range(len(index))), "ticktext": [plot_text(c) for c in ax["categories"]]})
        elif ax["log"]:
            dims.append({"label": plot_text(f"log10 {k}"), "values": [math.log10(v) for v in values]})
        else:
            dims.append({"label": plot_text(k), "values": values})
    scores = [r["metrics"][metric] for r in runs]
    dims.append({"label": plot_text(metric), "values": scores})
    pg.heading(t["parallel"])
    pg.add(pg.figure([{"type": "parcoords", "dimensions": dims,
                       "line": {"color": scores, "colorscale": "Viridis", "showscale": True,
                                "colorbar": {"title": {"text": plot_text(metric)}}}}],
                     {"margin": {"t": 60, "r": 40, "b": 30, "l": 60}}, "parallel-chart"))


def _against(pg: Page, t: dict, runs: list[dict], keys: list[str], metric: str) -> None:
    charts = []
    scores = [r["metrics"][metric] for r in runs]
    for k in keys:
        values = [r["params"][k] for r in runs]
        ax = _axis(values)
        x = values if ax["categories"] is None else [_text(v) for v in values]
        xaxis = {"title": {"text": plot_text(k)}, **({"type": "log"} if ax["log"] else {}),
                 **({"type": "category"} if ax["categories"] is not None else {})}
        charts.append(pg.figure(
            [{"type": "scatter", "mode": "markers", "x": x, "y": scores, "marker": {"size": 7, "opacity": 0.7},
              "text": [f"{t['trial']} {r['trial']}, {t['repeat']} {r['repeat']}" for r in runs],
              "hovertemplate": "%{text}: %{x} → %{y:.4g}<extra></extra>"}],
            axes(y=plot_text(metric), xaxis=xaxis, yaxis=value_axis(scores))))
    pg.heading(t["score_vs"])
    pg.add('<div class="grid">' + "".join(charts) + "</div>")


def _curves(pg: Page, t: dict, best, runs: list[dict], metric: str) -> None:
    """The sweep's metric per epoch when the history holds it on some epochs, else the loss."""
    traces = []
    by_trial = {}
    for r in runs:
        by_trial.setdefault(r["trial"], []).append(r)
    column = "loss"
    for i, p in enumerate(best):
        for r in by_trial[p.trial]:
            h = r["history"]
            if not h:
                continue
            column = metric if any(v is not None for v in h.get(metric) or []) else "loss"
            traces.append({"x": h["epoch"], "y": h[column], "mode": line_mode(h["epoch"]), "connectgaps": True,
                           "name": f"{t['trial']} {r['trial']} / {r['repeat']}", "legendgroup": str(p.trial),
                           "line": {"color": PALETTE[i % len(PALETTE)], "dash": "dot" if r["repeat"] else "solid"}})
    if not traces:
        return
    pg.heading(t["learning"])
    values = [v for tr in traces for v in tr["y"] if v is not None]
    pg.add(pg.figure(traces, axes(t["epoch"], plot_text(column), yaxis=value_axis(values)), "curves-chart"))
