"""A second array namespace on the CPU, strict about where NumPy is called (the harness runs every case in it).

``StrictArray`` is an ndarray subclass whose ``__array_namespace__`` returns ``strict``, a module-like object
that forwards every function to NumPy (unwrapping its array arguments, wrapping the arrays it returns). A NumPy
*function* called on a StrictArray directly (``np.einsum(x, ...)``, ``np.where``, ``np.concatenate``,
``np.sum``...) goes through ``__array_function__`` and raises: a layer that names ``np.`` on its math path
instead of asking ``scratchnn.backend.namespace(x)`` fails here, as it would on CuPy. Operators, methods and
ufuncs (``x @ w``, ``x.sum()``, ``np.maximum(x, 0)``) pass, and keep the subclass.

``scratchnn.backend.namespace`` returns ``x.__array_namespace__()`` for arrays that are not plain
``numpy.ndarray``, and the fast kernels only run when that module is NumPy itself, so the layers run their
reference code here.

>>> import numpy as np
>>> x = as_strict(np.ones(3))
>>> type(strict.exp(x)).__name__, type(x + 1).__name__
('StrictArray', 'StrictArray')
>>> np.sum(x)  # doctest: +ELLIPSIS
Traceback (most recent call last):
    ...
strict_namespace.DirectNumPyCall: numpy.sum was called on a StrictArray directly: ...
"""
from __future__ import annotations

import types

import numpy as np

__all__ = ["StrictArray", "DirectNumPyCall", "strict", "as_strict", "to_plain"]


class DirectNumPyCall(TypeError):
    """A NumPy function was called on a StrictArray outside its namespace."""


class StrictArray(np.ndarray):
    """An ndarray that belongs to the ``strict`` namespace."""

    def __array_namespace__(self, api_version=None):
        return strict

    def __array_function__(self, func, types, args, kwargs):
        name = getattr(func, "__name__", repr(func))
        raise DirectNumPyCall(
            f"numpy.{name} was called on a StrictArray directly: take the array module from "
            f"scratchnn.backend.namespace(x) and call xp.{name}(...) (the math path must not name NumPy)")


def _unwrap(value):
    """StrictArrays (also inside lists, tuples and dicts) as plain ndarray views of the same memory."""
    if isinstance(value, StrictArray):
        return value.view(np.ndarray)
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    return value


def _wrap(value):
    """Every ndarray a namespace function returns, as a StrictArray view (it belongs to the namespace)."""
    if isinstance(value, np.ndarray):
        return value.view(StrictArray)
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


class _Forwarding(types.ModuleType):
    """A module object whose functions are NumPy's, called on unwrapped arguments, results wrapped."""

    def __init__(self, name, target):
        super().__init__(name)
        self._target = target

    def __repr__(self):
        return f"<array namespace {self.__name__!r} forwarding to {self._target.__name__}>"

    def __getattr__(self, name):
        value = getattr(self._target, name)
        if isinstance(value, types.ModuleType):
            return _Forwarding(f"{self.__name__}.{name}", value)
        if callable(value) and not isinstance(value, type):       # functions and ufuncs, not dtypes
            def forwarded(*args, **kwargs):
                return _wrap(value(*_unwrap(args), **_unwrap(kwargs)))
            forwarded.__name__ = name
            return forwarded
        return value                                              # dtypes, constants (pi, inf, newaxis)


strict = _Forwarding("strict", np)


def as_strict(array) -> StrictArray:
    """A copy of ``array`` in the strict namespace."""
    return np.array(array, copy=True).view(StrictArray)


def to_plain(array):
    """A plain ndarray of the same values (None stays None)."""
    return None if array is None else np.asarray(array).view(np.ndarray)
