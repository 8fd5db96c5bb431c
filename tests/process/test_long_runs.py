"""Long runs, batch schedulers and big files (issue 13), through the real command: a terminal
that never freezes, SIGTERM, quiet runs without per-epoch work, streaming predict, completion,
`units: auto`."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import textwrap
import time
from pathlib import Path

import numpy as np
import pyte
import pytest

from ..conftest import CONFIGS, DATASETS, ROOT, XOR

NNCTL = [sys.executable, "-m", "nnctl"]
SLOW = """
    seed: 4
    data: {source: line, n: 4000}
    model: {layers: [{units: 8, activation: tanh}, {units: 1}]}
    train: {loss: mse, optimizer: adam, batch_size: 1, epochs: 6, log_every: 1}
    """


def _config(tmp_path, text=XOR, name="c.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip("\n"))
    return p


# --- 1. a terminal that never freezes -----------------------------------------------------------

def test_on_an_18_line_terminal_the_newest_row_and_the_bar_stay_in_view(tmp_path):
    rows, cols = 18, 100
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS", "LINES", "TTY_COMPATIBLE")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen([*NNCTL, "train", str(CONFIGS / "xor.yaml"), "--epochs", "150000", "--set",
                             "train.log_every=1000", "-o", "p.npz"], cwd=tmp_path, stdin=child, stdout=child,
                            stderr=child, env=env)
    os.close(child)
    screen = pyte.Screen(cols, rows)
    stream = pyte.ByteStream(screen)
    raw, snapshots = b"", []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if select.select([main], [], [], 0.1)[0]:
            try:
                data = os.read(main, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            raw += data
            stream.feed(data)
            # a snapshot where a write ends, once the bar is drawn again (a row is printed by
            # clearing the bar, writing the row and redrawing the bar: a read may end in between)
            settled = b"/150000" in raw.rsplit(b"\n", 1)[-1]
            if raw.count(b"\n") > 40 and len(snapshots) < 5 and settled:
                snapshots.append((raw.decode(errors="replace"), list(screen.display)))
        elif proc.poll() is not None:
            break
    os.close(main)
    assert proc.wait(timeout=60) == 0
    assert snapshots, "no output while training"
    for text, display in snapshots:  # while it runs
        plain = _plain(text)
        newest = max(int(m) for m in re.findall(r"^ +(\d+)  ", plain, re.M))
        bar = [line for line in display if "/150000" in line]
        assert len(bar) == 1 and display.index(bar[0]) >= rows - 2, display  # the bar, at the bottom
        assert any(re.match(rf"^ +{newest} ", line) for line in display), (newest, display)  # the newest row
    plain = _plain(raw.decode(errors="replace"))
    logged = [1, *range(1000, 150001, 1000)]
    for epoch in logged:  # each row once in the scrollback, in order
        assert len(re.findall(rf"^ +{epoch}  ", plain, re.M)) == 1, epoch
    assert "trained 150000 epochs" in "\n".join(screen.display)


def _plain(text: str) -> str:
    """A terminal's byte stream as lines of text: escape sequences dropped, CR as a line break."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).replace("\r", "\n")


# --- 2. SIGTERM ----------------------------------------------------------------------------------

