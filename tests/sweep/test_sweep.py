"""`nnctl sweep` (issue 10): the space, the config section, every status, determinism across
workers and backends, resume, killed workers, signals, the best run, Ray for real on loopback."""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from nnctl.config.schema import SweepConfig
from nnctl.sweep import space

from ..conftest import CONFIGS, DATASETS

NNCTL = [sys.executable, "-m", "nnctl"]
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}

IRIS = f"""
    seed: 0
    data: {{source: csv, path: {DATASETS / 'iris.csv'}, target: species, validation_split: 0.2}}
    model: {{layers: [{{units: 8, activation: relu}}, {{units: auto, activation: softmax}}]}}
    train: {{loss: cross_entropy, optimizer: {{name: adam, lr: 0.01}}, epochs: 40, batch_size: 16}}
    sweep:
      method: grid
      repeats: 2
      parameters:
        train.optimizer.lr: {{values: [0.003, 0.03]}}
        model.layers.0.units: {{values: [4, 8]}}
    """

FAULTS = """
    seed: 0
    data: {source: line, n: 100}
    model: {layers: [{units: 4, activation: tanh}, {units: 1}]}
    train: {loss: mse, optimizer: {name: sgd, lr: 0.1}, epochs: 50}
    sweep:
      method: grid
      metric: loss
      parameters:
        train.optimizer.lr: {values: [0.01, 1.0e+6]}
        model.layers.1.units: {values: [1, 3]}
    """


