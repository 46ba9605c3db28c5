"""Results: the confusion matrix of a classifier and the decision regions of a model over a 2-D plane.

Labels are read by ``scratchnn.labels.class_indices`` (the one label decoder): integer labels, one-hot
rows, per-class probabilities (N, K) or probabilities of class 1.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..backend.namespace import to_numpy
from ..labels import class_indices
from ._common import axes, finish


def confusion_counts(y_true, y_pred, classes: int | None = None) -> np.ndarray:
    """counts[i, j]: samples of true class i predicted as class j.

    >>> confusion_counts([0, 1, 1], [[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]]).tolist()
    [[1, 0], [1, 1]]
    """
    true, pred = class_indices(y_true, "y_true"), class_indices(y_pred, "y_pred")
    if len(true) != len(pred):
        raise ValueError(f"y_true and y_pred must have the same length, got {len(true)} and {len(pred)}")
    if not len(true):
        raise ValueError("confusion_counts needs at least one sample, got 0")
    largest = int(max(true.max(), pred.max()))
    if classes is not None and largest >= classes:
        raise ValueError(f"{classes} class names for labels up to {largest}: expected labels in [0, {classes})")
    classes = classes or largest + 1
    return np.bincount(true * classes + pred, minlength=classes * classes).reshape(classes, classes)


def plot_confusion_matrix(y_true, y_pred, class_names: Sequence[str] | None = None, normalize: bool = False,
                          ax=None, path=None):
    """Counts of (true, predicted) classes; ``normalize=True`` shows each true class's row as fractions.

    Returns the matplotlib Figure (drawn into ``ax`` when given, written to ``path`` when given).
    """
    counts = confusion_counts(y_true, y_pred, None if class_names is None else len(class_names))
    shown = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) if normalize else counts
    figure, ax = axes(ax, (2.4 + 0.45 * len(counts), 2.0 + 0.45 * len(counts)))
    image = ax.imshow(shown, cmap="Blues")
    for (i, j), value in np.ndenumerate(shown):
        text = f"{value:.2f}" if normalize else f"{value:d}"
        ax.text(j, i, text, ha="center", va="center", fontsize=max(7, 11 - len(counts) // 3),
                color="white" if value > 0.6 * shown.max() else "black")
    names = [str(name) for name in class_names] if class_names is not None else [str(i) for i in range(len(counts))]
    ax.set(xticks=range(len(counts)), yticks=range(len(counts)), xticklabels=names, yticklabels=names,
           xlabel="Predicted", ylabel="True",
           title=f"Accuracy {np.trace(counts) / max(counts.sum(), 1):.2%} on {counts.sum():,} samples")
    cell = ax.get_position().width * figure.get_figwidth() / len(counts)           # inches per column
    if 0.075 * max(map(len, names)) > 0.9 * cell:     # names wider than their column ("T-shirt/top"): slanted
        ax.tick_params(axis="x", labelrotation=45)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return finish(figure, path)


def plot_decision_boundary(model, x, y, resolution: int = 200, class_names: Sequence[str] | None = None,
                           ax=None, path=None):
    """Regions a model assigns to each class over a 2-D input plane, with the samples on top.

    One output: the probability of class 1 as shading and the 0.5 contour; several: the argmax class.
    Returns the matplotlib Figure (drawn into ``ax`` when given, written to ``path`` when given).
    """
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"plot_decision_boundary expected 2-D points of shape (N, 2), got {x.shape}")
    labels = class_indices(y, "y")
    low, high = x.min(axis=0), x.max(axis=0)
    pad = 0.1 * (high - low) + 1e-9
    u = np.linspace(low[0] - pad[0], high[0] + pad[0], resolution)
    v = np.linspace(low[1] - pad[1], high[1] + pad[1], resolution)
    grid_u, grid_v = np.meshgrid(u, v)
    scores = to_numpy(model.predict(np.column_stack([grid_u.ravel(), grid_v.ravel()]).astype(model.dtype)))
    scores = scores.reshape(len(scores), -1)
    figure, ax = axes(ax, (5, 4.2))
    if scores.shape[1] == 1:
        surface = scores[:, 0].reshape(grid_u.shape)
        ax.contourf(grid_u, grid_v, surface, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.5,
                    extend="both")
        ax.contour(grid_u, grid_v, surface, levels=[0.5], colors="black", linewidths=1)
    else:
        regions = scores.argmax(axis=1).reshape(grid_u.shape)
        ax.contourf(grid_u, grid_v, regions, levels=np.arange(scores.shape[1] + 1) - 0.5, cmap="tab10",
                    vmin=0, vmax=9, alpha=0.35)
    cmap = "RdBu_r" if scores.shape[1] == 1 else "tab10"
    points = ax.scatter(x[:, 0], x[:, 1], c=labels, cmap=cmap, vmin=0, vmax=1 if scores.shape[1] == 1 else 9,
                        edgecolors="black", linewidths=0.5, s=18)
    classes = np.unique(labels)
    names = [str(class_names[c]) if class_names is not None else str(c) for c in classes]
    ax.legend(points.legend_elements()[0], names, title="class", fontsize=8, loc="best")
    ax.set(xlim=(u[0], u[-1]), ylim=(v[0], v[-1]), xlabel="$x_1$", ylabel="$x_2$")
    return finish(figure, path)
