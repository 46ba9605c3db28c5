"""scratchnn: neural networks from scratch on NumPy, every gradient checked."""
from . import backend, callbacks, datasets, gradcheck, initializers, layers, losses, metrics, optim, regularizers
from . import schedules
from . import explain, plot
from .model import Sequential

__version__ = "0.1.0"


def load_model(path):
    """Read a model file written by ``model.save(path)``."""
    from .io import load_model as _load_model
    return _load_model(path)


__all__ = ["Sequential", "load_model", "layers", "losses", "optim", "metrics", "callbacks", "datasets",
           "initializers", "regularizers", "schedules", "gradcheck", "backend", "__version__"]
