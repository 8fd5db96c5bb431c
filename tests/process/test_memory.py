"""Out of memory, as a user meets it (docs/data.md): under a hard address-space limit
(RLIMIT_AS), an in-memory run that cannot fit ends with exit 2 and the one message naming
data.stream; a streaming run of the same file trains under the same limit, to the accuracy an
in-memory run reaches without the limit."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MARGIN = 48 << 20  # what the limit leaves above a small run's peak: less than the big file's features need

# runs nnctl in this process and reports the address space's peak (VmPeak) at exit
PEAK = """
import runpy, sys
sys.argv = ["nnctl", *sys.argv[1:]]
try:
    runpy.run_module("nnctl", run_name="__main__")
except SystemExit as exc:
    code = exc.code
peak = [line for line in open("/proc/self/status") if line.startswith("VmPeak")][0].split()[1]
print(peak, file=sys.stderr)
sys.exit(code)
"""

CONFIG = """
seed: 0
data: {{source: csv, path: {path}, target: y, stream: {stream}, shuffle_buffer: 2048, validation_split: 0.02}}
model: {{layers: [{{units: 4, activation: tanh}}, {{units: 1, activation: sigmoid}}]}}
train: {{loss: bce, epochs: 1, batch_size: 256}}
"""

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux's /proc")


def _csv(path, rows):
    rng = np.random.default_rng(0)
    X = np.round(rng.normal(size=(rows, 20)), 2)
    y = (X[:, 0] > 0).astype(int)
    with open(path, "w") as fh:
        fh.write(",".join([f"x{i}" for i in range(20)]) + ",y\n")
        np.savetxt(fh, np.c_[X, y], delimiter=",", fmt=["%.2f"] * 20 + ["%d"])


def _run(tmp_path, name, stream, limit=None):
    cfg = tmp_path / f"{name}-{stream}.yaml"
    cfg.write_text(textwrap.dedent(CONFIG.format(path=name, stream=str(stream).lower())))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p),
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")

    def cap():
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    out = tmp_path / f"{name}-{stream}.npz"
    r = subprocess.run([sys.executable, "-c", PEAK, "train", str(cfg), "--json", "--out", str(out)], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=300, preexec_fn=cap)
    lines = r.stderr.strip().splitlines()
    accuracy = json.loads(r.stdout)["val_metrics"]["accuracy"] if r.returncode == 0 else None
    return r.returncode, lines[:-1], int(lines[-1]) << 10, accuracy


def test_out_of_memory_is_exit_2_and_streaming_fits(tmp_path):
    _csv(tmp_path / "small.csv", 2000)
    # the baseline under a cap too, far away: capped, nnctl starts no parse threads (their arenas
    # would count in an uncapped peak) and takes OpenBLAS's buffers first
    code, _, baseline, _ = _run(tmp_path, "small.csv", stream=False, limit=1 << 40)
    assert code == 0
    rows = 2 * MARGIN // (21 * 8)  # float64 features alone need twice the margin
    _csv(tmp_path / "big.csv", rows)
    limit = baseline + MARGIN
    code, err, _, _ = _run(tmp_path, "big.csv", stream=False, limit=limit)
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("error: not enough memory") and "data.stream: true" in err[0], err
    assert not (tmp_path / "big.csv-False.npz").exists()
    code, err, peak, streamed = _run(tmp_path, "big.csv", stream=True, limit=limit)
    assert code == 0 and peak <= limit, err
    assert (tmp_path / "big.csv-True.npz").exists()
    code, err, _, in_memory = _run(tmp_path, "big.csv", stream=False)  # where it fits: the same accuracy
    assert code == 0 and abs(streamed - in_memory) <= 0.01 and streamed > 0.9, (streamed, in_memory)


def test_a_cap_just_above_the_start_is_nnctls_message_never_openblas_exit_1(tmp_path):
    """A cap a few MB above what nnctl's imports take: OpenBLAS, taking its buffers at the first
    product after the data had taken the room, printed its own message and exit(1)ed; its buffers
    are now taken first, so every such run trains or ends with nnctl's line and exit 2."""
    _csv(tmp_path / "d.csv", 2000)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(textwrap.dedent(CONFIG.format(path="d.csv", stream="false")))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    start = subprocess.run([sys.executable, "-c", "import nnctl.cli, nnctl.data.arrow as a, pyarrow.csv; a.pyarrow(); "
                            "print([x for x in open('/proc/self/status') if x.startswith('VmSize')][0].split()[1])"],
                           env=env, capture_output=True, text=True, check=True)
    for extra_mb in (8, 16, 24):
        limit = (int(start.stdout) << 10) + (extra_mb << 20)
        r = subprocess.run([sys.executable, "-m", "nnctl", "train", str(cfg), "-q", "--out", "m.npz"], cwd=tmp_path,
                           env=env, capture_output=True, text=True, timeout=300,
                           preexec_fn=lambda limit=limit: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)))
        assert r.returncode in (0, 2), (extra_mb, r.returncode, r.stderr)
        assert r.returncode == 0 or r.stderr.startswith("error: not enough memory") and r.stderr.count("\n") == 1, \
            r.stderr
