"""`gradcheck --backward`'s report: per tensor, the learner's numbers beside nnctl's, the verdict,
and one sentence on the mistake and its fix (stderr; words through gettext, numbers unchanged)."""

from __future__ import annotations

import numpy as np

from nnctl.render import literal, print_table, stderr

SHOWN = 8  # elements per tensor in the side-by-side table


def _cells(a: np.ndarray) -> list[tuple[str, float]]:
    return [(str(list(i)), float(a[i])) for i in np.ndindex(a.shape)]


def print_backward(rep, _) -> None:
    rows = []
    for p in rep.params:
        result = _(p.verdict)
        rel = "-" if not np.isfinite(p.max_rel_error) else f"{p.max_rel_error:.3e}"
        rows.append([p.name, "×".join(map(str, p.got.shape)) or "()", "×".join(map(str, p.right.shape)),
                     rel, result, p.diagnosis.kind if p.diagnosis else ""])
    print_table(_("your backward against nnctl's backprop: {rows} rows").format(rows=rep.rows),
                [_("tensor"), _("your shape"), _("expected"), _("max rel. error"), _("result"), _("mistake")],
                rows, stderr)
    for p in rep.params:
        if p.passed:
            continue
        yours, right = _cells(p.got), _cells(p.right)
        shown = max(len(yours), len(right))
        table = [[(yours[i][0] if i < len(yours) else right[i][0]),
                  f"{yours[i][1]:.10g}" if i < len(yours) else "",
                  f"{right[i][1]:.10g}" if i < len(right) else ""] for i in range(min(shown, SHOWN))]
        title = p.name + ("" if shown <= SHOWN else " " + _("(first {k} of {n})").format(k=SHOWN, n=shown))
        print_table(title, [_("index"), _("yours"), _("nnctl")], table, stderr)
        if p.diagnosis is not None:
            stderr.print(literal(f"  {p.name}: " + p.diagnosis.translated(_)), soft_wrap=True)
        else:
            stderr.print(literal(f"  {p.name}: " + _("differs, and matches none of the classic mistakes "
                                                     "(docs/tutorial-bugs.md lists them)")), soft_wrap=True)
    if not rep.reference.passed:
        stderr.print(literal(_("nnctl's own backprop disagrees with central differences here (max relative "
                               "error {err:.3e}): compare with `nnctl gradcheck` first").format(
                                   err=rep.reference.max_rel_error)), soft_wrap=True)
    if any(p.verdict == "pass (kink)" for p in rep.params):
        stderr.print(literal(_("pass (kink): some units sit exactly on a kink (ReLU at 0), where your derivative "
                               "takes the right side's slope and nnctl's the left's; both are valid there")),
                     soft_wrap=True)
    verdict = _("every tensor matches") if rep.passed else _("MISMATCH: your gradients differ from nnctl's")
    stderr.print(literal(verdict))

