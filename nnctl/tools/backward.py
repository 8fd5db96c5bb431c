"""`nnctl gradcheck --backward FILE.py[:NAME]`: a learner's own backprop, checked and diagnosed.

The learner writes `backward(X, Y, W, b, Z, A) -> (dW, db)` as the tutorials do, in NumPy. nnctl
calls it with float64 copies of one forward pass, compares every returned tensor element by element
with its own backprop (itself checked by central differences, `gradcheck.check_gradients`), and
names the mistake where a tensor differs by recomputing each classic one (`mistakes`).
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import sys
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnctl.errors import NnctlError
from nnctl.signals import Terminated
from nnctl.tools import mistakes
from nnctl.tools.gradcheck import GradcheckReport, check_gradients

RTOL = 1e-6  # "matches to 1e-6 relative": the learner's float64 arithmetic differs from nnctl's in round-off


# What can go wrong with the learner's file, one sentence each: gettext msgids, translated where
# the command shows them (the message itself stays English, as every NnctlError's).
LEARNER_MESSAGES = {
    "no_file": "no such file; expected a Python file that defines {name}(X, Y, W, b, Z, A)",
    "load_raised": "loading the file raised {error}",
    "call_raised": "{name}(X, Y, W, b, Z, A) raised {error}",
    "notebook": "a notebook, not a Python file: put the function in a .py file (Jupyter: File → Save and "
                "Export Notebook As → Executable Script)",
    "no_function": "defines no function '{name}'",
    "no_function_but": "defines no function '{name}' (it defines {found}; name one with {file}:NAME)",
    "returned": "{name} returned {type}; expected (dW, db): two lists of {layers} arrays, one per layer",
    "not_numbers": "{name} returned something that is not an array of numbers: {error}",
}


class LearnerError(NnctlError):
    """The learner's file cannot be loaded, or their function raises or returns something unusable:
    exit 2, with their own traceback lines."""

    def __init__(self, key: str, *, source: str, lines: str = "", **params):
        self.key, self.params, self.lines = key, params, lines
        super().__init__(self._text(lambda text: text), source=source)

    def _text(self, _) -> str:
        return "\n".join([_(LEARNER_MESSAGES[self.key]).format(**self.params), *filter(None, [self.lines])])

    def translated(self, _) -> LearnerError:
        """The same error in the language of `_` (gettext's); names, lines and numbers unchanged."""
        err = LearnerError(self.key, source=self.source, lines=self.lines, **self.params)
        err.message = err._text(_)
        err.args = (str(err),)
        return err


@dataclass
class TensorVerdict:
    name: str
    passed: bool
    max_rel_error: float
    diagnosis: mistakes.Diagnosis | None
    got: np.ndarray  # the learner's tensor, as returned (its shape may be wrong)
    right: np.ndarray
    verdict: str = ""  # pass | pass (kink) | FAIL

    def __post_init__(self):
        self.verdict = self.verdict or ("pass" if self.passed else "FAIL")

    def as_dict(self) -> dict:
        return {"name": self.name, "passed": self.passed, "verdict": self.verdict, "max_rel_error": self.max_rel_error,
                "diagnosis": self.diagnosis.as_dict() if self.diagnosis else None,
                "shape": list(self.got.shape), "expected_shape": list(self.right.shape)}


@dataclass
class BackwardReport:
    params: list[TensorVerdict]
    rows: int
    reference: GradcheckReport  # nnctl's own backprop against central differences

    @property
    def passed(self) -> bool:
        return all(p.passed for p in self.params)

    def as_dict(self) -> dict:
        return {"passed": self.passed, "rows": self.rows, "params": [p.as_dict() for p in self.params],
                "reference": {"passed": self.reference.passed, "max_rel_error": self.reference.max_rel_error}}


def load_function(spec: str):
    """FILE.py[:NAME] → the function (NAME defaults to `backward`); the file is run as a module."""
    file, _, name = spec.partition(":") if not Path(spec).is_file() else (spec, "", "")
    name = name or "backward"
    path = Path(file)
    if not path.is_file():
        raise LearnerError("no_file", name=name, source=f"--backward {file}")
    if path.suffix.lower() == ".ipynb":
        raise LearnerError("notebook", source=str(file))
    # Any file name is Python source here (mine.txt, a script without a suffix): importlib's own
    # guess from the suffix would find no loader for them.
    loader = importlib.machinery.SourceFileLoader(f"nnctl_learner_{path.stem}", str(path))
    module_spec = importlib.util.spec_from_file_location(loader.name, path, loader=loader)
    module = importlib.util.module_from_spec(module_spec)
    try:
        with _prints_to_stderr(), _beside(path):
            module_spec.loader.exec_module(module)
    except (KeyboardInterrupt, Terminated):  # Ctrl-C and SIGTERM are the user's, not the learner's error
        raise
    except BaseException as exc:  # the learner's file may raise anything: SyntaxError, SystemExit
        raise LearnerError("load_raised", error=_error(exc), lines=_their_traceback(exc, path),
                           source=str(file)) from None
    fn = getattr(module, name, None)
    if not callable(fn):
        found = [k for k, v in vars(module).items() if callable(v) and not k.startswith("_")
                 and getattr(v, "__module__", None) == module.__name__]
        raise LearnerError("no_function_but" if found else "no_function", name=name, found=", ".join(found),
                           file=file, source=str(file))
    return fn, path


def _prints_to_stderr():
    """A learner's print() calls go to stderr: stdout carries only --json's document."""
    return contextlib.redirect_stdout(sys.stderr)


@contextlib.contextmanager
def _beside(path: Path):
    """The learner's own directory on sys.path, as `python mine.py` puts it: a file may import its
    sibling modules (`from helpers import sigmoid`)."""
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)


