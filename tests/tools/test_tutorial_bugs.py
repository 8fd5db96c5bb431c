"""docs/tutorial-bugs.md: every example runs as written, and --backward names the mistake the page
says it shows; the pages are current."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from ..conftest import ROOT

BLOCK = re.compile(r"(?:<!-- kind: (\w+); config: (\S+) -->\n)?```python\n(.*?)```", re.S)


def _examples(page: str):
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    return [(kind, config, code) for kind, config, code in BLOCK.findall(text) if "def backward" in code]


@pytest.mark.parametrize("page", ["tutorial-bugs.md", "tutorial-bugs.zh.md"])
def test_every_example_on_the_page_is_named_as_the_page_says(nnctl, write, page):
    examples = _examples(page)
    assert len(examples) == 9  # the right function and eight mistakes
    kinds = set()
    for i, (kind, config, code) in enumerate(examples):
        mine = write(f"mine{i}.py", code)
        r = nnctl("gradcheck", ROOT / (config or "configs/xor_tutorial_mse.yaml"), "--backward", mine,
                  "--rows", "4", "--json")
        doc = r.json()
        if not kind:
            assert r.code == 0 and doc["passed"], code
            continue
        assert r.code == 1, code
        named = {p["diagnosis"]["kind"] for p in doc["params"] if not p["passed"]}
        assert named == {kind}, (kind, named)
        kinds.add(kind)
    assert kinds == {"rows_summed", "half", "sign", "missing_derivative", "derivative_of_z", "transposed",
                     "bias_not_summed", "wrong_weights"}


def test_the_pages_are_current():
    r = subprocess.run([sys.executable, "docs/make_tutorial_bugs.py", "--check"], cwd=ROOT, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
