"""nnctl as a whole process: Ctrl-C, a closed pipe, click's own usage errors, python -m nnctl."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap

from ..conftest import XOR

NNCTL = [sys.executable, "-m", "nnctl"]


def _config(tmp_path, text=XOR, name="c.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip("\n"))
    return p


SLOW_LINE = """
    seed: 4
    data: {source: line, n: 4000}
    model:
      layers:
        - {units: 8, activation: tanh}
        - {units: 1, activation: identity}
    train:
      loss: mse
      optimizer: {name: adam, lr: 0.01}
      batch_size: 1
      epochs: 6
      log_every: 1
    """


def test_ctrl_c_checkpoints_exits_130_and_resume_gives_the_same_bytes(tmp_path):
    cfg = _config(tmp_path, SLOW_LINE)
    (tmp_path / "m.npz").write_bytes(b"the model from yesterday")
    proc = subprocess.Popen([*NNCTL, "train", cfg, "--out", "m.npz"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = ""
    while "\n         1 " not in seen:  # the header and epoch 1's row: training is under way
        line = proc.stderr.readline()
        assert line, "nnctl exited before training started"
        seen += line
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "--resume m.ckpt.npz" in err and "Traceback" not in err
    assert (tmp_path / "m.npz").read_bytes() == b"the model from yesterday"
    assert sorted(os.listdir(tmp_path)) == ["c.yaml", "m.ckpt.npz", "m.npz"]  # no temporary file left

    resumed = subprocess.run([*NNCTL, "train", cfg, "--out", "m.npz", "--resume", "m.ckpt.npz", "-q"],
                             cwd=tmp_path, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    (tmp_path / "straight").mkdir()
    straight = subprocess.run([*NNCTL, "train", cfg, "--out", "m.npz", "-q"], cwd=tmp_path / "straight")
    assert straight.returncode == 0
    assert (tmp_path / "m.npz").read_bytes() == (tmp_path / "straight" / "m.npz").read_bytes()


def test_predict_into_a_closed_pipe_exits_quietly(tmp_path):
    cfg = _config(tmp_path)
    assert subprocess.run([*NNCTL, "train", cfg, "-q", "--out", "m.npz"], cwd=tmp_path).returncode == 0
    rows = "x1,x2\n" + "0,1\n1,1\n" * 100_000
    (tmp_path / "big.csv").write_text(rows)
    predict = subprocess.Popen([*NNCTL, "predict", "m.npz", "big.csv"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    head = subprocess.run(["head", "-n", "2"], stdin=predict.stdout, capture_output=True, text=True)
    predict.stdout.close()
    err = predict.stderr.read().decode()
    predict.wait(timeout=60)
    assert head.stdout.splitlines() == ["y", "1"]
    assert predict.returncode == 0 and err == ""


def test_usage_errors_are_one_line_and_exit_2(tmp_path):
    for args, words in [(["train"], "Missing argument 'config'"),
                        (["train", "c.yaml", "--epochs", "zero"], "--epochs"),
                        (["frobnicate"], "No such command 'frobnicate'")]:
        r = subprocess.run([*NNCTL, *args], cwd=tmp_path, capture_output=True, text=True)
        assert r.returncode == 2, r
        assert r.stderr.startswith("error: ") and words in r.stderr and len(r.stderr.splitlines()) == 1


def test_debug_shows_the_traceback(tmp_path):
    r = subprocess.run([*NNCTL, "train", "missing.yaml", "--debug"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" in r.stderr and "no such file" in r.stderr


def test_no_color_and_plain_lines_when_not_a_terminal(tmp_path):
    cfg = _config(tmp_path)
    r = subprocess.run([*NNCTL, "train", cfg], cwd=tmp_path, capture_output=True, text=True,
                       env={**os.environ, "NO_COLOR": "1"})
    assert r.returncode == 0
    assert "\r" not in r.stderr and "\x1b[" not in r.stderr
    assert len(r.stderr.splitlines()) == 1 + 4 + 1  # header, epochs 1/100/200/300, summary


def test_rows_once_under_a_live_bar_on_a_terminal(tmp_path):
    """With a terminal (forced through Rich's TTY_COMPATIBLE), each row is printed once above a
    live progress bar, which is gone at the end (tests/test_long_runs.py drives a real pty)."""
    cfg = _config(tmp_path)
    env = {**os.environ, "TTY_COMPATIBLE": "1", "NO_COLOR": "1", "COLUMNS": "100"}
    r = subprocess.run([*NNCTL, "train", cfg], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", r.stderr)  # styles and cursor moves
    assert "\x1b[" in r.stderr  # the live bar drives the cursor
    rows = [line for line in plain.splitlines() if re.match(r"^ +(1|100|200|300) ", line)]
    assert [row.split()[0] for row in rows] == ["1", "100", "200", "300"]  # each row once, in order
    assert "trained 300 epochs" in plain


def test_a_wheel_holds_every_package_of_the_source(tmp_path):
    """`pip install .` (not editable) must install every subpackage: `nnctl.sweep` was once left
    out by a package list that named only `nnctl`."""
    import shutil
    import zipfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    src = tmp_path / "src"
    shutil.copytree(root / "nnctl", src / "nnctl", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "dist")], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("nnctl-*.whl")
    packaged = {n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".py")}
    source = {p.relative_to(src).as_posix() for p in (src / "nnctl").rglob("*.py")}
    assert source - packaged == set()
    assert {"nnctl/sweep/__init__.py", "nnctl/engine/kernels.py", "nnctl/sweep/backends/local.py"} <= packaged


def test_a_python_without_the_dependencies_gets_one_line_and_exit_2():
    code = ("import sys; sys.modules['typer'] = None; sys.argv = ['nnctl', '--help']\n"
            "from nnctl.__main__ import main; main()")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("error: nnctl needs typer") and len(r.stderr.strip().splitlines()) == 1
