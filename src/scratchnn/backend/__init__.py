"""The backend: array namespaces, devices, the default float type, random generators, and the CPU's fast paths.

- ``namespace(x)``: the array module of x (NumPy, CuPy, another array-API namespace); layers never name
  NumPy on their math path.
- ``device``: ``Device`` (an array module and the moves to and from the host), ``get_device("cpu" | "gpu")``,
  ``use(...)`` (the default device of new models), ``register_device``.
- ``special``: stable sigmoid, softmax, log-softmax and erf, written once.
- ``cpu``: the thread pool and its settings (per context); ``kernels_cpu``: tuned NumPy kernels with the
  signatures of the layers' reference code, each tested equal to it and kept only where it earns 5%.
"""
from __future__ import annotations

import numpy as np

from .cpu import (CPUSettings, get_num_threads, parallel_rows, parallel_sum,
                  set_num_threads, shared_work, usable_cores)
from .device import (Device, GPUUnavailableError, available_devices, default_device, get_device,
                     register_device, unregister_device, use)
from .namespace import is_numpy, namespace, to_numpy

host = np
"""The host's array module (NumPy), for what a layer computes once on the CPU: configs, build-time constants,
``adapt`` statistics; never on a forward or backward path (tests/test_math_path_imports.py checks it)."""
errstate = np.errstate
"""NumPy's floating-point warning state (CuPy raises no such warnings on a GPU)."""
integer_types = (int, np.integer)
"""The types an integer configuration value may have: a Python int or a NumPy integer (bool is refused apart)."""

_FLOATX = np.dtype("float32")
_FLOAT_TYPES = ("float32", "float64")


def floatx() -> np.dtype:
    """The default float dtype of new layers and models (float32 unless changed)."""
    return _FLOATX


def set_floatx(dtype) -> None:
    """Change the default float dtype: "float32" or "float64"."""
    global _FLOATX
    _FLOATX = as_dtype(dtype)


def as_dtype(dtype=None) -> np.dtype:
    """Resolve a dtype argument: None gives floatx(); only float32 and float64 are accepted."""
    if dtype is None:
        return _FLOATX
    resolved = np.dtype(dtype)
    if resolved.name not in _FLOAT_TYPES:
        raise ValueError(f"dtype must be one of {_FLOAT_TYPES}, got {resolved.name!r}")
    return resolved


def make_rng(seed=None) -> np.random.Generator:
    """A numpy Generator from None, an int seed or an existing Generator (returned as is).

    The global NumPy random state is never used, so one seed reproduces a whole run.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValueError(f"seed must be a non-negative int or a numpy.random.Generator, got {seed!r}")
    return np.random.default_rng(seed)


__all__ = ["namespace", "is_numpy", "to_numpy", "floatx", "set_floatx", "as_dtype", "make_rng",
           "CPUSettings", "get_num_threads", "set_num_threads", "shared_work", "usable_cores",
           "parallel_rows", "parallel_sum", "host", "errstate", "integer_types",
           "Device", "GPUUnavailableError", "available_devices", "default_device", "get_device",
           "register_device", "unregister_device", "use"]
