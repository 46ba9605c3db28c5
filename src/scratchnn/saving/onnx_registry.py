"""The one registry of ONNX forms, both directions: what each layer exports as, what each operator imports as.

Export is keyed by our layer class name, import by ONNX operator (one operator can become one of several
layers, chosen by its attributes: Conv with ``group`` = channels is a DepthwiseConv2D). Each family file
registers its functions next to each other with the decorators::

    @onnx_exporter("Conv2DTranspose")
    def _export_conv_transpose(builder, layer, x, hint): ...      # returns the output tensor's name

    @onnx_importer("ConvTranspose")
    def _import_conv_transpose(importer, node): ...               # importer.add(layer, **arrays)

``merge=True`` registers a layer of several inputs (exporter(builder, layer, xs, hint)); ``onnx_merge``
names the merge layer an operator of several computed inputs becomes. The lookups (``exporters()``,
``importers()``, ...) import every family module first (``FAMILIES``), so the tables are full whoever asks.
"""
from __future__ import annotations

import importlib
from types import MappingProxyType
from typing import Callable

__all__ = ["onnx_exporter", "onnx_importer", "onnx_merge", "exporters", "merge_exporters", "importers", "merges"]

FAMILIES = ("onnx_export", "onnx_import_ops", "onnx_conv", "onnx_resize", "onnx_export_keras", "onnx_export_rnn",
            "onnx_export_seq", "onnx_export_graph")
_EXPORTERS: dict[str, Callable] = {}
_MERGE_EXPORTERS: dict[str, Callable] = {}
_IMPORTERS: dict[str, Callable] = {}
_MERGES: dict[str, str] = {}
_loaded = False


def _register(table, keys, what):
    def decorator(function):
        for key in keys:
            if key in table and table[key] is not function:
                raise ValueError(f"onnx_registry: {what} {key!r} is registered twice ({table[key].__module__}."
                                 f"{table[key].__name__} and {function.__module__}.{function.__name__})")
            table[key] = function
        return function
    if not keys or not all(isinstance(key, str) and key for key in keys):
        raise ValueError(f"onnx_registry: give one or more {what} names, got {keys!r}")
    return decorator


def onnx_exporter(*layer_names: str, merge: bool = False):
    """Register the decorated function as the ONNX exporter of the layer classes named."""
    return _register(_MERGE_EXPORTERS if merge else _EXPORTERS, layer_names,
                     "merge layer" if merge else "layer")


def onnx_importer(*op_types: str):
    """Register the decorated function as the importer of the ONNX operators named (one computed input)."""
    return _register(_IMPORTERS, op_types, "operator")


def onnx_merge(layer_name: str, *op_types: str) -> None:
    """The ONNX operators ``op_types``, read with several computed inputs, import as the merge layer named."""
    for op_type in op_types:
        if _MERGES.get(op_type, layer_name) != layer_name:
            raise ValueError(f"onnx_registry: merge operator {op_type!r} is registered twice")
        _MERGES[op_type] = layer_name


def _load():
    global _loaded
    if not _loaded:
        for module in FAMILIES:
            importlib.import_module(f"{__package__}.{module}")
        _loaded = True


def exporters() -> MappingProxyType:
    """Layer class name -> exporter(builder, layer, x, hint), read only."""
    _load()
    return MappingProxyType(_EXPORTERS)


def merge_exporters() -> MappingProxyType:
    """Merge layer class name -> exporter(builder, layer, xs, hint), read only."""
    _load()
    return MappingProxyType(_MERGE_EXPORTERS)


def importers() -> MappingProxyType:
    """ONNX operator -> importer(importer, node), read only."""
    _load()
    return MappingProxyType(_IMPORTERS)


def merges() -> MappingProxyType:
    """ONNX operator of several computed inputs -> merge layer class name, read only."""
    _load()
    return MappingProxyType(_MERGES)
