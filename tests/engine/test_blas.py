"""NumPy's own BLAS gemm (β = 1) and plain SGD's update fused into the weight-gradient products."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnctl.config.loader import load_config
from nnctl.engine import blas, workspace
from nnctl.errors import DivergedError
from nnctl.training.trainer import setup

from ..conftest import CONFIGS, XOR
from ..training.test_checkpoint import straight_and_resumed


def _numpy_bundles_openblas64() -> bool:
    """NumPy's wheels: OpenBLAS built as scipy-openblas64, with 64-bit integers."""
    blas_info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    return blas_info.get("name") == "scipy-openblas" and "USE64BITINT" in blas_info.get("openblas configuration", "")


AVAILABLE = _numpy_bundles_openblas64()


@pytest.fixture
def fresh_lookup():
    blas.gemm.cache_clear()
    yield
    blas.gemm.cache_clear()


@pytest.fixture
def fuse_any_size(monkeypatch):
    monkeypatch.setattr(workspace, "FUSE_MIN_PARAMS", 0)


def test_numpys_own_blas_is_found_where_numpy_bundles_it(fresh_lookup):
    for dtype in (np.float32, np.float64):
        assert (blas.gemm(dtype) is not None) == AVAILABLE
    assert blas.gemm(np.int64) is None and blas.gemm(np.float16) is None


def test_nnctl_blas_numpy_turns_it_off(fresh_lookup, monkeypatch):
    monkeypatch.setenv("NNCTL_BLAS", "numpy")
    assert blas.gemm(np.float64) is None


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 9), n=st.integers(1, 9), k=st.integers(1, 9), ta=st.booleans(), tb=st.booleans(),
       pad=st.integers(0, 3), alpha=st.sampled_from([-1.0, 0.5, 2.0]), beta=st.sampled_from([0.0, 1.0, -0.25]),
       dtype=st.sampled_from(["float32", "float64"]), seed=st.integers(0, 2 ** 16))
def test_gemm_is_alpha_a_b_plus_beta_c(m, n, k, ta, tb, pad, alpha, beta, dtype, seed):
    """Against NumPy, every transpose, on views whose rows are longer than their columns (lda > cols)."""
    g = blas.gemm(dtype)
    assert (g is not None) == AVAILABLE
    if g is None:
        return
    rng = np.random.default_rng(seed)

    def matrix(rows, cols):  # a view into a wider array: its leading dimension is cols + pad
        return rng.normal(size=(rows, cols + pad)).astype(dtype)[:, :cols]

    def expected(b, c):
        return alpha * ((a.T if ta else a).astype(np.float64) @ (b.T if tb else b)) + beta * c

    tol = {"rtol": 1e-4, "atol": 1e-5} if dtype == "float32" else {"rtol": 1e-12, "atol": 1e-13}
    a, b, c = matrix(*((k, m) if ta else (m, k))), matrix(*((n, k) if tb else (k, n))), matrix(m, n)
    want = expected(b, c)
    g.bind(a, ta, b, tb, c, alpha, beta)()
    np.testing.assert_allclose(c, want, **tol)
    b, c = matrix(*((n, k) if tb else (k, n))), matrix(m, n)
    want = expected(b, c)
    g.bind(a, ta, None, tb, c, alpha, beta)(b)  # B given per call
    np.testing.assert_allclose(c, want, **tol)


def test_gemm_refuses_arrays_it_cannot_address():
    g = blas.gemm(np.float64)
    assert (g is not None) == AVAILABLE
    if g is None:
        return
    a, b, c = np.ones((4, 3)), np.ones((3, 5)), np.ones((4, 5))
    with pytest.raises(ValueError, match="row-major"):
        g.bind(np.ones((4, 6))[:, ::2], False, b, False, c, 1.0, 0.0)
    with pytest.raises(ValueError, match="row-major"):
        g.bind(a, False, b, False, np.ones((5, 4)).T, 1.0, 0.0)
    with pytest.raises(ValueError, match="shape"):
        g.bind(a, False, b, False, np.ones((5, 5)), 1.0, 0.0)
    with pytest.raises(ValueError, match="dtype"):
        g.bind(a, False, b, False, np.ones((4, 5), np.float32), 1.0, 0.0)
    readonly = np.ones((4, 5))
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        g.bind(a, False, b, False, readonly, 1.0, 0.0)
    with pytest.raises(ValueError, match=r"B is float32\(3, 5\), expected float64\(3, 5\)"):
        g.bind(a, False, b.astype(np.float32), False, c, 1.0, 0.0)
    per_call = g.bind(a, False, None, False, c, 1.0, 0.0)
    with pytest.raises(ValueError, match=r"B is float64\(5, 3\), expected float64\(3, 5\)"):
        per_call(b.T.copy())
    assert (c == 1).all()  # nothing was computed