def _write(tmp_path, text, name="s.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip("\n"))
    return p


def _sweep(tmp_path, *args, env=None):
    return subprocess.run([*NNCTL, "sweep", *map(str, args)], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


def _rows(path: Path) -> dict:
    """trials.csv by (trial, repeat), without the timing column."""
    with open(path, newline="") as fh:
        return {(r["trial"], r["repeat"]): {k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(fh)}


# --- the space -------------------------------------------------------------------------------------

def _section(**params):
    return SweepConfig.model_validate({"method": "random", "trials": 400, "parameters": params})


def test_grid_is_every_combination_in_order():
    sw = SweepConfig.model_validate({"parameters": {"a": {"values": [1, 2, 3]}, "b": {"values": ["x", "y"]}}})
    pts = space.grid(sw)
    assert len(pts) == 6 and pts[0] == {"a": 1, "b": "x"} and pts[1] == {"a": 1, "b": "y"}
    assert pts[-1] == {"a": 3, "b": "y"}


def test_random_ranges_stay_inside_and_integers_reach_both_ends():
    sw = _section(u={"uniform": [-1.0, 2.0]}, lg={"log_uniform": [1e-4, 1e-1]}, i={"int_uniform": [3, 6]},
                  v={"values": ["a", "b"]})
    pts = space.random(sw, seed=7, trials=400)
    u = [p["u"] for p in pts]
    lg = np.log10([p["lg"] for p in pts])
    ints = [p["i"] for p in pts]
    assert -1 <= min(u) and max(u) <= 2
    assert -4 <= lg.min() and lg.max() <= -1 and abs(np.median(lg) + 2.5) < 0.25  # uniform in log space
    assert set(ints) == {3, 4, 5, 6} and all(isinstance(i, int) for i in ints)
    assert {p["v"] for p in pts} == {"a", "b"}


def test_the_same_seed_gives_the_same_points_and_more_trials_extend_them():
    sw = _section(lr={"log_uniform": [1e-3, 1.0]}, n={"int_uniform": [1, 9]})
    assert space.random(sw, 3, 10) == space.random(sw, 3, 10)
    assert space.random(sw, 3, 20)[:10] == space.random(sw, 3, 10)
    assert space.random(sw, 4, 10) != space.random(sw, 3, 10)


# --- the config section -----------------------------------------------------------------------------

@pytest.mark.parametrize("change, words", [
    ({"method": "grid", "parameters": {"train.optimizer.lr": {"uniform": [0.1, 0.5]}}},
     ["sweep", "parameters.train.optimizer.lr", "grid needs a list of values"]),
    ({"metric": "val_acuracy"}, ["sweep.metric", "did you mean 'val_accuracy'"]),
    ({"parameters": {"train.optimizr.lr": {"values": [0.1]}}}, ["sweep.parameters.train.optimizr.lr", "not a key"]),
    ({"parameters": {"train.optimizer.lr": {"log_uniform": [0.0, 1.0]}}}, ["log_uniform needs low > 0"]),
    ({"parameters": {"train.optimizer.lr": {"values": [0.1], "uniform": [0, 1]}}}, ["exactly one of"]),
    ({"metric": "val_loss"}, ["sweep.metric", "validation_split"]),
])
def test_a_bad_sweep_section_is_exit_2_before_any_run(tmp_path, change, words):
    import yaml

    doc = yaml.safe_load(textwrap.dedent(FAULTS))
    doc["sweep"].update(change)
    p = tmp_path / "s.yaml"
    p.write_text(json.dumps(doc))
    r = _sweep(tmp_path, p, "--workers", "1")
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "s-sweep").exists()
    for w in words:
        assert w in r.stderr, (w, r.stderr)


def test_train_gradcheck_and_config_accept_and_ignore_the_section(nnctl, tmp_path):
    cfg = _write(tmp_path, FAULTS)
    assert nnctl("train", cfg, "-q").code == 0
    assert nnctl("gradcheck", cfg, "--samples", "4").code == 0
    assert "sweep:" in nnctl("config", cfg).stdout
    assert "SweepConfig" in nnctl("schema").stdout
    assert nnctl("sweep", cfg, "--backend", "spark").code == 2
    no_section = _write(tmp_path, "data: {source: xor}\nmodel: {layers: [{units: 1, activation: sigmoid}]}\n"
                                  "train: {loss: bce}\n", "plain.yaml")
    r = nnctl("sweep", no_section)
    assert r.code == 2 and "has no sweep: section" in r.stderr


def test_init_writes_a_sweep_section_that_runs(nnctl, tmp_path):
    text = nnctl("init", "xor", "--sweep").stdout
    assert "sweep:" in text and "method: grid" in text
    cfg = tmp_path / "x.yaml"
    cfg.write_text(text.replace("epochs: 2000", "epochs: 50"))
    r = _sweep(tmp_path, cfg, "--workers", "2", "--json")
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["runs"]) == 6


# --- runs, statuses, determinism -------------------------------------------------------------------

def test_every_status_is_recorded_and_the_sweep_goes_on(tmp_path):
    cfg = _write(tmp_path, FAULTS)
    r = _sweep(tmp_path, cfg, "--workers", "2", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    status = {(run["params"]["train.optimizer.lr"], run["params"]["model.layers.1.units"]): run for run in doc["runs"]}
    assert status[(0.01, 1)]["status"] == "ok" and status[(1e6, 1)]["status"] == "diverged"
    assert status[(0.01, 3)]["status"] == "error" and "output layer has 3 units" in status[(0.01, 3)]["message"]
    assert doc["best"]["params"] == {"train.optimizer.lr": 0.01, "model.layers.1.units": 1}
    rows = _rows(tmp_path / "s-sweep" / "trials.csv")
    assert len(rows) == 4 and all(row["loss"] == "" for row in rows.values() if row["status"] != "ok")
    assert set(doc) >= {"out", "method", "backend", "workers", "seconds", "runs", "best"}
    assert set(doc["best"]) >= {"trial", "params", "score", "config", "model"}


def test_a_sweep_where_no_run_ends_ok_exits_1(tmp_path):
    cfg = _write(tmp_path, FAULTS.replace("[0.01, 1.0e+6]", "[1.0e+6]").replace("[1, 3]", "[1]"))
    r = _sweep(tmp_path, cfg, "--workers", "1")
    assert r.returncode == 1 and "1 diverged" in r.stderr


def test_the_same_file_gives_the_same_runs_on_one_or_two_workers(tmp_path):
    cfg = _write(tmp_path, IRIS)
    a = _sweep(tmp_path, cfg, "--workers", "1", "--out", "a", "-q")
    b = _sweep(tmp_path, cfg, "--workers", "2", "--out", "b", "-q")
    c = _sweep(tmp_path, cfg, "--workers", "2", "--out", "c", "-q", env={"NNCTL_SWEEP_START": "spawn"})
    assert a.returncode == b.returncode == c.returncode == 0
    assert _rows(tmp_path / "a" / "trials.csv") == _rows(tmp_path / "b" / "trials.csv")
    assert _rows(tmp_path / "c" / "trials.csv") == _rows(tmp_path / "b" / "trials.csv")  # forked or spawned
    assert len(_rows(tmp_path / "a" / "trials.csv")) == 8
    seeds = {(k[1], v["seed"]) for k, v in _rows(tmp_path / "a" / "trials.csv").items()}
    assert seeds == {("0", "0"), ("1", "1")}  # repeats run with seed, seed+1


def test_best_yaml_reproduces_best_npz_bit_for_bit(tmp_path, nnctl):
    cfg = _write(tmp_path, IRIS)
    r = _sweep(tmp_path, cfg, "--workers", "2", "--json")
    doc = json.loads(r.stdout)
    rows = _rows(tmp_path / "s-sweep" / "trials.csv")
    best = doc["best"]
    scores = {}
    for (trial, _), row in rows.items():
        scores.setdefault(int(trial), []).append(float(row["val_loss"]))
    assert best["trial"] == min(scores, key=lambda t: np.mean(scores[t]))
    assert best["score"] == pytest.approx(np.mean(scores[best["trial"]]), rel=1e-12)
    (tmp_path / "again").mkdir()
    os.chdir(tmp_path / "again")
    assert nnctl("train", tmp_path / "s-sweep" / "best.yaml", "-q").code == 0
    a, b = np.load("best.npz"), np.load(tmp_path / "s-sweep" / "best.npz")
    for key in a.files:
        if key != "meta":
            np.testing.assert_array_equal(a[key], b[key])
    meta = json.loads(str(b["meta"][()]))
    assert meta["sweep"]["params"] == best["params"]
    assert meta["metrics"]["val_loss"] == float(rows[(str(best["trial"]), "0")]["val_loss"])


def test_tpe_with_one_worker_gives_the_same_points(tmp_path):
    text = (IRIS.replace("method: grid", "method: tpe\n      trials: 5").replace("repeats: 2", "repeats: 1")
            .replace("{values: [0.003, 0.03]}", "{log_uniform: [1.0e-4, 1.0e-1]}")
            .replace("{values: [4, 8]}", "{int_uniform: [2, 12]}"))
    cfg = _write(tmp_path, text)
    a = _sweep(tmp_path, cfg, "--workers", "1", "--out", "a", "-q")
    b = _sweep(tmp_path, cfg, "--workers", "1", "--out", "b", "-q")
    assert a.returncode == b.returncode == 0, a.stderr
    rows = _rows(tmp_path / "a" / "trials.csv")
    assert rows == _rows(tmp_path / "b" / "trials.csv") and len(rows) == 5
    assert all(2 <= int(r["model.layers.0.units"]) <= 12 for r in rows.values())


@pytest.mark.parametrize("module, args, extra", [("ray", ["--backend", "ray"], "nnctl[ray]"),
                                                 ("optuna", [], "nnctl[tune]")])
def test_a_missing_extra_is_one_line_naming_it(tmp_path, module, args, extra):
    text = IRIS.replace("method: grid", "method: tpe") if module == "optuna" else IRIS
    cfg = _write(tmp_path, text)
    code = (f"import sys; sys.modules[{module!r}] = None; sys.argv = ['nnctl', 'sweep', {str(cfg)!r}] + {args!r}\n"
            "from nnctl.cli import main; main()")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 2 and extra in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


# --- resume, killed workers, signals --------------------------------------------------------------

SLOW = """
    seed: 0
    data: {source: line, n: 3000}
    model: {layers: [{units: 16, activation: tanh}, {units: 1}]}
    train: {loss: mse, optimizer: adam, epochs: 60, batch_size: 1}
    sweep:
      method: grid
      metric: loss
      parameters:
        train.optimizer.lr: {values: [0.001, 0.002, 0.003, 0.004, 0.005, 0.006]}
    """


def _workers_of(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"resource_tracker" not in cmd:
                out.append(int(entry))
    return out


def _start(tmp_path, *args):
    return subprocess.Popen([*NNCTL, "sweep", *map(str, args)], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for_workers(proc, count=1, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = _workers_of(proc.pid)
        if len(workers) >= count:
            return workers
        time.sleep(0.1)
    raise AssertionError("no worker started")


def test_a_worker_killed_with_sigkill_is_an_error_row_and_the_sweep_goes_on(tmp_path):
    cfg = _write(tmp_path, SLOW)
    proc = _start(tmp_path, cfg, "--workers", "2", "--json")
    victim = _wait_for_workers(proc, 2)[0]
    time.sleep(1.5)  # both are training (a run takes a few seconds)
    os.kill(victim, signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    runs = json.loads(out)["runs"]
    assert len(runs) == 6 and sum(r["status"] == "ok" for r in runs) == 5, runs
    dead = next(r for r in runs if r["status"] == "error")
    assert "killed by SIGKILL" in dead["message"]


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stopped_sweep_keeps_finished_runs_and_resume_completes_it(tmp_path, sig, code):
    cfg = _write(tmp_path, SLOW)
    proc = _start(tmp_path, cfg, "--workers", "2")
    trials = tmp_path / "s-sweep" / "trials.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (trials.exists() and len(trials.read_text().splitlines()) >= 2):
        time.sleep(0.1)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "--resume" in err and "Traceback" not in err
    assert not _workers_of(proc.pid)
    done = _rows(trials)
    assert 1 <= len(done) < 6
    r = _sweep(tmp_path, cfg, "--workers", "2", "--resume", "--json")
    assert r.returncode == 0, r.stderr
    final = _rows(trials)
    assert len(final) == 6 and all(final[k] == v for k, v in done.items())  # finished runs kept, not re-run
    with open(trials) as fh:
        assert len(fh.read().splitlines()) == 7  # each run once


def test_resume_refuses_another_config_and_a_fresh_sweep_refuses_a_used_folder(tmp_path):
    cfg = _write(tmp_path, FAULTS)
    assert _sweep(tmp_path, cfg, "--workers", "1", "-q").returncode == 0
    again = _sweep(tmp_path, cfg, "--workers", "1")
    assert again.returncode == 2 and "--resume" in again.stderr
    other = _sweep(tmp_path, cfg, "--resume", "--set", "train.epochs=7")
    assert other.returncode == 2 and "train.epochs (was 50, now 7)" in other.stderr
    same = _sweep(tmp_path, cfg, "--resume", "--json")
    assert same.returncode == 0 and len(json.loads(same.stdout)["runs"]) == 4


# --- Ray, for real, on loopback only ------------------------------------------------------------------

def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def ray_head():
    """A Ray head on 127.0.0.1 and a free port, in its own session; stopped (and only it) after."""
    import socket

    port = _free_port()
    head = subprocess.Popen(["ray", "start", "--head", "--block", "--port", str(port), "--node-ip-address",
                             "127.0.0.1", "--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats"],
                            env={**os.environ, **RAY_ENV}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and head.poll() is None, "ray start --head failed"
                time.sleep(0.5)
        time.sleep(2)  # the raylet registers after the GCS answers
        yield port
    finally:
        head.send_signal(signal.SIGTERM)  # --block: it stops the processes it started
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
        try:
            os.killpg(head.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


SCHEDULED = IRIS.replace("repeats: 2", "repeats: 1\n      folds: 2\n      scheduler: {name: asha, min_epochs: 5}")


def test_ray_local_and_an_existing_cluster_give_the_local_backends_runs(tmp_path):
    cfg = _write(tmp_path, IRIS)
    assert _sweep(tmp_path, cfg, "--workers", "2", "--out", "local", "-q").returncode == 0
    want = _rows(tmp_path / "local" / "trials.csv")
    scheduled = _write(tmp_path, SCHEDULED, "f.yaml")
    assert _sweep(tmp_path, scheduled, "--workers", "1", "--out", "local-f", "-q").returncode == 0
    want_f = _rows(tmp_path / "local-f" / "trials.csv")
    assert {row["status"] for row in want_f.values()} == {"ok", "stopped"}
    r = _sweep(tmp_path, cfg, "--backend", "ray", "--workers", "2", "--out", "ray-local", "--json", env=RAY_ENV)
    assert r.returncode == 0, r.stderr
    assert _rows(tmp_path / "ray-local" / "trials.csv") == want
    assert json.loads(r.stdout)["backend"] == "ray"
    with ray_head() as port:
        joined = _sweep(tmp_path, cfg, "--backend", "ray", "--address", f"127.0.0.1:{port}", "--out", "ray-cluster",
                        "-q", env=RAY_ENV)
        assert joined.returncode == 0, joined.stderr
        assert _rows(tmp_path / "ray-cluster" / "trials.csv") == want
        # RAY_ADDRESS names the cluster as Ray reads it; folds and ASHA give the local rows there too
        by_env = _sweep(tmp_path, scheduled, "--backend", "ray", "--workers", "1", "--out", "ray-f", "-q",
                        env={**RAY_ENV, "RAY_ADDRESS": f"127.0.0.1:{port}"})
        assert by_env.returncode == 0, by_env.stderr
        assert _rows(tmp_path / "ray-f" / "trials.csv") == want_f


def test_an_unreachable_ray_address_is_exit_2_within_a_minute(tmp_path):
    cfg = _write(tmp_path, FAULTS)
    t0 = time.monotonic()
    r = _sweep(tmp_path, cfg, "--backend", "ray", "--address", "127.0.0.1:9", env=RAY_ENV)
    assert r.returncode == 2 and "--address 127.0.0.1:9" in r.stderr and "Traceback" not in r.stderr
    assert time.monotonic() - t0 < 60
    bad = _sweep(tmp_path, cfg, "--address", "127.0.0.1:9")
    assert bad.returncode == 2 and "--backend ray" in bad.stderr


def test_the_iris_sweep_config_runs(tmp_path):
    r = _sweep(tmp_path, CONFIGS / "iris_sweep.yaml", "--workers", "2", "--json", "--out", "iris")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert len(doc["runs"]) == 12 and doc["best"]["score"] < 0.3 and math.isfinite(doc["best"]["score"])
