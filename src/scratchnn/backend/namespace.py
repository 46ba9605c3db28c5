"""namespace(x): the array module of an array (NumPy, CuPy, or any array-API namespace).

The math path of every layer, loss, optimizer and metric asks for its module here and never names NumPy,
as scikit-learn's ``get_namespace`` and ``cupy.get_array_module`` do. Fast CPU kernels are used only when
the answer is NumPy itself (``is_numpy``).
"""
from __future__ import annotations

from types import ModuleType

import numpy as np


def namespace(*arrays) -> ModuleType:
    """The array module of the first array that names one; NumPy for NumPy arrays and Python numbers.

    >>> namespace(np.ones(2)) is np
    True
    """
    for array in arrays:
        if isinstance(array, np.ndarray) and type(array) is np.ndarray:
            continue
        get = getattr(array, "__array_namespace__", None)
        if get is not None:
            return get()
        module = type(array).__module__
        if module.startswith("cupy"):
            import cupy
            return cupy
    return np


def is_numpy(xp) -> bool:
    """True when xp is NumPy itself: the only module the fast CPU kernels take."""
    return xp is np


def to_numpy(array) -> np.ndarray:
    """A NumPy copy (or view) of any array: CuPy's .get(), or np.asarray for everything else."""
    if hasattr(array, "get") and type(array).__module__.startswith("cupy"):
        return array.get()
    return np.asarray(array)
