"""`nnctl report`: one self-contained HTML page on a model file or a sweep's folder."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from nnctl.commands.common import DebugOpt, PluginOpt, QuietOpt, guard
from nnctl.errors import UsageError

LangOpt = Annotated[str | None, typer.Option(
    "--lang", metavar="en|zh", help="The page's language (default from LC_ALL/LANG); the numbers never change.")]


def report(
    target: Annotated[Path, typer.Argument(help="A model file (.npz) or a sweep's folder.", show_default=False,
                                           metavar="MODEL.npz|SWEEP_DIR")],
    data: Annotated[str | None, typer.Option(
        "--data", metavar="FILE.csv",
        help="Labelled rows to evaluate the model on: metrics, confusion matrix, per-class metrics and, "
             "for two features, the decision boundary.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="The HTML file; default <model stem>.html beside the model file, or "
                            "SWEEP_DIR/report.html.")] = None,
    lang: LangOpt = None,
    plugin: PluginOpt = None,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Write one HTML page that opens offline in any browser: for a model file its config, final
    metrics, loss curves and weight heatmaps (with --data: confusion matrix, per-class metrics and
    decision boundary); for a sweep's folder a sortable leaderboard, parallel coordinates, the score
    against each parameter and the best points' learning curves.

    Needs the report extra: pip install 'nnctl[report]'. Example: nnctl report xor.npz --data datasets/xor.csv
    """
    with guard(debug):
        from nnctl.io.files import check_writable
        from nnctl.pages import html
        from nnctl.pages.labels import labels

        html.require_plotly()
        labels(lang)
        if target.is_dir():
            if data is not None:
                raise UsageError("--data goes with a model file, not a sweep's folder", source=str(target))
            from nnctl.pages import sweep

            path = check_writable(out or target / "report.html")
            text = sweep.page(target, lang)
        else:
            from nnctl.pages import model

            path = check_writable(out or target.parent / f"{target.stem}.html")
            text = model.page(target, data, lang, plugin)
        html.write(path, text)
        if not quiet:
            print(f"wrote {path}", file=sys.stderr)
