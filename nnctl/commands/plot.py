"""`nnctl plot`: loss curves and decision boundaries as a PNG."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from nnctl.commands.common import DebugOpt, PluginOpt, QuietOpt, guard


def plot(
    models: Annotated[list[Path], typer.Argument(help="One model file (.npz), or several to compare.",
                                                 show_default=False, metavar="MODEL.npz...")],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="PNG to write; default <model stem>.png (several models: "
                            "<first stem>-compare.png) in the current folder.")] = None,
    plugin: PluginOpt = None,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Plot the training and validation loss curves, and the decision boundary (two-feature
    classifiers) or the fitted curve (one-feature regressions) over the training data; with
    train.diagnostics, weight and gradient norms and dead ReLU units. Several model files: their
    loss curves overlaid, labelled by file name.

    Needs the plot extra: pip install 'nnctl[plot]'. Example: nnctl plot a.npz b.npz --out ab.png
    """
    with guard(debug):
        from nnctl.io import files, modelfile
        from nnctl.tools.plot import plot_compare, plot_model

        first = models[0]
        target = out or Path(f"{first.stem}.png" if len(models) == 1 else f"{first.stem}-compare.png")
        files.check_writable(target)  # like every output file: in the current folder
        if len(models) > 1:
            panels = plot_compare([(m.name, modelfile.inspect(m)[0]) for m in models], target)
        else:
            notes: list[str] = []
            panels = plot_model(modelfile.load(first, plugin_files=plugin), target, notes)
            for note in notes if not quiet else ():
                print(note, file=sys.stderr)
        if not quiet:
            print(f"wrote {target} ({', '.join(panels)})", file=sys.stderr)