TRACEBACK_FRAMES = 8  # the learner's innermost frames shown (a runaway recursion has thousands)


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _their_traceback(exc: BaseException, path: Path) -> str:
    """The traceback's lines in the learner's own file (nnctl's and NumPy's frames left out)."""
    mine = path.resolve()
    lines = []
    if isinstance(exc, SyntaxError) and exc.lineno:
        lines.append(f'  File "{path}", line {exc.lineno}\n    {(exc.text or "").strip()}')
    frames = [fr for fr in traceback.extract_tb(exc.__traceback__) if Path(fr.filename).resolve() == mine]
    for fr in frames[-TRACEBACK_FRAMES:]:
        lines.append(f'  File "{path}", line {fr.lineno}, in {fr.name}\n    {(fr.line or "").strip()}')
    return "\n".join(lines)


def call_learner(fn, path: Path, f: mistakes.Forward) -> tuple[list, list]:
    """The learner's (dW, db), called with float64 copies so that nothing they do touches nnctl's."""
    args = (f.X.copy(), f.Y.copy(), [w.copy() for w in f.W], [b.copy() for b in f.b],
            [z.copy() for z in f.Z], [a.copy() for a in f.A])
    name = getattr(fn, "__name__", "backward")
    try:
        with _prints_to_stderr(), _beside(path):
            out = fn(*args)
    except (KeyboardInterrupt, Terminated):  # Ctrl-C and SIGTERM are the user's, not the learner's error
        raise
    except BaseException as exc:
        raise LearnerError("call_raised", name=name, error=_error(exc), lines=_their_traceback(exc, path),
                           source=str(path)) from None
    L = len(f.W)
    if not (isinstance(out, (tuple, list)) and len(out) == 2 and all(
            isinstance(part, (tuple, list)) and len(part) == L for part in out)):
        raise LearnerError("returned", name=name, type=_kind_of(out), layers=L, source=str(path))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", np.exceptions.ComplexWarning)  # an imaginary part is not a gradient
            return ([np.asarray(g, dtype=np.float64) for g in out[0]],
                    [np.asarray(g, dtype=np.float64) for g in out[1]])
    except (TypeError, ValueError, np.exceptions.ComplexWarning) as exc:
        raise LearnerError("not_numbers", name=name, error=exc, source=str(path)) from None


def _kind_of(out) -> str:
    """What came back, one level deep: `NoneType`, `(dict, dict)`, `(list[3], list[3], list[3])`."""
    if not isinstance(out, (tuple, list)):
        return type(out).__name__
    parts = (f"{type(p).__name__}[{len(p)}]" if isinstance(p, (tuple, list)) else type(p).__name__ for p in out)
    return f"({', '.join(parts)})"


def forward_of(model, X: np.ndarray, Y: np.ndarray, loss, weight_decay: float) -> mistakes.Forward:
    """One float64 forward pass through nnctl's model, in the learner's terms."""
    model = model.astype(np.float64)
    _, cache = model.forward(X.astype(np.float64), keep=True)
    return mistakes.Forward(cache.A[0], Y.astype(np.float64), list(model.W), list(model.b), cache.Z, cache.A,
                            model.activations, loss, weight_decay)


def _bias_shapes(got: np.ndarray, units: int) -> bool:
    """A bias gradient kept 2-D by keepdims, (1, k), is the same gradient; so is a one-unit layer's
    as a plain number (`np.sum(d_out)` without an axis)."""
    return got.shape in ((units,), (1, units)) or (units == 1 and got.size == 1 and got.ndim <= 2)


def _floor(right: np.ndarray) -> float:
    """Differences below this are round-off: where the right value is ~0, relative error means nothing."""
    return max(1e-12, 1e-9 * float(np.abs(right).max(initial=0.0)))


