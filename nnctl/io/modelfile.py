"""The .npz model file: written atomically and byte-for-byte reproducibly, read without trust.

Layout (docs/model-file.md): `W0, b0, W1, b1, …`, optional `x_mean`/`x_std`, and `meta`,
a 0-d string array of JSON. Reading never unpickles, checks every member's header and size
before allocating, and checks names, shapes, dtypes and values against `meta`.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.core.activations import ACTIVATIONS, Activation
from nnctl.core.metrics import predicted_indices
from nnctl.core.model import MLP, standardize_in_place
from nnctl.errors import ModelFileError, UsageError
from nnctl.io import jsonio as jsonsafe
from nnctl.io.files import atomic_write

FORMAT = "nnctl-mlp"
VERSION = 1
MAX_MEMBER_BYTES = 1 << 31  # 2 GiB per array; far above any MLP this tool trains
MAX_META_BYTES = 64 << 20
MAX_HEADER = 10_000  # numpy's own default limit for .npy headers
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # zip timestamps fixed, so equal runs give equal bytes


# --- writing ---------------------------------------------------------------------------------

def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr if arr.flags.c_contiguous else np.ascontiguousarray(arr),
                              allow_pickle=False)
    return buf.getvalue()


def write_npz_atomic(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """An .npz with fixed timestamps (equal arrays give equal bytes), written atomically."""

    def write(fh):
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED) as zf:
            for key, arr in arrays.items():
                info = zipfile.ZipInfo(f"{key}.npy", date_time=_FIXED_TIME)
                info.external_attr = 0o644 << 16
                zf.writestr(info, _npy_bytes(arr))

    atomic_write(path, write)


def activation_spec(act: Activation) -> Any:
    spec = getattr(act, "spec", None)
    return {"plugin": spec} if spec else act.name


def save(path: str | Path, model: MLP, meta: dict, x_mean=None, x_std=None) -> None:
    """Write the model file (atomically): W_i, b_i, the input scaling, and `meta` as JSON."""
    write_npz_atomic(path, model_arrays(model, meta, x_mean, x_std))


def model_arrays(model: MLP, meta: dict, x_mean=None, x_std=None) -> dict[str, np.ndarray]:
    """The model file's arrays, in the order they are written."""
    arrays: dict[str, np.ndarray] = {}
    for name, p in zip(model.param_names, model.params, strict=True):
        arrays[name] = p
    if x_mean is not None:
        arrays["x_mean"] = np.asarray(x_mean, dtype=np.float64)
        arrays["x_std"] = np.asarray(x_std, dtype=np.float64)
    meta = {"format": FORMAT, "version": VERSION,
            "layers": [{"units": int(W.shape[1]), "activation": activation_spec(a)}
                       for W, a in zip(model.W, model.activations, strict=True)],
            **meta}
    arrays["meta"] = np.array(jsonsafe.dumps(meta, sort_keys=True))
    return arrays


# --- reading ---------------------------------------------------------------------------------

