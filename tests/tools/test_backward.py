"""`gradcheck --backward`: a learner's own backprop, each classic mistake written as a student
writes it, on a 2-2-1 and a 2-2-2-1 sigmoid net; the mistake must be named by recomputation."""

import textwrap

import numpy as np
import pytest

from nnctl.tools.backward import LearnerError, check_backward
from nnctl.tools.gradcheck import float64_trainer

NET_221 = """
    seed: 1
    data: {source: xor, standardize: false}
    model:
      init: {name: normal, std: 0.8, bias: same}
      layers: [{units: 2, activation: sigmoid}, {units: 1, activation: sigmoid}]
    train: {loss: mse}
    """
NET_2221 = NET_221.replace("[{units: 2, activation: sigmoid}, ", "[{units: 2, activation: sigmoid}, "
                                                                  "{units: 2, activation: sigmoid}, ")

# The 2-2-1 net as the tutorials write it: layer 0 hidden, layer 1 output, mean squared error.
STUDENT_221 = '''
import numpy as np

def correct(X, Y, W, b, Z, A):
    n = X.shape[0]
    d_out = 2 * (A[2] - Y) / n * A[2] * (1 - A[2])
    d_hid = d_out @ W[1].T * A[1] * (1 - A[1])
    return [X.T @ d_hid, A[1].T @ d_out], [d_hid.sum(axis=0), d_out.sum(axis=0, keepdims=True)]

def rows_summed(X, Y, W, b, Z, A):
    d_out = 2 * (A[2] - Y) * A[2] * (1 - A[2])
    d_hid = d_out @ W[1].T * A[1] * (1 - A[1])
    return [X.T @ d_hid, A[1].T @ d_out], [d_hid.sum(axis=0), d_out.sum(axis=0)]

def half(X, Y, W, b, Z, A):  # the ½ of ½·MSE, where the config's loss has none
    n = X.shape[0]
    d_out = (A[2] - Y) / n * A[2] * (1 - A[2])
    d_hid = d_out @ W[1].T * A[1] * (1 - A[1])
    return [X.T @ d_hid, A[1].T @ d_out], [d_hid.sum(axis=0), d_out.sum(axis=0)]

def sign(X, Y, W, b, Z, A):
    n = X.shape[0]
    d_out = 2 * (Y - A[2]) / n * A[2] * (1 - A[2])
    d_hid = d_out @ W[1].T * A[1] * (1 - A[1])
    return [X.T @ d_hid, A[1].T @ d_out], [d_hid.sum(axis=0), d_out.sum(axis=0)]

def missing_derivative(X, Y, W, b, Z, A):
    n = X.shape[0]
    d_out = 2 * (A[2] - Y) / n * A[2] * (1 - A[2])
    d_hid = d_out @ W[1].T
    return [X.T @ d_hid, A[1].T @ d_out], [d_hid.sum(axis=0), d_out.sum(axis=0)]

def derivative_of_z(X, Y, W, b, Z, A):
    n = X.shape[0]
    d_out = 2 * (A[2] - Y) / n * A[2] * (1 - A[2])
    d_hid = d_out @ W[1].T * Z[0] * (1 - Z[0])
    return [X.T @ d_hid, A[1].T @ d_out], [d_hid.sum(axis=0), d_out.sum(axis=0)]

def transposed(X, Y, W, b, Z, A):
    n = X.shape[0]
    d_out = 2 * (A[2] - Y) / n * A[2] * (1 - A[2])
    d_hid = d_out @ W[1].T * A[1] * (1 - A[1])
    return [d_hid.T @ X, A[1].T @ d_out], [d_hid.sum(axis=0), d_out.sum(axis=0)]

def bias_not_summed(X, Y, W, b, Z, A):
    n = X.shape[0]
    d_out = 2 * (A[2] - Y) / n * A[2] * (1 - A[2])
    d_hid = d_out @ W[1].T * A[1] * (1 - A[1])
    return [X.T @ d_hid, A[1].T @ d_out], [d_hid.sum(axis=0), d_out]

def scaled(X, Y, W, b, Z, A):  # the learning rate folded into the gradient
    n = X.shape[0]
    d_out = 2 * (A[2] - Y) / n * A[2] * (1 - A[2])
    d_hid = d_out @ W[1].T * A[1] * (1 - A[1])
    return [0.3 * X.T @ d_hid, 0.3 * A[1].T @ d_out], [0.3 * d_hid.sum(axis=0), 0.3 * d_out.sum(axis=0)]

def shape(X, Y, W, b, Z, A):
    n = X.shape[0]
    d_out = 2 * (A[2] - Y) / n * A[2] * (1 - A[2])
    d_hid = d_out @ W[1].T * A[1] * (1 - A[1])
    return [X.T @ d_hid, (A[1].T @ d_out).ravel()[:1]], [d_hid.sum(axis=0), d_out.sum(axis=0)]

def wrong_weights(X, Y, W, b, Z, A):  # W[0] where W[1] belongs: the shapes refuse it on this net
    n = X.shape[0]
    d_out = 2 * (A[2] - Y) / n * A[2] * (1 - A[2])
    d_hid = d_out @ W[0].T * A[1] * (1 - A[1])
    return [X.T @ d_hid, A[1].T @ d_out], [d_hid.sum(axis=0), d_out.sum(axis=0)]
'''