def test_sigterm_checkpoints_exits_143_and_resume_finishes(tmp_path):
    cfg = _config(tmp_path, SLOW)
    (tmp_path / "m.npz").write_bytes(b"old")
    proc = subprocess.Popen([*NNCTL, "train", cfg, "--out", "m.npz"], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    while True:  # the header and epoch 1's row: training is under way
        line = proc.stderr.readline()
        assert line, "nnctl exited before training started"
        if line.startswith("         1 "):
            break
    proc.send_signal(signal.SIGTERM)
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 143, err
    assert "SIGTERM" in err and "--resume m.ckpt.npz" in err and "Traceback" not in err
    assert (tmp_path / "m.npz").read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["c.yaml", "m.ckpt.npz", "m.npz"]
    resumed = subprocess.run([*NNCTL, "train", cfg, "--out", "m.npz", "--resume", "m.ckpt.npz", "-q"], cwd=tmp_path)
    assert resumed.returncode == 0


def test_sigterm_during_predict_output_leaves_no_partial_file(tmp_path):
    cfg = _config(tmp_path)
    assert subprocess.run([*NNCTL, "train", cfg, "-q", "-o", "m.npz"], cwd=tmp_path).returncode == 0
    proc = subprocess.Popen([*NNCTL, "predict", "m.npz", "-", "--output", "out.csv"], cwd=tmp_path,
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(b"x1,x2\n0,1\n")
    proc.stdin.flush()
    deadline = time.monotonic() + 30
    while not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")] and time.monotonic() < deadline:
        time.sleep(0.05)  # the rows are being written to the temporary file
    proc.send_signal(signal.SIGTERM)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=30) == 143, err
    assert "SIGTERM" in err and "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == ["c.yaml", "m.npz"]


# --- 3. quiet runs attach nothing ------------------------------------------------------------------

@pytest.mark.parametrize("flags, hooked", [(["-q"], False), (["--json"], False), ([], True),
                                           (["-q", "--checkpoint-every", "5"], True)])
def test_quiet_and_json_runs_attach_no_per_epoch_hook(nnctl, xor_config, monkeypatch, flags, hooked):
    from nnctl.training import trainer as train

    seen = []
    original = train.Trainer.fit

    def fit(self, on_epoch=None):
        seen.append(on_epoch)
        return original(self, on_epoch)

    monkeypatch.setattr(train.Trainer, "fit", fit)
    assert nnctl("train", xor_config, *flags).code == 0
    assert (seen[0] is not None) == hooked


# --- 4. streaming predict --------------------------------------------------------------------------

@pytest.fixture
def model(tmp_path):
    cfg = _config(tmp_path)
    assert subprocess.run([*NNCTL, "train", cfg, "-q", "-o", "m.npz"], cwd=tmp_path).returncode == 0
    return tmp_path / "m.npz"


def test_a_pipe_fed_row_by_row_gets_answers_row_by_row(model, tmp_path):
    proc = subprocess.Popen([*NNCTL, "predict", model, "-", "--proba"], cwd=tmp_path, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(b"x1,x2\n")
    answers = []
    for row in (b"0,1\n", b"1,1\n", b"1,0\n"):
        proc.stdin.write(row)
        proc.stdin.flush()
        ready = select.select([proc.stdout], [], [], 30)[0]
        assert ready, "no answer while the input stays open"
        answers.append(proc.stdout.readline() if answers else (proc.stdout.readline(), proc.stdout.readline()))
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0
    assert answers[0][0].startswith(b"y,p_0,p_1") and answers[0][1].startswith(b"1,")
    assert answers[1].startswith(b"0,") and answers[2].startswith(b"1,")


def test_a_bad_row_after_written_rows_names_its_line(model, tmp_path):
    good = "0,1\n" * 70_000
    (tmp_path / "in.csv").write_text("x1,x2\n" + good + "0,abc\n" + good)
    r = subprocess.run([*NNCTL, "predict", model, "in.csv"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 2 and "line 70002, column 2 ('x2'): 'abc' is not a number" in r.stderr
    written = r.stdout.splitlines()
    assert written[0] == "y" and 0 < len(written) - 1 < 70_001 and set(written[1:]) == {"1"}
    out = subprocess.run([*NNCTL, "predict", model, "in.csv", "--output", "o.csv"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert out.returncode == 2 and not (tmp_path / "o.csv").exists()
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_streamed_predictions_equal_the_models_forward_pass(model, tmp_path):
    from nnctl.io.modelfile import load

    rng = np.random.default_rng(0)
    X = rng.normal(size=(150_000, 2))
    lines = ["x2,x1,id"] + [f"{b!r},{a!r},r{i}" for i, (a, b) in enumerate(X.tolist())]
    (tmp_path / "in.csv").write_text("\r\n".join(lines) + "\r\n\r\n")  # CRLF, extra column, blank line
    r = subprocess.run([*NNCTL, "predict", model, "in.csv", "--proba"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    got = np.array([[float(v) for v in line.split(",")[1:]] for line in r.stdout.splitlines()[1:]])
    mf = load(model)
    p1 = mf.model.predict(mf.transform(X))[:, 0]
    np.testing.assert_array_equal(got[:, 1], p1)
    assert got.shape == (150_000, 2)


def _peak_mb(args, cwd) -> float:
    code = ("import re, runpy, sys; sys.argv = ['nnctl'] + sys.argv[1:]\n"
            "try:\n    runpy.run_module('nnctl', run_name='__main__')\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            "finally:\n    status = open('/proc/self/status').read()\n"
            "    print(re.search(r'VmHWM:\\s+(\\d+)', status)[1], file=sys.stderr)\n")
    r = subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=cwd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return int(r.stderr.strip().splitlines()[-1]) / 1024


def test_predict_memory_does_not_grow_with_the_input(model, tmp_path):
    (tmp_path / "small.csv").write_text("x1,x2\n" + "0.25,0.5\n" * 50_000)
    (tmp_path / "large.csv").write_text("x1,x2\n" + "0.25,0.5\n" * 800_000)
    small = _peak_mb(["predict", model, "small.csv", "--proba", "--output", "s.csv"], tmp_path)
    large = _peak_mb(["predict", model, "large.csv", "--proba", "--output", "l.csv"], tmp_path)
    assert len((tmp_path / "l.csv").read_text().splitlines()) == 800_001
    assert large - small < 25 and large < 160, (small, large)


def test_a_file_size_limit_during_predict_output_is_exit_2_and_no_file(model, tmp_path):
    import resource

    (tmp_path / "in.csv").write_text("x1,x2\n" + "0,1\n" * 5000)

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    r = subprocess.run([*NNCTL, "predict", model, "in.csv", "--proba", "--output", "o.csv"], cwd=tmp_path,
                       capture_output=True, text=True, preexec_fn=limit)
    assert r.returncode == 2 and "o.csv" in r.stderr and "File too large" in r.stderr
    assert len([line for line in r.stderr.splitlines() if line.startswith("error: ")]) == 1
    assert sorted(os.listdir(tmp_path)) == ["c.yaml", "in.csv", "m.npz"]


# --- 6. completion --------------------------------------------------------------------------------

def test_bash_completion_completes_commands_and_options(tmp_path):
    script = subprocess.run([*NNCTL, "completion", "bash"], capture_output=True, text=True)
    assert script.returncode == 0 and "_NNCTL_COMPLETE" in script.stdout
    (tmp_path / "c.bash").write_text(script.stdout)
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "nnctl").write_text(f"#!/bin/sh\nexec {sys.executable} -m nnctl \"$@\"\n")
    (shim / "nnctl").chmod(0o755)
    env = {**os.environ, "PATH": f"{shim}:{os.environ['PATH']}"}

    def complete(words: str) -> list[str]:
        cmd = (f"source {tmp_path / 'c.bash'}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); "
               "_nnctl_completion nnctl; printf '%s\\n' \"${COMPREPLY[@]}\"")
        return subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=env).stdout.split()

    assert complete("nnctl tr") == ["train"]
    assert "--epochs" in complete("nnctl train x.yaml --ep")
    for shell in ("zsh", "fish"):
        out = subprocess.run([*NNCTL, "completion", shell], capture_output=True, text=True)
        assert out.returncode == 0 and "_NNCTL_COMPLETE" in out.stdout
    bad = subprocess.run([*NNCTL, "completion", "tcsh"], capture_output=True, text=True)
    assert bad.returncode == 2 and "bash, zsh, fish" in bad.stderr


# --- 7. units: auto -------------------------------------------------------------------------------

def test_the_csv_starter_needs_only_a_path_and_a_target(nnctl, tmp_path):
    text = nnctl("init", "csv").stdout
    assert "units: auto" in text
    (tmp_path / "iris.csv").write_bytes((DATASETS / "iris.csv").read_bytes())
    cfg = tmp_path / "my.yaml"
    cfg.write_text(text.replace("path: data.csv", "path: iris.csv").replace("target: label", "target: species"))
    assert "{units: 3, activation: softmax" in nnctl("config", cfg).stdout
    doc = nnctl("train", cfg, "--json", "--epochs", "5").json()
    assert doc["parameters"] == 4 * 16 + 16 + 16 * 3 + 3
    info = nnctl("info", "model.npz", "--json").json()
    assert info["layers"][-1]["units"] == 3 and info["config"]["model"]["layers"][-1]["units"] == 3


@pytest.mark.parametrize("loss, out, units", [("bce", "sigmoid", 1), ("mse", "identity", 2)])
def test_auto_units_for_bce_and_multi_target_mse(nnctl, write, loss, out, units):
    write("d.csv", "a,b,t1,t2\n1,2,0,5\n2,1,1,6\n3,3,0,7\n4,1,1,8\n")
    target = "t1" if loss == "bce" else "[t1, t2]"
    cfg = write("c.yaml", f"""
        data: {{source: csv, path: d.csv, target: {target}, features: [a, b]}}
        model: {{layers: [{{units: 4, activation: tanh}}, {{units: auto, activation: {out}}}]}}
        train: {{loss: {loss}, epochs: 3}}
        """)
    assert nnctl("train", cfg, "-q").code == 0
    assert nnctl("info", "c.npz", "--json").json()["layers"][-1]["units"] == units


def test_auto_units_on_a_hidden_layer_is_refused(nnctl, write):
    cfg = write("c.yaml", "data: {source: xor}\nmodel: {layers: [{units: auto}, {units: 1, activation: sigmoid}]}\n"
                          "train: {loss: bce}\n")
    r = nnctl("train", cfg)
    assert r.code == 2 and "auto is for the output layer only" in r.stderr


# --- 8. the README is a user's page ---------------------------------------------------------------

def test_the_readme_is_for_users_and_the_engine_essay_lives_with_the_benchmarks(nnctl):
    readme = (ROOT / "README.md").read_text()
    bench = (ROOT / "benchmarks" / "README.md").read_text()
    assert "pip install . && nnctl train configs/xor.yaml" in readme and "pytest" in readme
    assert "benchmarks/README.md" in readme
    assert "The fused SGD update" in bench and "The fused SGD update" not in readme
    for command in ("train", "predict", "evaluate", "info", "gradcheck", "plot", "init", "config", "schema",
                    "completion"):
        assert f"nnctl {command}" in readme, command
    assert len(readme.encode()) < len((ROOT / "README.md").read_bytes()) + 1  # read as bytes, the same page
    assert "How the engine gets there" not in readme
    assert Path(ROOT / "benchmarks" / "longruns.py").exists()


@pytest.mark.parametrize("kind", ["xor", "line", "csv"])
def test_the_starter_configs_comments_line_up(nnctl, kind):
    text = nnctl("init", kind).stdout
    columns = {line.index(" # ") + 1 for line in text.splitlines()
               if " # " in line and not line.lstrip().startswith("#") and len(line.split(" # ")[0].rstrip()) < 29}
    assert columns == {30}, (kind, columns)
