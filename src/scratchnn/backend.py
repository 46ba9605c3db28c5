"""The array module, the default float type and the random generators every layer draws from."""
import numpy as np

xp = np
_FLOATX = np.dtype("float32")
_FLOAT_TYPES = ("float32", "float64")


def floatx():
    """The default float dtype of new layers and models (float32 unless changed)."""
    return _FLOATX


def set_floatx(dtype):
    """Change the default float dtype: "float32" or "float64"."""
    global _FLOATX
    _FLOATX = as_dtype(dtype)


def as_dtype(dtype=None):
    """Resolve a dtype argument: None gives floatx(); only float32 and float64 are accepted."""
    if dtype is None:
        return _FLOATX
    resolved = np.dtype(dtype)
    if resolved.name not in _FLOAT_TYPES:
        raise ValueError(f"dtype must be one of {_FLOAT_TYPES}, got {resolved.name!r}")
    return resolved


def make_rng(seed=None):
    """A numpy Generator from None, an int seed or an existing Generator (returned as is).

    The global NumPy random state is never used, so one seed reproduces a whole run.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValueError(f"seed must be a non-negative int or a numpy.random.Generator, got {seed!r}")
    return np.random.default_rng(seed)