def judge(name: str, got: np.ndarray, right: np.ndarray, options, named, dZ: np.ndarray, tol: float,
          kink_right: np.ndarray | None = None) -> TensorVerdict:
    """One tensor: a pass, or a fail with the mistake named when a recomputed one matches."""
    floor = _floor(right)
    is_bias = name.startswith("b")
    layer = int(name[1:])
    if is_bias and got.shape != right.shape and _bias_shapes(got, right.shape[0]):
        got = got.reshape(right.shape)
    if got.shape != right.shape:
        return TensorVerdict(name, False, float("inf"), _shape_mistake(name, layer, got, right, dZ), got, right)
    if not np.isfinite(got).all():  # NaN or inf: fails, and matches no mistake
        return TensorVerdict(name, False, float("nan"), None, got, right)
    gap = np.abs(got - right)
    rel = np.where(gap <= floor, 0.0, gap / np.maximum(np.maximum(np.abs(got), np.abs(right)), floor))
    max_rel = float(rel.max(initial=0.0))
    if max_rel <= tol:
        return TensorVerdict(name, True, max_rel, None, got, right)
    if kink_right is not None and mistakes.close(got, kink_right, RTOL, floor).all():
        return TensorVerdict(name, True, max_rel, None, got, right, "pass (kink)")
    if right.ndim == 2 and right.shape[0] == right.shape[1]:  # a square dW returned as dWᵀ
        options = [*options, (mistakes.mistake("transposed", name=name, layer=layer), right.T)]
    diagnosis = mistakes.name_mistake(got, right, options, named, RTOL, floor)
    return TensorVerdict(name, False, max_rel, diagnosis, got, right)


def _shape_mistake(name: str, layer: int, got: np.ndarray, right: np.ndarray, dZ: np.ndarray):
    floor = _floor(right)
    if name.startswith("b") and got.shape[:1] == dZ.shape[:1] and got.size == dZ.size:
        return mistakes.mistake("bias_not_summed", got=tuple(got.shape), layer=layer, units=right.shape[0])
    if got.shape == right.T.shape and mistakes.close(got, right.T, RTOL, floor).all():
        return mistakes.mistake("transposed", name=name, layer=layer)
    return mistakes.mistake("shape", got=tuple(got.shape), want=tuple(right.shape))


def check_backward(spec: str, model, X: np.ndarray, Y: np.ndarray, loss, weight_decay: float = 0.0,
                   tol: float = RTOL, eps: float = 1e-6) -> BackwardReport:
    """The whole check: load the learner's function, run it on one forward pass, judge each tensor."""
    fn, path = load_function(spec)
    f = forward_of(model, X, Y, loss, weight_decay)
    reference = check_gradients(model, X, Y, loss, weight_decay, eps=eps, tol=1e-6, atol=1e-10)
    right = model.astype(np.float64).loss_and_grads(f.X, f.Y, loss, weight_decay)[1]  # the engine's own
    dW, db = call_learner(fn, path, f)
    got = [g for pair in zip(dW, db, strict=True) for g in pair]
    options = [(None, mistakes.backprop(f)), *mistakes.variants(f)]
    named = mistakes.factors(X.shape[0], Y.shape[1], loss.name == "mse")
    deltas = mistakes.layer_deltas(f)
    kinked = mistakes.at_kinks_from_the_right(f)
    verdicts = []
    for i, name in enumerate(f"{k}{li}" for li in range(len(f.W)) for k in ("W", "b")):
        tensor_options = [(d, grads[i]) for d, grads in options]
        verdicts.append(judge(name, got[i], right[i], tensor_options, named, deltas[i // 2], tol,
                              kinked[i] if kinked else None))
    _same_scale(verdicts)
    _coincident_scale(verdicts)
    return BackwardReport(verdicts, X.shape[0], reference)


def _same_scale(verdicts: list[TensorVerdict]) -> None:
    """A one-element tensor (an output bias) is any multiple of the right one, so its scale alone
    names nothing; when the other tensors are all 'scaled by c' and it is c times too, it is the same."""
    scales = {v.diagnosis.params["c"] for v in verdicts if v.diagnosis and "c" in v.diagnosis.params}
    if len(scales) != 1:
        return
    (c,) = scales
    for v in verdicts:
        if not v.passed and v.diagnosis is None and v.got.shape == v.right.shape and \
                mistakes.close(v.got, float(c) * v.right, 1e-5, 0.0).all():
            v.diagnosis = mistakes.mistake("scaled", c=c)


def _coincident_scale(verdicts: list[TensorVerdict]) -> None:
    """Some tensors are multiples of the right one whatever the mistake: a 2-unit softmax's bias
    gradient is (g, −g) row by row. An unnamed 'scaled by c' there, while another tensor matches no
    mistake at all, is a coincidence: saying 'a constant factor' would send the learner astray."""
    if not any(not v.passed and v.diagnosis is None for v in verdicts):
        return
    for v in verdicts:
        if v.diagnosis and v.diagnosis.kind == "scaled" and "c" in v.diagnosis.params:
            v.diagnosis = None
