"""The classic backprop mistakes, each recomputed: what a learner's gradient would be had they made it.

A ratio tells nothing: without σ' the hidden layer's gradient is off by a factor that changes per
element (1/(a·(1−a)) ≥ 4), and one number per tensor cannot tell that from "scaled by 4.5". So each
mistake is made on purpose, in a small readable backprop below, and the learner's tensor is
compared with the result (docs/tutorial-bugs.md shows each one as a student writes it).

Indexing as everywhere in nnctl: Z_l = A_l·W_l + b_l, A_{l+1} = f_l(Z_l), A_0 = X; the error sent
back from layer l to its input is dA_l = dZ_l·W_lᵀ (the tutorials' δ notation: docs/backprop.md).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from nnctl.core.activations import Activation
from nnctl.core.losses import Loss


@dataclass
class Diagnosis:
    """One named mistake: `kind` is one of KINDS; `template` is the English sentence (a gettext
    msgid, translated where it is shown) that `params` fill in."""

    kind: str
    template: str
    params: dict = field(default_factory=dict)
    parts: list[Diagnosis] = field(default_factory=list)  # two mistakes at once: each its own sentence

    def translated(self, _) -> str:
        """The sentence in the language of `_` (gettext's), numbers as they are."""
        if self.parts:
            return _(self.template).format(first=self.parts[0].translated(_), second=self.parts[1].translated(_))
        return _(self.template).format(**self.params)

    @property
    def message(self) -> str:
        return self.template.format(**self.params)

    def as_dict(self) -> dict:
        return {"kind": self.kind, "message": self.message}


KINDS = ("scaled", "rows_summed", "half", "sign", "missing_derivative", "derivative_of_z", "wrong_weights",
         "transposed", "bias_not_summed", "shape")

# The sentences, one per mistake: what is wrong and how to fix it. They are gettext msgids
# (nnctl/i18n); keep them in sync with the catalogs (tests/tools/test_i18n.py checks).
MESSAGES = {
    "rows_summed": "summed over the {n} rows where the loss averages them: divide by {n} "
                   "(or set train.loss.reduction: sum if a sum is what you mean)",
    "rows_averaged": "averaged over the {n} rows where the loss sums them: drop the division by {n} "
                     "(or set train.loss.reduction: mean)",
    "half_twice": "twice the right gradient: the derivative of ½·(ŷ−y)² is (ŷ−y), with no 2 "
                  "(or set train.loss.half: false if you meant (ŷ−y)²)",
    "half_half": "half the right gradient: the derivative of (ŷ−y)² is 2·(ŷ−y) "
                 "(or set train.loss.half: true if you meant ½·(ŷ−y)²)",
    "sign": "the sign is flipped: this is the gradient of −loss, and stepping along it climbs the loss "
            "(gradient ascent); use ŷ − y, not y − ŷ",
    "scaled": "every element is {c} times the right one: look for an extra constant factor",
    "missing_derivative": "the derivative of layer {layer}'s activation ({act}) is missing: multiply "
                          "dA{next} by {act}'(Z{layer}) to get dZ{layer}",
    "derivative_of_z": "{act}' was taken of Z{layer} where its formula takes A{next} = {act}(Z{layer}): "
                       "for sigmoid use a·(1−a) with a = A{next}, not z·(1−z)",
    "wrong_weights": "the error was sent back through W{used} instead of W{layer}: "
                     "dA{layer} = dZ{layer}·W{layer}ᵀ uses the weights of the layer it comes from",
    "transposed_back": "the error was sent back through W{layer} where it takes W{layer}ᵀ: "
                       "dA{layer} = dZ{layer}·W{layer}ᵀ",
    "transposed": "this is {name}ᵀ: dW{layer} = A{layer}ᵀ·dZ{layer} has the shape of W{layer}, "
                  "(fan_in, fan_out)",
    "bias_not_summed": "one gradient per row (shape {got}): sum over the rows, "
                       "db{layer} = dZ{layer}.sum(axis=0), shape ({units},)",
    "shape": "shape {got}, expected {want}",
    "and_both": "{first}; and {second}",
}


def _both(first: Diagnosis, second: Diagnosis) -> Diagnosis:
    return Diagnosis(first.kind, MESSAGES["and_both"], {"first": first.message, "second": second.message},
                     [first, second])


def mistake(kind: str, key: str | None = None, **params) -> Diagnosis:
    return Diagnosis(kind, MESSAGES[key or kind], params)


@dataclass
class Forward:
    """The arrays the learner's function receives, and what nnctl's backprop needs beside them."""

    X: np.ndarray
    Y: np.ndarray
    W: list[np.ndarray]
    b: list[np.ndarray]
    Z: list[np.ndarray]
    A: list[np.ndarray]  # A[0] = X, A[l+1] = f_l(Z[l])
    acts: list[Activation]
    loss: Loss
    weight_decay: float = 0.0


Local = Callable[[int, np.ndarray], np.ndarray]  # (layer, dA) → dZ


def backprop(f: Forward, local: Local | None = None, back: Callable[[int], np.ndarray] | None = None):
    """Gradients [dW0, db0, dW1, …] of the loss, readable and mistake-ready: `local(l, dA)` turns
    layer l's dL/dA into dL/dZ (default: the activation's own derivative), `back(l)` is the matrix
    the error goes back through from layer l (default W_lᵀ)."""
    L = len(f.W)
    local = local or (lambda li, da: f.acts[li].backward(da, f.Z[li], f.A[li + 1]))
    back = back or (lambda li: f.W[li].T)
    if f.loss.output:  # bce/sigmoid, cross_entropy/softmax: dZ = (A − Y)·k, the derivative folded in
        dZ = f.loss.grad(f.Z[-1], f.A[-1], f.Y, f.acts[-1])
    else:
        dZ = local(L - 1, (f.A[-1] - f.Y) * f.loss.grad_scale(*f.Y.shape))
    grads: list[np.ndarray] = [None] * (2 * L)  # type: ignore[list-item]
    for li in range(L - 1, -1, -1):
        grads[2 * li] = f.A[li].T @ dZ + f.weight_decay * f.W[li]
        grads[2 * li + 1] = dZ.sum(axis=0)
        if li:
            dZ = local(li - 1, dZ @ back(li))
    return grads


def layer_deltas(f: Forward) -> list[np.ndarray]:
    """∂L/∂Z_l of every layer, in layer order (a bias gradient not summed over the rows is one of them)."""
    out = []
    L = len(f.W)
    dZ = f.loss.grad(f.Z[-1], f.A[-1], f.Y, f.acts[-1])
    for li in range(L - 1, -1, -1):
        out.insert(0, dZ)
        if li:
            dZ = f.acts[li - 1].backward(dZ @ f.W[li].T, f.Z[li - 1], f.A[li])
    return out


def _z_derivative(act: Activation, z: np.ndarray) -> np.ndarray | None:
    """The activation's derivative formula fed z where it takes a (sigmoid's a(1−a) as z(1−z))."""
    try:
        return act.derivative(z, z)
    except Exception:  # softmax has no elementwise derivative; a plugin's may refuse z for a
        return None


def _elementwise(f: Forward, local: dict[int, Callable[[np.ndarray], np.ndarray]]) -> Local:
    """Each layer's dA → dZ, with the mistaken derivative where `local` has one."""
    return lambda k, da: local[k](da) if k in local else f.acts[k].backward(da, f.Z[k], f.A[k + 1])


def _groups(layers: list[int]) -> list[tuple[int, ...]]:
    """The layers a mistake may be made at: each one, and on small nets every set of them (a
    learner may write z·(1−z) in the hidden layers and get the output's right)."""
    if len(layers) > 5:
        return [(li,) for li in layers] + [tuple(layers)]
    return [g for size in range(1, len(layers) + 1) for g in itertools.combinations(layers, size)]


def variants(f: Forward) -> list[tuple[Diagnosis, list[np.ndarray]]]:
    """Each structural mistake with the gradients it gives; scale factors are tried on top. A
    derivative mistake is made at one layer, and at every layer at once (a learner who writes
    z·(1−z) writes it everywhere)."""
    L = len(f.W)
    layers = [li for li in range(L) if not (li == L - 1 and f.loss.output)]  # a fused output has no σ' to get wrong
    missing = {li: (lambda da: da) for li in layers}
    of_z = {}
    for li in layers:
        dz = _z_derivative(f.acts[li], f.Z[li])
        if dz is not None:
            of_z[li] = lambda da, dz=dz: da * dz
    out = []
    for kind, table in (("missing_derivative", missing), ("derivative_of_z", of_z)):
        groups = _groups(list(table))
        for group in groups:
            local = {li: table[li] for li in group}
            names = ", ".join(sorted({f.acts[li].name for li in group}))
            d = mistake(kind, layer=", ".join(map(str, group)), next=", ".join(str(li + 1) for li in group), act=names)
            out.append((d, backprop(f, _elementwise(f, local))))
    for li in range(1, L):
        for j in range(L):
            if j != li and f.W[j].shape == f.W[li].shape:
                wrong = backprop(f, back=lambda k, li=li, j=j: f.W[j].T if k == li else f.W[k].T)
                out.append((mistake("wrong_weights", layer=li, used=j), wrong))
        if f.W[li].shape[0] == f.W[li].shape[1]:
            flipped = backprop(f, back=lambda k, li=li: f.W[k] if k == li else f.W[k].T)
            out.append((mistake("transposed", "transposed_back", layer=li), flipped))
    return out


def at_kinks_from_the_right(f: Forward) -> list[np.ndarray] | None:
    """The gradients with each kink's derivative taken from its right (ReLU's (z ≥ 0) where nnctl,
    as PyTorch, takes (z > 0)): where a pre-activation sits exactly on a kink both are valid
    subgradients, so a learner's choice there is not a mistake. None when no unit sits on one."""
    local = {}
    for li, act in enumerate(f.acts):
        points = getattr(act, "kinks", ())
        on = np.isin(f.Z[li], points) if points else None
        if on is None or not on.any():
            continue
        z_right = np.where(on, np.nextafter(f.Z[li], np.inf), f.Z[li])
        try:
            slope = act.derivative(z_right, f.A[li + 1])
        except (AttributeError, TypeError):
            continue
        local[li] = lambda da, slope=slope: da * slope
    return backprop(f, _elementwise(f, local)) if local else None


def factors(rows: int, units: int, squares: bool) -> list[tuple[float, Diagnosis | None]]:
    """The constant factors a learner's loop introduces, alone and two at a time (a sum and a
    missing ½), each with its name (None: no factor). A factor 2 is the ½ of ½·MSE only under a
    loss of squares; elsewhere a 2 is just a scale."""
    named: list[tuple[float, Diagnosis]] = [(-1.0, mistake("sign"))]
    if squares:
        named += [(2.0, mistake("half", "half_twice")), (0.5, mistake("half", "half_half"))]
    for k in sorted({rows, rows * units}):
        if k > 1:
            named += [(float(k), mistake("rows_summed", n=k)), (1.0 / k, mistake("scaled", "rows_averaged", n=k))]
    out: list[tuple[float, Diagnosis | None]] = [(1.0, None), *named]
    for i, (c1, d1) in enumerate(named):
        for c2, d2 in named[i + 1:]:
            if d1.template != d2.template and c1 * c2 not in (1.0,):
                out.append((c1 * c2, _both(d1, d2)))
    return out


def close(got: np.ndarray, want: np.ndarray, rtol: float, floor: float) -> np.ndarray:
    """Elementwise: |got − want| ≤ rtol·max(|got|, |want|), or both within `floor` of each other."""
    gap = np.abs(got - want)
    return gap <= np.maximum(rtol * np.maximum(np.abs(got), np.abs(want)), floor)


def name_mistake(got: np.ndarray, right: np.ndarray, options: list[tuple[Diagnosis | None, np.ndarray]],
                 named: list[tuple[float, Diagnosis | None]], rtol: float, floor: float) -> Diagnosis | None:
    """The first recomputed mistake (times a named factor) that `got` matches, else, for a tensor
    of more than one element, 'scaled by c' when `got` is c times the right one."""
    for base, grad in options:
        for c, factor in named:
            if (base or factor) and close(got, c * grad, rtol, floor).all():
                if base and factor:
                    return _both(base, factor)
                return base or factor
    denom = float(np.vdot(right, right))
    if got.size > 1 and denom > 0:
        c = float(np.vdot(got, right)) / denom
        if c != 0 and close(got, c * right, rtol, floor).all():
            return mistake("scaled", c=f"{c:.6g}")
    return None
