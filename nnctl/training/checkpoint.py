"""Checkpoints: a Trainer's state (Trainer.state()) in an .npz, to continue a run exactly.

A checkpoint is an .npz beside the model file (`<model stem>.ckpt.npz`), written atomically.
Every array of the state is one member, named by its path in the state (`optimizer.m`); the rest
of the state, with the format and version, is the JSON member `meta`, in which an array's place
holds `{"@array": "<member>"}`. Resuming rebuilds the data from the same config and seed, then
loads the state, so an interrupted-and-resumed run ends with the same bytes as one that ran
straight through. `dumps`/`loads` do the same with bytes (a run that moves between processes).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from nnctl.errors import ModelFileError
from nnctl.io import jsonio
from nnctl.io.modelfile import read_npz, write_npz_atomic

FORMAT = "nnctl-checkpoint"
VERSION = 4  # 4: the Trainer's state, arrays by path; 3: the history as numeric columns
ARRAY = "@array"  # marks, in `meta`, the place of an array stored as its own member


def path_for(model_path: str | Path) -> Path:
    p = Path(model_path)
    return p.with_name(p.name[:-4] + ".ckpt.npz" if p.name.endswith(".npz") else p.name + ".ckpt.npz")


def _split(value, path: str, arrays: dict):
    """The state with each array replaced by a reference to its member in `arrays`."""
    if isinstance(value, np.ndarray):
        arrays[path] = value
        return {ARRAY: path}
    if isinstance(value, dict):
        return {k: _split(v, f"{path}.{k}" if path else str(k), arrays) for k, v in value.items()}
    return value


def _join(value, arrays: dict):
    if isinstance(value, dict):
        if set(value) == {ARRAY} and isinstance(value[ARRAY], str):
            return arrays[value[ARRAY]]
        return {k: _join(v, arrays) for k, v in value.items()}
    return value


def _arrays(trainer) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    state = _split(trainer.state(), "", arrays)
    # Infinity kept: early stopping's and the plateau's `best` start at inf (jsonio.dumps_private)
    arrays["meta"] = np.array(jsonio.dumps_private({"format": FORMAT, "version": VERSION, "state": state},
                                                   sort_keys=True))
    return arrays


def save(path: str | Path, trainer) -> None:
    """Write the trainer's state to `path`, atomically."""
    write_npz_atomic(path, _arrays(trainer))


def dumps(trainer) -> bytes:
    """The checkpoint as bytes (the same .npz, in memory), for a run that moves between processes."""
    buf = io.BytesIO()
    np.savez(buf, **_arrays(trainer))
    return buf.getvalue()


def restore(path: str | Path, trainer) -> None:
    """Load a checkpoint into a freshly set-up trainer for the same config. ModelFileError naming
    the file if it is not a checkpoint of this config."""
    _load(read_npz(path), trainer, str(path))


def loads(data: bytes, trainer, source: str = "checkpoint") -> None:
    """Load `dumps`' bytes into a freshly set-up trainer for the same config."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"not a checkpoint ({exc})", source=source) from None
    _load(arrays, trainer, source)


def _load(arrays: dict, trainer, source: str) -> None:
    def fail(msg):
        return ModelFileError(msg, source=source)

    try:
        meta = json.loads(str(arrays["meta"][()]))
        if meta.get("format") != FORMAT:
            raise fail(f"meta.format: expected {FORMAT!r} (a checkpoint), got {meta.get('format')!r}")
        if meta.get("version") != VERSION:
            raise fail(f"meta.version: this nnctl reads version {VERSION}, the file has {meta.get('version')!r}")
        trainer.load_state(_join(meta["state"], arrays))
    except ModelFileError as exc:
        exc.source = exc.source or source
        exc.args = (str(exc),)
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise fail(f"not a valid checkpoint ({type(exc).__name__}: {exc})") from None
