"""The README as a user reads it: its set-up lines, its links, and every ```python block, run
as written from a copy of the project's root."""

from __future__ import annotations

import pydoc
import re
import shutil
import subprocess
import sys

import pytest

import nnctl

from ..conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```python\n(.*?)^```", README, re.S | re.M)


@pytest.fixture
def root_copy(tmp_path):
    """The files a README block may read (configs and data); whatever it writes stays here."""
    for folder in ("configs", "datasets"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


def test_the_readme_is_a_short_page_with_the_two_set_up_commands():
    assert len(README.encode()) <= 15_500
    assert "pip install -e '.[test]' && pytest                      # install the test extras and run the tests" \
        in README.splitlines()
    assert "pip install . && nnctl train configs/xor.yaml          # install and run the main job" \
        in README.splitlines()


def test_every_link_in_the_readme_leads_to_a_file():
    links = re.findall(r"\]\(([^)#]+)\)", README)
    assert links
    for link in links:
        if "://" not in link:
            assert (ROOT / link).exists(), link


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_every_python_block_runs_as_written(block, root_copy):
    r = subprocess.run([sys.executable, "-c", block], cwd=root_copy, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_the_api_trains_the_bits_nnctl_train_does_and_prints_nothing(root_copy):
    assert any("from nnctl import load_config, train, save_result, load_model" in b for b in BLOCKS)
    api = ("from nnctl import load_config, train, save_result\n"
           "cfg = load_config('configs/xor.yaml', ['train.epochs=500'])\n"
           "save_result('xor.npz', cfg, train(cfg))\n")
    r = subprocess.run([sys.executable, "-c", api], cwd=root_copy, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stderr
    (root_copy / "cli").mkdir()
    subprocess.run([sys.executable, "-m", "nnctl", "train", "../configs/xor.yaml", "--set", "train.epochs=500", "-q"],
                   cwd=root_copy / "cli", check=True)
    assert (root_copy / "xor.npz").read_bytes() == (root_copy / "cli" / "xor.npz").read_bytes()


def test_help_lists_the_api():
    text = pydoc.render_doc(nnctl, renderer=pydoc.plaintext)
    functions = text[text.index("FUNCTIONS"):]
    for name in ("load_config", "train", "save_result", "load_model"):
        assert re.search(rf"^    {name}\b", functions, re.M), name
