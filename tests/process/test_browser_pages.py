"""The three kinds of page in a real browser: Debian's Chromium driven by Playwright, from file://,
with every other URL refused (and counted). Each page must draw its charts with no console error
and no request, embed the numbers of the model file, trials.csv and explain --json, draw those
same numbers, and answer its controls (history column, leaderboard sort, step control)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from ..conftest import CONFIGS, DATASETS
from .browser import chromium, open_page, pixel_spread

NNCTL = [sys.executable, "-m", "nnctl"]
INJECTED = "<script>alert(1)</script>"

XOR_DIAG = """
    seed: 0
    data: {source: xor}
    model: {layers: [{units: 4, activation: relu}, {units: 1, activation: sigmoid}]}
    train: {loss: bce, optimizer: {name: adam, lr: 0.05}, epochs: 120, log_every: 40, diagnostics: true}
    """

SWEEP = """
    seed: 0
    data: {source: xor}
    model: {layers: [{units: 4, activation: tanh}, {units: 1, activation: identity}]}
    train: {loss: mse, optimizer: {name: sgd, lr: 0.1}, epochs: 40, log_every: 10}
    sweep:
      method: grid
      metric: loss
      parameters:
        train.optimizer.lr: {values: [0.003, 0.03, 0.3, 1.0e+6]}
        model.layers.0.activation: {values: [tanh, relu]}  # an axis of categories
    """


def nnctl(*args, cwd):
    r = subprocess.run([*NNCTL, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("pages")


def drawn_cleanly(opened, charts: int) -> None:
    """No error, no request off file://, no dialog, and every chart drawn as SVG."""
    assert opened.errors == [] and opened.requests == [] and opened.dialogs == []
    divs = opened.page.locator("div[data-figure]")
    assert divs.count() == charts
    for i in range(charts):
        assert divs.nth(i).locator("svg.main-svg").count() >= 1
    assert pixel_spread(opened.page.screenshot(full_page=True)) > 10  # not a blank page


def chart_data(opened, element_id: str):
    return opened.page.evaluate(f"document.getElementById({json.dumps(element_id)}).data")


def test_model_page(browser, folder):
    (folder / "x.yaml").write_text(textwrap.dedent(XOR_DIAG))
    nnctl("train", "x.yaml", "-q", "-o", "x.npz", cwd=folder)
    nnctl("report", "x.npz", "--data", DATASETS / "xor.csv", cwd=folder)
    with np.load(folder / "x.npz", allow_pickle=False) as z:
        meta = json.loads(str(z["meta"][()]))
    opened = open_page(browser, folder / "x.html")
    drawn_cleanly(opened, charts=6)  # loss, another column, W0, W1, confusion, boundary
    doc = opened.report()
    assert doc["history"] == meta["history"] and doc["metrics"] == meta["metrics"]
    loss = chart_data(opened, "loss-chart")
    assert loss[0]["y"] == meta["history"]["loss"] and loss[0]["x"] == meta["history"]["epoch"]
    # any other history column on request: the train.diagnostics' columns are there too
    opened.page.select_option("#history-column", "g_norm_1")
    assert chart_data(opened, "history-chart")[0]["y"] == meta["history"]["g_norm_1"]
    assert opened.errors == []


def test_text_from_the_data_stays_text(browser, folder):
    rows = [f"{x},{y},{INJECTED if x * y > 0 else 'no'}" for x in (-1, 1) for y in (-1, 1)] * 5
    (folder / "m.csv").write_text("\n".join([f'"{INJECTED}",b,label', *rows]) + "\n")
    (folder / "m.yaml").write_text("seed: 0\ndata: {source: csv, path: m.csv, target: label}\n"
                                   "model: {layers: [{units: 4, activation: tanh}, {units: 1, activation: sigmoid}]}\n"
                                   "train: {loss: bce, optimizer: {name: adam, lr: 0.05}, epochs: 20}\n")
    nnctl("train", "m.yaml", "-q", "-o", "m.npz", cwd=folder)
    nnctl("report", "m.npz", "--data", "m.csv", cwd=folder)
    opened = open_page(browser, folder / "m.html")
    drawn_cleanly(opened, charts=6)
    assert opened.page.locator("script").count() == 5  # plotly, three JSON blocks, the page's own
    assert opened.page.get_by_text(INJECTED, exact=True).count() >= 2  # the summary's and per-class tables
    assert opened.report()["features"] == [INJECTED, "b"]


