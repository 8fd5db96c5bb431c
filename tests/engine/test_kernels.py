"""The compiled optimizer steps (`nnctl.engine.kernels`, numba): the NumPy steps' results to the bit.

numba is in the test extra, so every test here runs the real compiled code; the pure-NumPy steps
stay the reference they are checked against (and the hand-worked steps of test_optim.py check
those)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnctl.config.loader import load_config
from nnctl.core.optim import SGD, Adam, RMSprop
from nnctl.engine import kernels
from nnctl.errors import UsageError
from nnctl.training.trainer import setup

from ..conftest import CONFIGS, ROOT

OPTIMIZERS = [
    (SGD, {"lr": 0.1}),
    (SGD, {"lr": 0.05, "momentum": 0.9}),
    (SGD, {"lr": 0.05, "momentum": 0.5, "nesterov": True}),
    (RMSprop, {"lr": 0.01, "alpha": 0.9, "eps": 1e-6}),
    (Adam, {"lr": 0.003, "betas": (0.8, 0.99), "eps": 1e-7}),
]


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@settings(max_examples=60, deadline=None)
@given(which=st.sampled_from(range(len(OPTIMIZERS))), dtype=st.sampled_from([np.float32, np.float64]),
       n=st.integers(1, 300), steps=st.integers(1, 6), decay=st.sampled_from([0.0, 1e-3, 0.5]),
       seed=st.integers(0, 2**32 - 1), lrs=st.lists(st.floats(1e-4, 1.0), min_size=6, max_size=6))
def test_every_compiled_step_gives_the_numpy_steps_bits(which, dtype, n, steps, decay, seed, lrs):
    """Random sizes (odd ones exercise the vector loops' tails), gradients over 16 orders of
    magnitude with exact zeros, weight decay on a random subset of slots, and a learning rate
    that changes between steps (as schedules change it): parameters and state equal bit for bit."""
    cls, kw = OPTIMIZERS[which]
    rng = np.random.default_rng(seed)
    p0 = rng.normal(size=n).astype(dtype)
    mask = np.where(rng.random(n) < 0.7, decay, 0.0).astype(dtype)
    ref_p, fast_p = p0.copy(), p0.copy()
    ref, fast = cls(ref_p, **kw), cls(fast_p, **kw)
    assert fast.accelerate(kernels.kernels(dtype), mask if decay else None)
    for t in range(steps):
        g = (rng.normal(size=n) * 10.0 ** rng.integers(-8, 8, n)).astype(dtype)
        g[rng.random(n) < 0.1] = 0
        ref.lr = fast.lr = lrs[t]
        if decay:  # what engine.workspace.Workspace adds when the optimizer does not
            ref.step(g + ref_p * mask)
        else:
            ref.step(g.copy())
        fast.step(g.copy())
        assert _same_bits(ref_p, fast_p), f"step {t + 1}"
        for name in cls.state_names:
            assert _same_bits(getattr(ref, name), getattr(fast, name)), name


def _config(write, optimizer: str, extra: str = "", units: int = 64, epochs: int = 6):
    return load_config(write("k.yaml", f"""
        data: {{source: moons, n: 300, validation_split: 0.2}}
        model: {{layers: [{{units: {units}, activation: relu}}, {{units: {units}, activation: tanh}},
                          {{units: 1, activation: sigmoid}}]}}
        train: {{loss: bce, optimizer: {optimizer}, batch_size: 32, epochs: {epochs}{extra}}}
        """))


@pytest.mark.parametrize("optimizer", ["{name: adam, lr: 0.01}", "{name: rmsprop, lr: 0.01}",
                                       "{name: sgd, lr: 0.1, momentum: 0.9}",
                                       "{name: sgd, lr: 0.1, momentum: 0.9, nesterov: true}"])
@pytest.mark.parametrize("extra", ["", ", weight_decay: 0.01", ", weight_decay: 0.01, dtype: float32",
                                   ", weight_decay: 0.01, diagnostics: true"])
def test_training_with_compiled_steps_gives_the_same_bits(write, monkeypatch, optimizer, extra):
    """Whole runs (shuffled batches, a validation split, weight decay moved into the compiled
    pass, float32, diagnostics that read the gradient before the step) end on the same weights,
    optimizer state and history as with NumPy's steps."""
    runs = {}
    for accel in ("numpy", "numba"):
        monkeypatch.setenv("NNCTL_ACCEL", accel)
        trainer = setup(_config(write, optimizer, extra))
        trainer.fit()
        runs[accel] = trainer
    ref, fast = runs["numpy"], runs["numba"]
    assert (ref.step_engine, fast.step_engine) == ("numpy", "numba")
    assert _same_bits(ref.model.flat, fast.model.flat)
    for name, value in ref.optimizer.state().items():
        other = fast.optimizer.state()[name]
        assert _same_bits(value, other) if isinstance(value, np.ndarray) else value == other
    assert [r.loss for r in ref.history.records] == [r.loss for r in fast.history.records]
    assert [r.val_loss for r in ref.history.records] == [r.val_loss for r in fast.history.records]
    if "diagnostics" in extra:  # the gradient norm includes the decay term in both
        assert [r.diag for r in ref.history.records] == [r.diag for r in fast.history.records]
        assert fast.ws.decay is not None
    elif "weight_decay" in extra:
        assert fast.ws.decay is None and fast.optimizer.decay.size == fast.model.flat.size


def test_a_checkpoint_moves_between_the_engines(nnctl, write, tmp_path, monkeypatch):
    """Resuming a NumPy-stepped checkpoint with compiled steps (and the other way) continues the
    same run: the command's model files are byte-identical."""
    cfg = write("r.yaml", """
        data: {source: circles, n: 200}
        model: {layers: [{units: 16, activation: tanh}, {units: 1, activation: sigmoid}]}
        train: {loss: bce, optimizer: adam, batch_size: 16, epochs: 8, weight_decay: 0.001}
        """)
    outs = {}
    for first, second in (("numpy", "numpy"), ("numpy", "numba"), ("numba", "numpy"), ("numba", None)):
        folder = tmp_path / f"{first}-{second}"
        folder.mkdir()
        monkeypatch.chdir(folder)
        monkeypatch.setenv("NNCTL_ACCEL", first)
        if second is None:  # straight through, no checkpoint
            assert nnctl("train", cfg, "--out", "m.npz", "-q").code == 0
        else:
            r = nnctl("train", cfg, "--epochs", 3, "--out", "m.npz", "--checkpoint-every", 1, "-q")
            assert r.code == 0 and (folder / "m.ckpt.npz").exists(), r
            monkeypatch.setenv("NNCTL_ACCEL", second)
            r = nnctl("train", cfg, "--resume", "m.ckpt.npz", "--out", "m.npz", "-q")
            assert r.code == 0, r
        outs[first, second] = (folder / "m.npz").read_bytes()
    assert len(set(outs.values())) == 1


def test_the_compiled_steps_are_used_where_they_pay_for_loading(monkeypatch):
    monkeypatch.delenv("NNCTL_ACCEL", raising=False)
    large = 669_706  # the 784-512-512-10 net
    # an Adam run of 6144 rows in batches of 256 for 2 epochs: 48 steps save ~0.06 s, less than the load
    assert not kernels.worth_it("adam", large, 48)
    assert kernels.worth_it("adam", large, 10 * 235)  # ten epochs of 60000 rows
    assert not kernels.worth_it("sgd_momentum", large, 235)  # momentum saves less a step
    assert kernels.worth_it("sgd_momentum", large, 20 * 235)
    assert not kernels.worth_it("adam", 4_000, 10**9)  # a small net's steps are cheap either way
    monkeypatch.setenv("NNCTL_ACCEL", "numba")
    assert kernels.worth_it("sgd_plain", 17, 1)
    monkeypatch.setenv("NNCTL_ACCEL", "NumPy")
    assert not kernels.worth_it("adam", large, 10**9)


def test_auto_picks_the_engine_by_the_run_and_plain_sgd_keeps_its_fused_update(write, monkeypatch):
    monkeypatch.delenv("NNCTL_ACCEL", raising=False)
    assert setup(_config(write, "adam", units=8)).step_engine == "numpy"  # 177 parameters
    long = setup(_config(write, "adam", units=200, epochs=400000))  # 41 001 parameters × 3.2 M steps
    assert long.model.flat.size >= kernels.MIN_PARAMS and long.step_engine == "numba"
    assert setup(_config(write, "{name: sgd, lr: 0.1}", units=200, epochs=400000)).step_engine == "gemm"


def test_train_json_says_what_applied_the_update(nnctl, monkeypatch, tmp_path):
    for accel, want in (("numpy", "numpy"), ("numba", "numba")):
        monkeypatch.setenv("NNCTL_ACCEL", accel)
        r = nnctl("train", CONFIGS / "iris.yaml", "--epochs", 2, "--json", "--out", tmp_path / "m.npz")
        assert r.code == 0 and r.json()["update"] == want, r
    r = nnctl("train", CONFIGS / "xor.yaml", "--epochs", 2, "--json", "--out", tmp_path / "x.npz")
    assert r.json()["update"] == "numba"  # NNCTL_ACCEL=numba: on any net (XOR 2-4-1 with momentum here)


def test_a_bad_accel_setting_is_one_line_exit_2(nnctl, monkeypatch, tmp_path):
    monkeypatch.setenv("NNCTL_ACCEL", "gpu")
    r = nnctl("train", CONFIGS / "xor_relu_adam.yaml", "--epochs", 2, "-q", "--out", tmp_path / "m.npz")
    assert r.code == 2 and not (tmp_path / "m.npz").exists()
    assert r.stderr.strip().splitlines()[-1].endswith("NNCTL_ACCEL is 'gpu': expected auto, numpy or numba")


def test_without_numba_auto_steps_in_numpy_and_numba_mode_names_the_extra(write, monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)  # `import numba` raises ImportError
    monkeypatch.setattr(kernels, "_loaded", {})
    kernels._compiled.cache_clear()
    try:
        monkeypatch.setenv("NNCTL_ACCEL", "auto")
        long = setup(_config(write, "adam", units=200, epochs=400000))
        assert long.step_engine == "numpy" and long.optimizer.kernel is None
        monkeypatch.setenv("NNCTL_ACCEL", "numba")
        with pytest.raises(UsageError, match=r"needs numba, an optional extra: pip install 'nnctl\[fast\]'"):
            setup(_config(write, "adam"))
    finally:
        kernels._compiled.cache_clear()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_finite_gradients_go_the_same_way(dtype):
    """inf and NaN in a gradient (what a diverging run feeds the step) land in the same slots as
    non-finite values of the same kind under both engines."""
    g = np.array([1.0, np.inf, -np.inf, np.nan, 0.0, 1e30, -1e-30], dtype)
    for cls, kw in OPTIMIZERS:
        ref_p, fast_p = np.ones_like(g), np.ones_like(g)
        ref, fast = cls(ref_p, **kw), cls(fast_p, **kw)
        fast.accelerate(kernels.kernels(dtype))
        for _ in range(2):
            with np.errstate(invalid="ignore", over="ignore"):
                ref.step(g.copy())
            fast.step(g.copy())
        np.testing.assert_array_equal(ref_p, fast_p)  # NaN where NaN, ±inf where ±inf


@pytest.mark.parametrize("accel", ["numpy", "numba"])
def test_a_diverging_run_stops_at_the_same_epoch_with_either_engine(nnctl, write, monkeypatch, tmp_path, accel):
    monkeypatch.setenv("NNCTL_ACCEL", accel)
    cfg = write("d.yaml", """
        data: {source: line, n: 64}
        model: {layers: [{units: 32, activation: identity}, {units: 1, activation: identity}]}
        train: {loss: mse, optimizer: {name: sgd, lr: 0.15, momentum: 0.9}, batch_size: 8, epochs: 50}
        """)
    r = nnctl("train", cfg, "--out", tmp_path / "m.npz", "-q")
    assert r.code == 1 and not (tmp_path / "m.npz").exists()
    assert "training diverged at epoch 3: the loss is not finite" in r.stderr


@pytest.mark.parametrize("args", [["--help"], ["train", "configs/iris.yaml", "-q", "--out", "{tmp}/m.npz"]])
def test_help_and_small_runs_never_import_numba(args, tmp_path):
    """`nnctl --help`'s start-up stays as it was, and a small Adam run does not pay for numba."""
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code = ("import sys\nfrom nnctl.cli import main\nsys.argv = ['nnctl'] + " + repr(argv) + "\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print('numba' in sys.modules, 'nnctl.engine.kernels' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "NNCTL_ACCEL"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    numba_loaded, kernels_loaded = out.stdout.split()[-2:]
    assert numba_loaded == "False"
    assert kernels_loaded == ("False" if args == ["--help"] else "True")
