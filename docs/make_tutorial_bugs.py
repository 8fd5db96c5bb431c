"""Regenerate docs/tutorial-bugs.md and docs/tutorial-bugs.zh.md: each classic backprop mistake as a
student writes it, what `nnctl gradcheck --backward` says about it (run here, so the page shows
today's words), and the fix.

    python docs/make_tutorial_bugs.py          # rewrites both pages
    python docs/make_tutorial_bugs.py --check  # exit 1 when a committed page is stale (the tests run this)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NET = "configs/xor_tutorial_mse.yaml"  # 2-2-1 sigmoid, mean squared error (mean over the rows)
DEEP = "configs/xor_tutorial_deep.yaml"  # 2-2-2-1: room for the wrong layer's weights

# The right function, written as the tutorials write it; each mistake changes a line or two of it.
RIGHT = """\
def backward(X, Y, W, b, Z, A):
    n = X.shape[0]
    d_out = 2 * (A[2] - Y) / n * A[2] * (1 - A[2])   # ∂L/∂Z1: the mean's 2/n, then σ'
    d_hid = d_out @ W[1].T * A[1] * (1 - A[1])       # ∂L/∂Z0: back through W1ᵀ, then σ'
    dW = [X.T @ d_hid, A[1].T @ d_out]
    db = [d_hid.sum(axis=0), d_out.sum(axis=0)]
    return dW, db
"""



def swap(start: str, line: str) -> str:
    """RIGHT with its line that starts with `start` replaced by the student's `line`."""
    return "".join(f"    {line}\n" if old.strip().startswith(start) else old for old in RIGHT.splitlines(True))


