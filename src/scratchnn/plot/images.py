"""Images: a grid of samples titled with their labels, and the kernels and feature maps of a convolution."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..backend.namespace import to_numpy
from ..labels import class_indices
from ._common import activation_names, axes_grid, finish


def _as_images(images):
    images = np.asarray(images)
    if images.ndim == 2:
        side = math.isqrt(images.shape[1])
        if side * side != images.shape[1]:
            raise ValueError(f"plot_samples expected images (N, H, W[, C]) or flat square images, got {images.shape}")
        images = images.reshape(len(images), side, side)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4):
        raise ValueError(f"expected images of shape (N, H, W), (N, H, W, C) or (N, H*W), got {images.shape}")
    return images


def plot_samples(images, y_true=None, y_pred=None, class_names: Sequence[str] | None = None, cols: int = 8,
                 ax=None, path=None):
    """A grid of images titled with their labels; with y_pred, mistakes are titled and framed in red
    ("pred (true)"). Labels may be ints, one-hot rows or predicted probabilities.

    Returns the matplotlib Figure (drawn into the Axes ``ax`` when given, written to ``path`` when given).
    """
    images = _as_images(images)
    true = None if y_true is None else class_indices(y_true, "y_true")
    pred = None if y_pred is None else class_indices(y_pred, "y_pred")
    figure, panels = axes_grid(ax, len(images), cols, 1.3)
    name = (lambda k: str(class_names[k])) if class_names is not None else str
    for i, axis in enumerate(panels):
        axis.imshow(images[i], cmap="gray_r" if images.ndim == 3 else None)
        axis.set_xticks([])
        axis.set_yticks([])
        wrong = pred is not None and true is not None and pred[i] != true[i]
        if pred is not None:
            title = f"{name(pred[i])} (true {name(true[i])})" if wrong else name(pred[i])
        else:
            title = "" if true is None else name(true[i])
        axis.set_title(title, fontsize=9, color="red" if wrong else "black")
        for spine in axis.spines.values():
            spine.set_color("red" if wrong else "black")
            spine.set_linewidth(2.0 if wrong else 0.5)
    return finish(figure, path)


def plot_filters(model, image=None, layer: int | str | None = None, max_filters: int = 16, ax=None, path=None):
    """Kernels of a Conv2D layer (averaged over input channels) and, given one image, its feature maps.

    ``model`` is a Sequential or a Conv2D layer; ``layer`` picks the convolution by index or name
    (default: the first one). Returns the matplotlib Figure (drawn into the Axes ``ax`` when given,
    written to ``path`` when given).
    """
    layers_ = getattr(model, "layers", [model])
    index = _conv_index(layers_, layer)
    kernel = to_numpy(layers_[index].params["kernel"])
    count = min(max_filters, kernel.shape[-1])
    maps = None
    if image is not None:
        if not hasattr(model, "layers"):
            raise ValueError("plot_filters draws feature maps from a model; got a single layer")
        maps = _feature_maps(model, image, index)
    rows = 1 if maps is None else 2
    figure, panels = axes_grid(ax, rows * count, count, 1.1)
    if ax is None:
        figure.set_layout_engine("constrained")                       # room for the colour bars
    filters = kernel.mean(axis=2)
    limit = max(float(np.abs(filters[..., :count]).max()), 1e-12)     # one scale, centred at 0, for every kernel
    shown = [panels[f].imshow(filters[..., f], cmap="RdBu_r", vmin=-limit, vmax=limit) for f in range(count)]
    for f in range(count):
        panels[f].set_title(f"filter {f}", fontsize=8)
    _colorbar(figure, shown[0], panels[:count], "weight")
    if maps is not None:
        low, high = float(maps[..., :count].min()), float(maps[..., :count].max())   # one scale for every map
        shown = [panels[count + f].imshow(maps[..., f], cmap="viridis", vmin=low, vmax=max(high, low + 1e-12))
                 for f in range(count)]
        for f in range(count):
            panels[count + f].set_title(f"map {f}", fontsize=8)
        _colorbar(figure, shown[0], panels[count:], "activation")
    for axis in panels:
        axis.set_xticks([])
        axis.set_yticks([])
    figure.suptitle(f"layer {index} ({type(layers_[index]).__name__}): {kernel.shape[0]}x{kernel.shape[1]} kernels"
                    + (f", mean over {kernel.shape[2]} input channels" if kernel.shape[2] > 1 else "")
                    + ("; below, the feature maps of the image" if maps is not None else ""), fontsize=9)
    return finish(figure, path)


def _colorbar(figure, image, row, label):
    """One colour bar for a row of panels drawn on the same scale."""
    bar = figure.colorbar(image, ax=row, fraction=0.02, pad=0.01, aspect=10)
    bar.set_label(label, fontsize=7)
    bar.ax.tick_params(labelsize=6)


def _conv_index(layers_, layer):
    convs = [i for i, candidate in enumerate(layers_) if getattr(candidate, "params", {}).get("kernel") is not None
             and candidate.params["kernel"].ndim == 4]
    if not convs:
        raise ValueError(f"plot_filters needs a Conv2D layer; got {[type(c).__name__ for c in layers_]}")
    if layer is None:
        return convs[0]
    for i in convs:
        if layer == i or layer == layers_[i].name:
            return i
    raise ValueError(f"plot_filters: layer {layer!r} is not a convolution; convolutions at {convs}")


def _feature_maps(model, image, index):
    """The output of layer ``index`` (and of the activation right after it) for one image."""
    x = np.asarray(image, dtype=model.dtype).reshape(1, *model.input_shape)
    stop = index + 2 if index + 1 < len(model.layers) and type(model.layers[index + 1]) in activation_names() \
        else index + 1
    try:
        for layer in model.layers[:stop]:
            x = layer.forward(x, training=False)
    finally:
        for layer in model.layers:
            layer.clear_cache()
    return to_numpy(x[0])