@dataclass
class ModelFile:
    path: str
    model: MLP
    meta: dict
    x_mean: np.ndarray | None
    x_std: np.ndarray | None

    @property
    def features(self) -> list[str]:
        return self.meta["features"]

    @property
    def targets(self) -> list[str]:
        return self.meta["targets"]

    @property
    def classes(self) -> list | None:
        return self.meta.get("classes")

    def transform(self, X: np.ndarray, in_place: bool = False) -> np.ndarray:
        """Raw feature rows standardised as in training, at the model's dtype. in_place: X (float64)
        is overwritten block by block, so a table of millions of rows (evaluate) is not copied
        twice over by the arithmetic's temporaries; the same numbers either way."""
        if self.x_mean is not None and not in_place:
            X = (X - self.x_mean) / self.x_std
        elif self.x_mean is not None:
            standardize_in_place(X, self.x_mean, self.x_std)
        return X.astype(self.model.dtype, copy=False)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """A classifier's class probabilities for raw feature rows, one column per class in
        `classes` order (a bce model's one sigmoid unit gives both columns, 1 − p and p), as
        `nnctl predict --proba` prints them."""
        if not self.classes:
            raise UsageError(f"{self.path}: a regression model has no class probabilities; use predict")
        out = self.model.predict(self.transform(np.asarray(X, dtype=np.float64)))
        return np.c_[1.0 - out[:, 0], out[:, 0]] if out.shape[1] == 1 else out

    def predict(self, X: np.ndarray) -> np.ndarray:
        """What `nnctl predict` prints for raw feature rows: a classifier's labels (the classes' own
        values, None for a row whose outputs are not finite), a regression's outputs (n, targets)."""
        out = self.model.predict(self.transform(np.asarray(X, dtype=np.float64)))
        if not self.classes:
            return out
        labels = np.array(self.classes, dtype=object)[predicted_indices(out)]
        labels[~np.isfinite(out).all(axis=1)] = None
        return labels


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, fail) -> np.ndarray:
    key = info.filename[:-4]
    if info.flag_bits & 0x1:
        raise fail(f"key {key!r}: the member is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise fail(f"key {key!r}: unsupported zip compression method {info.compress_type}")
    try:
        return _read_checked(zf, info, key, fail)
    except ModelFileError:
        raise
    except Exception as exc:  # zipfile and zlib raise a zoo of types on corrupt data
        detail = str(exc).splitlines()[0] if str(exc) else ""
        raise fail(f"key {key!r}: cannot be read ({type(exc).__name__}: {detail}); the file is corrupt") from None


def _read_checked(zf: zipfile.ZipFile, info: zipfile.ZipInfo, key: str, fail) -> np.ndarray:
    if info.file_size > MAX_MEMBER_BYTES:
        raise fail(f"key {key!r}: {info.file_size} bytes, more than the {MAX_MEMBER_BYTES} allowed")
    if info.compress_type != zipfile.ZIP_STORED and info.file_size > 1000 * max(info.compress_size, 1):
        raise fail(f"key {key!r}: compressed more than 1000:1; refused (a zip bomb?)")
    with zf.open(info) as fh:
        try:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh, max_header_size=MAX_HEADER)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh, max_header_size=MAX_HEADER)
            else:
                raise ValueError(f"unknown .npy version {version}")
        except (ValueError, EOFError, OSError, zipfile.BadZipFile) as exc:
            first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise fail(f"key {key!r}: not a valid .npy array ({first_line})") from None
        if dtype.hasobject:
            raise fail(f"key {key!r}: holds Python objects (pickled data); refused, nothing was loaded")
        count = 1
        for dim in shape:
            count *= dim
        nbytes = count * dtype.itemsize
        header_len = fh.tell()
        if nbytes != info.file_size - header_len:
            raise fail(f"key {key!r}: its header promises {nbytes} bytes of data but it holds "
                       f"{info.file_size - header_len} (truncated or corrupt)")
        try:
            raw = fh.read(nbytes)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise fail(f"key {key!r}: cannot be read ({exc})") from None
    if len(raw) != nbytes:
        raise fail(f"key {key!r}: truncated")
    arr = np.frombuffer(raw, dtype=dtype)
    return arr.reshape(shape, order="F" if fortran else "C").copy()


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Every member of an .npz as arrays, checked before allocating; ModelFileError otherwise."""
    source = str(path)

    def fail(msg):
        return ModelFileError(msg, source=source)

    p = Path(path)
    if not p.exists():
        raise fail("no such file")
    if p.is_dir():
        raise fail("is a folder, expected a model file (.npz)")
    if p.stat().st_size == 0:
        raise fail("the file is empty")
    try:
        zf = zipfile.ZipFile(p)
    except Exception as exc:  # BadZipFile, but also OSError, ValueError, EOFError on mangled headers
        raise fail(f"not a model file (.npz is a zip archive): {exc}") from None
    arrays = {}
    with zf:
        if len(zf.infolist()) > 4096:
            raise fail(f"{len(zf.infolist())} members; a model file has a few dozen at most")
        for info in zf.infolist():
            if not info.filename.endswith(".npy") or "/" in info.filename:
                raise fail(f"unexpected member {info.filename!r}; a model file holds .npy arrays only")
            key = info.filename[:-4]
            if key in arrays:
                raise fail(f"key {key!r} appears twice")
            arrays[key] = _read_member(zf, info, fail)
    return arrays


def _check_meta(arrays: dict, fail) -> dict:
    if "meta" not in arrays:
        raise fail("missing key 'meta' (is this an nnctl model file?)")
    m = arrays["meta"]
    if m.shape != () or m.dtype.kind != "U":
        raise fail(f"key 'meta': expected a 0-d string array, got dtype {m.dtype} shape {m.shape}")
    text = str(m[()])
    if len(text) > MAX_META_BYTES:
        raise fail("key 'meta': too large")
    try:
        meta = json.loads(text)
    except ValueError as exc:
        raise fail(f"key 'meta': not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise fail("key 'meta': expected a JSON object")
    if meta.get("format") != FORMAT:
        raise fail(f"meta.format: expected {FORMAT!r}, got {meta.get('format')!r}")
    if meta.get("version") != VERSION:
        raise fail(f"meta.version: this nnctl reads version {VERSION}, the file has "
                   f"{meta.get('version')!r} (written by a newer nnctl?)")
    for key, kind in [("layers", list), ("loss", str), ("features", list), ("targets", list)]:
        if not isinstance(meta.get(key), kind):
            raise fail(f"meta.{key}: missing or not a {kind.__name__}")
    if not meta["layers"]:
        raise fail("meta.layers: empty")
    for i, layer in enumerate(meta["layers"]):
        if not isinstance(layer, dict) or not isinstance(layer.get("units"), int) or layer["units"] < 1:
            raise fail(f"meta.layers.{i}: expected {{units: int ≥ 1, activation: name}}")
        act = layer.get("activation")
        if not ((isinstance(act, str) and act in ACTIVATIONS) or (isinstance(act, dict) and set(act) == {"plugin"}
                                       and isinstance(act["plugin"], str))):
            raise fail(f"meta.layers.{i}.activation: unknown activation {act!r}; expected one of "
                       f"{', '.join(ACTIVATIONS)} or {{plugin: 'file.py:Class'}}")
    if not all(isinstance(f, str) for f in meta["features"] + meta["targets"]):
        raise fail("meta.features / meta.targets: expected lists of names")
    from nnctl.core.losses import LOSSES

    if meta["loss"] not in LOSSES:
        raise fail(f"meta.loss: unknown loss {meta['loss']!r}")
    classes = meta.get("classes")
    if LOSSES[meta["loss"]].classifier and (not isinstance(classes, list) or len(classes) < 2):
        raise fail("meta.classes: a classifier's file must list its classes")
    return meta


def _activations(meta: dict, fail, plugin_files: list[Path] | None) -> list[Activation]:
    from nnctl.plugins import load_plugin, split_spec

    acts = []
    for i, layer in enumerate(meta["layers"]):
        a = layer.get("activation")
        if isinstance(a, str) and a in ACTIVATIONS:
            acts.append(ACTIVATIONS[a]())
            continue
        if not (isinstance(a, dict) and isinstance(a.get("plugin"), str)):
            raise fail(f"meta.layers.{i}.activation: unknown activation {a!r}")
        spec = a["plugin"]
        try:
            file, _ = split_spec(spec)
        except Exception:
            raise fail(f"meta.layers.{i}.activation: bad plugin spec {spec!r}") from None
        given = plugin_files or []
        match = [f for f in given if Path(f).name == Path(file).name] or (given if len(given) == 1 else [])
        if not match:
            raise fail(f"meta.layers.{i}.activation: uses the plugin activation {spec!r}; "
                       f"loading it runs code, so pass the file explicitly: --plugin {Path(file).name}")
        acts.append(load_plugin(spec, Path("."), Path(match[0])))
    return acts


def inspect(path: str | Path) -> tuple[dict, dict[str, np.ndarray]]:
    """Read and validate a model file without building it (no plugin is loaded): (meta, arrays)."""
    source = str(path)

    def fail(msg):
        return ModelFileError(msg, source=source)

    arrays = read_npz(path)
    meta = _check_meta(arrays, fail)
    L = len(meta["layers"])
    expected = {f"{k}{i}" for i in range(L) for k in "Wb"} | {"meta"}
    scaled = "x_mean" in arrays or "x_std" in arrays
    if scaled:
        expected |= {"x_mean", "x_std"}
    for key in sorted(expected - arrays.keys()):
        raise fail(f"missing key {key!r}")
    for key in sorted(arrays.keys() - expected):
        raise fail(f"unexpected key {key!r}; this format defines W0…W{L - 1}, b0…b{L - 1}, "
                   "x_mean, x_std and meta")
    n_in = len(meta["features"])
    dtype = arrays["W0"].dtype
    for i, layer in enumerate(meta["layers"]):
        for key, shape in ((f"W{i}", (n_in, layer["units"])), (f"b{i}", (layer["units"],))):
            arr = arrays[key]
            if arr.dtype not in (np.float32, np.float64) or arr.dtype != dtype:
                raise fail(f"key {key!r}: expected float32 or float64 like W0, got {arr.dtype}")
            if arr.shape != shape:
                raise fail(f"key {key!r}: expected shape {shape}, got {arr.shape}")
            if not np.isfinite(arr).all():
                raise fail(f"key {key!r}: holds NaN or infinite values")
        n_in = layer["units"]
    x_mean = x_std = None
    if scaled:
        x_mean, x_std = arrays["x_mean"], arrays["x_std"]
        for key, arr in (("x_mean", x_mean), ("x_std", x_std)):
            if arr.dtype not in (np.float32, np.float64) or arr.shape != (len(meta["features"]),):
                raise fail(f"key {key!r}: expected {len(meta['features'])} floats, got dtype "
                           f"{arr.dtype} shape {arr.shape}")
            if not np.isfinite(arr).all():
                raise fail(f"key {key!r}: holds NaN or infinite values")
        if not (x_std > 0).all():
            raise fail("key 'x_std': expected every value > 0")
    n_out = meta["layers"][-1]["units"]
    classes = meta.get("classes")
    if meta["loss"] == "bce" and (n_out != 1 or len(classes) != 2):
        raise fail(f"meta.layers: a bce model has 1 output unit and 2 classes, got {n_out} and "
                   f"{len(classes)}")
    if meta["loss"] == "cross_entropy" and len(classes) != n_out:
        raise fail(f"meta.classes: {len(classes)} classes but the output layer has {n_out} units")
    if meta["loss"] != "cross_entropy" and not classes and len(meta["targets"]) != n_out:
        raise fail(f"meta.targets: {len(meta['targets'])} targets but the output layer has {n_out} units")
    return meta, arrays


def fitted_line(meta: dict, arrays: dict[str, np.ndarray]) -> dict | None:
    """For one feature into one identity unit, the line it computes in the data's own units:
    y = w·(x − μ)/σ + b = (w/σ)·x + (b − w·μ/σ). None for any other model."""
    layers = meta["layers"]
    if len(layers) != 1 or len(meta["features"]) != 1 or layers[0]["units"] != 1 or \
            layers[0]["activation"] not in ("identity", "linear"):
        return None
    w, b = float(arrays["W0"][0, 0]), float(arrays["b0"][0])
    if "x_mean" in arrays:
        mu, sigma = float(arrays["x_mean"][0]), float(arrays["x_std"][0])
        w, b = w / sigma, b - w * mu / sigma
    return {"slope": w, "intercept": b}


def describe(path: str | Path, weights: bool = False) -> dict:
    """What `nnctl info` shows (docs/commands/info.md): layers with their fan-in, the parameter
    count, features, targets, classes, loss, dtype, the training config and final metrics; the
    fitted line of a one-feature identity model; every W and b with `weights`. Plugin
    activations are named, never loaded."""
    meta, arrays = inspect(path)
    layers, fan_in = [], len(meta["features"])
    for i, layer in enumerate(meta["layers"]):
        layers.append({"index": i, "in": fan_in, "units": layer["units"], "activation": layer["activation"]})
        fan_in = layer["units"]
    names = [f"{k}{i}" for i in range(len(layers)) for k in "Wb"]
    doc = {"layers": layers, "parameters": sum(int(arrays[n].size) for n in names),
           "features": meta["features"], "targets": meta["targets"], "classes": meta.get("classes"),
           "loss": meta["loss"], "dtype": str(arrays["W0"].dtype), "standardized": "x_mean" in arrays,
           "epochs": meta.get("epochs"), "config": meta.get("config"), "metrics": meta.get("metrics")}
    line = fitted_line(meta, arrays)
    if line is not None:
        doc["line"] = line
    if weights:
        doc["weights"] = {n: arrays[n].tolist() for n in names}
    return doc


def load(path: str | Path, plugin_files: list[Path] | None = None) -> ModelFile:
    """Read and validate a model file. Raises ModelFileError naming the key at fault."""
    meta, arrays = inspect(path)

    def fail(msg):
        return ModelFileError(msg, source=str(path))

    L = len(meta["layers"])
    model = MLP([arrays[f"W{i}"] for i in range(L)], [arrays[f"b{i}"] for i in range(L)],
                _activations(meta, fail, plugin_files))
    return ModelFile(str(path), model, meta, arrays.get("x_mean"), arrays.get("x_std"))