# (kind, config, the student's function, the fix, title en, title zh, why en, why zh)
EXAMPLES = [
    ("rows_summed", NET, swap("d_out", "d_out = 2 * (A[2] - Y) * A[2] * (1 - A[2])"),
     "d_out = 2 * (A[2] - Y) / n * A[2] * (1 - A[2])",
     "A sum where the mean belongs", "该取平均的地方求了和",
     "The tutorials' loops often add up every row's gradient; nnctl's `mse` is a mean over the rows, "
     "so each gradient is n times too large. Either divide by n, or say `loss: {name: mse, reduction: sum}` "
     "and keep the sum.",
     "教程的循环常常把每一行的梯度加起来；nnctl 的 `mse` 是对各行取平均，所以每个梯度都大了 n 倍。"
     "要么除以 n，要么写 `loss: {name: mse, reduction: sum}` 保留求和。"),
    ("half", NET, swap("d_out", "d_out = (A[2] - Y) / n * A[2] * (1 - A[2])"),
     "d_out = 2 * (A[2] - Y) / n * A[2] * (1 - A[2])",
     "The ½ of ½·MSE", "½·MSE 里的 ½",
     "Many tutorials write the loss as ½·(ŷ − y)² so that the 2 cancels; nnctl's `mse` has no ½. "
     "Keep the 2, or say `loss: {name: mse, half: true}`.",
     "很多教程把损失写成 ½·(ŷ − y)²，好让 2 消掉；nnctl 的 `mse` 没有 ½。保留 2，或者写 "
     "`loss: {name: mse, half: true}`。"),
    ("sign", NET, swap("d_out", "d_out = 2 * (Y - A[2]) / n * A[2] * (1 - A[2])"),
     "d_out = 2 * (A[2] - Y) / n * A[2] * (1 - A[2])",
     "A flipped sign", "符号反了",
     "y − ŷ where ŷ − y belongs: every gradient points uphill, and `W -= lr * dW` then climbs the loss.",
     "把 ŷ − y 写成了 y − ŷ：每个梯度都指向上坡，`W -= lr * dW` 会让损失越来越大。"),
    ("missing_derivative", NET, swap("d_hid", "d_hid = d_out @ W[1].T"),
     "d_hid = d_out @ W[1].T * A[1] * (1 - A[1])",
     "σ' forgotten in the hidden layer", "隐藏层漏了 σ'",
     "The error arrives at the hidden layer's output A1; to reach Z0 it must pass through σ'. Its "
     "ratio to the right gradient changes from element to element, so no single factor explains it: "
     "nnctl recomputes the gradient without σ' and compares.",
     "误差到达隐藏层的输出 A1；要传到 Z0 必须乘以 σ'。它和正确梯度的比值逐个元素都不同，"
     "所以不是某个常数倍：nnctl 重新计算了不带 σ' 的梯度来比较。"),
    ("derivative_of_z", NET, swap("d_hid", "d_hid = d_out @ W[1].T * Z[0] * (1 - Z[0])"),
     "d_hid = d_out @ W[1].T * A[1] * (1 - A[1])",
     "σ'(z) computed as z·(1 − z)", "把 σ'(z) 算成了 z·(1 − z)",
     "σ'(z) = σ(z)·(1 − σ(z)) = a·(1 − a): the formula takes the activation a, not the pre-activation z.",
     "σ'(z) = σ(z)·(1 − σ(z)) = a·(1 − a)：公式里用的是激活值 a，而不是预激活值 z。"),
    ("transposed", NET, swap("dW", "dW = [d_hid.T @ X, A[1].T @ d_out]"),
     "dW = [X.T @ d_hid, A[1].T @ d_out]",
     "A transposed weight gradient", "权重梯度被转置了",
     "dW0 must have W0's shape (inputs, units); `d_hid.T @ X` is its transpose, and on a square W0 "
     "the shapes do not warn you.",
     "dW0 的形状必须和 W0 相同 (输入, 单元)；`d_hid.T @ X` 是它的转置，而 W0 是方阵时形状不会提醒你。"),
    ("bias_not_summed", NET, swap("db", "db = [d_hid.sum(axis=0), d_out]"),
     "db = [d_hid.sum(axis=0), d_out.sum(axis=0)]",
     "A bias gradient not summed over the rows", "偏置梯度没有对各行求和",
     "Each row contributes to the bias, so its gradient is the sum of the rows' errors: shape (units,), "
     "not (rows, units).",
     "每一行都对偏置有贡献，所以偏置的梯度是各行误差之和：形状是 (单元,)，不是 (行, 单元)。"),
    ("wrong_weights", DEEP, """\
def backward(X, Y, W, b, Z, A):
    n = X.shape[0]
    d3 = 2 * (A[3] - Y) / n * A[3] * (1 - A[3])
    d2 = d3 @ W[2].T * A[2] * (1 - A[2])
    d1 = d2 @ W[0].T * A[1] * (1 - A[1])
    return [X.T @ d1, A[1].T @ d2, A[2].T @ d3], [d1.sum(axis=0), d2.sum(axis=0), d3.sum(axis=0)]
""", "d1 = d2 @ W[1].T * A[1] * (1 - A[1])",
     "The error sent back through the wrong layer's weights", "误差经错误一层的权重传回",
     "The error at Z1 goes back to A1 through the weights that made Z1 from A1: W1. With nnctl's "
     "indexing (Z_l = A_l·W_l + b_l) the matrix has the same index as the error it carries. On this "
     "2-2-2-1 net W0 and W1 have the same shape, so nothing fails but the numbers.",
     "Z1 处的误差要经过由 A1 计算出 Z1 的那组权重 W1 传回 A1。按 nnctl 的下标（Z_l = A_l·W_l + b_l），"
     "矩阵的下标与它传递的误差相同。在这个 2-2-2-1 网络上 W0 和 W1 形状相同，所以除了数字不对，不会报错。"),
]

