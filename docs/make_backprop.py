"""Regenerate docs/backprop.md and docs/backprop.zh.md from `nnctl explain --format markdown` of the
tutorial net (English, and `--lang zh`):

    python docs/make_backprop.py          # rewrites both pages
    python docs/make_backprop.py --check  # exit 1 when a committed page is stale (the tests run this)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = "configs/xor_tutorial_mse.yaml"
ARGS = ["--rows", "4"]  # the four XOR rows as one batch: the tutorials' full-batch step

GLOSSARY = {
    "en": """## Glossary: nnctl's indexing and the tutorials' δ

nnctl numbers layers from 0 and writes each layer as `Z_l = A_l·W_l + b_l`, `A_{l+1} = f_l(Z_l)`,
`A_0 = X`; `W_l` has shape (fan_in, fan_out). The tutorials number from 1 and write
`z^(l) = W^(l)·a^(l−1) + b^(l)` with δ for the error. On the 2-2-1 net:

| nnctl | tutorials | meaning |
| --- | --- | --- |
| `A0 = X` | `a^(0)`, `X` | the inputs |
| `W0`, `b0`, `Z0`, `A1` | `W^(1)`, `b^(1)`, `z^(1)`, `a^(1)` | the hidden layer |
| `W1`, `b1`, `Z1`, `A2` | `W^(2)`, `b^(2)`, `z^(2)`, `a^(2) = ŷ` | the output layer |
| `∂L/∂Z1` | `δ^(2)` (`delta2`, `d_out`) | the output error |
| `∂L/∂Z0 = ∂L/∂Z1·W1ᵀ ⊙ σ'(Z0)` | `δ^(1) = δ^(2)·W^(2)ᵀ ⊙ σ'(z^(1))` | the hidden error |
| `∂L/∂W1 = A1ᵀ·∂L/∂Z1` | `a^(1)ᵀ·δ^(2)` | the output weights' gradient |
| `∂L/∂b0 = Σ_rows ∂L/∂Z0` | `np.sum(delta1, axis=0)` | a bias gradient, summed over the rows |

`σ'(Z0)` is computed as `A1·(1 − A1)`, from the activation, not from `Z0`
(docs/tutorial-bugs.md shows that mistake and the others `nnctl gradcheck --backward` names).

""",
    "zh": """## 术语对照：nnctl 的下标与教程中的 δ

nnctl 的层从 0 开始编号，每层写作 `Z_l = A_l·W_l + b_l`、`A_{l+1} = f_l(Z_l)`、`A_0 = X`；
`W_l` 的形状是 (fan_in, fan_out)。教程从 1 开始编号，写作 `z^(l) = W^(l)·a^(l−1) + b^(l)`，
误差记作 δ。以 2-2-1 网络为例：

| nnctl | 教程 | 含义 |
| --- | --- | --- |
| `A0 = X` | `a^(0)`、`X` | 输入 |
| `W0`、`b0`、`Z0`、`A1` | `W^(1)`、`b^(1)`、`z^(1)`、`a^(1)` | 隐藏层 |
| `W1`、`b1`、`Z1`、`A2` | `W^(2)`、`b^(2)`、`z^(2)`、`a^(2) = ŷ` | 输出层 |
| `∂L/∂Z1` | `δ^(2)`（`delta2`、`d_out`） | 输出层误差 |
| `∂L/∂Z0 = ∂L/∂Z1·W1ᵀ ⊙ σ'(Z0)` | `δ^(1) = δ^(2)·W^(2)ᵀ ⊙ σ'(z^(1))` | 隐藏层误差 |
| `∂L/∂W1 = A1ᵀ·∂L/∂Z1` | `a^(1)ᵀ·δ^(2)` | 输出层权重的梯度 |
| `∂L/∂b0 = Σ_rows ∂L/∂Z0` | `np.sum(delta1, axis=0)` | 偏置的梯度：对各行求和 |

