"""Metrics: streaming (update per batch, result per epoch) and plain functions on whole arrays.

Labels are read by ``labels.class_indices`` (the one label decoder): integer labels (N,) / (N, 1), one-hot
or per-class scores (N, K) (argmax), or probabilities of class 1 (N,) (>= 0.5 is class 1). The per-sample
math of the mean metrics takes its array module from the predictions (``backend.namespace(y_pred)``); the
running totals, confusion counts and AUC scores are kept on the host in NumPy.
"""
from __future__ import annotations

from .confusion import (AUC, ConfusionMetric, F1Score, Precision, Recall, classification_report,
                        confusion_matrix, roc_auc)
from .mean import (FunctionMetric, MeanMetric, Metric, TopKAccuracy, absolute_error, binary_accuracy_fn,
                   categorical_accuracy, squared_error, top_k_accuracy_fn)

__all__ = ["Metric", "MeanMetric", "FunctionMetric", "TopKAccuracy", "ConfusionMetric", "Precision", "Recall",
           "F1Score", "AUC", "categorical_accuracy", "binary_accuracy_fn", "top_k_accuracy_fn", "squared_error",
           "absolute_error", "confusion_matrix", "classification_report", "roc_auc", "MEAN_METRICS", "METRICS",
           "checked", "get"]

MEAN_METRICS = ("accuracy", "acc", "mse", "mean_squared_error", "mae", "mean_absolute_error")
METRICS = {"top_k_accuracy": TopKAccuracy, "top_k_categorical_accuracy": TopKAccuracy, "precision": Precision,
           "recall": Recall, "f1": F1Score, "f1_score": F1Score, "auc": AUC}


def checked(spec):
    """compile()'s metrics, checked at once: names must be known (the error lists them), functions become
    FunctionMetric objects, Metric objects stay. Keeps the structure: a list (a single name or function is a
    list of one), a dict by output name, lists inside either."""
    if spec is None:
        return []
    if isinstance(spec, dict):
        return {key: checked(value) if isinstance(value, (list, tuple)) else _checked_one(value)
                for key, value in spec.items()}
    if isinstance(spec, str) or isinstance(spec, Metric) or callable(spec):
        return [_checked_one(spec)]
    return [checked(item) if isinstance(item, (list, tuple)) else _checked_one(item) for item in spec]


def _checked_one(item):
    if isinstance(item, str):
        get(item)                                   # raises for an unknown name, listing the known ones
        return item
    if isinstance(item, Metric):
        return item
    if callable(item) and not isinstance(item, type):
        return FunctionMetric(item)
    raise ValueError(f"compile: a metric is a name ({', '.join(sorted((*MEAN_METRICS, *METRICS)))}), a Metric or "
                     f"a function (y_true, y_pred) -> values; got {item!r}")


def get(identifier, output_dim: int | None = None, from_logits: bool = False) -> Metric:
    """A fresh Metric from a name or a Metric; "accuracy" picks binary (one output) or categorical accuracy.

    With from_logits the binary threshold is 0 (a logit), else 0.5 (a probability).
    """
    if isinstance(identifier, Metric):
        return identifier.configure(output_dim, from_logits)
    if callable(identifier) and not isinstance(identifier, type):
        return FunctionMetric(identifier)
    name = identifier.lower() if isinstance(identifier, str) else identifier
    if name in ("accuracy", "acc"):
        if output_dim == 1:
            return MeanMetric("accuracy", binary_accuracy_fn(0.0 if from_logits else 0.5))
        return MeanMetric("accuracy", categorical_accuracy)
    if name in ("mse", "mean_squared_error"):
        return MeanMetric("mse", squared_error)
    if name in ("mae", "mean_absolute_error"):
        return MeanMetric("mae", absolute_error)
    if name in METRICS:
        return METRICS[name]().configure(output_dim, from_logits)
    raise ValueError(f"Unknown metric {identifier!r}; valid names: {sorted((*MEAN_METRICS, *METRICS))}")
