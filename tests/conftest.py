"""Shared helpers: run the CLI as a user would, and write small config and CSV files."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nnctl.cli import app

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"
DATASETS = ROOT / "datasets"


class Run:
    def __init__(self, result):
        self.result = result
        self.code = result.exit_code
        self.stdout = result.stdout
        self.stderr = result.stderr

    def json(self):
        return json.loads(self.stdout)

    def __repr__(self):
        return f"<exit {self.code}\nstdout: {self.stdout}\nstderr: {self.stderr}>"


@pytest.fixture
def nnctl():
    """nnctl('train', 'x.yaml', input='...') → Run with code, stdout, stderr."""
    runner = CliRunner()

    def run(*args, input: str | None = None) -> Run:
        return Run(runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False))

    return run


@pytest.fixture
def write(tmp_path):
    """write('name.yaml', text) → path, dedenting the text."""

    def _write(name: str, text: str | bytes) -> Path:
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            p.write_bytes(text)
        else:
            p.write_text(textwrap.dedent(text).lstrip("\n"))
        return p

    return _write


XOR = """
    seed: 0
    data: {source: xor}
    model:
      layers:
        - {units: 4, activation: tanh}
        - {units: 1, activation: sigmoid}
    train:
      loss: bce
      optimizer: {name: sgd, lr: 0.1, momentum: 0.9}
      epochs: 300
      log_every: 100
    """


# Minibatches, validation and Adam: a run with state in every part a checkpoint keeps.
MINIBATCH = """
    seed: 3
    data: {source: moons, n: 120, noise: 0.2, validation_split: 0.25}
    model:
      layers:
        - {units: 8, activation: tanh}
        - {units: 1, activation: sigmoid}
    train:
      loss: bce
      optimizer: {name: adam, lr: 0.01}
      batch_size: 16
      epochs: 12
      log_every: 4
    """


# A user's plugin file: Swish, and a BadSwish that forgets the product rule in its derivative.
PLUGINS = """
    import numpy as np
    class Swish:
        def forward(self, z):
            return z / (1 + np.exp(-z))
        def derivative(self, z, a):
            s = 1 / (1 + np.exp(-z))
            return s + z * s * (1 - s)
    class BadSwish(Swish):
        def derivative(self, z, a):
            return 1 / (1 + np.exp(-z))
    """


@pytest.fixture
def xor_config(write):
    return write("xor.yaml", XOR)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Every test runs in its own folder, so default outputs never land in the repository."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(params=["arrow", "numpy"])
def csv_engine(request, monkeypatch):
    """Run a test with each CSV engine: pyarrow's reader (the arrow extra) and NumPy's."""
    if request.param == "arrow":
        import pyarrow  # noqa: F401 - the arrow extra is a test extra: missing is a failure, not a skip
    monkeypatch.setenv("NNCTL_CSV_ENGINE", request.param)
    return request.param


@pytest.fixture(params=[1, 2], ids=["in-process", "pool"])
def parse_workers(request, monkeypatch):
    """Run a test with chunks parsed in this process, and by a pool of two workers (threads for
    the arrow engine, forked processes for NumPy's) whatever the file's size."""
    from nnctl.data import parallel

    monkeypatch.setattr(parallel, "MIN_BYTES", 0)
    monkeypatch.setenv("NNCTL_PARSE_WORKERS", str(request.param))
    return request.param


NNCTL = [sys.executable, "-m", "nnctl"]


def run_nnctl(args, cwd, **kw) -> subprocess.CompletedProcess:
    """`python -m nnctl ARGS` in a real process, in `cwd`, its output captured as text."""
    return subprocess.run([*NNCTL, *map(str, args)], cwd=cwd, capture_output=True, text=True, **kw)


def one_error(r, *words, code=2):
    """The command failed with `code` and exactly one `error:` line holding every word."""
    assert r.returncode == code, r
    assert "Traceback" not in r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, r.stderr
    for w in words:
        assert w in r.stderr, (w, r.stderr)