PLAIN_SGD = """
    seed: 5
    data: {source: moons, n: 200, validation_split: 0.2}
    model: {layers: [{units: 16, activation: relu}, {units: 16, activation: tanh}, {units: 1, activation: sigmoid}]}
    train: {loss: bce, optimizer: {name: sgd, lr: 0.5}, batch_size: 24, epochs: 9, log_every: 4,
            schedule: {name: step, every: 3, gamma: 0.5}}
    """


def _fused_and_separate(cfg, monkeypatch, raw=lambda: None):
    """cfg trained twice: with the update inside the products (where NumPy's BLAS is reachable)
    and with the NumPy-only step (NNCTL_BLAS=numpy). `raw()` gives each run its rows, if any."""
    fused = setup(cfg, raw=raw())
    assert (fused.ws.gemm is not None) == AVAILABLE
    assert fused.update == (fused.optimizer.step_applied if AVAILABLE else fused.optimizer.step_scaled)
    monkeypatch.setenv("NNCTL_BLAS", "numpy")
    blas.gemm.cache_clear()
    separate = setup(cfg, raw=raw())
    assert separate.ws.gemm is None and separate.update == separate.optimizer.step_scaled
    fused.fit()
    separate.fit()
    return fused, separate


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch", ["24", "full"])  # 160 rows: six batches of 24 and a last one of 16
def test_fused_update_trains_like_the_separate_one(write, monkeypatch, fuse_any_size, fresh_lookup, dtype, batch):
    """Plain SGD's update inside the products gives the separate update's weights, losses and
    step count, through learning-rate changes, a smaller last batch and the full-batch loop."""
    text = PLAIN_SGD.replace("batch_size: 24", f"batch_size: {batch}")
    cfg = load_config(write("s.yaml", text), [f"train.dtype={dtype}"])
    fused, separate = _fused_and_separate(cfg, monkeypatch)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(fused.model.flat, separate.model.flat, rtol=rtol, atol=rtol)
    assert [r.loss for r in fused.history] == pytest.approx([r.loss for r in separate.history], rel=rtol)
    assert [r.lr for r in fused.history] == [0.5] * 3 + [0.25] * 3 + [0.125] * 3
    assert fused.optimizer.t == separate.optimizer.t == (9 * 7 if batch == "24" else 9)
    assert fused.model.flat.dtype == np.dtype(dtype)


@pytest.mark.parametrize("change", ["train.optimizer.momentum=0.9", "train.weight_decay=0.01",
                                    "train.optimizer.name=adam"])
def test_only_plain_sgd_without_weight_decay_is_fused(write, fuse_any_size, change):
    trainer = setup(load_config(write("s.yaml", PLAIN_SGD), [change]))
    assert trainer.ws.gemm is None and trainer.update == trainer.optimizer.step


def test_a_small_net_keeps_the_separate_update(write):
    """Below FUSE_MIN_PARAMS a call through ctypes costs more than the update pass it saves."""
    trainer = setup(load_config(write("s.yaml", PLAIN_SGD)))
    assert trainer.model.flat.size < workspace.FUSE_MIN_PARAMS
    assert trainer.ws.gemm is None and trainer.update == trainer.optimizer.step_scaled


def test_a_large_net_is_fused(write):
    trainer = setup(load_config(write("s.yaml", PLAIN_SGD), ["model.layers.0.units=256", "model.layers.1.units=128"]))
    assert trainer.model.flat.size >= workspace.FUSE_MIN_PARAMS
    assert (trainer.ws.gemm is not None) == AVAILABLE