# The 2-2-2-1 net, layer by layer with the tutorials' deltas.
STUDENT_2221 = '''
import numpy as np

def _grads(X, Y, W, A, d3, back=lambda l, W: W[l].T, deriv=lambda l, A, Z: A[l + 1] * (1 - A[l + 1]), Z=None):
    d2 = d3 @ back(2, W) * deriv(1, A, Z)
    d1 = d2 @ back(1, W) * deriv(0, A, Z)
    return [X.T @ d1, A[1].T @ d2, A[2].T @ d3], [d1.sum(axis=0), d2.sum(axis=0), d3.sum(axis=0)]

def correct(X, Y, W, b, Z, A):
    d3 = 2 * (A[3] - Y) / len(X) * A[3] * (1 - A[3])
    return _grads(X, Y, W, A, d3)

def rows_summed(X, Y, W, b, Z, A):
    return _grads(X, Y, W, A, 2 * (A[3] - Y) * A[3] * (1 - A[3]))

def half(X, Y, W, b, Z, A):
    return _grads(X, Y, W, A, (A[3] - Y) / len(X) * A[3] * (1 - A[3]))

def sign(X, Y, W, b, Z, A):
    return _grads(X, Y, W, A, 2 * (Y - A[3]) / len(X) * A[3] * (1 - A[3]))

def missing_derivative(X, Y, W, b, Z, A):  # σ' forgotten in the first hidden layer
    d3 = 2 * (A[3] - Y) / len(X) * A[3] * (1 - A[3])
    return _grads(X, Y, W, A, d3, deriv=lambda l, A, Z: 1.0 if l == 0 else A[l + 1] * (1 - A[l + 1]))

def derivative_of_z(X, Y, W, b, Z, A):
    d3 = 2 * (A[3] - Y) / len(X) * A[3] * (1 - A[3])
    return _grads(X, Y, W, A, d3, deriv=lambda l, A, Z: Z[l] * (1 - Z[l]), Z=Z)

def wrong_weights(X, Y, W, b, Z, A):  # the error into layer 0 sent back through W[0]
    d3 = 2 * (A[3] - Y) / len(X) * A[3] * (1 - A[3])
    return _grads(X, Y, W, A, d3, back=lambda l, W: W[0].T if l == 1 else W[l].T)

def transposed(X, Y, W, b, Z, A):  # W where Wᵀ belongs
    d3 = 2 * (A[3] - Y) / len(X) * A[3] * (1 - A[3])
    return _grads(X, Y, W, A, d3, back=lambda l, W: W[l] if l == 1 else W[l].T)

def bias_not_summed(X, Y, W, b, Z, A):
    d3 = 2 * (A[3] - Y) / len(X) * A[3] * (1 - A[3])
    dW, db = _grads(X, Y, W, A, d3)
    return dW, db[:2] + [d3]

def scaled(X, Y, W, b, Z, A):
    dW, db = correct(X, Y, W, b, Z, A)
    return [3 * g for g in dW], [3 * g for g in db]

def shape(X, Y, W, b, Z, A):
    dW, db = correct(X, Y, W, b, Z, A)
    return [dW[0][:, :1], dW[1], dW[2]], db
'''

