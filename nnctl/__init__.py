"""nnctl: multilayer perceptrons in plain NumPy, driven by YAML configs.

The library works without the command line::

    from nnctl import load_config, train, save_result, load_model
    cfg = load_config("configs/xor.yaml")
    result = train(cfg)
    save_result("xor.npz", cfg, result)
    model_file = load_model("xor.npz")

Names are imported on first use, so `nnctl --help` does not pay for NumPy.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "MLP": "model", "Config": "config", "load_config": "config", "validate": "config",
    "NnctlError": "errors", "ConfigError": "errors", "DataError": "errors",
    "ModelFileError": "errors", "DivergedError": "errors",
    "check_gradients": "gradcheck", "train": "train", "save_result": "train",
    "load_model": ("modelfile", "load"), "save_model": ("modelfile", "save"),
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'nnctl' has no attribute {name!r}")
    module, attr = target if isinstance(target, tuple) else (target, name)
    return getattr(import_module(f".{module}", __name__), attr)
