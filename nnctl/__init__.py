"""nnctl: multilayer perceptrons in plain NumPy, driven by YAML configs.

The library works without the command line::

    from nnctl import load_config, train, save_result, load_model
    cfg = load_config("configs/xor.yaml")
    result = train(cfg)
    save_result("xor.npz", cfg, result)
    model_file = load_model("xor.npz")

Names are imported on first use, so `nnctl --help` does not pay for NumPy. No exported name is
also the name of a subpackage (the package is laid out as core, engine, training, data, io,
config, tools, sweep, commands), so importing a submodule never rebinds an exported function.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "MLP": "core.model", "Config": "config.loader", "load_config": "config.loader",
    "validate": "config.loader",
    "NnctlError": "errors", "ConfigError": "errors", "DataError": "errors",
    "ModelFileError": "errors", "DivergedError": "errors",
    "check_gradients": "tools.gradcheck", "train": "training.run", "save_result": "training.run",
    "load_model": ("io.modelfile", "load"), "save_model": ("io.modelfile", "save"),
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'nnctl' has no attribute {name!r}")
    module, attr = target if isinstance(target, tuple) else (target, name)
    value = getattr(import_module(f".{module}", __name__), attr)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