KINDS = ["rows_summed", "half", "sign", "missing_derivative", "derivative_of_z", "transposed",
         "bias_not_summed", "scaled", "shape"]


@pytest.fixture
def nets(write):
    return {"221": (write("net221.yaml", NET_221), write("s221.py", STUDENT_221)),
            "2221": (write("net2221.yaml", NET_2221), write("s2221.py", STUDENT_2221))}


def _check(cfg, spec, rows=4):
    trainer = float64_trainer(cfg, [])
    s = trainer.prepared.split
    return check_backward(spec, trainer.model, s.X_train[:rows], s.Y_train[:rows], trainer.prepared.loss)


@pytest.mark.parametrize("net", ["221", "2221"])
def test_a_correct_backward_passes(nets, net):
    cfg, student = nets[net]
    rep = _check(cfg, f"{student}:correct")
    assert rep.passed and rep.reference.passed
    assert all(p.max_rel_error < 1e-12 and p.diagnosis is None for p in rep.params)


@pytest.mark.parametrize("net", ["221", "2221"])
@pytest.mark.parametrize("kind", KINDS)
def test_each_classic_mistake_is_named(nets, net, kind):
    cfg, student = nets[net]
    rep = _check(cfg, f"{student}:{kind}")
    assert not rep.passed
    named = {p.diagnosis.kind for p in rep.params if not p.passed}
    assert named == {kind}, [(p.name, p.diagnosis) for p in rep.params]


def test_wrong_weights_are_named_where_the_shapes_allow_them(nets):
    cfg, student = nets["2221"]
    rep = _check(cfg, f"{student}:wrong_weights")
    failed = {p.name: p.diagnosis for p in rep.params if not p.passed}
    assert set(failed) == {"W0", "b0"}  # only what lies behind the wrong product
    assert all(d.kind == "wrong_weights" and "W0 instead of W1" in d.message for d in failed.values())


def test_wrong_weights_on_2_2_1_fail_at_the_learners_own_line(nets):
    cfg, student = nets["221"]
    with pytest.raises(LearnerError) as err:
        _check(cfg, f"{student}:wrong_weights")
    text = str(err.value)
    line = student.read_text().splitlines().index("    d_hid = d_out @ W[0].T * A[1] * (1 - A[1])") + 1
    assert "ValueError" in text and "d_hid = d_out @ W[0].T" in text and f"line {line}, in wrong_weights" in text
    assert "nnctl" not in text.replace(str(student), "")


def test_missing_derivative_is_not_a_scale(nets):
    """Without σ' the hidden gradient is off by a ratio that changes per element: only the recomputed
    mistake tells it apart from 'scaled by c'."""
    cfg, student = nets["221"]
    rep = _check(cfg, f"{student}:missing_derivative")
    w0 = rep.params[0]
    ratio = w0.got / w0.right
    assert ratio.std() > 0.1 * abs(ratio.mean())
    assert w0.diagnosis.kind == "missing_derivative" and "layer 0" in w0.diagnosis.message


def test_the_cli_reports_json_and_exit_codes(nnctl, nets):
    cfg, student = nets["2221"]
    ok = nnctl("gradcheck", cfg, "--backward", f"{student}:correct", "--rows", "4", "--json")
    assert ok.code == 0 and ok.json()["passed"] is True
    bad = nnctl("gradcheck", cfg, "--backward", f"{student}:sign", "--rows", "4", "--json")
    doc = bad.json()
    assert bad.code == 1 and doc["passed"] is False
    assert {p["name"] for p in doc["params"]} == {"W0", "b0", "W1", "b1", "W2", "b2"}
    assert all(set(p) >= {"name", "passed", "max_rel_error", "diagnosis"} for p in doc["params"])
    assert {p["diagnosis"]["kind"] for p in doc["params"]} == {"sign"}
    shown = nnctl("gradcheck", cfg, "--backward", f"{student}:sign", "--rows", "4")
    assert shown.code == 1 and "gradient ascent" in shown.stderr and "yours" in shown.stderr


