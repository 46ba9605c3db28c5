"""The streaming metric base (Metric), the weighted mean of a per-sample value (MeanMetric, FunctionMetric)
and the per-sample functions behind accuracy, top-k accuracy, MSE and MAE; their math takes its array module
from the predictions."""
from __future__ import annotations

import copy

import numpy as np

from ..backend.namespace import namespace, to_numpy
from ..labels import class_indices
from ..validation import check_positive_int


def _labels(y_true, n_classes: int, name: str) -> np.ndarray:
    """Integer class labels in [0, n_classes) on the host, by class_indices's rules."""
    return class_indices(to_numpy(y_true), name, num_classes=n_classes)


def _weights(sample_weight, n):
    return np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=float).reshape(n)


class Metric:
    """update(y_true, y_pred, sample_weight=None) accumulates; result() -> float; reset() clears.

    A metric learns how to read the model's outputs from ``configure(output_dim, from_logits)``, which
    compile()'s metric list goes through, so ``metrics=[Precision()]`` works for any output layer.
    """
    name = "metric"
    output_dim = None
    from_logits = False

    def configure(self, output_dim=None, from_logits=False):
        """A fresh, reset copy that reads outputs of size output_dim (logits or probabilities)."""
        metric = copy.copy(self)
        metric.output_dim, metric.from_logits = output_dim, from_logits
        metric.reset()
        return metric

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

    def update(self, y_true, y_pred, sample_weight=None) -> None:
        xp = namespace(y_pred)
        values = self.fn(y_true, xp.asarray(y_pred))
        if sample_weight is None:
            self.total += float(values.sum())
            self.count += len(values)
        else:
            weights = xp.asarray(sample_weight, dtype=xp.float64).reshape(-1)
            self.total += float((values * weights).sum())
            self.count += float(weights.sum())

    def result(self):
        return self.total / self.count if self.count else 0.0


class FunctionMetric(MeanMetric):
    """A function fn(y_true, y_pred) -> one value per sample, as a metric: its mean over the samples seen.

    compile(metrics=[fn]) wraps a function in one (named fn.__name__, as Keras names it). Values of shape
    (N, ...) are averaged over each sample's elements first; a single number counts as the batch's mean.
    y_pred is what the model outputs (logits when the loss takes them).
    """

    def __init__(self, fn, name=None):
        if not callable(fn):
            raise ValueError(f"FunctionMetric expected a function (y_true, y_pred) -> values, got {fn!r}")
        self.function = fn
        super().__init__(name or getattr(fn, "__name__", type(fn).__name__), self.per_sample)

    def per_sample(self, y_true, y_pred):
        xp = namespace(y_pred)
        values = xp.asarray(self.function(y_true, y_pred), dtype=xp.float64)
        if values.ndim == 0:
            return values * xp.ones(len(y_pred), dtype=xp.float64)
        if len(values) != len(y_pred):
            raise ValueError(f"metric {self.name!r} returned {values.shape[0]} values for a batch of {len(y_pred)}: "
                             "return one value per sample (or one number for the batch)")
        return xp.reshape(values, (len(values), -1)).mean(axis=1)


def _per_position(metric):
    """A per-row class metric of (N, K) outputs, also for (N, ..., K) outputs (a class at every time step or
    pixel: labels (N, ...) or one-hot (N, ..., K)): each sample's value is its mean over the positions, so
    with the same number of positions per sample the epoch's mean is the mean over every position (Keras's)."""
    def per_sample(y_true, y_pred):
        if y_pred.ndim <= 2:
            return metric(y_true, y_pred)
        n, classes = len(y_pred), y_pred.shape[-1]
        y_true = namespace(y_pred).asarray(y_true) if not hasattr(y_true, "shape") else y_true
        rows = y_pred.reshape(-1, classes)
        labels = y_true.reshape(-1, classes) if y_true.shape == y_pred.shape else y_true.reshape(-1)
        if len(labels) != len(rows):
            raise ValueError(f"{metric.__name__}: outputs {tuple(y_pred.shape)} need labels of shape "
                             f"{tuple(y_pred.shape[:-1])} or {tuple(y_pred.shape)}, got {tuple(y_true.shape)}")
        return metric(labels, rows).reshape(n, -1).mean(axis=1)
    per_sample.__name__ = metric.__name__
    return per_sample


@_per_position
def categorical_accuracy(y_true, y_pred):
    """1 where the argmax of the (N, K) outputs is the true class, else 0 (float64)."""
    xp = namespace(y_pred)
    labels = xp.asarray(_labels(y_true, y_pred.shape[1], "accuracy"))
    return (y_pred.argmax(axis=1) == labels).astype(xp.float64)


def binary_accuracy_fn(threshold: float):
    def binary_accuracy(y_true, y_pred):
        """Per sample, the fraction of outputs on the side of ``threshold`` of their target (targets: >= 0.5
        is 1, as in class_indices; element by element, so several independent binary outputs work too)."""
        xp = namespace(y_pred)
        pred = (y_pred.reshape(len(y_pred), -1) > threshold)
        target = xp.asarray(y_true).reshape(len(y_true), -1) >= 0.5
        return (pred == target).astype(xp.float64).mean(axis=1)
    return binary_accuracy


def top_k_accuracy_fn(k: int):
    @_per_position
    def top_k_accuracy(y_true, y_pred):
        """1 where the true class scores among the k highest (ties counted in its favour, as Keras)."""
        xp = namespace(y_pred)
        labels = xp.asarray(_labels(y_true, y_pred.shape[1], "top_k_accuracy"))
        true_score = y_pred[xp.arange(len(y_pred)), labels]
        return ((y_pred > true_score[:, None]).sum(axis=1) < k).astype(xp.float64)
    return top_k_accuracy


def squared_error(y_true, y_pred):
    xp = namespace(y_pred)
    return ((y_pred.reshape(len(y_pred), -1) - xp.asarray(y_true).reshape(len(y_pred), -1)) ** 2).mean(axis=1)


def absolute_error(y_true, y_pred):
    xp = namespace(y_pred)
    return xp.abs(y_pred.reshape(len(y_pred), -1) - xp.asarray(y_true).reshape(len(y_pred), -1)).mean(axis=1)


class TopKAccuracy(MeanMetric):
    """Fraction of samples whose true class is among the k highest outputs (Keras's top_k_categorical_accuracy)."""

    def __init__(self, k: int = 5, name: str | None = None):
        self.k = check_positive_int("k", k, "TopKAccuracy")
        super().__init__(name or "top_k_accuracy", top_k_accuracy_fn(self.k))
