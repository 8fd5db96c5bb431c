"""`--lang zh` on explain and gradcheck: Chinese words through gettext, the same numbers, and JSON
that never changes with the language; the compiled catalog is what its .po makes."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from nnctl.i18n import LOCALE_DIR, msgfmt, translator

from ..conftest import CONFIGS, ROOT

PO = LOCALE_DIR / "zh" / "LC_MESSAGES" / "nnctl.po"
TUTORIAL = CONFIGS / "xor_tutorial_mse.yaml"


def _numbers(text: str) -> list[str]:
    return re.findall(r"-?\d+\.\d+(?:e[-+]\d+)?", text)


def test_the_compiled_catalog_is_up_to_date_with_its_po():
    assert PO.with_suffix(".mo").read_bytes() == msgfmt.mo_bytes(msgfmt.parse_po(PO.read_text(encoding="utf-8")))


def _msgids() -> set[str]:
    """Every string the code passes to gettext, and the sentence tables it translates."""
    from nnctl.render.explain import BATCH, LOSS_FORMULA, OUTPUT_GRADIENT, UPDATE_FORMULA
    from nnctl.tools.backward import LEARNER_MESSAGES
    from nnctl.tools.mistakes import MESSAGES

    ids = set(MESSAGES.values()) | set(BATCH.values()) | {why for _, why in OUTPUT_GRADIENT.values()}
    ids |= set(LEARNER_MESSAGES.values())
    ids |= set(LOSS_FORMULA.values()) | set(UPDATE_FORMULA.values())
    ids |= {"pass", "pass (atol)", "n/a (kinks)", "FAIL", "pass (kink)"}  # the verdicts
    for f in ("render/gradcheck.py", "render/backward.py", "render/explain.py", "commands/gradcheck.py"):
        for node in ast.walk(ast.parse((ROOT / "nnctl" / f).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_" and node.args \
                    and isinstance(node.args[0], ast.Constant):
                ids.add(node.args[0].value)
    return ids


def test_every_word_the_code_translates_has_a_chinese_entry():
    catalog = msgfmt.parse_po(PO.read_text(encoding="utf-8"))
    missing = sorted(_msgids() - set(catalog))
    assert not missing
    for msgid, text in catalog.items():  # placeholders survive translation
        assert set(re.findall(r"\{\w+", msgid)) == set(re.findall(r"\{\w+", text)), msgid


def test_lang_zh_comes_from_the_flag_or_the_environment(monkeypatch):
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert translator()("The loss") == "损失"
    assert translator("en")("The loss") == "The loss"
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    assert translator()("The loss") == "The loss" and translator("zh")("The loss") == "损失"


def test_explain_in_chinese_has_the_same_numbers_and_formulas(nnctl):
    en = nnctl("explain", TUTORIAL, "--rows", "4", "--format", "markdown").stdout
    zh = nnctl("explain", TUTORIAL, "--rows", "4", "--format", "markdown", "--lang", "zh").stdout
    assert "## 反向传播，第 0 层" in zh and "## Backward, layer 0" in en
    assert _numbers(en) == _numbers(zh) and len(_numbers(en)) > 40
    for formula in ("Z0 = A0·W0 + b0", "∂L/∂W1 = A1ᵀ·∂L/∂Z1", "W ← W − lr"):
        assert formula in zh
    assert nnctl("explain", TUTORIAL, "--json").stdout == nnctl("explain", TUTORIAL, "--json", "--lang", "zh").stdout
    assert nnctl("explain", TUTORIAL, "--lang", "fr").code == 2


def test_gradcheck_in_chinese_and_its_json_unchanged(nnctl, write):
    relu = CONFIGS / "xor_keras_relu.yaml"
    zh = nnctl("gradcheck", relu, "--samples", "4", "--lang", "zh")
    assert zh.code == 0 and "不适用（折点）" in zh.stdout and "折点" in zh.stderr
    assert nnctl("gradcheck", relu, "--json").stdout == nnctl("gradcheck", relu, "--json", "--lang", "zh").stdout
    student = write("s.py", """
        def backward(X, Y, W, b, Z, A):
            d_out = 2 * (Y - A[2]) / len(X) * A[2] * (1 - A[2])
            d_hid = d_out @ W[1].T * A[1] * (1 - A[1])
            return [X.T @ d_hid, A[1].T @ d_out], [d_hid.sum(axis=0), d_out.sum(axis=0)]
        """)
    r = nnctl("gradcheck", TUTORIAL, "--backward", student, "--rows", "4", "--lang", "zh")
    assert r.code == 1 and "梯度上升" in r.stderr and "y − ŷ" in r.stderr
    en = nnctl("gradcheck", TUTORIAL, "--backward", student, "--rows", "4", "--json")
    assert en.stdout == nnctl("gradcheck", TUTORIAL, "--backward", student, "--rows", "4", "--json",
                              "--lang", "zh").stdout


@pytest.mark.parametrize("page", ["backprop.zh.md", "tutorial-bugs.zh.md"])
def test_the_chinese_pages_exist_beside_the_english_ones(page):
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    assert re.search(r"[\u4e00-\u9fff]", text) and (ROOT / "docs" / page.replace(".zh", "")).exists()


def test_a_wheel_carries_the_catalogs(tmp_path):
    import shutil
    import subprocess
    import sys
    import zipfile

    src = tmp_path / "src"
    shutil.copytree(ROOT / "nnctl", src / "nnctl", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "dist")], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("nnctl-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "nnctl/i18n/locale/zh/LC_MESSAGES/nnctl.mo" in names
    assert Path("nnctl/i18n/locale/zh/LC_MESSAGES/nnctl.po").as_posix() in names


def test_explain_in_chinese_leaves_no_english_words_in_its_formulas(nnctl):
    """The loss and update lines carry a few words beside their symbols ('from the logits', 'plain
    SGD'); in Chinese those are translated, the symbols kept."""
    zh = nnctl("explain", CONFIGS / "xor.yaml", "--format", "markdown", "--lang", "zh").stdout
    assert "from the logits" not in zh and "plain SGD" not in zh
    assert "max(z, 0) − z·y + log(1 + e^−|z|)" in zh and "W ← W − lr·g" in zh