def test_an_unloadable_file_or_a_raising_function_is_exit_2_with_the_learners_lines(nnctl, write, nets):
    cfg, _ = nets["221"]
    broken = write("broken.py", """
        import numpy as np

        def backward(X, Y, W, b, Z, A):
            d = A[2] - Y
            return helper(d)

        def helper(d):
            return d[7, 7]
        """)
    r = nnctl("gradcheck", cfg, "--backward", broken)
    assert r.code == 2 and "IndexError" in r.stderr
    assert "line 5, in backward" in r.stderr and "line 8, in helper" in r.stderr and "return d[7, 7]" in r.stderr
    assert "Traceback" not in r.stderr and "nnctl/" not in r.stderr
    syntax = write("syntax.py", "def backward(X, Y, W, b, Z, A):\n    return (\n")
    r = nnctl("gradcheck", cfg, "--backward", syntax)
    assert r.code == 2 and "SyntaxError" in r.stderr and "line 2" in r.stderr
    r = nnctl("gradcheck", cfg, "--backward", f"{broken}:nope")
    assert r.code == 2 and "no function 'nope'" in r.stderr and "backward, helper" in r.stderr
    r = nnctl("gradcheck", cfg, "--backward", "missing.py")
    assert r.code == 2 and "no such file" in r.stderr
    wrong = write("wrong.py", "def backward(X, Y, W, b, Z, A):\n    return 3\n")
    r = nnctl("gradcheck", cfg, "--backward", wrong)
    assert r.code == 2 and "expected (dW, db)" in r.stderr


def test_a_learner_cannot_change_nnctls_arrays(nets, write):
    cfg, _ = nets["221"]
    vandal = write("vandal.py", textwrap.dedent(STUDENT_221) + textwrap.dedent("""
        def backward(X, Y, W, b, Z, A):
            out = correct(X, Y, W, b, Z, A)
            for arr in [X, Y, *W, *b, *Z, *A]:
                arr[...] = np.nan
            return out
        """))
    assert _check(cfg, str(vandal)).passed


@pytest.mark.parametrize("loss,factor", [
    ("{name: mse, reduction: sum}", "2 * (A[2] - Y)"),
    ("{name: mse, reduction: sum, half: true}", "(A[2] - Y)"),
    ("{name: mse, half: true}", "(A[2] - Y) / len(X)"),
])
def test_the_tutorials_conventions_accept_their_own_loops(nnctl, write, loss, factor):
    """Sum or mean, ½ or not, random biases: the config says which, and a tutorial-style function
    written for it passes; gradcheck itself passes on the same config."""
    cfg = write("t.yaml", NET_221.replace("{loss: mse}", f"{{loss: {loss}}}"))
    student = write("t.py", f"""
        def backward(X, Y, W, b, Z, A):
            d_out = {factor} * A[2] * (1 - A[2])
            d_hid = d_out @ W[1].T * A[1] * (1 - A[1])
            return [X.T @ d_hid, A[1].T @ d_out], [d_hid.sum(axis=0), d_out.sum(axis=0)]
        """)
    assert nnctl("gradcheck", cfg).code == 0
    r = nnctl("gradcheck", cfg, "--backward", student, "--json")
    assert r.code == 0, r.stdout
    assert np.all([p["passed"] for p in r.json()["params"]])


