"""The pages' HTML without a browser: the embedded JSON reads back to the numbers of the model
file, trials.csv and explain --json; text from the data never becomes markup; the extra, the
language and the default output paths (docs/report.md). tests/process/test_browser_pages.py opens
the same pages in Chromium."""

from __future__ import annotations

import csv
import json
import math
import re
import subprocess
import sys

import numpy as np
import pytest

from nnctl.pages import html

from ..conftest import DATASETS

NNCTL = [sys.executable, "-m", "nnctl"]
INJECTED = "<script>alert(1)</script>"


def embedded(text: str, element_id: str = "nnctl-report"):
    m = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', text, re.S)
    return json.loads(m.group(1))


def nnctl(*args, cwd):
    return subprocess.run([*NNCTL, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300)


def meta_of(path):
    with np.load(path, allow_pickle=False) as z:
        return json.loads(str(z["meta"][()]))


def test_a_json_block_cannot_close_its_element_and_reads_back_with_null_for_non_finite():
    doc = {"name": "</script><script>alert(1)</script>", "note": "<!-- & -->", "x": [1.5, math.nan, math.inf]}
    block = html.json_block("nnctl-report", doc)
    inner = block.removeprefix('<script type="application/json" id="nnctl-report">').removesuffix("</script>")
    assert "<" not in inner and ">" not in inner and "&" not in inner
    assert json.loads(inner) == {**doc, "x": [1.5, None, None]}


def test_model_page_embeds_the_model_files_history_and_metrics(tmp_path, xor_config):
    assert nnctl("train", xor_config, "-q", "-o", "xor.npz", cwd=tmp_path).returncode == 0
    r = nnctl("report", "xor.npz", "--data", DATASETS / "xor.csv", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == "wrote xor.html"  # the default: <model stem>.html beside the model file
    page = (tmp_path / "xor.html").read_text()
    doc, meta = embedded(page), meta_of(tmp_path / "xor.npz")
    assert doc["kind"] == "model" and doc["model"] == "xor.npz"
    assert doc["history"] == meta["history"] and doc["metrics"] == meta["metrics"]
    assert len(doc["history"]["loss"]) == 300
    # --data: evaluate's own numbers, the same as `nnctl evaluate --json`
    ev = json.loads(nnctl("evaluate", "xor.npz", DATASETS / "xor.csv", "--json", cwd=tmp_path).stdout)
    assert {k: doc["data"][k] for k in ev} == ev
    assert doc["data"]["per_class"]["support"] == [2, 2]
    figures = embedded(page, "nnctl-figures")
    assert len(figures) == 2 + 2 + 2  # loss, lr; W0, W1; confusion, boundary
    assert "<script src" not in page and "http://" not in page.split("<script>")[0]


def test_per_class_metrics_match_scikit_learns(tmp_path):
    from sklearn import metrics
    cfg = tmp_path / "iris.yaml"
    cfg.write_text(f"""seed: 0
data: {{source: csv, path: {DATASETS / 'iris.csv'}, target: species}}
model: {{layers: [{{units: 3, activation: tanh}}, {{units: auto, activation: softmax}}]}}
train: {{loss: cross_entropy, optimizer: {{name: sgd, lr: 0.05}}, epochs: 15}}
""")
    assert nnctl("train", cfg, "-q", "-o", "iris.npz", cwd=tmp_path).returncode == 0
    assert nnctl("report", "iris.npz", "--data", DATASETS / "iris.csv", cwd=tmp_path).returncode == 0
    data = embedded((tmp_path / "iris.html").read_text())["data"]
    pred = nnctl("predict", "iris.npz", DATASETS / "iris.csv", cwd=tmp_path).stdout.splitlines()[1:]
    with open(DATASETS / "iris.csv", newline="") as fh:
        true = [r["species"] for r in csv.DictReader(fh)]
    p, r, f, s = metrics.precision_recall_fscore_support(true, pred, labels=data["classes"], zero_division=0)
    np.testing.assert_allclose(data["per_class"]["precision"], p)
    np.testing.assert_allclose(data["per_class"]["recall"], r)
    np.testing.assert_allclose(data["per_class"]["f1"], f)
    assert data["per_class"]["support"] == s.tolist()
    assert data["confusion_matrix"] == metrics.confusion_matrix(true, pred, labels=data["classes"]).tolist()


def test_a_column_named_like_markup_is_shown_as_text(tmp_path):
    rows = ["a,b,label"] + [f"{x},{y},{'yes' if x * y > 0 else INJECTED}" for x in (-1, 1) for y in (-1, 1)] * 5
    (tmp_path / "d.csv").write_text("\n".join(rows).replace("a,b", f'"{INJECTED}",b', 1) + "\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("seed: 0\ndata: {source: csv, path: d.csv, target: label}\n"
                   "model: {layers: [{units: 4, activation: tanh}, {units: 1, activation: sigmoid}]}\n"
                   "train: {loss: bce, optimizer: {name: adam, lr: 0.05}, epochs: 20}\n")
    assert nnctl("train", cfg, "-q", "-o", "m.npz", cwd=tmp_path).returncode == 0
    r = nnctl("report", "m.npz", "--data", "d.csv", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "m.html").read_text()
    assert INJECTED not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # in the summary, config and per-class tables
    assert embedded(page)["features"][0] == INJECTED  # the JSON still holds the name as it is


def test_sweep_page_embeds_trials_csv_and_each_runs_history(tmp_path):
    cfg = tmp_path / "s.yaml"
    cfg.write_text("""seed: 0
data: {source: xor}
model: {layers: [{units: 4, activation: tanh}, {units: 1, activation: identity}]}
train: {loss: mse, optimizer: {name: sgd, lr: 0.1}, epochs: 30, log_every: 10}
sweep:
  method: grid
  repeats: 2
  metric: loss
  parameters:
    train.optimizer.lr: {values: [0.1, 1.0e+6]}
    model.layers.0.units: {values: [2, 4]}
""")
    r = nnctl("sweep", cfg, "--workers", "2", "-q", "--out", "sw", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert nnctl("report", "sw", cwd=tmp_path).returncode == 0
    page = (tmp_path / "sw" / "report.html").read_text()
    doc = embedded(page)
    with open(tmp_path / "sw" / "trials.csv", newline="") as fh:
        trials = list(csv.DictReader(fh))
    assert doc["kind"] == "sweep" and len(doc["runs"]) == len(trials) == 8
    by_run = {(r["trial"], r["repeat"]): r for r in doc["runs"]}
    for t in trials:
        run = by_run[(int(t["trial"]), int(t["repeat"]))]
        assert run["status"] == t["status"]
        assert run["params"] == {"train.optimizer.lr": float(t["train.optimizer.lr"]),
                                 "model.layers.0.units": int(t["model.layers.0.units"])}
        metric_columns = list(t)[list(t).index("seconds") + 1:-1]
        assert run["metrics"] == {k: float(t[k]) for k in metric_columns if t[k] != ""}
        if t["status"] == "ok":
            with open(tmp_path / "sw" / "runs" / f"{t['trial']}-{t['repeat']}.csv", newline="") as fh:
                hist = list(csv.DictReader(fh))
            assert run["history"]["loss"] == [float(h["loss"]) for h in hist]
            assert run["history"]["loss"][-1] == float(t["loss"])  # the last epoch's loss is the final one
        else:
            assert run["history"] is None
    body = re.search(r'<table id="leaderboard">.*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    assert body.count("<tr>") == 2  # the two points with lr 0.1; lr 1e6 diverged
    failed = re.search(r'<table id="failed-runs">.*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    assert failed.count("<tr>") == sum(t["status"] == "diverged" for t in trials) == 4
    # a sweep killed mid-row leaves its last line cut short: the page is still made, and says so
    with open(tmp_path / "sw" / "trials.csv", "a") as fh:
        fh.write("3,0,0,ok,0.1")
    assert nnctl("report", "sw", "-o", "cut.html", cwd=tmp_path).returncode == 0
    cut = (tmp_path / "cut.html").read_text()
    assert len(embedded(cut)["runs"]) == 8 and "rows of trials.csv left out, unreadable (cut short?): 1" in cut



def test_a_swept_seed_is_a_parameter_of_the_page_as_of_the_sweep(tmp_path):
    (tmp_path / "s.yaml").write_text("""seed: 0
data: {source: line, n: 40}
model: {layers: [{units: 3, activation: tanh}, {units: 1}]}
train: {loss: mse, optimizer: {name: sgd, lr: 0.1}, epochs: 4}
sweep:
  method: grid
  metric: loss
  repeats: 2
  parameters: {seed: {values: [0, 10]}, train.optimizer.lr: {values: [0.01, 0.02]}}
""")
    r = nnctl("sweep", "s.yaml", "--workers", "1", "-q", "--json", "--out", "sw", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    swept = {(run["trial"], run["repeat"]): run["params"] for run in json.loads(r.stdout)["runs"]}
    assert nnctl("report", "sw", cwd=tmp_path).returncode == 0
    doc = embedded((tmp_path / "sw" / "report.html").read_text())
    assert doc["parameters"] == ["seed", "train.optimizer.lr"]
    assert {(run["trial"], run["repeat"]): run["params"] for run in doc["runs"]} == swept


def test_explain_page_embeds_the_explain_json_document(tmp_path):
    cfg = DATASETS.parent / "configs" / "xor_tutorial_mse.yaml"
    r = nnctl("explain", cfg, "--format", "html", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "xor_tutorial_mse-explain.html").read_text()
    want = json.loads(nnctl("explain", cfg, "--json", cwd=tmp_path).stdout)
    assert embedded(page) == want
    assert page.count('<section class="step"') == 1 and "Backward, layer 0" in page


def test_chinese_labels(tmp_path, xor_config):
    assert nnctl("train", xor_config, "-q", "-o", "xor.npz", cwd=tmp_path).returncode == 0
    assert nnctl("report", "xor.npz", "--lang", "zh", "-o", "zh.html", cwd=tmp_path).returncode == 0
    page = (tmp_path / "zh.html").read_text()
    assert '<html lang="zh">' in page and "<h2>每轮损失</h2>" in page and "<h2>权重</h2>" in page
    bad = nnctl("report", "xor.npz", "--lang", "fr", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip() == "error: --lang: expected one of en, zh, got 'fr'"


@pytest.mark.parametrize("args, command", [(["report", "m.npz"], "nnctl report"),
                                           (["explain", "c.yaml", "--format", "html"], "nnctl explain --format html")])
def test_without_plotly_one_line_names_the_extra_and_exit_2(tmp_path, args, command):
    code = ("import sys; sys.modules['plotly'] = None; sys.argv = ['nnctl', *sys.argv[1:]]; "
            "from nnctl.__main__ import main; main()")
    r = subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr == f"error: {command} needs plotly, an optional extra: pip install 'nnctl[report]'\n"


def test_bad_inputs_are_one_line_and_exit_2(tmp_path, xor_config):
    (tmp_path / "empty").mkdir()
    r = nnctl("report", "empty", cwd=tmp_path)
    assert r.returncode == 2 and "trials.csv" in r.stderr and r.stderr.count("\n") == 1
    assert nnctl("train", xor_config, "-q", "-o", "xor.npz", cwd=tmp_path).returncode == 0
    r = nnctl("report", "empty", "--data", DATASETS / "xor.csv", cwd=tmp_path)
    assert r.returncode == 2 and "--data goes with a model file" in r.stderr
    r = nnctl("report", "missing.npz", cwd=tmp_path)
    assert r.returncode == 2 and "missing.npz" in r.stderr and "Traceback" not in r.stderr
    r = nnctl("report", "xor.npz", "-o", "nowhere/x.html", cwd=tmp_path)
    assert r.returncode == 2 and "nowhere" in r.stderr
    r = nnctl("explain", xor_config, "--out", "x.html", cwd=tmp_path)
    assert r.returncode == 2 and "--format html" in r.stderr


def test_a_wheel_ships_the_pages_styles_and_script(tmp_path):
    """`pip install .` (not editable) must carry the files every page inlines."""
    import shutil
    import zipfile

    root = DATASETS.parent
    src = tmp_path / "src"
    shutil.copytree(root / "nnctl", src / "nnctl", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "dist")], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("nnctl-*.whl")
    assert {"nnctl/pages/static/page.js", "nnctl/pages/static/page.css"} <= set(zipfile.ZipFile(wheel).namelist())


def test_a_history_of_one_epoch_is_drawn_as_a_point(tmp_path, xor_config):
    # a plotly line through a single point draws nothing: the chart would look empty
    assert nnctl("train", xor_config, "-q", "-o", "one.npz", "--set", "train.epochs=1", cwd=tmp_path).returncode == 0
    assert nnctl("report", "one.npz", "-q", cwd=tmp_path).returncode == 0
    figures = embedded((tmp_path / "one.html").read_text(), "nnctl-figures")
    curves = [trace for fig in figures for trace in fig["data"] if trace.get("name") == "loss"]
    assert [len(c["x"]) for c in curves] == [1] and curves[0]["mode"] == "lines+markers"


def test_a_long_feature_list_is_cut_in_the_summary_and_whole_in_the_json(tmp_path):
    names = [f"p{i}" for i in range(40)]
    rows = [[*(f"{(i * j) % 7 / 7:.3f}" for j in range(40)), "ab"[i % 2]] for i in range(10)]
    with open(tmp_path / "wide.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([[*names, "label"], *rows])
    (tmp_path / "wide.yaml").write_text(
        "data: {source: csv, path: wide.csv, target: label}\n"
        "model: {layers: [{units: 2, activation: softmax}]}\ntrain: {loss: cross_entropy, epochs: 1}\n")
    assert nnctl("train", "wide.yaml", "-q", "-o", "wide.npz", cwd=tmp_path).returncode == 0
    assert nnctl("report", "wide.npz", "-q", cwd=tmp_path).returncode == 0
    page = (tmp_path / "wide.html").read_text()
    assert "p31, … (+8 more)" in page and "p32," not in page.split('id="nnctl-report"')[0]
    assert embedded(page)["features"] == names


def test_scores_spanning_orders_of_magnitude_get_a_log_axis(tmp_path):
    # a run that blew up to 1e260 drew every other point flat on zero
    sw = tmp_path / "sw"
    (sw / "runs").mkdir(parents=True)
    losses = {0: [0.5, 0.2], 1: [0.4, 0.1], 2: [1.0, 1e260]}
    with open(sw / "trials.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["trial", "repeat", "seed", "status", "lr", "epochs", "seconds", "loss", "message"])
        for trial, curve in losses.items():
            w.writerow([trial, 0, 0, "ok", [0.01, 0.1, 1.0][trial], 2, 0.1, curve[-1], ""])
            (sw / "runs" / f"{trial}-0.csv").write_text(f"epoch,loss\n1,{curve[0]}\n2,{curve[1]}\n")
    assert nnctl("report", "sw", "-q", cwd=tmp_path).returncode == 0
    page = (sw / "report.html").read_text()
    by_mode = {fig["data"][0].get("mode"): fig for fig in embedded(page, "nnctl-figures")}
    assert by_mode["lines"]["layout"]["yaxis"]["type"] == "log"  # the learning curves
    assert by_mode["markers"]["layout"]["yaxis"]["type"] == "log"  # the score against lr


def test_a_loss_falling_by_orders_of_magnitude_is_drawn_on_a_log_axis(tmp_path, xor_config):
    # on a linear axis a loss from 0.7 to 1e-5 is an L: the whole curve after the first epochs sits on zero
    r = nnctl("train", xor_config, "-q", "-o", "long.npz", "--set", "train.epochs=3000", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert nnctl("report", "long.npz", "-q", cwd=tmp_path).returncode == 0
    page = (tmp_path / "long.html").read_text()
    loss = embedded(page)["history"]["loss"]
    assert max(loss) / min(loss) >= 100
    chart = next(fig for fig in embedded(page, "nnctl-figures") if fig["data"][0].get("name") == "loss")
    assert chart["layout"]["yaxis"]["type"] == "log"
