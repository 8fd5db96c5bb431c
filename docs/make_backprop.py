"""Regenerate docs/backprop.md from `nnctl explain --format markdown` of the tutorial net:

    python docs/make_backprop.py          # rewrites docs/backprop.md
    python docs/make_backprop.py --check  # exit 1 when the committed file is stale (the tests run this)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = "configs/xor_tutorial_mse.yaml"

INTRO = f"""# Backpropagation, one step of a real network, number by number

This page is generated: `python docs/make_backprop.py` runs
`nnctl explain {CONFIG} --format markdown` and writes its output below this introduction, so
the numbers are always the ones nnctl computes today (the tests fail when this file is stale).

The network is the classic tutorial net: two inputs (the four XOR rows, unscaled), a hidden layer
of two sigmoid units, one sigmoid output, mean squared error, plain SGD at lr 0.03. Read it top to
bottom: the forward pass (Z = A·W + b, then the activation), the loss, then backpropagation from
the output back to the first layer. Every gradient stands beside its central-difference estimate
(L(θ + eps) − L(θ − eps)) / 2eps and their relative error, which is ~1e-9 when backprop is right.
Last comes one SGD update, W ← W − lr·∂L/∂W, parameter by parameter.

Try it on your own config: `nnctl explain my.yaml` (terminal), `--json` (every number, full
precision), `--rows N`, `--model trained.npz` (a step from trained weights).

"""


def generate() -> str:
    md = subprocess.run([sys.executable, "-m", "nnctl", "explain", CONFIG, "--format", "markdown"], cwd=ROOT,
                        capture_output=True, text=True, check=True).stdout
    return INTRO + md


def main() -> None:
    target = ROOT / "docs" / "backprop.md"
    text = generate()
    if "--check" in sys.argv:
        if not target.exists() or target.read_text() != text:
            print(f"{target} is stale: run python docs/make_backprop.py", file=sys.stderr)
            sys.exit(1)
        return
    target.write_text(text)


if __name__ == "__main__":
    main()
