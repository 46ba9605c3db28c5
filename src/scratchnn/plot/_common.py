"""What every figure shares: matplotlib (imported on first use), the Axes to draw in, the colours, saving.

matplotlib is an optional extra: it is imported by ``pyplot()`` when a figure is drawn, never when
scratchnn (or scratchnn.plot) is imported, and a missing install is an ImportError naming
``pip install 'scratchnn[plot]'``.
"""
from __future__ import annotations

import math
import os
from types import SimpleNamespace

import numpy as np

from .._optional import require
from ..saving.files import atomic_file

POSITIVE, NEGATIVE = "#1f77b4", "#ff7f0e"           # weight signs, as TensorFlow Playground draws them
SHAP_POSITIVE, SHAP_NEGATIVE = "#ff0051", "#008bfb"   # attribution signs, as shap draws them
KIND_COLORS = {"input": "limegreen", "output": "limegreen", "hidden": "royalblue", "dropout": "red"}
DPI = 110


def matplotlib_modules() -> SimpleNamespace:
    """pyplot and the artist modules the figures use, imported now (the first figure pays the import)."""
    pyplot = require("matplotlib.pyplot", "scratchnn.plot")
    return SimpleNamespace(pyplot=pyplot, collections=require("matplotlib.collections", "scratchnn.plot"),
                           lines=require("matplotlib.lines", "scratchnn.plot"),
                           patches=require("matplotlib.patches", "scratchnn.plot"))


def axes(ax, figsize):
    """(figure, ax): the Axes given, or one new Axes of ``figsize`` inches."""
    if ax is None:
        figure, ax = matplotlib_modules().pyplot.subplots(figsize=figsize)
        return figure, ax
    return ax.figure, ax


def axes_grid(ax, count, cols, panel_size):
    """count Axes: the ones given, or a new grid of ceil(count / cols) rows (spare panels hidden)."""
    if ax is not None:
        given = list(np.ravel(ax))
        if len(given) < count:
            raise ValueError(f"expected at least {count} Axes in ax, got {len(given)}")
        return given[0].figure, given[:count]
    cols = max(1, min(cols, count))
    rows = math.ceil(count / cols)
    figure, grid = matplotlib_modules().pyplot.subplots(rows, cols, figsize=(panel_size * cols, panel_size * rows),
                                                        squeeze=False)
    for spare in grid.ravel()[count:]:
        spare.axis("off")
    return figure, list(grid.ravel()[:count])


def activation_names() -> dict:
    """{activation layer class: its name} ("relu", "sigmoid", ...), for the labels of the drawings."""
    from ..layers.activations import ACTIVATIONS
    return {cls: name for name, cls in ACTIVATIONS.items()}


def figure_format(figure, path: str) -> str:
    """The file format named by ``path``'s extension (matplotlib's default format without one)."""
    extension = os.path.splitext(path)[1][1:].lower()
    chosen = extension or matplotlib_modules().pyplot.rcParams["savefig.format"]
    supported = figure.canvas.get_supported_filetypes()
    if chosen not in supported:
        raise ValueError(f"cannot write a figure to {path!r}: {chosen!r} is not a figure format; "
                         f"use one of {sorted(supported)} as the extension")
    return chosen


def finish(figure, path=None, dpi: int = DPI):
    """Write ``figure`` to ``path`` when given, atomically; return it.

    A file path is written through ``saving.files.atomic_file``: the figure is rendered into a temporary
    file next to ``path`` and moved over it once complete, so that a crash never leaves half an image.
    As matplotlib does, a path without an extension gets the default format's (``model`` -> ``model.png``).
    An open binary stream (``io.BytesIO``) is written directly.
    """
    if path is None:
        return figure
    if hasattr(path, "write"):
        figure.savefig(path, dpi=dpi, bbox_inches="tight")
        return figure
    path = os.fspath(path)
    file_format = figure_format(figure, path)
    if not os.path.splitext(path)[1]:
        path = f"{path}.{file_format}"
    with atomic_file(path, "wb") as stream:
        figure.savefig(stream, format=file_format, dpi=dpi, bbox_inches="tight")
    return figure
