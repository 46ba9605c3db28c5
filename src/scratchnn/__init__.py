"""scratchnn: neural networks from scratch on NumPy, every gradient checked."""
from . import backend, callbacks, datasets, gradcheck, initializers, layers, losses, metrics, models, optim
from . import data, explain, regularizers, saving, schedules
from ._version import __version__
from .layers.base import reset_names as clear_session
from .models import Input, Model, Sequential, model_from_json
from .saving import load_model

__all__ = ["Sequential", "Model", "Input", "load_model", "clear_session", "layers", "losses", "optim", "metrics",
           "model_from_json", "callbacks", "data", "datasets", "initializers", "regularizers", "schedules", "gradcheck",
           "backend", "models", "saving", "explain", "plot", "__version__"]

_LAZY_MODULES = ("plot",)                 # optional parts, imported on first use: snn.plot.plot_model(...)


def __getattr__(name):
    if name in _LAZY_MODULES:
        import importlib
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