@pytest.mark.parametrize("config,d_out", [
    ("xor_tutorial_mse_fullbatch.yaml", "2 * (A[2] - Y) * A[2] * (1 - A[2])"),  # summed over the rows
    ("xor_tutorial_mse.yaml", "2 * (A[2] - Y) / len(X) * A[2] * (1 - A[2])"),
])
def test_the_ready_tutorial_configs_pass_gradcheck_and_accept_their_loops(nnctl, write, config, d_out):
    from ..conftest import CONFIGS

    cfg = CONFIGS / config
    assert nnctl("gradcheck", cfg).code == 0
    student = write("loop.py", f"""
        import numpy as np

        def backward(X, Y, W, b, Z, A):
            delta2 = {d_out}
            delta1 = np.dot(delta2, W[1].T) * A[1] * (1 - A[1])
            return [np.dot(X.T, delta1), np.dot(A[1].T, delta2)], [np.sum(delta1, axis=0, keepdims=True),
                                                                   np.sum(delta2, axis=0, keepdims=True)]
        """)
    r = nnctl("gradcheck", cfg, "--backward", student, "--rows", "4", "--json")
    assert r.code == 0 and r.json()["passed"]
    bias = CONFIGS / "xor_tutorial_mse_fullbatch.yaml"
    assert "bias: same" in bias.read_text()


def test_a_relu_derivative_taken_at_zero_from_the_right_is_not_a_mistake(nnctl, write):
    """Raw XOR with zero biases puts the row (0, 0) exactly on ReLU's kink: (z >= 0) and (z > 0) are
    both valid there; (z > 0) everywhere is nnctl's, and a missing derivative is still named."""
    cfg = write("relu.yaml", """
        seed: 0
        data: {source: xor, standardize: false}
        model: {layers: [{units: 3, activation: relu}, {units: 1, activation: sigmoid}]}
        train: {loss: bce}
        """)
    student = write("relu_bp.py", """
        def backward(X, Y, W, b, Z, A):
            d_out = (A[2] - Y) / len(X)
            d_hid = d_out @ W[1].T * (Z[0] >= 0)
            return [X.T @ d_hid, A[1].T @ d_out], [d_hid.sum(axis=0), d_out.sum(axis=0)]

        def strict(X, Y, W, b, Z, A):
            d_out = (A[2] - Y) / len(X)
            d_hid = d_out @ W[1].T * (Z[0] > 0)
            return [X.T @ d_hid, A[1].T @ d_out], [d_hid.sum(axis=0), d_out.sum(axis=0)]

        def forgot(X, Y, W, b, Z, A):
            d_out = (A[2] - Y) / len(X)
            d_hid = d_out @ W[1].T
            return [X.T @ d_hid, A[1].T @ d_out], [d_hid.sum(axis=0), d_out.sum(axis=0)]
        """)
    doc = nnctl("gradcheck", cfg, "--backward", student, "--json").json()
    assert doc["passed"] and "pass (kink)" in {p["verdict"] for p in doc["params"]}
    assert {p["verdict"] for p in nnctl("gradcheck", cfg, "--backward", f"{student}:strict", "--json")
            .json()["params"]} == {"pass"}
    bad = nnctl("gradcheck", cfg, "--backward", f"{student}:forgot", "--json").json()
    assert not bad["passed"]
    assert {p["diagnosis"]["kind"] for p in bad["params"] if not p["passed"]} == {"missing_derivative"}


def test_softmax_cross_entropy_backprop_and_its_mistakes(nnctl, write):
    from ..conftest import CONFIGS

    student = write("ce.py", """
        def backward(X, Y, W, b, Z, A):
            d_out = (A[2] - Y) / len(X)          # softmax and cross-entropy together
            d_hid = d_out @ W[1].T * (Z[0] > 0)
            return [X.T @ d_hid, A[1].T @ d_out], [d_hid.sum(axis=0), d_out.sum(axis=0)]

        def summed(X, Y, W, b, Z, A):
            d_out = A[2] - Y
            d_hid = d_out @ W[1].T * (Z[0] > 0)
            return [X.T @ d_hid, A[1].T @ d_out], [d_hid.sum(axis=0), d_out.sum(axis=0)]

        def doubled(X, Y, W, b, Z, A):
            dW, db = backward(X, Y, W, b, Z, A)
            return [2 * g for g in dW], [2 * g for g in db]
        """)
    cfg = CONFIGS / "iris.yaml"
    assert nnctl("gradcheck", cfg, "--backward", student, "--rows", "10").code == 0
    doc = nnctl("gradcheck", cfg, "--backward", f"{student}:summed", "--rows", "10", "--json").json()
    assert {p["diagnosis"]["kind"] for p in doc["params"]} == {"rows_summed"}
    doc = nnctl("gradcheck", cfg, "--backward", f"{student}:doubled", "--rows", "10", "--json").json()
    assert {p["diagnosis"]["kind"] for p in doc["params"]} == {"scaled"}  # no ½ in cross-entropy


