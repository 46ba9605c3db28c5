"""Figures with matplotlib (the optional extra ``scratchnn[plot]``): networks, training curves, results, attributions.

Every function returns the matplotlib Figure, draws into ``ax=`` when given (a sequence of Axes for the
figures made of several panels) and writes the figure to ``path=`` when given, atomically (a crash leaves
the old file or the new one, never half an image; the format is the path's extension).
matplotlib is imported when the first figure is drawn, not when scratchnn or scratchnn.plot is imported.

- ``network``: ``plot_model`` (neurons and connections, or a box per layer)
- ``history``: ``plot_history`` (training and validation curves)
- ``results``: ``confusion_counts``, ``plot_confusion_matrix``, ``plot_decision_boundary``
- ``images``: ``plot_samples``, ``plot_filters``
- ``attributions``: ``plot_attributions`` (heat maps, bars, waterfalls)
"""
from __future__ import annotations

from ._common import KIND_COLORS, NEGATIVE, POSITIVE, SHAP_NEGATIVE, SHAP_POSITIVE
from .attributions import plot_attributions
from .history import plot_history
from .images import plot_filters, plot_samples
from .network import plot_model
from .results import confusion_counts, plot_confusion_matrix, plot_decision_boundary

__all__ = ["plot_model", "plot_history", "confusion_counts", "plot_confusion_matrix", "plot_decision_boundary",
           "plot_samples", "plot_filters", "plot_attributions", "POSITIVE", "NEGATIVE", "SHAP_POSITIVE",
           "SHAP_NEGATIVE", "KIND_COLORS"]
