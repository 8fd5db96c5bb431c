"""Loading a user's activation class from `file.py:ClassName`.

A plugin is code the user chose to run: it is executed only when a config names it (train,
gradcheck) or when the user passes it to predict with --plugin; a model file alone never runs code.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

from nnctl.core.activations import PluginActivation
from nnctl.errors import PluginError


def split_spec(spec: str) -> tuple[str, str]:
    file, _, cls = spec.rpartition(":")
    if not file or not cls.isidentifier():
        raise PluginError(f"expected 'file.py:ClassName', got {spec!r}")
    return file, cls


def plugin_file(spec: str, base_dir: Path) -> tuple[Path, str]:
    """The file a config's `plugin: file.py:ClassName` names, relative to the config's folder
    (an absolute path stays as it is), and the class name."""
    file, _, cls = spec.rpartition(":")
    return base_dir / file, cls


def load_plugin(spec: str, base_dir: Path, file_override: Path | None = None) -> PluginActivation:
    """Import the file (relative to base_dir) and instantiate the class with no arguments."""
    file, cls_name = split_spec(spec)
    path = file_override or (Path(file) if Path(file).is_absolute() else base_dir / file)
    if not path.is_file():
        raise PluginError(f"plugin file not found (looked for {path})", source=spec)
    name = "nnctl_plugin_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    try:
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
    except Exception as exc:  # the user's code may raise anything while importing
        sys.modules.pop(name, None)
        raise PluginError(f"importing {path} failed: {type(exc).__name__}: {exc}", source=spec) from exc
    cls = getattr(module, cls_name, None)
    if cls is None:
        raise PluginError(f"{path} defines no {cls_name!r}", source=spec)
    try:
        obj = cls()
    except Exception as exc:
        raise PluginError(f"{cls_name}() failed: {type(exc).__name__}: {exc}", source=spec) from exc
    missing = [m for m in ("forward", "derivative") if not callable(getattr(obj, m, None))]
    if missing:
        raise PluginError(f"{cls_name} needs methods forward(z) and derivative(z, a); "
                          f"missing {', '.join(missing)}", source=spec)
    return PluginActivation(obj, spec)


def config_plugins(cfg) -> list[Path]:
    """The plugin files a config's layers name, for loading a model file trained with them."""
    return [plugin_file(layer.activation["plugin"], cfg.base_dir)[0]
            for layer in cfg.model.layers if isinstance(layer.activation, dict)]
