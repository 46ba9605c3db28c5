"""Metrics: streaming (update per batch, result per epoch) and plain functions on whole arrays."""
import numpy as np


def _labels(y_true, n_classes):
    """Integer class labels from integer labels (N,) / (N, 1) or one-hot (N, K)."""
    y_true = np.asarray(y_true)
    if y_true.ndim == 2 and y_true.shape[1] == n_classes and n_classes > 1:
        return y_true.argmax(axis=1)
    return y_true.reshape(-1)


class Metric:
    """update(y_true, y_pred, sample_weight=None) accumulates; result() -> float; reset() clears."""
    name = "metric"

    def reset(self):
        raise NotImplementedError

    def update(self, y_true, y_pred, sample_weight=None):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError


class MeanMetric(Metric):
    """Weighted mean of a per-sample value over everything seen since reset()."""

    def __init__(self, name, fn):
        self.name, self.fn = name, fn
        self.reset()

    def reset(self):
        self.total, self.count = 0.0, 0.0

    def update(self, y_true, y_pred, sample_weight=None):
        values = self.fn(np.asarray(y_true), np.asarray(y_pred))
        if sample_weight is None:
            self.total += float(values.sum())
            self.count += len(values)
        else:
            weights = np.asarray(sample_weight, dtype=float).reshape(-1)
            self.total += float((values * weights).sum())
            self.count += float(weights.sum())

    def result(self):
        return self.total / self.count if self.count else 0.0


def categorical_accuracy(y_true, y_pred):
    return (y_pred.argmax(axis=1) == _labels(y_true, y_pred.shape[1])).astype(float)


def binary_accuracy_fn(threshold):
    def binary_accuracy(y_true, y_pred):
        pred = (y_pred.reshape(len(y_pred), -1) > threshold)
        return (pred == (y_true.reshape(len(y_true), -1) > 0.5)).mean(axis=1)
    return binary_accuracy


def squared_error(y_true, y_pred):
    return ((y_pred.reshape(len(y_pred), -1) - y_true.reshape(len(y_pred), -1)) ** 2).mean(axis=1)


def absolute_error(y_true, y_pred):
    return np.abs(y_pred.reshape(len(y_pred), -1) - y_true.reshape(len(y_pred), -1)).mean(axis=1)


def get(identifier, output_dim=None, from_logits=False):
    """A Metric from a name; "accuracy" picks binary (one output) or categorical accuracy.

    With from_logits the binary threshold is 0 (a logit), else 0.5 (a probability).
    """
    if isinstance(identifier, Metric):
        return identifier
    name = identifier.lower() if isinstance(identifier, str) else identifier
    if name in ("accuracy", "acc"):
        if output_dim == 1:
            return MeanMetric("accuracy", binary_accuracy_fn(0.0 if from_logits else 0.5))
        return MeanMetric("accuracy", categorical_accuracy)
    if name in ("mse", "mean_squared_error"):
        return MeanMetric("mse", squared_error)
    if name in ("mae", "mean_absolute_error"):
        return MeanMetric("mae", absolute_error)
    raise ValueError(f"Unknown metric {identifier!r}; valid names: ['accuracy', 'mae', 'mse']")
