"""The arrays a model config will allocate, found before allocating them, and checked against the file.

A model file's config.json declares the architecture; building it draws every weight. A 1 KB file could
declare a Dense of 20000 x 20000 units and have the loader draw 1.6 GB of weights before any check, so
``load_model`` first builds a *plan* of the model: the same layers, built for the same shapes, whose
initializers and ``add_param`` record each parameter's shape and dtype instead of drawing it (zeros
from ``np.zeros`` stand in, which the operating system maps lazily: no page is touched unless written).
The plan is checked against the zip members that must hold those arrays (``check_members``): every
member present, of at least the bytes its shape needs, and no member claiming more bytes than its stored
data can expand to. A model that passes owns at most what the file can hold; only then is it built.
"""
from __future__ import annotations

import copy
import math
import threading
import zipfile
from typing import Any

import numpy as np

from .. import initializers
from . import archive as _archive
from .archive import ModelFileError

# deflate expands at most about 1032 times; stored members take their bytes from the file itself
MAX_EXPANSION = {zipfile.ZIP_STORED: 1, zipfile.ZIP_DEFLATED: 1100}

_probe_classes: dict[type, type] = {}
_probe_lock = threading.Lock()


_writable = threading.local()             # False: plans use zero-strided views; True: lazily mapped zeros


def _stand_in(shape, dtype):
    """A read-only zero-strided view (no memory, no address space), or, for a layer whose build writes into
    its initial values, np.zeros (address space, but no page touched unless written)."""
    if getattr(_writable, "on", False):
        return np.zeros(shape, dtype=dtype)
    return np.broadcast_to(np.zeros((), dtype=dtype), shape)


class _PlanInitializer(initializers.Initializer):
    """Stands in for a layer's initializer in a plan: zeros of the shape (nothing drawn)."""

    def __call__(self, shape, rng=None, dtype=None):
        return _stand_in(tuple(int(d) for d in shape), dtype or np.float32)


def _plan_add_param(self, name, value):
    """add_param of a planned layer: record the shape and dtype, allocate nothing."""
    shape = tuple(int(d) for d in np.shape(value))
    self.params[name] = _stand_in(shape, self.dtype)              # the dtype add_param would cast to


def _probe_class(cls: type) -> type:
    with _probe_lock:
        if cls not in _probe_classes:
            _probe_classes[cls] = type(f"Planned{cls.__name__}", (cls,), {"add_param": _plan_add_param})
        return _probe_classes[cls]


def _as_plan(layer, seen):
    """Turn a freshly made (unbuilt) layer into one whose build allocates no parameter (and its parts)."""
    if id(layer) in seen:
        return
    seen.add(id(layer))
    layer.__class__ = _probe_class(type(layer))
    for key, value in vars(layer).items():
        if isinstance(value, initializers.Initializer):
            setattr(layer, key, _PlanInitializer())
        elif hasattr(value, "build") and hasattr(value, "params") and not isinstance(value, type):
            _as_plan(value, seen)                                   # an activation or a wrapped layer


def planned_arrays(model_class: type, model_config: dict[str, Any]) -> list[tuple[str, tuple, np.dtype]] | None:
    """(member, shape, dtype) for every parameter and buffer the config builds, found without drawing them.

    Returns None for a model class whose config this cannot plan (one without a layer list and an
    input shape); such a model is built directly.
    """
    return _views_then_zeros(_planned_arrays, model_class, model_config)


def _views_then_zeros(plan, *args):
    """plan(*args) on zero-strided views; again on lazily mapped zeros if a build wrote into its values."""
    try:
        return plan(*args)
    except ValueError as error:
        if "read-only" not in str(error):
            raise
    _writable.on = True
    try:
        return plan(*args)
    finally:
        _writable.on = False


def _planned_arrays(model_class, model_config):
    from .model_file import _ARRAY_KINDS, _member
    seen: set[int] = set()
    if not isinstance(model_config, dict) or not isinstance(model_config.get("layers"), list):
        return None
    if isinstance(model_config.get("nodes"), list):                 # a functional Model: built as it is made
        plan = model_class.from_config(copy.deepcopy(model_config), prepare=lambda layer: _as_plan(layer, seen))
    else:
        if model_config.get("input_shape") is None or not hasattr(model_class, "build"):
            return None
        unbuilt = copy.deepcopy(model_config)
        unbuilt["input_shape"] = None
        plan = model_class.from_config(unbuilt)
        if getattr(plan, "built", True) or not hasattr(plan, "layers"):
            return None
        for layer in plan.layers:
            _as_plan(layer, seen)
        plan.build(tuple(model_config["input_shape"]))
    arrays = []
    for index, layer in enumerate(plan.layers):
        for kind in _ARRAY_KINDS:
            for name, array in getattr(layer, kind).items():
                arrays.append((_member(index, kind, name), tuple(np.shape(array)), np.dtype(array.dtype)))
    return arrays


def check_members(archive: zipfile.ZipFile, planned, path, file_size: int) -> None:
    """Every planned array has a member whose data can hold it; all of them fit in the file."""
    stored = 0
    for member, shape, dtype in planned:
        nbytes = math.prod(shape) * dtype.itemsize
        try:
            info = archive.getinfo(member)
        except KeyError:
            raise ModelFileError(f"{path}: member {member!r} is missing (the architecture needs an array of shape "
                                 f"{shape} {dtype.name} there)") from None
        expansion = MAX_EXPANSION.get(info.compress_type)
        if expansion is None:
            raise ModelFileError(f"{path}: member {member!r} uses zip compression method {info.compress_type}; "
                                 "model files store their members uncompressed (or deflated)")
        if info.file_size > nbytes + _archive.MAX_NPY_HEADER_BYTES:
            raise ModelFileError(f"{path}: member {member!r} declares {info.file_size} bytes, more than the "
                                 f"{nbytes} bytes of its shape {shape} {dtype.name} plus a header: refused")
        if info.file_size < nbytes:
            raise ModelFileError(f"{path}: member {member!r} holds {info.file_size:,} bytes, the architecture "
                                 f"needs {nbytes:,} there ({shape} {dtype.name}): the config and the arrays do "
                                 "not belong together")
        if info.file_size > info.compress_size * expansion:
            raise ModelFileError(f"{path}: member {member!r} claims {info.file_size:,} bytes from "
                                 f"{info.compress_size:,} stored: refused")
        stored += info.compress_size
    if stored > file_size:
        raise ModelFileError(f"{path}: the members the architecture needs claim {stored:,} stored bytes, the "
                             f"file has {file_size:,}")


def planned_layer_arrays(layers, input_shape, dtype) -> list[dict[str, tuple]]:
    """For unbuilt layers applied in order to inputs of ``input_shape``: the shape of every parameter and
    buffer each would allocate, by name, found on copies of them built as a plan (nothing drawn)."""
    return _views_then_zeros(_planned_layers, layers, input_shape, dtype)


def _planned_layers(layers, input_shape, dtype):
    copies = [type(layer).from_config(layer.get_config()) for layer in layers]
    seen: set[int] = set()
    shape, planned = tuple(input_shape), []
    for layer in copies:
        _as_plan(layer, seen)
        if layer.dtype is None:
            layer.dtype = np.dtype(dtype)
        shape = layer.build(shape, np.random.default_rng(0))
        planned.append({name: tuple(np.shape(array)) for kind in ("params", "buffers")
                        for name, array in getattr(layer, kind).items()})
    return planned