TEXT = {
    "en": {
        "title": "# The classic backprop mistakes, and what `gradcheck --backward` says about them",
        "intro": f"""This page is generated: `python docs/make_tutorial_bugs.py` runs every function below through
`nnctl gradcheck CONFIG --backward FILE.py --rows 4` and copies what nnctl says (the tests fail when
it is stale, and run each block again). A Chinese version: docs/tutorial-bugs.zh.md.

Write your own backpropagation in NumPy as the tutorials do, as a function

```
backward(X, Y, W, b, Z, A) -> (dW, db)
```

nnctl calls it with one forward pass of the config's network: `X` the rows, `Y` the targets,
`W[l]`, `b[l]` each layer's weights and bias, `Z[l] = A[l] @ W[l] + b[l]`, `A[l + 1] = σ(Z[l])`,
`A[0] = X` (docs/backprop.md has a glossary from this indexing to the tutorials' δ). It compares each
tensor you return with its own gradient, element by element, and where one differs it recomputes
the classic mistakes until one matches, so it can tell you which (or that it is none of them).
Exit 0 all match, 1 a mismatch, 2 a file or function that fails (your own traceback lines are shown).

The net is `{NET}`: 2-2-1 sigmoid units, mean squared error averaged over the rows. The right
function:""",
        "says": "What `nnctl gradcheck {config} --backward mine.py --rows 4` says:",
        "fix": "The fix:",
        "right_says": "`nnctl gradcheck {config} --backward mine.py --rows 4` prints a table of every tensor "
                      "with `pass`, and exits 0.",
        "conventions": """## The tutorials' own conventions

If your loop sums over the rows, or uses ½·(ŷ − y)², or draws its biases like its weights, say so in
the config instead of changing your code: `train.loss: {name: mse, reduction: sum, half: true}` and
`model.init: {name: normal, std: 0.01, bias: same}`. gradcheck, explain, `--backward` and train all
use the same loss.
""",
    },
    "zh": {
        "title": "# 反向传播的典型错误，以及 `gradcheck --backward` 怎么说",
        "intro": f"""本页由程序生成：`python docs/make_tutorial_bugs.py` 把下面每个函数都交给
`nnctl gradcheck CONFIG --backward FILE.py --rows 4 --lang zh` 运行，并抄下 nnctl 的输出（本页过期时
测试会失败，测试也会重新运行每个代码块）。英文版：docs/tutorial-bugs.md。

像教程那样用 NumPy 写你自己的反向传播，写成一个函数

```
backward(X, Y, W, b, Z, A) -> (dW, db)
```

nnctl 用配置中网络的一次前向传播来调用它：`X` 是输入行，`Y` 是目标值，`W[l]`、`b[l]` 是每层的
权重和偏置，`Z[l] = A[l] @ W[l] + b[l]`，`A[l + 1] = σ(Z[l])`，`A[0] = X`（docs/backprop.zh.md 有这种
下标与教程中 δ 记法的对照表）。它把你返回的每个张量与自己的梯度逐个元素比较；不一致时，它会重新
计算各种典型错误，直到某一种吻合，从而告诉你是哪一种（或者都不是）。
退出码：0 全部一致，1 有不一致，2 文件或函数出错（会显示你自己代码中的出错行）。

网络是 `{NET}`：2-2-1 的 sigmoid 单元，均方误差对各行取平均。正确的函数：""",
        "says": "`nnctl gradcheck {config} --backward mine.py --rows 4 --lang zh` 的输出：",
        "fix": "改正：",
        "right_says": "`nnctl gradcheck {config} --backward mine.py --rows 4` 打印每个张量都是“通过”的表格，退出码 0。",
        "conventions": """## 教程自己的约定

如果你的循环对各行求和、用 ½·(ŷ − y)²，或者像权重一样随机初始化偏置，请在配置里写明，而不必改代码：
`train.loss: {name: mse, reduction: sum, half: true}` 和 `model.init: {name: normal, std: 0.01, bias: same}`。
gradcheck、explain、`--backward` 和 train 都使用同一个损失。
""",
    },
}

TARGETS = {"en": ROOT / "docs" / "tutorial-bugs.md", "zh": ROOT / "docs" / "tutorial-bugs.zh.md"}
PRELUDE = "import numpy as np\n\n"


def says(config: str, code: str, lang: str) -> list[str]:
    """nnctl's sentences about a function: the lines naming each tensor's mistake."""
    env = {k: v for k, v in os.environ.items() if k not in ("LANG", "LC_ALL", "LC_MESSAGES")}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mine.py"
        path.write_text(PRELUDE + code, encoding="utf-8")
        r = subprocess.run([sys.executable, "-m", "nnctl", "gradcheck", config, "--backward", str(path), "--rows", "4",
                            "--lang", lang], cwd=ROOT, capture_output=True, text=True, env=env)
    if r.returncode != 1:
        raise SystemExit(f"expected exit 1 for a mistake, got {r.returncode}: {r.stderr}")
    return [line.strip() for line in r.stderr.splitlines() if line.startswith("  ") and ":" in line[:8]]


def generate(lang: str) -> str:
    t = TEXT[lang]
    out = [t["title"], "", t["intro"], "", "```python", PRELUDE + RIGHT.rstrip(), "```", "",
           t["right_says"].format(config=NET), ""]
    for kind, config, code, fix, title_en, title_zh, why_en, why_zh in EXAMPLES:
        out += [f"## {title_en if lang == 'en' else title_zh}", "", f"<!-- kind: {kind}; config: {config} -->",
                "```python", PRELUDE + code.rstrip(), "```", "", why_en if lang == "en" else why_zh, "",
                t["says"].format(config=config), "", "```text", *says(config, code, lang), "```", "",
                t["fix"], "", "```python", fix.strip(), "```", ""]
    out += [t["conventions"]]
    return "\n".join(out)


def main() -> None:
    from make_backprop import write_or_check  # beside this file: run as python docs/make_tutorial_bugs.py

    write_or_check(TARGETS, generate, "docs/make_tutorial_bugs.py")


if __name__ == "__main__":
    main()
