"""Saving: model and weights files (.snn), ONNX export and import, and the one atomic writer.

>>> from scratchnn.saving import save_model, load_model          # also model.save(path), snn.load_model(path)
>>> from scratchnn.saving import export_onnx, load_onnx          # need the onnx extra

The ONNX modules (onnx_export.py, onnx_import.py) are imported only when an ONNX function is called, so
``import scratchnn`` never imports onnx. Nothing here imports a model module: model and layer classes are
found by name in ``scratchnn.registry``.
"""
from __future__ import annotations

import os
from typing import IO, Any, Union

from .files import atomic_file
from .model_file import ModelFileError, load_model, load_weights, save_model, save_weights

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "ModelFileError", "export_onnx",
           "load_onnx", "atomic_file"]


def export_onnx(model: Any, path: Union[str, os.PathLike, IO[bytes]], opset: int | None = None) -> Any:
    """Write ``model`` as an ONNX file and return the onnx.ModelProto (``onnx_export.export``).

    ``opset`` defaults to ``onnx_common.DEFAULT_OPSET`` (17).
    """
    from .onnx_export import DEFAULT_OPSET, export
    return export(model, path, opset=DEFAULT_OPSET if opset is None else opset)


def load_onnx(path: str | os.PathLike[str]) -> Any:
    """Read an ONNX file back into a built Sequential that takes NHWC input (``onnx_import.load``)."""
    from .onnx_import import load
    return load(path)
