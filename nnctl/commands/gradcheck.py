"""`nnctl gradcheck` and `nnctl explain`: backprop checked, and one step shown number by number."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from nnctl.commands.common import DebugOpt, JsonOpt, QuietOpt, SetOpt, guard, overrides
from nnctl.errors import ExitStatus, UsageError

DEFAULT_ELEMENTS = 20  # gradcheck --elements without a number
LangOpt = Annotated[str | None, typer.Option(
    "--lang", metavar="en|zh", help="The language of the words (numbers and formulas stay); "
                                    "default from LC_ALL/LANG. JSON never changes.")]


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
    backward: Annotated[str | None, typer.Option(
        "--backward", metavar="FILE.py[:NAME]",
        help="Check your own backprop: NAME(X, Y, W, b, Z, A) -> (dW, db) (NAME defaults to backward), "
             "compared element by element with nnctl's, the classic mistakes named.")] = None,
    rows: Annotated[int | None, typer.Option(help="Use the first N training rows (as --samples).", min=1)] = None,
    lang: LangOpt = None,
    set_: SetOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Compare backprop's gradients with central finite differences, tensor by tensor, in float64.

    Exit 0 when every tensor's relative error is ≤ tol, 1 on any mismatch. Elements whose
    finite differences straddle a kink of relu, leaky_relu or a plugin's `kinks` are counted
    apart (--strict counts them). With --backward, your own function is checked instead, and
    a differing tensor's mistake named (docs/tutorial-bugs.md).
    Example: nnctl gradcheck configs/xor.yaml --samples 4 --elements 5
    Example: nnctl gradcheck configs/xor_tutorial_mse.yaml --backward my_backprop.py --rows 4
    """
    with guard(debug):
        from nnctl import render as report
        from nnctl.i18n import translator
        from nnctl.tools import gradcheck as gc

        shown = _element_count(elements)
        _ = translator(lang)  # a bad --lang is refused before any work
        trainer = gc.float64_trainer(config, overrides(set_), model)
        cfg = trainer.cfg
        s = trainer.prepared.split
        n = min(rows or samples or 100, s.X_train.shape[0])
        if backward is not None:
            _check_own(backward, trainer, n, tol, eps, json_, quiet, _)
            return
        rep = gc.check_gradients(trainer.model, s.X_train[:n], s.Y_train[:n], trainer.prepared.loss,
                              cfg.train.weight_decay, eps, tol, atol, strict, shown)
        if json_:
            report.emit_json(rep.as_dict())
        elif not quiet:
            report.print_gradcheck(rep, n, _)
        if not rep.passed:
            raise typer.Exit(int(ExitStatus.FAILED))


def _check_own(spec: str, trainer, n: int, tol: float, eps: float, json_: bool, quiet: bool, _) -> None:
    """--backward: the learner's function on the first n rows, judged tensor by tensor."""
    from nnctl import render as report
    from nnctl.render.backward import print_backward
    from nnctl.tools.backward import LearnerError, check_backward

    s = trainer.prepared.split
    try:
        rep = check_backward(spec, trainer.model, s.X_train[:n], s.Y_train[:n], trainer.prepared.loss,
                             trainer.cfg.train.weight_decay, tol, eps)
    except LearnerError as err:  # a student's error in the student's language
        raise err.translated(_) from None
    if json_:
        report.emit_json(rep.as_dict())
    elif not quiet:
        print_backward(rep, _)
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
    rows: Annotated[int | None, typer.Option(
        help="The first N training rows in data order, as one batch (default: the batch train's step takes).",
        min=1)] = None,
    steps: Annotated[int, typer.Option(help="Show train's first N steps, each from the weights the last "
                                            "ended with.", min=1)] = 1,
    model: Annotated[Path | None, typer.Option("--model", help="Start from this model file's weights.")] = None,
    full: Annotated[bool, typer.Option("--full", help="Every number of every matrix (default: 8×8 at most).")] = False,
    format: Annotated[str, typer.Option(
        "--format", help="rich (the terminal), markdown (stdout) or html (a page; needs the report extra).")] = "rich",
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="--format html: the page to write (default <config stem>-explain.html).")] = None,
    lang: LangOpt = None,
    set_: SetOpt = None,
    seed: Annotated[int | None, typer.Option(help="Override seed.", min=0)] = None,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Show train's own step number by number: forward, loss, backprop beside central
    differences, and the optimizer's update, with the formula beside each quantity (float64).

    The batch is the one train's first step takes (after its seeded shuffle); --steps N shows
    its first N steps, and as many as an epoch has end with the weights `train --epochs 1` saves.
    Example: nnctl explain configs/xor_tutorial_mse.yaml --format markdown > step.md
    """
    with guard(debug):
        from nnctl import render as report
        from nnctl.i18n import translator
        from nnctl.render import explain as page
        from nnctl.tools import explain as ex
        from nnctl.tools import gradcheck as gc

        if format not in ("rich", "markdown", "html"):
            raise UsageError(f"--format: expected rich, markdown or html, got {format!r}")
        if format != "html" and out is not None:
            raise UsageError("--out goes with --format html (the other formats write to the terminal or stdout)")
        _ = translator(lang)
        html_out = _page_target(config, out) if format == "html" and not json_ else None
        trainer = gc.float64_trainer(config, overrides(set_, seed), model)
        docs = ex.explain(trainer, rows, steps)
        if json_:
            report.emit_json(ex.as_json(docs[0]) if steps == 1 else {"steps": [ex.as_json(d) for d in docs]})
            return
        big = trainer.model.n_parameters > EXPLAIN_FULL_LIMIT and not full
        if html_out is not None:
            from nnctl.pages import explain as explain_page
            from nnctl.pages.html import write

            document = ex.as_json(docs[0]) if steps == 1 else {"steps": [ex.as_json(d) for d in docs]}
            write(html_out, explain_page.page(docs, document, config.name, lang, full, big))
            print(f"wrote {html_out}", file=sys.stderr)
            return
        if big:
            print(_("{n} parameters: shapes and first rows only (--full shows all)").format(
                n=trainer.model.n_parameters), file=sys.stderr)
        if format == "markdown":
            sys.stdout.write(page.markdown(docs, full, big, _))
        else:
            page.render(docs, full, big, report.stdout, _)


def _page_target(config: Path, out: Path | None) -> Path:
    """explain --format html's page, checked before any work (and the report extra with it)."""
    from nnctl.io.files import check_writable
    from nnctl.pages.html import require_plotly

    require_plotly("nnctl explain --format html")
    return check_writable(out or Path(f"{config.stem}-explain.html"))
