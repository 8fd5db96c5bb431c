"""`nnctl explain --format html`: the explained step(s) as a page, one step at a time, with a
slider and previous/next buttons (and the arrow keys) to move between steps. Each step shows the
sections the terminal and Markdown views show (`nnctl.tools.explain.sections`), matrices at most
8×8 unless `full`; every number is in the embedded `--json` document."""

from __future__ import annotations

from nnctl.i18n import translator
from nnctl.pages.html import Page, axes, esc, table
from nnctl.pages.labels import labels
from nnctl.render.explain import _matrix as matrix_cells
from nnctl.render.explain import sections


def page(steps: list[dict], document: dict, name: str, lang: str | None = None, full: bool = False,
         big: bool = False) -> str:
    """`steps`: explain's documents (NumPy arrays), one per step; `document`: the --json document
    the page embeds (one step's, or `{steps: [...]}`). The sections' words through explain's own
    gettext catalog, the page's through its label table."""
    t, _ = labels(lang), translator(lang)
    pg = Page(f"{t['explain']}: {name}", lang)
    n = len(steps)
    pg.add(f'<div class="controls"><button id="step-previous" type="button">{esc(t["previous"])}</button>'
           f'<input id="step" type="range" min="0" max="{n - 1}" step="1" value="0" aria-label="{esc(t["step"])}">'
           f'<button id="step-next" type="button">{esc(t["next"])}</button>'
           f'<span id="step-label" data-template="{esc(t["step_of"])}">{esc(t["step_of"].format(i=1, n=n))}</span>'
           "</div>")
    first = steps[0]["loss_per_row"]
    charts = [pg.figure([{"type": "bar", "x": list(range(len(first))), "y": first}],
                        axes(t["row"], title={"text": t["loss_per_row"]}, xaxis={"dtick": 1}),
                        "loss-per-row")]
    if n > 1:
        losses = [s["loss"] for s in steps]
        charts.append(pg.figure([{"x": list(range(1, n + 1)), "y": losses, "mode": "lines+markers"}],
                                axes(t["step"], title={"text": t["loss_per_step"]}), "loss-per-step"))
    pg.add('<div class="grid">' + "".join(charts) + "</div>")
    for i, doc in enumerate(steps):
        pg.add(f'<section class="step" id="step-{i}" data-step="{i}"{"" if i == 0 else " hidden"}>'
               + "".join(_section(title, items, full, _) for title, items in sections(doc, full, big, _))
               + "</section>")
    return pg.render(document)


def _section(title: str, items: list, full: bool, _) -> str:
    parts = [f"<h2>{esc(title)}</h2>"]
    for item in items:
        if item[0] == "text":
            parts.append(f"<p>{esc(item[1])}</p>")
            continue
        rows, note = matrix_cells(item[2], full, _)
        parts.append(f'<div class="matrix"><div class="label">{esc(item[1])} <span class="note">({esc(note)})</span>'
                     f'</div>{table([str(j) for j in range(len(rows[0]))], rows)}</div>')
    return "".join(parts)
