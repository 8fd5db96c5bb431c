"""How fast a large sweep's page opens:

    python benchmarks/report.py [--runs 200] [--loads 5] [--json report.json]

Runs a real sweep of `--runs` runs (random search, 100 points × 2 repeats of a small XOR net over
200 epochs, so each run keeps 200 epochs of history), writes its page with `nnctl report`, then
opens the page `--loads` times in headless Chromium (Debian's, through Playwright; a fresh browser
context each time, nothing cached) and reports the median time from the start of navigation to the
last chart drawn, as the page itself measures it (`performance.now()` when every plotly chart has
resolved). Target: under 3 s for 200 runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.process.browser import chromium, open_page  # noqa: E402 - the tests' own way to open a page

NNCTL = [sys.executable, "-m", "nnctl"]

CONFIG = """
seed: 0
data: {{source: xor}}
model: {{layers: [{{units: 4, activation: tanh}}, {{units: 1, activation: sigmoid}}]}}
train: {{loss: bce, optimizer: {{name: adam, lr: 0.01}}, epochs: 200, log_every: 50}}
sweep:
  method: random
  trials: {trials}
  repeats: 2
  metric: loss
  parameters:
    train.optimizer.lr: {{log_uniform: [1.0e-4, 1.0]}}
    model.layers.0.units: {{int_uniform: [2, 16]}}
    train.weight_decay: {{uniform: [0.0, 1.0e-3]}}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--loads", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "s.yaml").write_text(CONFIG.format(trials=args.runs // 2))
        subprocess.run([*NNCTL, "sweep", "s.yaml", "-q", "--out", "sw"], cwd=tmp, env=env, check=True)
        t0 = time.perf_counter()
        subprocess.run([*NNCTL, "report", "sw", "-q"], cwd=tmp, env=env, check=True)
        write_s = time.perf_counter() - t0
        page = tmp / "sw" / "report.html"
        loads, walls = [], []
        with chromium() as browser:
            for _ in range(args.loads):
                t0 = time.perf_counter()
                opened = open_page(browser, page)
                walls.append(time.perf_counter() - t0)
                assert not opened.errors and not opened.requests, (opened.errors, opened.requests)
                loads.append(float(opened.page.get_attribute("body", "data-rendered-ms")) / 1000)
                opened.page.context.close()
        result = {
            "date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(), "runs": args.runs,
            "page size (MB)": page.stat().st_size / 1e6,
            "nnctl report, whole command (s)": write_s,
            "navigation to charts drawn, median (s)": statistics.median(loads),
            "navigation to charts drawn, max (s)": max(loads),
            "the same, seen from Playwright (new page, goto, wait), median (s)": statistics.median(walls),
        }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