def test_a_learner_s_prints_do_not_spoil_the_json(nnctl, nets, write):
    cfg, _ = nets["221"]
    chatty = write("chatty.py", textwrap.dedent(STUDENT_221) + textwrap.dedent("""
        print("loading my backprop")

        def backward(X, Y, W, b, Z, A):
            print("shapes", X.shape, Y.shape)
            return correct(X, Y, W, b, Z, A)
        """))
    r = nnctl("gradcheck", cfg, "--backward", chatty, "--json")
    assert r.code == 0 and r.json()["passed"] and "shapes" in r.stderr and "loading" in r.stderr


def test_a_learner_s_file_imports_its_sibling_modules(nnctl, nets, write):
    """`python mine.py` finds `helpers.py` beside it; so does --backward."""
    cfg, _ = nets["221"]
    write("helpers.py", textwrap.dedent(STUDENT_221))
    mine = write("mine.py", "from helpers import correct as backward\n")
    r = nnctl("gradcheck", cfg, "--backward", mine, "--rows", "4", "--json")
    assert r.code == 0 and r.json()["passed"] is True, r.stderr


@pytest.mark.parametrize(("signame", "code", "word"), [("SIGTERM", 143, "terminated"), ("SIGINT", 130, "interrupted")])
def test_a_signal_inside_the_learner_s_function_is_the_user_s_not_their_error(nets, write, signame, code, word):
    """SIGTERM or Ctrl-C while their (slow) function runs: 143/130 as everywhere, not exit 2 blaming it."""
    import subprocess
    import sys

    cfg, _ = nets["221"]
    slow = write("slow.py", f"""
        import os, signal

        def backward(X, Y, W, b, Z, A):
            os.kill(os.getpid(), signal.{signame})
            return [], []
        """)
    r = subprocess.run([sys.executable, "-m", "nnctl", "gradcheck", str(cfg), "--backward", str(slow), "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == code and word in r.stderr and r.stdout == ""
    assert "Traceback" not in r.stderr and "slow.py" not in r.stderr


def test_a_learner_s_file_that_fails_is_told_in_their_language(nnctl, nets, write):
    """--lang zh: the sentence in Chinese, their file's lines and Python's own error unchanged."""
    cfg, _ = nets["221"]
    syntax = write("syntax.py", "def backward(X, Y, W, b, Z, A)\n    return 1\n")
    r = nnctl("gradcheck", cfg, "--backward", syntax, "--lang", "zh")
    assert r.code == 2 and "加载该文件时抛出 SyntaxError" in r.stderr and "line 1" in r.stderr
    assert "loading the file" not in r.stderr
    r = nnctl("gradcheck", cfg, "--backward", f"{syntax}:other", "--lang", "zh")
    assert r.code == 2 and "抛出" in r.stderr
    none = write("none.py", "def backward(X, Y, W, b, Z, A):\n    pass\n")
    r = nnctl("gradcheck", cfg, "--backward", none, "--lang", "zh")
    assert r.code == 2 and "backward 返回了 NoneType" in r.stderr
    r = nnctl("gradcheck", cfg, "--backward", none)
    assert r.code == 2 and "backward returned NoneType; expected (dW, db)" in r.stderr


def test_a_two_class_softmax_bias_is_not_called_scaled_by_coincidence(nnctl, write):
    """With 2 softmax units every output-bias gradient is (g, −g), a multiple of the right one whatever
    the mistake: σ' applied on top of softmax-with-cross-entropy must not be reported as 'a constant
    factor' there while the weights match no mistake."""
    cfg = write("two.yaml", """
        seed: 0
        data: {source: spiral}
        model:
          init: {name: normal, std: 0.5, bias: same}
          layers: [{units: 4, activation: tanh}, {units: 2, activation: softmax}]
        train: {loss: cross_entropy}
        """)
    student = write("twice.py", """
        def backward(X, Y, W, b, Z, A):
            d_out = (A[2] - Y) / len(X) * A[2] * (1 - A[2])   # a sigmoid's σ' on top of softmax + CE
            d_hid = d_out @ W[1].T * (1 - A[1] ** 2)
            return [X.T @ d_hid, A[1].T @ d_out], [d_hid.sum(axis=0), d_out.sum(axis=0)]
        """)
    r = nnctl("gradcheck", cfg, "--backward", student, "--rows", "4", "--json")
    doc = r.json()
    assert r.code == 1 and not doc["passed"]
    assert [p["diagnosis"] for p in doc["params"]] == [None] * 4


def test_what_students_return_is_read_or_refused_in_one_line(nnctl, nets, write):
    """A one-unit bias as a plain number (np.sum without an axis) is that gradient (it was an internal
    error); NaN fails quietly (no NumPy warnings); dicts and complex numbers are refused, saying what came."""
    cfg, _ = nets["221"]
    mine = write("mine.py", textwrap.dedent(STUDENT_221) + textwrap.dedent("""
        def scalar_bias(X, Y, W, b, Z, A):
            dW, db = correct(X, Y, W, b, Z, A)
            return dW, [db[0], float(np.sum(db[1]))]

        def nan(X, Y, W, b, Z, A):
            dW, db = correct(X, Y, W, b, Z, A)
            return [dW[0] * np.nan, dW[1]], db

        def dicts(X, Y, W, b, Z, A):
            dW, db = correct(X, Y, W, b, Z, A)
            return dict(enumerate(dW)), dict(enumerate(db))

        def complex_(X, Y, W, b, Z, A):
            dW, db = correct(X, Y, W, b, Z, A)
            return [g + 1j for g in dW], db
        """))
    r = nnctl("gradcheck", cfg, "--backward", f"{mine}:scalar_bias", "--rows", "4", "--json")
    assert r.code == 0 and r.json()["passed"] is True, r.stderr
    r = nnctl("gradcheck", cfg, "--backward", f"{mine}:nan", "--rows", "4", "--json")
    doc = r.json()
    assert r.code == 1 and [p["passed"] for p in doc["params"]] == [False, True, True, True]
    assert doc["params"][0]["diagnosis"] is None and "Warning" not in r.stderr
    r = nnctl("gradcheck", cfg, "--backward", f"{mine}:dicts")
    assert r.code == 2 and "returned (dict, dict); expected (dW, db)" in r.stderr
    r = nnctl("gradcheck", cfg, "--backward", f"{mine}:complex_")
    assert r.code == 2 and "not an array of numbers" in r.stderr and "imaginary" in r.stderr


def test_a_file_without_the_py_suffix_is_read_and_a_notebook_is_refused(nnctl, nets, write):
    """mine.txt or a suffixless script is Python source (it was an internal error, exit 1); a Jupyter
    notebook is refused in one line that says how to get a .py out of it."""
    cfg, _ = nets["221"]
    for name in ("mine.txt", "mine"):
        f = write(name, textwrap.dedent(STUDENT_221))
        r = nnctl("gradcheck", cfg, "--backward", f"{f}:correct", "--rows", "4", "--json")
        assert r.code == 0 and r.json()["passed"] is True, r.stderr
    nb = write("mine.ipynb", '{"cells": [], "metadata": {}, "nbformat": 4}')
    r = nnctl("gradcheck", cfg, "--backward", nb)
    assert r.code == 2 and "a notebook, not a Python file" in r.stderr and "internal error" not in r.stderr
