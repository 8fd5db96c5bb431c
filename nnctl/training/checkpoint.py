"""Checkpoints: everything a run needs to continue exactly where it stopped.

A checkpoint is an .npz beside the model file (`<model stem>.ckpt.npz`), written atomically:
the parameters, the optimizer's state, and in `meta` the epoch, the random generator's state,
the schedule's and early stopping's state, the history so far, and, when the run stopped inside
an epoch (Ctrl-C), that epoch's row order and progress. Resuming rebuilds the data from the same
config and seed, then restores all of it, so an interrupted-and-resumed run ends with the same
bytes as one that ran straight through.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nnctl.errors import ModelFileError
from nnctl.io.modelfile import read_npz, write_npz_atomic
from nnctl.training.trainer import History, PartialEpoch, Trainer, records_from_columns

FORMAT = "nnctl-checkpoint"
VERSION = 3  # 3: the history as numeric columns; 2: the first layer stored transposed in `flat`
# Keys that may differ between the run that wrote a checkpoint and the run that resumes it.
MAY_CHANGE = {("train", "epochs"), ("train", "log_every"), ("output",)}


def path_for(model_path: str | Path) -> Path:
    p = Path(model_path)
    return p.with_name(p.name[:-4] + ".ckpt.npz" if p.name.endswith(".npz") else p.name + ".ckpt.npz")


def save(path: str | Path, trainer: Trainer) -> None:
    arrays: dict[str, np.ndarray] = {"flat": trainer.model.flat}
    opt = trainer.optimizer
    for name in opt.state_names:
        arrays[f"opt_{name}"] = getattr(opt, name)
    stopper = trainer.stopper
    if stopper is not None and stopper.best_weights is not None:
        arrays["best_weights"] = stopper.best_weights
    partial = None
    if trainer.partial is not None:
        p = trainer.partial
        partial = {"start": p.start, "total": p.total, "order": p.order is not None, "outputs": p.outputs is not None}
        if p.order is not None:
            arrays["partial_order"] = p.order
        if p.outputs is not None:
            arrays["partial_outputs"] = p.outputs
    names = trainer.metric_names
    diag = trainer.diag_names
    arrays.update({f"h_{k}": v for k, v in trainer.history.columns(names, diag).items()})
    if trainer.best_record is not None:
        arrays.update({f"best_h_{k}": v for k, v in History([trainer.best_record]).columns(names, diag).items()})
    meta = {
        "format": FORMAT, "version": VERSION, "config": trainer.cfg.resolved(), "epoch": trainer.epoch,
        "optimizer_t": opt.t, "rng": trainer.rng.bit_generator.state, "schedule": trainer.schedule.state(),
        "stopper": stopper.state() if stopper is not None else None, "partial": partial,
        "history_stride": trainer.history.stride, "metric_names": names, "last_epoch": trainer.last_epoch,
        "stream": trainer.prepared.stream.state() if trainer.prepared.stream is not None else None,
    }
    # Python's JSON, Infinity included: early stopping's and the plateau's `best` start at inf,
    # and only nnctl reads a checkpoint (the model file's JSON is strict, see jsonsafe)
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    write_npz_atomic(path, arrays)


def _prefixed(arrays: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def _differences(a, b, path=()) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if (*path, k) not in MAY_CHANGE:
                out += _differences(a.get(k), b.get(k), (*path, k))
        return out
    return [] if a == b else [".".join(map(str, path)) + f" (checkpoint {a!r}, config {b!r})"]


def restore(path: str | Path, trainer: Trainer) -> None:
    """Load a checkpoint into a freshly set-up trainer for the same config. ModelFileError if the
    file is not a checkpoint of this config."""
    source = str(path)

    def fail(msg):
        return ModelFileError(msg, source=source)

    arrays = read_npz(path)
    try:
        meta = json.loads(str(arrays["meta"][()]))
        if meta.get("format") != FORMAT:
            raise fail(f"meta.format: expected {FORMAT!r} (a checkpoint), got {meta.get('format')!r}")
        if meta.get("version") != VERSION:
            raise fail(f"meta.version: this nnctl reads version {VERSION}, the file has {meta.get('version')!r}")
        diffs = _differences(meta["config"], trainer.cfg.resolved())
        if diffs:
            raise fail("was written for a different config; resuming needs the same one: " + "; ".join(diffs[:3]))
        if meta["epoch"] > trainer.cfg.train.epochs:
            raise fail(f"has already run {meta['epoch']} epochs, more than train.epochs {trainer.cfg.train.epochs}")
        flat = arrays["flat"]
        if flat.shape != trainer.model.flat.shape or flat.dtype != trainer.model.flat.dtype:
            raise fail(f"key 'flat': expected {trainer.model.flat.shape} {trainer.model.flat.dtype}")
        trainer.model.flat[...] = flat
        opt = trainer.optimizer
        opt.load_state({"t": meta["optimizer_t"], **{n: arrays[f"opt_{n}"] for n in opt.state_names}})
        trainer.rng.bit_generator.state = meta["rng"]
        trainer.schedule.load_state(meta["schedule"])
        if trainer.cfg.train.schedule is not None and trainer.cfg.train.schedule.name == "cosine" \
                and trainer.cfg.train.schedule.t_max is None:  # a run resumed with a new --epochs: the new total
            trainer.schedule.retarget(max(trainer.cfg.train.epochs - trainer.schedule.warmup, 1))
        if trainer.stopper is not None and meta["stopper"] is not None:
            trainer.stopper.load_state(meta["stopper"])
            if "best_weights" in arrays:
                trainer.stopper.best_weights = arrays["best_weights"]
        names = meta["metric_names"]
        if names != trainer.metric_names:
            raise fail(f"metric columns {names} differ from the config's {trainer.metric_names}")
        diag = trainer.diag_names
        trainer.history = History(records_from_columns(_prefixed(arrays, "h_"), names, diag), meta["history_stride"])
        if "best_h_epoch" in arrays:
            trainer.best_record = records_from_columns(_prefixed(arrays, "best_h_"), names, diag)[0]
        trainer.last_epoch = meta["last_epoch"]
        trainer.epoch = meta["epoch"]
        if trainer.prepared.stream is not None:  # where data.stream's reading is: epoch and batches taken
            trainer.prepared.stream.load_state(meta.get("stream") or {"epoch": trainer.epoch, "batches_done": 0})
        p = meta["partial"]
        if p is not None:
            trainer.partial = PartialEpoch(arrays["partial_order"] if p["order"] else None, p["start"], p["total"],
                                           arrays["partial_outputs"] if p["outputs"] else None)
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise fail(f"not a valid checkpoint ({type(exc).__name__}: {exc})") from None
