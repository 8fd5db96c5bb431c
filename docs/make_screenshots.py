"""The README's pictures of the three kinds of page, made from real runs:

    python docs/make_screenshots.py        # writes docs/img/report-model.png, -sweep.png, -explain.png

Trains configs/moons.yaml and writes its rows to a CSV (for --data), runs configs/iris_sweep.yaml,
explains configs/xor_tutorial_mse.yaml, opens each page in headless Chromium as the tests do, and
keeps the top of each page as a palette PNG (each well under 200 KB).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.process.browser import chromium, open_page  # noqa: E402 - the tests' own way to open a page

NNCTL = [sys.executable, "-m", "nnctl"]
OUT = ROOT / "docs" / "img"
WIDTH = 1100


def nnctl(*args, cwd: Path) -> None:
    subprocess.run([*NNCTL, *map(str, args)], cwd=cwd, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def moons_csv(path: Path) -> None:
    """configs/moons.yaml's rows, as the model saw them before its split."""
    import numpy as np

    from nnctl.config.loader import load_config
    from nnctl.data.datasets import load_raw

    cfg = load_config(ROOT / "configs" / "moons.yaml")
    raw = load_raw(cfg, ROOT / "configs", np.random.default_rng(cfg.seed))
    y = raw.y_numeric[:, 0] if raw.y_numeric is not None else raw.y_labels
    lines = [",".join([*raw.features, *raw.targets])]
    for (a, b), v in zip(raw.X.tolist(), y, strict=True):
        lines.append(f"{a!r},{b!r},{int(v) if isinstance(v, float) else v}")
    path.write_text("\n".join(lines) + "\n")


def shoot(browser, page: Path, out: Path, height: int, scroll_to: str | None = None) -> None:
    from PIL import Image

    opened = open_page(browser, page, width=WIDTH, height=height)
    assert not opened.errors and not opened.requests, (opened.errors, opened.requests)
    if scroll_to:
        opened.page.locator(scroll_to).scroll_into_view_if_needed()
    png = opened.page.screenshot()
    opened.page.context.close()
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    image.save(out, optimize=True)
    print(f"{out.relative_to(ROOT)}: {out.stat().st_size // 1024} KB")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        nnctl("train", ROOT / "configs" / "moons.yaml", "-q", "-o", "moons.npz", cwd=tmp)
        moons_csv(tmp / "moons.csv")
        nnctl("report", "moons.npz", "--data", "moons.csv", "-q", cwd=tmp)
        nnctl("sweep", ROOT / "configs" / "iris_sweep.yaml", "-q", "--out", "iris-sweep", cwd=tmp)
        nnctl("report", "iris-sweep", "-q", cwd=tmp)
        nnctl("explain", ROOT / "configs" / "xor_tutorial_mse.yaml", "--format", "html", "--steps", "3",
              "-o", "explain.html", cwd=tmp)
        with chromium() as browser:
            shoot(browser, tmp / "moons.html", OUT / "report-model.png", 1640)
            shoot(browser, tmp / "iris-sweep" / "report.html", OUT / "report-sweep.png", 1300)
            shoot(browser, tmp / "explain.html", OUT / "report-explain.png", 1200)


if __name__ == "__main__":
    main()