def test_sweep_page(browser, folder):
    (folder / "s.yaml").write_text(textwrap.dedent(SWEEP))
    nnctl("sweep", "s.yaml", "--workers", "2", "-q", "--out", "sw", cwd=folder)
    nnctl("report", "sw", cwd=folder)
    with open(folder / "sw" / "trials.csv", newline="") as fh:
        trials = list(csv.DictReader(fh))
    ok = [t for t in trials if t["status"] == "ok"]
    assert 0 < len(ok) < len(trials)  # lr 1e6 diverges
    opened = open_page(browser, folder / "sw" / "report.html")
    drawn_cleanly(opened, charts=1 + 2 + 1)  # parallel coordinates, one per parameter, learning curves
    doc = opened.report()
    assert [(r["trial"], r["repeat"], r["status"], r["metrics"].get("loss")) for r in doc["runs"]] == \
           [(int(t["trial"]), int(t["repeat"]), t["status"], float(t["loss"]) if t["loss"] else None) for t in trials]
    parallel = chart_data(opened, "parallel-chart")[0]["dimensions"]
    assert sorted(parallel[-1]["values"]) == sorted(float(t["loss"]) for t in ok)  # one line per finished run
    board = opened.page.locator("#leaderboard tbody tr")
    assert board.count() == len(ok)  # one point per run here, and each ok run is scored

    def column(i):
        return [float(board.nth(r).locator("td").nth(i).get_attribute("data-value")) for r in range(board.count())]

    score = 4  # rank, trial, the two parameters, score
    assert column(score) == sorted(column(score))  # ranked best first (mode min)
    header = opened.page.locator("#leaderboard thead th")
    header.nth(score).click()
    assert header.nth(score).get_attribute("aria-sort") == "ascending" and column(score) == sorted(column(score))
    header.nth(score).click()
    assert column(score) == sorted(column(score), reverse=True)
    header.nth(1).click()
    assert column(1) == sorted(float(t["trial"]) for t in ok)
    header.nth(3).click()  # text: sorted as text
    names = [board.nth(r).locator("td").nth(3).text_content() for r in range(board.count())]
    assert names == sorted(names) and set(names) == {"relu", "tanh"}
    assert parallel[1]["ticktext"] == ["relu", "tanh"]
    assert opened.errors == []


def test_explain_page_one_step(browser, folder):
    config = CONFIGS / "xor_tutorial_mse.yaml"
    nnctl("explain", config, "--format", "html", "-o", "e.html", cwd=folder)
    want = json.loads(nnctl("explain", config, "--json", cwd=folder).stdout)
    opened = open_page(browser, folder / "e.html")
    drawn_cleanly(opened, charts=1)
    assert opened.report() == want
    assert chart_data(opened, "loss-per-row")[0]["y"] == want["loss_per_row"]
    assert opened.page.locator("#step-label").text_content() == "step 1 of 1"


def test_explain_page_moves_between_steps(browser, folder):
    config = CONFIGS / "xor_tutorial_mse.yaml"
    nnctl("explain", config, "--format", "html", "--steps", "3", "--rows", "4", "-o", "steps.html", cwd=folder)
    document = json.loads(nnctl("explain", config, "--json", "--steps", "3", "--rows", "4", cwd=folder).stdout)
    opened = open_page(browser, folder / "steps.html")
    drawn_cleanly(opened, charts=2)  # loss per row (of the step shown), loss per step
    assert opened.report() == document and len(document["steps"]) == 3
    assert chart_data(opened, "loss-per-step")[0]["y"] == [s["loss"] for s in document["steps"]]
    p = opened.page

    def at(i):
        assert p.locator("#step-label").text_content() == f"step {i + 1} of 3"
        assert [p.locator(f"#step-{j}").is_visible() for j in range(3)] == [j == i for j in range(3)]
        assert chart_data(opened, "loss-per-row")[0]["y"] == document["steps"][i]["loss_per_row"]

    at(0)
    p.click("#step-next")
    at(1)
    p.click("#step-next")
    p.click("#step-next")  # stays on the last step
    at(2)
    p.click("#step-previous")
    at(1)
    p.keyboard.press("ArrowLeft")
    at(0)
    p.locator("#step").fill("2")
    at(2)
    assert opened.errors == []


def test_a_chinese_page_opens_cleanly(browser, folder):
    nnctl("train", CONFIGS / "xor.yaml", "-q", "-o", "zh.npz", cwd=folder)
    nnctl("report", "zh.npz", "--lang", "zh", cwd=folder)
    opened = open_page(browser, folder / "zh.html")
    drawn_cleanly(opened, charts=4)
    assert opened.page.locator("h2").first.text_content() == "概要"
