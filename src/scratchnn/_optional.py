"""The one optional-import guard: a missing extra is a one-line error with the command that installs it."""
from __future__ import annotations

import importlib
from types import ModuleType

EXTRAS = {"matplotlib": "plot", "onnx": "onnx", "onnxruntime": "onnx", "shap": "explain", "PIL": "image",
          "ray": "ray", "tensorboardX": "tensorboard", "cupy": "gpu"}
PACKAGES = {"PIL": "pillow", "cupy": "cupy-cuda12x"}


def require(module: str, feature: str) -> ModuleType:
    """Import ``module`` (e.g. "matplotlib.pyplot") or raise ImportError naming ``feature`` and the extra.

    >>> require("json", "reading").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        top = module.split(".")[0]
        extra = EXTRAS.get(top)
        install = f"pip install 'scratchnn[{extra}]'" if extra else f"pip install {PACKAGES.get(top, top)}"
        raise ImportError(f"{feature} needs the {PACKAGES.get(top, top)} package: {install}") from error


def available(module: str) -> bool:
    """Whether ``module`` imports (without raising)."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True
