"""Sweeps you can trust at scale (issue 21), each through the real command: seed as a parameter,
a full disk, one sweep per folder, workers that die with their sweep, retries, TPE resumed,
the printed resume command, folds and ASHA on both backends."""

from __future__ import annotations

import csv
import json
import os
import resource
import shlex
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from .test_sweep import FAULTS, IRIS, NNCTL, RAY_ENV, SLOW, _rows, _start, _sweep, _wait_for_workers, _write


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _keys(path: Path) -> list[tuple]:
    with open(path, newline="") as fh:
        return [(r["trial"], r["repeat"], r.get("fold")) for r in csv.DictReader(fh)]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_rows(path: Path, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not (path.exists() and len(_lines(path)) > count):
        time.sleep(0.1)


# --- 1. seed as a parameter ---------------------------------------------------------------------------

def test_a_swept_seed_is_used_and_has_one_column(tmp_path, nnctl):
    cfg = _write(tmp_path, IRIS.replace("train.optimizer.lr: {values: [0.003, 0.03]}", "")
                 .replace("model.layers.0.units: {values: [4, 8]}", "seed: {values: [0, 1, 2]}"))
    r = _sweep(tmp_path, cfg, "--workers", "2", "-q")
    assert r.returncode == 0, r.stderr
    trials = tmp_path / "s-sweep" / "trials.csv"
    assert _lines(trials)[0].split(",").count("seed") == 1
    rows = _rows(trials)
    assert {(k, v["seed"]) for k, v in rows.items()} == {(("0", "0"), "0"), (("0", "1"), "1"), (("1", "0"), "1"),
                                                         (("1", "1"), "2"), (("2", "0"), "2"), (("2", "1"), "3")}
    same = [{k: v for k, v in rows[key].items() if k not in ("trial", "repeat")} for key in (("0", "1"), ("1", "0"))]
    assert same[0] == same[1]  # seed 1 is seed 1, whichever point asked for it
    assert len({rows[k]["val_loss"] for k in (("0", "0"), ("1", "0"), ("2", "0"))}) == 3
    best = (tmp_path / "s-sweep" / "best.yaml").read_text()
    scores = {t: np.mean([float(rows[(t, r)]["val_loss"]) for r in "01"]) for t in "012"}
    assert f"\nseed: {min(scores, key=scores.get)}\n" in best


# --- 2. a full disk -------------------------------------------------------------------------------------

MANY = FAULTS.replace("epochs: 50", "epochs: 2").replace("[0.01, 1.0e+6]", "[0.01, 0.02, 0.03, 0.04, 0.05]") \
    .replace("model.layers.1.units: {values: [1, 3]}", "train.batch_size: {values: [4, 8, 16, 32, 64, 100]}")


def test_a_full_disk_is_exit_2_naming_trials_csv_and_resume_counts_each_run_once(tmp_path):
    cfg = _write(tmp_path, MANY)
    limit = 2200  # sweep.json and the first rows fit; 30 rows do not

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    r = subprocess.run([*NNCTL, "sweep", str(cfg), "--workers", "2", "-q"], cwd=tmp_path, capture_output=True,
                       text=True, preexec_fn=small_files, timeout=300)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "trials.csv" in r.stderr and "Traceback" not in r.stderr
    trials = tmp_path / "s-sweep" / "trials.csv"
    kept = _lines(trials)
    assert trials.read_text().endswith("\n") and 1 < len(kept) < 31  # whole rows only
    # a crash in the middle of a row: the row is cut short, no newline
    with open(trials, "a") as fh:
        fh.write("7,0,0,ok,0.03,16,2,0.0012,2")
    again = _sweep(tmp_path, cfg, "--workers", "2", "--resume", "--json")
    assert again.returncode == 0, again.stderr
    keys = _keys(trials)
    assert len(keys) == 30 == len(set(keys))
    assert len(json.loads(again.stdout)["runs"]) == 30
    assert all(row["loss"] != "" and float(row["loss"]) < 10 for row in _rows(trials).values())


# --- 3. Ray: RAY_ADDRESS, and nothing left by a failure ----------------------------------------------

def test_an_unreachable_ray_address_env_is_exit_2_and_leaves_no_folder(tmp_path):
    cfg = _write(tmp_path, FAULTS)
    t0 = time.monotonic()
    r = _sweep(tmp_path, cfg, "--backend", "ray", env={**RAY_ENV, "RAY_ADDRESS": "127.0.0.1:9"})
    assert r.returncode == 2 and "RAY_ADDRESS=127.0.0.1:9" in r.stderr and "Traceback" not in r.stderr
    assert time.monotonic() - t0 < 60
    assert not (tmp_path / "s-sweep").exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    r = _sweep(tmp_path, cfg, "--backend", "ray", "--out", kept, env={**RAY_ENV, "RAY_ADDRESS": "127.0.0.1:9"})
    assert r.returncode == 2 and sorted(p.name for p in kept.iterdir()) == ["notes.txt"]


# --- 4. one sweep per folder ------------------------------------------------------------------------------

def test_a_second_sweep_on_a_folder_in_use_is_refused_and_a_dead_ones_lock_does_not_block(tmp_path):
    cfg = _write(tmp_path, SLOW)
    first = _start(tmp_path, cfg, "--workers", "1")
    trials = tmp_path / "s-sweep" / "trials.csv"
    _wait_rows(trials, 1)
    second = _sweep(tmp_path, cfg, "--workers", "1", "--resume")
    assert second.returncode == 2, second.stderr
    assert "s-sweep" in second.stderr and f"pid {first.pid}" in second.stderr
    first.kill()  # its lock goes with it
    first.communicate(timeout=60)
    done = _keys(trials)
    third = _sweep(tmp_path, cfg, "--workers", "2", "--resume", "-q")
    assert third.returncode == 0, third.stderr
    keys = _keys(trials)
    assert len(keys) == 6 == len(set(keys)) and keys[:len(done)] == done


# --- 5. workers die with their sweep ---------------------------------------------------------------------

def test_workers_of_a_killed_sweep_die_with_it(tmp_path):
    cfg = _write(tmp_path, SLOW)
    proc = _start(tmp_path, cfg, "--workers", "2")
    workers = _wait_for_workers(proc, 2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers)


# --- 6, 10. TPE resumed, quietly ---------------------------------------------------------------------------

def test_a_resumed_tpe_sweep_does_not_replay_its_points(tmp_path):
    text = (IRIS.replace("method: grid", "method: tpe\n      trials: 2").replace("repeats: 2", "repeats: 1")
            .replace("{values: [0.003, 0.03]}", "{log_uniform: [1.0e-4, 1.0e-1]}")
            .replace("{values: [4, 8]}", "{int_uniform: [2, 12]}"))
    cfg = _write(tmp_path, text)
    first = _sweep(tmp_path, cfg, "--workers", "1", "-q")
    assert first.returncode == 0 and first.stderr == "", first.stderr
    more = _sweep(tmp_path, cfg, "--workers", "1", "-q", "--resume", "--trials", "4")
    assert more.returncode == 0 and more.stderr == "", more.stderr
    rows = _rows(tmp_path / "s-sweep" / "trials.csv")
    points = [(rows[(t, "0")]["train.optimizer.lr"], rows[(t, "0")]["model.layers.0.units"]) for t in "0123"]
    assert len(set(points)) == 4, points


# --- 7, 10. scale and flags -------------------------------------------------------------------------------

def test_a_huge_grid_and_trials_on_a_grid_are_exit_2(tmp_path):
    values = "{values: [" + ", ".join(str(i) for i in range(1, 21)) + "]}"
    huge = _write(tmp_path, FAULTS.replace("model.layers.1.units: {values: [1, 3]}",
                                           f"model.layers.0.units: {values}\n        train.epochs: {values}\n"
                                           f"        train.batch_size: {values}\n        seed: {values}"))
    t0 = time.monotonic()
    r = _sweep(tmp_path, huge, "--workers", "1")
    assert r.returncode == 2 and "320,000 runs" in r.stderr, r.stderr
    assert time.monotonic() - t0 < 30 and not (tmp_path / "s-sweep").exists()
    r = _sweep(tmp_path, _write(tmp_path, FAULTS, "g.yaml"), "--trials", "3")
    assert r.returncode == 2 and "--trials" in r.stderr and "random" in r.stderr


def test_set_on_sweep_parameters_names_the_allowed_keys(tmp_path):
    cfg = _write(tmp_path, FAULTS)
    r = _sweep(tmp_path, cfg, "--set", "sweep.parameters.train.optimizer.lr.valuse=[0.1]")
    assert r.returncode == 2 and "did you mean 'values'" in r.stderr and "allowed keys here: values," in r.stderr
    r = _sweep(tmp_path, cfg, "--set", "sweep.methd=grid")
    assert r.returncode == 2 and "allowed keys here: method, trials" in r.stderr
    r = _sweep(tmp_path, cfg, "--set", "sweep.parameters.train.optimizer.lr.values=[0.1]", "--json")
    assert r.returncode == 0 and {run["params"]["train.optimizer.lr"] for run in json.loads(r.stdout)["runs"]} == {0.1}


# --- 8. the printed resume command --------------------------------------------------------------------------

def test_the_printed_resume_command_works_as_printed(tmp_path):
    cfg = _write(tmp_path, SLOW)
    proc = subprocess.Popen([*NNCTL, "sweep", str(cfg), "--set", "train.epochs=40", "--workers", "2", "--out", "s1"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_rows(tmp_path / "s1" / "trials.csv", 1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "continue with " in err.strip().splitlines()[-1], err
    printed = err.strip().splitlines()[-1].split("continue with ", 1)[1]
    args = shlex.split(printed)
    assert args[:2] == ["nnctl", "sweep"] and "--set" in args and "--workers" in args and "--resume" in args
    again = subprocess.run([*NNCTL, *args[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert len(_keys(tmp_path / "s1" / "trials.csv")) == 6


# --- 9. retries, and errored runs restarted --------------------------------------------------------------

def _kill_one_worker(tmp_path, cfg, *args):
    proc = _start(tmp_path, cfg, "--workers", "2", "--json", *args)
    victim = _wait_for_workers(proc, 2)[0]
    time.sleep(1.5)
    os.kill(victim, signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return json.loads(out)["runs"]


def test_max_failures_runs_a_dead_workers_run_again(tmp_path):
    runs = _kill_one_worker(tmp_path, _write(tmp_path, SLOW), "--max-failures", "1")
    assert len(runs) == 6 and all(r["status"] == "ok" for r in runs), runs


def test_resume_restart_errored_runs_error_rows_again_and_replaces_them(tmp_path):
    cfg = _write(tmp_path, SLOW)
    runs = _kill_one_worker(tmp_path, cfg)
    assert sum(r["status"] == "error" for r in runs) == 1
    r = _sweep(tmp_path, cfg, "--workers", "2", "--resume", "--restart-errored", "--json")
    assert r.returncode == 0, r.stderr
    assert all(run["status"] == "ok" for run in json.loads(r.stdout)["runs"])
    keys = _keys(tmp_path / "s-sweep" / "trials.csv")
    assert len(keys) == 6 == len(set(keys))


# --- folds ---------------------------------------------------------------------------------------------------

FOLDS = IRIS.replace("repeats: 2", "repeats: 2\n      folds: 3").replace("{values: [4, 8]}", "{values: [8]}")


def test_folds_score_the_mean_over_folds_and_repeats_and_best_is_the_refit(tmp_path, nnctl):
    cfg = _write(tmp_path, FOLDS)
    r = _sweep(tmp_path, cfg, "--workers", "2", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    rows = list(csv.DictReader(open(tmp_path / "s-sweep" / "trials.csv", newline="")))
    assert len(rows) == 12 and {row["fold"] for row in rows} == {"0", "1", "2"}
    scores = {}
    for row in rows:
        scores.setdefault(row["trial"], []).append(float(row["val_loss"]))
    best = min(scores, key=lambda t: np.mean(scores[t]))
    assert doc["best"]["trial"] == int(best)
    assert doc["best"]["score"] == pytest.approx(np.mean(scores[best]), rel=1e-12)
    assert doc["best"]["config"]["data"]["validation_split"] == 0.2  # the base config's data section
    (tmp_path / "again").mkdir()
    os.chdir(tmp_path / "again")
    assert nnctl("train", tmp_path / "s-sweep" / "best.yaml", "-q").code == 0
    a, b = np.load("best.npz"), np.load(tmp_path / "s-sweep" / "best.npz")
    for key in a.files:
        if key != "meta":
            np.testing.assert_array_equal(a[key], b[key])


# --- ASHA ------------------------------------------------------------------------------------------------------

ASHA = """
    seed: 0
    data: {source: csv, path: DATA, target: species, validation_split: 0.2}
    model: {layers: [{units: 8, activation: relu}, {units: auto, activation: softmax}]}
    train: {loss: cross_entropy, optimizer: {name: adam, lr: 0.01}, epochs: 36, batch_size: 16, log_every: 7}
    sweep:
      method: random
      trials: 9
      metric: val_accuracy
      scheduler: {name: asha, min_epochs: 4, reduction: 3}
      parameters:
        train.optimizer.lr: {log_uniform: [1.0e-4, 1.0e-1]}
    """


def test_asha_stops_weak_runs_at_rungs_and_a_finished_run_is_plain_training(tmp_path, nnctl):
    from ..conftest import DATASETS

    cfg = _write(tmp_path, ASHA.replace("DATA", str(DATASETS / "iris.csv")))
    r = _sweep(tmp_path, cfg, "--workers", "1", "--out", "local", "-q")
    assert r.returncode == 0, r.stderr
    rows = _rows(tmp_path / "local" / "trials.csv")
    statuses = [row["status"] for row in rows.values()]
    assert statuses[0] == "ok" and "stopped" in statuses and len(rows) == 9
    assert {row["epochs"] for row in rows.values() if row["status"] == "stopped"} <= {"4", "12"}
    finished = [row for row in rows.values() if row["status"] == "ok"]
    assert all(row["epochs"] == "36" for row in finished)
    for (trial, repeat), row in rows.items():  # each run's epochs, as --metrics-csv writes them
        history = list(csv.DictReader(open(tmp_path / "local" / "runs" / f"{trial}-{repeat}.csv", newline="")))
        assert history[-1]["epoch"] == row["epochs"] and history[-1]["loss"] == row["loss"]
    lr = finished[-1]["train.optimizer.lr"]
    os.chdir(tmp_path)
    assert nnctl("train", cfg, "--set", f"train.optimizer.lr={lr}", "--out", "plain.npz", "-q").code == 0
    meta = json.loads(str(np.load("plain.npz")["meta"][()]))
    assert repr(meta["metrics"]["val_loss"]) == finished[-1]["val_loss"]
    assert repr(meta["metrics"]["loss"]) == finished[-1]["loss"]
    ray = _sweep(tmp_path, cfg, "--workers", "1", "--backend", "ray", "--out", "ray", "-q", env=RAY_ENV)
    assert ray.returncode == 0, ray.stderr
    assert _rows(tmp_path / "ray" / "trials.csv") == {k: {c: v for c, v in row.items()} for k, row in rows.items()}


def test_asha_on_a_streamed_file_scores_rungs_on_the_epochs_own_metrics(tmp_path):
    """A streamed run's rows are not in memory: its rung's training metrics are the epoch's own
    (running totals), the same numbers the run's history records, never metrics of zero rows."""
    from ..conftest import DATASETS

    cfg = _write(tmp_path, ASHA.replace("DATA", str(DATASETS / "iris.csv"))
                 .replace("validation_split: 0.2}", "validation_split: 0.2, stream: true}"))
    r = _sweep(tmp_path, cfg, "--workers", "1", "--out", "s", "-q")
    assert r.returncode == 0, r.stderr
    rows = _rows(tmp_path / "s" / "trials.csv")
    stopped = {k: row for k, row in rows.items() if row["status"] == "stopped"}
    assert stopped
    for (trial, repeat), row in stopped.items():
        history = list(csv.DictReader(open(tmp_path / "s" / "runs" / f"{trial}-{repeat}.csv", newline="")))
        at_rung = next(h for h in history if h["epoch"] == row["epochs"])
        assert at_rung["accuracy"] == row["accuracy"] and float(row["accuracy"]) > 0.2


def _descendants(pid: int) -> dict[int, str]:
    """Every process under pid: {pid: its command line}."""
    parent, cmd = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent[int(entry)] = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
                cmd[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, IndexError, ValueError):
                continue
    out = {}
    for p in parent:
        q = p
        while q in parent and q != pid and q > 1:
            q = parent[q]
        if q == pid and p != pid:
            out[p] = cmd[p]
    return out


def test_ray_tasks_of_a_killed_driver_end_with_it(tmp_path):
    cfg = _write(tmp_path, SLOW.replace("epochs: 60", "epochs: 2000"))
    proc = subprocess.Popen([*NNCTL, "sweep", str(cfg), "--backend", "ray", "--workers", "2"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **RAY_ENV})
    deadline = time.monotonic() + 120
    tasks, everything = [], {}
    while time.monotonic() < deadline and len(tasks) < 2:
        everything = _descendants(proc.pid)
        tasks = [p for p, c in everything.items() if c.startswith("ray::_ray_task")]
        time.sleep(0.2)
    try:
        assert len(tasks) == 2, everything
        time.sleep(1.0)
        proc.kill()
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(t) for t in tasks):
            time.sleep(0.1)
        assert not any(_alive(t) for t in tasks)
    finally:
        for p in everything:  # Ray's own agents may outlive their raylet: stop what this test started
            if _alive(p):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def test_sigterm_under_ray_is_143_with_the_local_backends_message(tmp_path):
    cfg = _write(tmp_path, SLOW.replace("epochs: 60", "epochs: 300"))
    proc = subprocess.Popen([*NNCTL, "sweep", str(cfg), "--backend", "ray", "--workers", "2"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **RAY_ENV})
    _wait_rows(tmp_path / "s-sweep" / "trials.csv", 1, timeout=240)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "terminated (SIGTERM): runs in progress were stopped" in err and "Traceback" not in err
    assert "--backend ray" in err.splitlines()[-1] and "--resume" in err.splitlines()[-1]


def test_a_class_with_fewer_rows_than_folds_runs_every_fold(tmp_path):
    rows = [f"{i / 40},{(i * 7 % 40) / 40},{'a' if i < 18 else 'b'}" for i in range(36)] + ["0.5,0.5,rare"] * 2
    (tmp_path / "few.csv").write_text("u,v,y\n" + "\n".join(rows) + "\n")
    cfg = _write(tmp_path, """
        seed: 0
        data: {source: csv, path: few.csv, target: y}
        model: {layers: [{units: 4, activation: tanh}, {units: auto, activation: softmax}]}
        train: {loss: cross_entropy, optimizer: {name: adam, lr: 0.01}, epochs: 3}
        sweep: {method: grid, folds: 3, parameters: {train.optimizer.lr: {values: [0.01]}}}
        """)
    r = _sweep(tmp_path, cfg, "--workers", "1", "--json")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(open(tmp_path / "s-sweep" / "trials.csv", newline="")))
    assert sorted(row["fold"] for row in rows) == ["0", "1", "2"] and {row["status"] for row in rows} == {"ok"}
    assert json.loads(r.stdout)["best"]["config"]["model"]["layers"][1]["units"] == 3  # every class known


def test_asha_with_min_epochs_at_or_past_epochs_runs_every_run_through(tmp_path):
    cfg = _write(tmp_path, """
        seed: 0
        data: {source: line, n: 40}
        model: {layers: [{units: 3, activation: tanh}, {units: 1}]}
        train: {loss: mse, optimizer: {name: sgd, lr: 0.1}, epochs: 4}
        sweep:
          method: grid
          metric: loss
          scheduler: {name: asha, min_epochs: 4}
          parameters: {train.optimizer.lr: {values: [0.01, 0.02, 0.03, 0.04]}}
        """)
    assert _sweep(tmp_path, cfg, "--workers", "1", "-q").returncode == 0
    rows = list(csv.DictReader(open(tmp_path / "s-sweep" / "trials.csv", newline="")))
    assert [(row["status"], row["epochs"]) for row in rows] == [("ok", "4")] * 4
