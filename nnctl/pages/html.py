"""The frame every page shares: one HTML file with plotly's bundle, the styles and the page's
script inline, the figures as plotly JSON, and the numbers the page draws as
`<script type="application/json" id="nnctl-report">`.

Text that comes from the data (file, column and class names, config values, messages) reaches
the page only through `esc` (HTML) or a JSON block whose `<`, `>` and `&` are escaped, so a
column named `<script>…` is shown as text and never runs.
"""

from __future__ import annotations

import html
from importlib import resources
from pathlib import Path

from nnctl.errors import UsageError
from nnctl.io import jsonio

PLOT_CONFIG = {"displaylogo": False, "responsive": True}  # no link to plotly's site in the toolbar


def plotly_js() -> str:
    """plotly.js, minified, as the plotly package ships it (no network: it is inlined)."""
    require_plotly()
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def require_plotly(command: str = "nnctl report") -> None:
    """Fail before any work when the extra is missing: one line naming it."""
    try:
        import plotly.offline  # noqa: F401
    except ImportError:
        raise UsageError(f"{command} needs plotly, an optional extra: pip install 'nnctl[report]'") from None


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def plot_text(text: object) -> str:
    """Text for a plotly title, axis or trace name: plotly reads a few HTML tags in them, so data
    text is escaped (plotly shows the entities as the characters they stand for)."""
    return html.escape(str(text), quote=False)


def json_block(element_id: str, obj: object) -> str:
    """A JSON document inside a script element; `<`, `>` and `&` escaped, so no text in it can
    close the element (the JSON reads back the same)."""
    text = jsonio.dumps(obj, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def table(headers: list[str], rows: list[list[object]], element_id: str | None = None,
          values: list[list[object]] | None = None) -> str:
    """An HTML table, every cell escaped; `values` (same shape as rows) go in each cell's
    data-value, what the leaderboard sorts by."""
    ident = f' id="{esc(element_id)}"' if element_id else ""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers) if any(headers) else ""
    body = []
    for r, row in enumerate(rows):
        cells = []
        for c, cell in enumerate(row):
            value = "" if values is None or values[r][c] is None else f' data-value="{esc(values[r][c])}"'
            cells.append(f"<td{value}>{esc(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    head = f"<thead><tr>{head}</tr></thead>" if head else ""
    return f"<table{ident}>{head}<tbody>{''.join(body)}</tbody></table>"


def axes(x: str | None = None, y: str | None = None, **layout) -> dict:
    """A layout with these axis titles (already escaped for plotly where they come from data)."""
    for name, text in (("xaxis", x), ("yaxis", y)):
        if text is not None:
            layout[name] = {"title": {"text": text}, **layout.get(name, {})}
    return layout


def line_mode(points: list) -> str:
    """A curve's plotly mode: a history of one epoch is one point, which a line alone never draws."""
    return "lines" if len(points) > 1 else "lines+markers"


LOG_RATIO = 100.0  # positive values spanning this factor or more are drawn on a log axis


def value_axis(values: list) -> dict:
    """A log y axis for losses or scores spanning orders of magnitude: a loss falling from 0.7 to
    2e-5, or one sweep run blown up to 1e260, would otherwise flatten the rest onto zero."""
    shown = [v for v in values if v is not None]
    if shown and min(shown) > 0 and max(shown) / min(shown) >= LOG_RATIO:
        return {"type": "log"}
    return {}


def fmt(v: object, digits: int = 6) -> str:
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return "" if v is None else str(v)


class Page:
    """A page being built: sections of HTML and the figures they place."""

    def __init__(self, title: str, lang: str | None):
        from nnctl.i18n import language

        self.title, self.lang = title, language(lang)
        self.parts: list[str] = []
        self.figures: list[dict] = []

    def heading(self, text: str) -> None:
        self.parts.append(f"<h2>{esc(text)}</h2>")

    def add(self, markup: str) -> None:
        self.parts.append(markup)

    def figure(self, data: list[dict], layout: dict, element_id: str | None = None, css: str = "chart") -> str:
        """A plotly figure (plotly.js's own trace and layout dicts); returns its div."""
        index = len(self.figures)
        self.figures.append({"data": data, "layout": {"margin": {"t": 40, "r": 20, "b": 50, "l": 60}, **layout}})
        ident = element_id or f"chart-{index}"
        return f'<div class="{css}" id="{esc(ident)}" data-figure="{index}"></div>'

    def render(self, report: dict) -> str:
        return "".join([
            f'<!DOCTYPE html>\n<html lang="{esc(self.lang)}"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{esc(self.title)}</title><style>{_static('page.css')}</style>",
            f"<script>{plotly_js()}</script></head>\n<body><main>",
            f"<h1>{esc(self.title)}</h1>", *self.parts, "</main>",
            json_block("nnctl-report", report), json_block("nnctl-figures", self.figures),
            json_block("nnctl-plot-config", PLOT_CONFIG),
            f"<script>{_static('page.js')}</script></body></html>\n",
        ])


def _static(name: str) -> str:
    return resources.files("nnctl.pages").joinpath("static", name).read_text(encoding="utf-8")


def write(path: str | Path, text: str) -> None:
    from nnctl.io.files import atomic_write

    data = text.encode("utf-8")
    atomic_write(path, lambda fh: fh.write(data))
