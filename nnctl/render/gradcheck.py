"""gradcheck's table."""

from __future__ import annotations

import math
import sys

from nnctl.render import print_table


def _num(v: float) -> str:
    return "-" if math.isnan(v) else f"{v:.3e}"


def print_gradcheck(rep, rows: int, _=lambda text: text) -> None:
    """gradcheck's table (stdout), per-element tables when asked for, and the verdict (stderr).
    `_` is gettext's: the words in the user's language, the numbers as they are."""
    kinky = rep.kinks > 0
    cols = [_("tensor"), _("shape"), "rel_error", "max_abs_error", *(["kinks"] if kinky else []), _("result")]
    print_table(_("gradient check: {rows} rows").format(rows=rows)
                + f", eps {rep.eps:g}, tol {rep.tol:g}, atol {rep.atol:g}" + (", strict" if rep.strict else ""), cols,
                [[p.name, "×".join(map(str, p.shape)), _num(p.rel_error), _num(p.max_abs_error),
                  *([str(p.kinks)] if kinky else []), _(p.verdict)] for p in rep.params])
    for p in rep.params:
        if p.elements:
            print_table(_("{name}: {k} of {n} elements, largest gap first").format(
                            name=p.name, k=len(p.elements), n=math.prod(p.shape)),
                        [_("index"), "backprop", _("finite difference"), "abs_error", _("note")],
                        [[str(list(e.index)), f"{e.analytic:.10g}", f"{e.numeric:.10g}", f"{e.abs_error:.3e}",
                          _("kink") if e.kink else ""] for e in p.elements])
    verdict = _("all tensors pass") if rep.passed else _("MISMATCH: backprop disagrees with finite differences")
    print(verdict + " " + _("(max relative error {err})").format(err=f"{rep.max_rel_error:.3e}"), file=sys.stderr)
    by_atol = [p.name for p in rep.params if p.verdict == "pass (atol)"]
    if by_atol:
        print(_("{names}: every gap is below atol, so the relative error is round-off of gradients that are "
                "about 0, not a measure of agreement").format(names=", ".join(by_atol)), file=sys.stderr)
    if kinky:
        how = (_("counted in the verdict (--strict)") if rep.strict else
               _("left out of the verdict (--strict counts them)"))
        print(_("{k} element(s) at a kink: their ±eps evaluations put a unit's pre-activation on both sides of a "
                "point where its activation is not differentiable (ReLU at 0), so the central difference mixes "
                "two slopes; {how}").format(k=rep.kinks, how=how), file=sys.stderr)
