"""`nnctl gradcheck` and `nnctl explain`: backprop checked, and one step shown number by number."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from nnctl.commands.common import DebugOpt, JsonOpt, QuietOpt, SetOpt, guard, overrides
from nnctl.errors import ExitStatus, UsageError

DEFAULT_ELEMENTS = 20  # gradcheck --elements without a number


def gradcheck(
    config: Annotated[Path, typer.Argument(help="The YAML config file.", show_default=False)],
    model: Annotated[Path | None, typer.Option("--model", help="Check at this model file's weights.")] = None,
    eps: Annotated[float, typer.Option(help="Finite-difference step (> 0).", min=1e-300)] = 1e-6,
    tol: Annotated[float, typer.Option(help="Largest relative error that passes.", min=0.0)] = 1e-6,
    atol: Annotated[float, typer.Option(
        help="A tensor whose every element agrees within atol also passes (for gradients that are 0; "
             "0 turns this off).", min=0.0)] = 1e-10,
    samples: Annotated[int | None, typer.Option(
        help="Use the first N training rows (default: all, at most 100).", min=1)] = None,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Judge every element, kinks included (by default an element whose ±eps "
                         "evaluations straddle a ReLU kink is counted as a kink, not a failure).")] = False,
    elements: Annotated[str | None, typer.Option(
        "--elements", metavar="N|all",
        help="Show analytic and numeric values per element, largest gap first: N per tensor "
             f"(a bare --elements shows {DEFAULT_ELEMENTS}), or all.")] = None,
    set_: SetOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Compare backprop's gradients with central finite differences, tensor by tensor, in float64.

    Exit 0 when every tensor's relative error is ≤ tol, 1 on any mismatch. Elements whose
    finite differences straddle a kink of relu, leaky_relu or a plugin's `kinks` are counted
    apart (--strict counts them).
    Example: nnctl gradcheck configs/xor.yaml --samples 4 --elements 5
    """
    with guard(debug):
        from nnctl import render as report
        from nnctl.tools import gradcheck as gc

        shown = _element_count(elements)
        trainer = gc.float64_trainer(config, overrides(set_), model)
        cfg = trainer.cfg
        s = trainer.prepared.split
        n = min(samples or 100, s.X_train.shape[0])
        rep = gc.check_gradients(trainer.model, s.X_train[:n], s.Y_train[:n], trainer.prepared.loss,
                              cfg.train.weight_decay, eps, tol, atol, strict, shown)
        if json_:
            report.emit_json(rep.as_dict())
        elif not quiet:
            report.print_gradcheck(rep, n)
        if not rep.passed:
            raise typer.Exit(int(ExitStatus.FAILED))


def _element_count(text: str | None) -> int | None:
    """--elements N|all → N, -1 for all, None when not asked for."""
    if text is None:
        return None
    if text.strip().lower() == "all":
        return -1
    if text.strip().isdigit() and int(text) >= 1:
        return int(text)
    raise UsageError(f"--elements: expected a number ≥ 1 or all, got {text!r}")


def bare_elements(args: list[str]) -> list[str]:
    """`gradcheck --elements` with no number means the default count (click options always take
    their value, so the console script supplies it)."""
    out = []
    for i, a in enumerate(args):
        out.append(a)
        nxt = args[i + 1] if i + 1 < len(args) else None
        if a == "--elements" and not (nxt and (nxt.isdigit() or nxt.lower() == "all")):
            out.append(str(DEFAULT_ELEMENTS))
    return out


EXPLAIN_FULL_LIMIT = 10_000  # parameters above which explain shows shapes and first rows unless --full


def explain(
    config: Annotated[Path, typer.Argument(help="The YAML config file.", show_default=False)],
    rows: Annotated[int, typer.Option(help="The first N training rows, as one batch.", min=1)] = 4,
    model: Annotated[Path | None, typer.Option("--model", help="Start from this model file's weights.")] = None,
    full: Annotated[bool, typer.Option("--full", help="Every number of every matrix (default: 8×8 at most).")] = False,
    format: Annotated[str, typer.Option(
        "--format", help="rich (the terminal), markdown (stdout) or html (a page; needs the report extra).")] = "rich",
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="--format html: the page to write (default <config stem>-explain.html).")] = None,
    lang: Annotated[str, typer.Option("--lang", help="--format html: the page's language, en or zh.")] = "en",
    set_: SetOpt = None,
    seed: Annotated[int | None, typer.Option(help="Override seed.", min=0)] = None,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Show one training step number by number: forward, loss, backprop beside central
    differences, and the optimizer's update, with the formula beside each quantity (float64).

    The numbers come from the engine's own forward, loss, backward and optimizer.
    Example: nnctl explain configs/xor_tutorial_mse.yaml --format markdown > step.md
    """
    with guard(debug):
        from nnctl import render as report
        from nnctl.tools import explain as ex
        from nnctl.tools import gradcheck as gc

        if format not in ("rich", "markdown", "html"):
            raise UsageError(f"--format: expected rich, markdown or html, got {format!r}")
        if format != "html" and out is not None:
            raise UsageError("--out goes with --format html (the other formats write to the terminal or stdout)")
        page = _page_target(config, out, lang) if format == "html" and not json_ else None
        trainer = gc.float64_trainer(config, overrides(set_, seed), model)
        doc = ex.explain(trainer, rows)
        if json_:
            report.emit_json(ex.as_json(doc))
            return
        big = trainer.model.n_parameters > EXPLAIN_FULL_LIMIT and not full
        if page is not None:
            from nnctl.pages import explain as explain_page
            from nnctl.pages.html import write

            write(page, explain_page.page([doc], ex.as_json(doc), config.name, lang, full, big))
            print(f"wrote {page}", file=sys.stderr)
            return
        if big:
            print(f"{trainer.model.n_parameters} parameters: shapes and first rows only (--full shows all)",
                  file=sys.stderr)
        if format == "markdown":
            sys.stdout.write(ex.markdown(doc, full, big))
        else:
            ex.render(doc, full, big, report.stdout)


def _page_target(config: Path, out: Path | None, lang: str) -> Path:
    """explain --format html's page, checked before any work (and the report extra with it)."""
    from nnctl.io.modelfile import check_writable
    from nnctl.pages.html import require_plotly
    from nnctl.pages.labels import labels

    require_plotly("nnctl explain --format html")
    labels(lang)
    return check_writable(out or Path(f"{config.stem}-explain.html"))
