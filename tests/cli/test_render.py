"""What commands print for people: user text printed literally (never read as markup), and the
tables of info."""

from __future__ import annotations

import os
import re
import subprocess
import textwrap

from ..conftest import NNCTL, XOR, run_nnctl


def test_brackets_in_data_are_printed_literally(nnctl, write):
    write("d.csv", "income[usd],age,label\n" + "".join(f"{i},{i % 5},{'yes[/b]' if i % 2 else '[bold]no'}\n"
                                                          for i in range(20)))
    cfg = write("c.yaml", """
        data: {source: csv, path: d.csv, target: label}
        model: {layers: [{units: 1, activation: sigmoid}]}
        train: {loss: bce, epochs: 5}
        """)
    assert nnctl("train", cfg, "-q").code == 0
    info = nnctl("info", "c.npz")
    assert info.code == 0 and "income[usd]" in info.stdout and "yes[/b]" in info.stdout
    ev = nnctl("evaluate", "c.npz", "d.csv")
    assert ev.code == 0 and "[bold]no" in ev.stdout and "yes[/b]" in ev.stdout
    bad = nnctl("predict", "c.npz", "-", input="income[usd],age\n[/x],1\n")
    assert bad.code == 2 and "'[/x]'" in bad.stderr and "income[usd]" in bad.stderr


def test_a_markup_cell_on_a_terminal_is_an_error_line_not_a_traceback(tmp_path):
    import pty

    (tmp_path / "c.yaml").write_text(textwrap.dedent(XOR))
    assert run_nnctl(["train", "c.yaml", "-q", "-o", "m.npz"], tmp_path).returncode == 0
    (tmp_path / "in.csv").write_text("x1,x2\n[/x],1\n")
    main, child = pty.openpty()
    proc = subprocess.Popen([*NNCTL, "predict", "m.npz", "in.csv"], cwd=tmp_path, stdin=subprocess.DEVNULL,
                            stdout=child, stderr=child)
    os.close(child)
    out = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    assert proc.wait(timeout=60) == 2
    text = out.decode()
    assert "Traceback" not in text and "[/x]" in text and "line 2, column 1" in text


def test_info_text_shows_the_config_and_one_loss_of_each_kind(nnctl, xor_config):
    nnctl("train", xor_config, "-q")
    out = nnctl("info", "xor.npz").stdout
    assert "training config:" in out and "optimizer: {lr: 0.1, momentum: 0.9" in out
    assert "loss function" in out and len(re.findall(r"│ loss +│", out)) == 1
