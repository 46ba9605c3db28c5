"""The one validation module: the checks every constructor, optimizer, callback and command shares.

Each raises ValueError naming the owner, the argument, what was expected and what came.
"""
from __future__ import annotations

import numbers
import os
import pathlib

import numpy as np


def check_positive_int(name: str, value, owner: str) -> int:
    """value as an int, if it is a positive integer (bool refused).

    >>> check_positive_int("units", 3, "Dense")
    3
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{owner}: {name} must be a positive integer, got {value!r}")
    return int(value)


def check_non_negative_int(name: str, value, owner: str) -> int:
    """value as an int, if it is an integer >= 0 (bool refused).

    >>> check_non_negative_int("patience", 0, "EarlyStopping")
    0
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{owner}: {name} must be a non-negative integer, got {value!r}")
    return int(value)


def check_int(name: str, value, owner: str, low: int) -> int:
    """value as an int, if it is an integer >= low (bool refused): counts with a floor other than 0 or 1.

    >>> check_int("n_classes", 3, "make_spirals", 2)
    3
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{owner}: {name} must be an integer >= {low}, got {value!r}")
    return int(value)


def check_number(name: str, value, owner: str, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False) -> float:
    """value as a float, if it is a real number within [low, high] (an end open when asked).

    >>> check_number("rate", 0.5, "Dropout", 0, 1, high_open=True)
    0.5
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{owner}: {name} must be a finite number, got {value!r}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        raise ValueError(f"{owner}: {name} must be {_span(low, high, low_open, high_open)}, got {value!r}")
    return float(value)


def _span(low, high, low_open, high_open) -> str:
    """The allowed range in words: "in [0, 1)" for two ends, "> 0" or "<= 1" for one."""
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    return f"{'<' if high_open else '<='} {high:g}"


def all_finite(x, block: int = 1 << 16) -> bool:
    """Whether the float array x holds no NaN and no inf, checked ``block`` elements (whole rows) at a time:
    the mask made is a block's, not the whole array's (which is a quarter of a float32 array's size)."""
    if x.size <= block:
        return bool(np.isfinite(x).all())
    rows = max(1, block // (x.size // len(x)))
    return all(np.isfinite(x[start:start + rows]).all() for start in range(0, len(x), rows))


def check_finite_array(x, owner: str):
    """x as an array, if it is numeric with no NaN or inf."""
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise ValueError(f"{owner}: expected a numeric array, got dtype {x.dtype}")
    if x.dtype.kind == "f" and not all_finite(x):
        raise ValueError(f"{owner}: the input contains NaN or inf values "
                         f"({int((~np.isfinite(x)).sum())} of {x.size})")
    return x


def check_file_suffix(path, suffix: str, owner: str, hint: str):
    """path, if it is a stream, has no suffix, or ends in ``suffix``; a file name ending in another one (a
    Keras ``.keras``, ONNX written to ``.txt``) is a ValueError naming what came and what to write instead.

    >>> check_file_suffix("model.snn", ".snn", "save", "")
    'model.snn'
    """
    if isinstance(path, (str, os.PathLike)):
        found = pathlib.Path(path).suffix
        if found and found.lower() != suffix:
            raise ValueError(f"{owner}: {os.fspath(path)!r} ends in {found!r}, expected {suffix!r}: {hint}")
    return path