`σ'(Z0)` 按 `A1·(1 − A1)` 计算，用的是激活值而不是 `Z0`
（docs/tutorial-bugs.zh.md 列出了这个错误以及 `nnctl gradcheck --backward` 能识别的其他错误）。

""",
}

INTRO = {
    "en": f"""# Backpropagation, one step of a real network, number by number

This page is generated: `python docs/make_backprop.py` runs
`nnctl explain {CONFIG} {' '.join(ARGS)} --format markdown` and writes its output below this
introduction, so the numbers are always the ones nnctl computes today (the tests fail when this
file is stale). A Chinese version: docs/backprop.zh.md.

The network is the classic tutorial net: two inputs (the four XOR rows, unscaled), a hidden layer
of two sigmoid units, one sigmoid output, mean squared error, plain SGD at lr 0.03. Read it top to
bottom: the forward pass (Z = A·W + b, then the activation), the loss, then backpropagation from
the output back to the first layer. Every gradient stands beside its central-difference estimate
(L(θ + eps) − L(θ − eps)) / 2eps and their relative error, which is ~1e-9 when backprop is right.
Last comes one SGD update, W ← W − lr·∂L/∂W, parameter by parameter.

Try it on your own config: `nnctl explain my.yaml` (train's own first step: its batch, after its
shuffle), `--steps N` (its first N steps), `--json` (every number, full precision), `--rows N`
(the first N rows as one batch), `--model trained.npz` (a step from trained weights), `--lang zh`.

""",
    "zh": f"""# 反向传播：一个真实网络的一步，逐个数字展示

本页由程序生成：`python docs/make_backprop.py` 运行
`nnctl explain {CONFIG} {' '.join(ARGS)} --format markdown --lang zh`，并把输出写在这段介绍之后，
所以这里的数字总是 nnctl 当前实际算出的数字（本页过期时测试会失败）。英文版：docs/backprop.md。

网络是教程里的经典网络：两个输入（XOR 的四行，未缩放），一个含两个 sigmoid 单元的隐藏层，
一个 sigmoid 输出，均方误差，学习率 0.03 的普通 SGD。从上往下读：前向传播（Z = A·W + b，
再经过激活函数）、损失，然后从输出层到第一层的反向传播。每个梯度旁边都有中心差分估计
(L(θ + eps) − L(θ − eps)) / 2eps 和两者的相对误差；反向传播正确时它约为 1e-9。
最后是一次 SGD 更新 W ← W − lr·∂L/∂W，逐个参数展示。

在你自己的配置上试试：`nnctl explain my.yaml`（train 自己的第一步：它的批次、打乱之后的顺序），
`--steps N`（前 N 步），`--json`（全部数字，完整精度），`--rows N`（前 N 行作为一个批次），
`--model trained.npz`（从训练好的权重出发的一步）。

""",
}

TARGETS = {"en": ROOT / "docs" / "backprop.md", "zh": ROOT / "docs" / "backprop.zh.md"}


def generate(lang: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("LANG", "LC_ALL", "LC_MESSAGES")}
    md = subprocess.run([sys.executable, "-m", "nnctl", "explain", CONFIG, *ARGS, "--format", "markdown",
                         "--lang", lang], cwd=ROOT, capture_output=True, text=True, check=True, env=env).stdout
    return INTRO[lang] + GLOSSARY[lang] + md


def write_or_check(targets: dict[str, Path], generate, script: str) -> None:
    """Write each language's page, or with --check exit 1 naming the pages that differ from what
    `generate(lang)` gives now (the docs generators share this)."""
    stale = []
    for lang, target in targets.items():
        text = generate(lang)
        if "--check" in sys.argv:
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                stale.append(target)
        else:
            target.write_text(text, encoding="utf-8")
    if stale:
        print(f"{', '.join(map(str, stale))} stale: run python {script}", file=sys.stderr)
        sys.exit(1)


def main() -> None:
    write_or_check(TARGETS, generate, "docs/make_backprop.py")


if __name__ == "__main__":
    main()
