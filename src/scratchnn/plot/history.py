"""Training: seed 004's curves of the loss and the metrics, per epoch, training beside validation."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._optional import require
from ._common import axes_grid, finish

TRAINING, VALIDATION = "#1f77b4", "#ff7f0e"
PANELS_PER_ROW = 3


def plot_history(history, metrics: Sequence[str] | None = None, ax=None, path=None):
    """Seed 004's training curves: one panel per quantity (the loss, then each metric in ``metrics``,
    default all recorded), its training and validation values on the same axis, epochs as whole numbers.

    ``history`` is what ``fit`` returns (a History) or a dict of lists such as ``History.history``; a
    quantity recorded for validation (``val_loss``) gets a second line. ``ax``: one Axes per panel.
    Returns the matplotlib Figure (drawn into ``ax`` when given, written to ``path`` when given).

    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> figure = plot_history({"loss": [0.9, 0.5, 0.3], "accuracy": [0.6, 0.8, 0.9],
    ...                        "val_loss": [1.0, 0.7, 0.6], "val_accuracy": [0.5, 0.7, 0.8]})
    >>> [axis.get_title() for axis in figure.axes]                   # one panel per quantity
    ['loss', 'accuracy']
    >>> [line.get_label() for line in figure.axes[0].lines]          # training and validation on one axis
    ['training', 'validation']
    >>> figure.axes[0].lines[0].get_xdata().tolist()                 # epochs count from 1
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
    quantities = ["loss"] + [m for m in metrics if m != "loss"]
    figure, panels = axes_grid(ax, len(quantities), PANELS_PER_ROW, 3.2)
    if ax is None:                                                   # panels 4.2 wide and 3.2 high (inches)
        figure.set_size_inches(4.2 * min(len(quantities), PANELS_PER_ROW), figure.get_size_inches()[1])
    first = (getattr(history, "epoch", None) or [0])[0]
    ticker = require("matplotlib.ticker", "scratchnn.plot")
    for axis, name in zip(panels, quantities):
        epochs = np.arange(len(logs[name])) + first + 1
        axis.plot(epochs, logs[name], color=TRAINING, marker="o" if len(epochs) < 30 else None, markersize=3,
                  label="training")
        if "val_" + name in logs:
            values = logs["val_" + name]
            axis.plot(np.arange(len(values)) + first + 1, values, color=VALIDATION, linestyle="--",
                      marker="o" if len(values) < 30 else None, markersize=3, label="validation")
        axis.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        axis.set(title=name, xlabel="epoch", ylabel=name)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    if ax is None:
        figure.tight_layout()
    return finish(figure, path)
