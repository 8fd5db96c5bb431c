"""SIGTERM at any moment of any command, as Slurm, Kubernetes or `timeout` send it: exit 143 and
one `error:` line, never a traceback or exit 1 (docs/errors.md, "Ctrl-C and SIGTERM"). Before
nnctl's own code runs (the interpreter starting), the default action ends the process: -15 here,
143 in a shell."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ..conftest import DATASETS, XOR

NNCTL = [sys.executable, "-m", "nnctl"]
SCRIPT = [str(Path(sys.executable).with_name("nnctl"))]
DELAYS = [0.0, 0.05, 0.15, 0.4, 1.0]  # interpreter start, imports and arguments, data, work, work
LONG_XOR = XOR.replace("epochs: 300", "epochs: 1000000")
SWEEP = f"""
seed: 0
data: {{source: csv, path: {DATASETS / 'iris.csv'}, target: species, validation_split: 0.2}}
model: {{layers: [{{units: 8, activation: relu}}, {{units: auto, activation: softmax}}]}}
train: {{loss: cross_entropy, optimizer: {{name: adam, lr: 0.01}}, epochs: 20000, batch_size: 16}}
sweep: {{method: grid, parameters: {{train.optimizer.lr: {{values: [0.001, 0.01, 0.1, 0.2]}}}}}}
"""
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


def _terminated(proc: subprocess.Popen, delay: float) -> tuple[int, str]:
    time.sleep(delay)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


def _check(code: int, err: str, delay: float) -> None:
    assert "Traceback" not in err, (delay, err)
    if code == -signal.SIGTERM:  # the default action: nnctl's code had not started
        assert delay < 0.1 and err == "", (delay, err)
        return
    assert code == 143, (delay, code, err)
    assert err.strip().splitlines()[-1].startswith("error: "), err


@pytest.fixture
def files(tmp_path):
    (tmp_path / "xor.yaml").write_text(LONG_XOR)
    (tmp_path / "quick.yaml").write_text(XOR)
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    subprocess.run([*NNCTL, "train", "quick.yaml", "-q", "--out", "m.npz"], cwd=tmp_path, check=True)
    rng = np.random.default_rng(0)
    np.savetxt(tmp_path / "rows.csv", rng.random((200_000, 2)), delimiter=",", header="x1,x2", comments="",
               fmt="%.6f")
    return tmp_path


COMMANDS = {
    "train": ["train", "xor.yaml", "--out", "t.npz"],
    "predict": ["predict", "m.npz", "rows.csv", "--output", "p.csv"],
    "predict-stdin": ["predict", "m.npz", "-"],  # waits for rows that never come
    "sweep": ["sweep", "sweep.yaml", "--workers", "2", "--out", "s"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_sigterm_at_any_moment_is_143_and_one_line(files, command):
    for delay in DELAYS:
        shutil.rmtree(files / "s", ignore_errors=True)
        (files / "p.csv").unlink(missing_ok=True)
        proc = subprocess.Popen([*NNCTL, *COMMANDS[command]], cwd=files, stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        code, err = _terminated(proc, delay)
        if command == "predict" and _finished(files / "p.csv", code, err):
            continue
        _check(code, err, delay)


def _finished(output, code: int, err: str) -> bool:
    """predict finished first: exit 0, or the signal met the interpreter winding down after every
    row was written (Python has put the default handlers back by then: -15 here, 143 in a shell,
    and no line to print)."""
    complete = output.exists() and output.read_text().count("\n") == 200_001
    return complete and (code == 0 or (code == -signal.SIGTERM and err == ""))


def test_the_console_script_and_ctrl_c(files):
    for delay in (0.05, 0.3, 1.0):
        proc = subprocess.Popen([*SCRIPT, *COMMANDS["train"]], cwd=files, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        _check(*_terminated(proc, delay), delay)
    proc = subprocess.Popen([*SCRIPT, *COMMANDS["predict-stdin"]], cwd=files, stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err and err.startswith("error: "), err


def test_sigterm_under_ray_is_143_with_the_local_backends_message(files):
    """ray.init installs Ray's own handlers (SIGTERM → exit 15; in a wait, a SystemError): nnctl
    takes them back. Once while Ray starts, once while runs are in flight."""
    env = {**os.environ, **RAY_ENV}
    for wait_for in (None, "sweep:"):
        shutil.rmtree(files / "s", ignore_errors=True)
        proc = subprocess.Popen([*NNCTL, *COMMANDS["sweep"], "--backend", "ray"], cwd=files, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        head = ""
        if wait_for is None:
            time.sleep(1.5)
        else:
            while wait_for not in head and proc.poll() is None:
                head += proc.stderr.readline()
            time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=180)
        err = head + err
        assert proc.returncode == 143 and "Traceback" not in err, err
        assert "error: terminated (SIGTERM): runs in progress were stopped" in err.strip().splitlines()[-1]


def test_a_signal_whose_exception_a_library_swallowed_is_raised_again():
    """pyarrow's lazy import of pandas swallowed the Terminated a SIGTERM raised, and a sweep ran
    on to exit 0; the waits and the training's stop flag ask the signals module again."""
    code = """
import os, signal, time
from nnctl import signals
signals.install()
try:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(1)
except BaseException:
    pass  # a library that catches everything
flag = [False]
with signals.stop_requests(flag) as stop:
    assert flag[0] and stop.exit_status == 143
try:
    signals.raise_pending()
except signals.Terminated:
    print("raised again")
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "raised again", r.stderr
