"""gradcheck's table."""

from __future__ import annotations

import math
import sys

from nnctl.render import print_table


def print_gradcheck(rep, rows: int) -> None:
    """gradcheck's table (stdout), per-element tables when asked for, and the verdict (stderr)."""
    kinky = rep.kinks > 0
    cols = ["tensor", "shape", "rel_error", "max_abs_error", *(["kinks"] if kinky else []), "result"]
    print_table(f"gradient check: {rows} rows, eps {rep.eps:g}, tol {rep.tol:g}, atol {rep.atol:g}"
                + (", strict" if rep.strict else ""), cols,
                [[p.name, "×".join(map(str, p.shape)), f"{p.rel_error:.3e}", f"{p.max_abs_error:.3e}",
                  *([str(p.kinks)] if kinky else []), "pass" if p.passed else "FAIL"] for p in rep.params])
    for p in rep.params:
        if p.elements:
            print_table(f"{p.name}: {len(p.elements)} of {math.prod(p.shape)} elements, largest gap first",
                        ["index", "backprop", "finite difference", "abs_error", "note"],
                        [[str(list(e.index)), f"{e.analytic:.10g}", f"{e.numeric:.10g}", f"{e.abs_error:.3e}",
                          "kink" if e.kink else ""] for e in p.elements])
    verdict = "all tensors pass" if rep.passed else "MISMATCH: backprop disagrees with finite differences"
    print(f"{verdict} (max relative error {rep.max_rel_error:.3e})", file=sys.stderr)
    if kinky:
        how = ("counted in the verdict (--strict)" if rep.strict else
               "left out of the verdict (--strict counts them)")
        print(f"{rep.kinks} element(s) at a kink: their ±eps evaluations put a unit's pre-activation on "
              "both sides of a point where its activation is not differentiable (ReLU at 0), so the "
              f"central difference mixes two slopes; {how}", file=sys.stderr)
