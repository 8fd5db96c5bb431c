"""nnctl plot: the PNG it writes, where, and what it says without matplotlib."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("config,panels", [("xor.yaml", "decision boundary"), ("line.yaml", "fitted curve")])
def test_plot_writes_a_png(nnctl, config, panels, tmp_path):
    from ..conftest import CONFIGS

    assert nnctl("train", CONFIGS / config, "-q", "--out", "m.npz", "--epochs", "20").code == 0
    r = nnctl("plot", "m.npz")
    assert r.code == 0 and panels in r.stderr
    png = (tmp_path / "m.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_plot_without_matplotlib_says_how_to_get_it(nnctl, xor_config, monkeypatch):
    import sys

    nnctl("train", xor_config, "-q")
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    r = nnctl("plot", "xor.npz")
    assert r.code == 2 and "pip install 'nnctl[plot]'" in r.stderr and "Traceback" not in r.stderr


def test_plot_default_output_is_the_model_stem_in_the_current_folder(nnctl, xor_config, tmp_path):
    (tmp_path / "runs").mkdir()
    nnctl("train", xor_config, "-q", "--out", "runs/first.npz")
    assert nnctl("plot", "runs/first.npz").code == 0
    assert (tmp_path / "first.png").exists() and not (tmp_path / "runs" / "first.png").exists()
