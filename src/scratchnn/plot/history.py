"""Training: seed 004's curves of the loss and the metrics, per epoch."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._common import axes_grid, finish, matplotlib_modules


def plot_history(history, metrics: Sequence[str] | None = None, ax=None, path=None):
    """Seed 004's training curves: a Training and a Validation panel, the loss in black on the left
    axis and the metrics (``metrics``, default all recorded) on a second axis on the right.

    ``history`` is what ``fit`` returns (a History) or a dict of lists such as ``History.history``.
    Returns the matplotlib Figure (drawn into ``ax`` when given, written to ``path`` when given).

    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> figure = plot_history({"loss": [0.9, 0.5, 0.3], "accuracy": [0.6, 0.8, 0.9]})
    >>> [axis.get_title() for axis in figure.axes]        # the Training panel and its score axis
    ['Training', '']
    >>> figure.axes[0].lines[0].get_xdata().tolist()      # epochs count from 1
    [1, 2, 3]
    """
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict) or "loss" not in logs:
        raise ValueError(f"plot_history expected a History or a dict with a 'loss' list, got {type(history).__name__}"
                         + (f" with keys {sorted(logs)}" if isinstance(logs, dict) else ""))
    if metrics is None:
        metrics = [k for k in logs if k != "loss" and not k.startswith("val_")]
    missing = [m for m in metrics if m not in logs]
    if missing:
        raise ValueError(f"plot_history: no recorded values for {missing}; recorded: {sorted(logs)}")
    panels = [("Training", "")] + ([("Validation", "val_")] if "val_loss" in logs else [])
    if ax is None:
        figure, grid = matplotlib_modules().pyplot.subplots(1, len(panels), figsize=(6.5 * len(panels), 3.2),
                                                            squeeze=False)
        panel_axes = list(grid.ravel())
    else:
        figure, panel_axes = axes_grid(ax, len(panels), len(panels), 0)
    first = getattr(history, "epoch", [0])[:1] or [0]
    for axis, (title, prefix) in zip(panel_axes, panels):
        epochs = np.arange(len(logs[prefix + "loss"])) + first[0] + 1
        handles = axis.plot(epochs, logs[prefix + "loss"], color="black", label="loss")
        axis.set(title=title, xlabel="Epochs")
        axis.set_ylabel("Loss", color="black")
        scores = [m for m in metrics if prefix + m in logs]
        if scores:
            twin = axis.twinx()
            for metric in scores:
                handles += twin.plot(epochs, logs[prefix + metric], label=metric)
            twin.set_ylabel("Score", color="steelblue")
        axis.legend(handles=handles, loc="center right", fontsize=8)
    figure.tight_layout()
    return finish(figure, path)
