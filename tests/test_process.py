"""nnctl as a whole process: Ctrl-C, a closed pipe, click's own usage errors, python -m nnctl."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from .conftest import XOR

NNCTL = [sys.executable, "-m", "nnctl"]


def _config(tmp_path, text=XOR, name="c.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip("\n"))
    return p


def test_ctrl_c_exits_130_and_leaves_the_old_file(tmp_path):
    cfg = _config(tmp_path, XOR.replace("epochs: 300", "epochs: 100000000").replace("log_every: 100", "log_every: 1"))
    (tmp_path / "m.npz").write_bytes(b"the model from yesterday")
    proc = subprocess.Popen([*NNCTL, "train", cfg, "--out", "m.npz"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = ""
    while "  2 " not in seen:  # the header and a couple of epochs: training is under way
        line = proc.stderr.readline()
        assert line, "nnctl exited before training started"
        seen += line
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "interrupted" in err and "Traceback" not in err
    assert (tmp_path / "m.npz").read_bytes() == b"the model from yesterday"
    assert sorted(os.listdir(tmp_path)) == ["c.yaml", "m.npz"]  # no temporary file left


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