@pytest.mark.parametrize("batches", [3, 10, 40])
def test_fused_run_interrupted_and_resumed_gives_the_same_weights(write, tmp_path, fuse_any_size, batches):
    straight, second = straight_and_resumed(load_config(write("s.yaml", PLAIN_SGD)), tmp_path, batches)
    assert (second.ws.gemm is not None) == AVAILABLE
    assert np.array_equal(second.model.flat, straight.model.flat)
    assert second.optimizer.t == straight.optimizer.t == 63


def test_fused_run_still_reports_divergence(write, fuse_any_size):
    cfg = load_config(write("d.yaml", """
        data: {source: line, standardize: false}
        model: {layers: [{units: 32, activation: relu}, {units: 1, activation: identity}]}
        train: {loss: mse, optimizer: {name: sgd, lr: 50.0}, batch_size: 16, epochs: 1000}
        """))
    trainer = setup(cfg)
    assert (trainer.ws.gemm is not None) == AVAILABLE
    with pytest.raises(DivergedError, match="training diverged at epoch"):
        trainer.fit()


@pytest.mark.parametrize("batch", ["16", "full"])
def test_fused_update_reads_rows_in_place_from_a_wider_array(write, monkeypatch, fuse_any_size, fresh_lookup, batch):
    """Unshuffled batches are slices of the training rows, which may sit inside a wider array
    (rows given directly, their targets beside them): gemm gets their real row stride and trains
    like the NumPy step."""
    from nnctl.data.datasets import RawData

    rng = np.random.default_rng(0)
    rows = rng.normal(size=(64, 5))

    def raw():
        wide = np.c_[rows[:, :3], np.ones(64), rows[:, 3:]]  # [a, b, c, 1, t1, t2]
        return RawData(wide[:, :3], ["a", "b", "c"], ["t1", "t2"], wide[:, 4:], X_aug=wide[:, :4])

    cfg = load_config(write("c.yaml", f"""
        data: {{source: line, standardize: false}}
        model: {{layers: [{{units: 16, activation: tanh}}, {{units: 2, activation: identity}}]}}
        train: {{loss: mse, optimizer: {{name: sgd, lr: 0.1}}, batch_size: {batch}, shuffle: false, epochs: 5}}
        """))
    fused, separate = _fused_and_separate(cfg, monkeypatch, raw)
    X = fused.prepared.split.X_train_aug
    assert X.shape == (64, 4) and X.strides[0] > 4 * X.itemsize  # a view into the wider array
    np.testing.assert_allclose(fused.model.flat, separate.model.flat, rtol=1e-12, atol=1e-12)


def test_the_fused_gemm_declares_its_argument_types():
    g = blas.gemm(np.float64)
    if g is None:  # another BLAS: nothing is fused, nothing to declare
        assert setup(load_config(CONFIGS / "xor.yaml")).ws.gemm is None
        return
    assert len(g.fn.argtypes) == 14


@pytest.mark.parametrize("hidden", [4095, 4096])  # 16 381 and 16 385 parameters: both sides of the threshold
def test_both_sides_of_the_fuse_threshold_agree_with_numpy_to_rounding(write, monkeypatch, hidden):
    text = XOR.replace("units: 4, activation: tanh", f"units: {hidden}, activation: tanh").replace(
        "{name: sgd, lr: 0.1, momentum: 0.9}", "{name: sgd, lr: 0.1}").replace("epochs: 300", "epochs: 5")
    cfg = load_config(write("c.yaml", text))
    auto = setup(cfg)
    assert (auto.ws.gemm is not None) == (hidden == 4096 and blas.gemm(np.float64) is not None)
    auto.fit()
    monkeypatch.setenv("NNCTL_BLAS", "numpy")
    blas.gemm.cache_clear()
    try:
        plain = setup(cfg)
        plain.fit()
    finally:
        monkeypatch.delenv("NNCTL_BLAS")
        blas.gemm.cache_clear()
    np.testing.assert_allclose(auto.model.flat, plain.model.flat, rtol=1e-12, atol=1e-14)
