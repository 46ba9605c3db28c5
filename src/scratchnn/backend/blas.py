"""NumPy's own BLAS, called directly for the vector operations NumPy has no function for.

NumPy computes ``y + a * x`` in two passes over memory on one core (a temporary for ``a * x``, then the
sum); BLAS's ``axpy`` does it in place in one pass and splits it over the BLAS threads. Only the library
NumPy itself loaded is used (the OpenBLAS inside NumPy's wheel, found through threadpoolctl under NumPy's
own folder), so NumPy and its BLAS stay the only compute dependency. Where there is none (another build
of NumPy, Accelerate on macOS) ``available()`` is False and callers keep their NumPy code.

Each function takes C-contiguous, writeable NumPy arrays of one dtype, float32 or float64 (``usable``
says whether arrays qualify). ``asum`` returns a float; ``prepare_axpy`` and ``prepare_scal`` return the C
function and its arguments, for a call made later (``kernels_optim.run``).
"""
from __future__ import annotations

import ctypes
import functools
import os

import numpy as np

_TYPES = {np.dtype(np.float32): ("s", ctypes.c_float), np.dtype(np.float64): ("d", ctypes.c_double)}
_NAMES = (("scipy_cblas_", "64_"), ("cblas_", "64_"), ("scipy_cblas_", ""), ("cblas_", ""))   # prefix, suffix


def _numpy_openblas() -> str | None:
    """The file of the OpenBLAS that NumPy loaded, if it lies inside NumPy's installation."""
    from threadpoolctl import ThreadpoolController
    root = os.path.dirname(os.path.dirname(os.path.realpath(np.__file__)))
    for library in ThreadpoolController().select(internal_api="openblas").lib_controllers:
        path = os.path.realpath(library.filepath)
        if os.path.basename(os.path.dirname(path)) in ("numpy.libs", ".dylibs", "numpy") and \
                path.startswith(root + os.sep):
            return path
    return None


@functools.lru_cache(maxsize=1)
def _library():
    """(the loaded library, the name prefix, the name suffix, the integer type) or None."""
    try:
        path = _numpy_openblas()
        library = ctypes.CDLL(path) if path else None
    except (ImportError, OSError):
        return None
    for prefix, suffix in _NAMES:
        if library is not None and hasattr(library, f"{prefix}saxpy{suffix}"):
            return library, prefix, suffix, ctypes.c_int64 if suffix else ctypes.c_int
    return None


@functools.lru_cache(maxsize=None)
def _function(name: str, dtype: np.dtype):
    """The C function ``<s|d><name>`` with its argument types."""
    library, prefix, suffix, integer = _library()
    letter, scalar = _TYPES[dtype]
    function = getattr(library, f"{prefix}{letter}{name}{suffix}")
    pointer = ctypes.c_void_p
    function.argtypes = {"axpy": [integer, scalar, pointer, integer, pointer, integer],
                         "scal": [integer, scalar, pointer, integer],
                         "asum": [integer, pointer, integer]}[name]
    function.restype = scalar if name == "asum" else None
    return function


def available() -> bool:
    """Whether NumPy's BLAS was found (the functions below work)."""
    return _library() is not None


def usable(*arrays) -> bool:
    """Whether these arrays can go to the functions below: NumPy arrays, C-contiguous, writeable, one
    float dtype, one size, and the BLAS found."""
    first = arrays[0]
    return (available() and first.dtype in _TYPES
            and all(type(a) is np.ndarray and a.dtype == first.dtype and a.size == first.size
                    and a.flags.c_contiguous and a.flags.writeable for a in arrays))


def asum(x: np.ndarray) -> float:
    """sum |x_i|, summed in x's dtype (NaN when x holds a NaN, inf when an inf or the sum overflows), split
    over the BLAS threads: one read of x."""
    return _function("asum", x.dtype)(x.size, x.ctypes.data, 1)


def prepare_axpy(alpha: float, x: np.ndarray, y: np.ndarray):
    """(C function, arguments) of ``y += alpha * x``, to call later as ``function(*arguments)``: a call of
    C code alone, with no Python function around it (see kernels_optim.run for why that matters)."""
    return _function("axpy", y.dtype), (y.size, alpha, x.ctypes.data, 1, y.ctypes.data, 1)


def prepare_scal(alpha: float, x: np.ndarray):
    """(C function, arguments) of ``x *= alpha``, as prepare_axpy."""
    return _function("scal", x.dtype), (x.size, alpha, x.ctypes.data, 1)
