"""Regression losses: squared, absolute, Huber and log-cosh errors, and the cosine similarity."""
from __future__ import annotations

import math

from ..backend.namespace import namespace
from ..validation import check_number
from .base import ElementwiseLoss, Loss, as_2d, register

_LOG_2 = math.log(2.0)


@register(name="mean_squared_error")
class MeanSquaredError(Loss):
    """loss_i = mean_j (y_pred_ij - y_true_ij)^2"""
    name = "mean_squared_error"

    def forward(self, y_pred, y_true, sample_weight=None) -> float:
        y_true = self.check_same_shape(y_pred, y_true)
        self.shape = y_pred.shape
        self.diff = as_2d(y_pred - y_true)
        return self.reduce((self.diff ** 2).mean(axis=1), sample_weight)

    def backward(self):                                  # dL/dy_pred = 2 (y_pred - y_true) / (N d)
        return self.scale(2 * self.diff / self.diff.shape[1]).reshape(self.shape)


@register(name="mean_absolute_error")
class MeanAbsoluteError(Loss):
    """loss_i = mean_j |y_pred_ij - y_true_ij|"""
    name = "mean_absolute_error"

    def forward(self, y_pred, y_true, sample_weight=None) -> float:
        y_true = self.check_same_shape(y_pred, y_true)
        self.shape = y_pred.shape
        self.diff = as_2d(y_pred - y_true)
        return self.reduce(namespace(self.diff).abs(self.diff).mean(axis=1), sample_weight)

    def backward(self):                                  # dL/dy_pred = sign(y_pred - y_true) / (N d)
        xp = namespace(self.diff)
        return self.scale(xp.sign(self.diff) / self.diff.shape[1]).reshape(self.shape)


@register
class Huber(ElementwiseLoss):
    """loss = mean of 0.5 e^2 where |e| <= delta, delta (|e| - 0.5 delta) beyond, e = y_pred - y_true.

    Quadratic near zero, linear far out: large errors (outliers) pull with a force of at most delta.
    """
    name = "huber"

    def __init__(self, delta: float = 1.0, reduction: str = "sum_over_batch_size"):
        super().__init__(reduction)
        self.delta = check_number("delta", delta, "Huber", 0, low_open=True)

    def fn(self, y_true, y_pred):
        xp = namespace(y_pred)
        error = y_pred - y_true
        size = xp.abs(error)
        return xp.where(size <= self.delta, 0.5 * error * error, self.delta * (size - 0.5 * self.delta))

    def grad(self, y_true, y_pred):                      # d/dy_pred = clip(e, -delta, delta)
        return namespace(y_pred).clip(y_pred - y_true, -self.delta, self.delta)

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


@register
class LogCosh(ElementwiseLoss):
    """loss = mean of log(cosh(e)), e = y_pred - y_true, computed as e + softplus(-2 e) - log 2 (no overflow).

    About e^2 / 2 for small errors and |e| - log 2 for large ones, smooth everywhere.
    """
    name = "log_cosh"

    def fn(self, y_true, y_pred):
        xp = namespace(y_pred)
        error = y_pred - y_true
        minus_2e = -2 * error                            # softplus(z) = max(z, 0) + log(1 + e^-|z|)
        return error + xp.maximum(minus_2e, 0) + xp.log1p(xp.exp(-xp.abs(minus_2e))) - _LOG_2

    def grad(self, y_true, y_pred):                      # d/dy_pred = tanh(e)
        return namespace(y_pred).tanh(y_pred - y_true)


@register
class CosineSimilarity(Loss):
    """loss = -cos(y_true, y_pred) along ``axis``: -sum(u * v) with u = y_pred / ||y_pred||, v = y_true / ||y_true||.

    -1 when the vectors point the same way, 0 when orthogonal, 1 when opposite (Keras's sign: a loss to
    minimise). A norm below 1e-6 is taken as 1e-6 (Keras's l2_normalize with epsilon 1e-12 on the square).
    With more than two axes the loss of a sample is the mean over its vectors.
    """
    name = "cosine_similarity"
    FLOOR = 1e-6

    def __init__(self, axis: int = -1, reduction: str = "sum_over_batch_size"):
        super().__init__(reduction)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"CosineSimilarity: axis must be an int, got {axis!r}")
        self.axis = axis

    def forward(self, y_pred, y_true, sample_weight=None) -> float:
        xp = namespace(y_pred)
        y_true = self.check_same_shape(y_pred, y_true)
        if y_pred.ndim < 2 or self.axis % y_pred.ndim == 0:
            raise ValueError(f"CosineSimilarity expected predictions (N, ..., features) with the vectors on axis "
                             f"{self.axis} (not the batch), got {y_pred.shape}")
        pred, true = xp.moveaxis(y_pred, self.axis, -1), xp.moveaxis(y_true, self.axis, -1)
        self.norm = xp.sqrt(xp.sum(pred * pred, axis=-1, keepdims=True))
        self.small = self.norm < self.FLOOR
        self.norm = xp.maximum(self.norm, self.FLOOR)
        self.u = pred / self.norm
        self.v = true / xp.maximum(xp.sqrt(xp.sum(true * true, axis=-1, keepdims=True)), self.FLOOR)
        self.cosine = xp.sum(self.u * self.v, axis=-1, keepdims=True)
        per_vector = as_2d(-self.cosine)
        self.vectors = per_vector.shape[1]
        return self.reduce(per_vector.mean(axis=1), sample_weight)

    def backward(self):                                  # dL/dp = -(v - cos u) / ||p|| (-v / 1e-6 if clipped)
        xp = namespace(self.u)
        grad = -(self.v - xp.where(self.small, 0, self.cosine) * self.u) / self.norm / self.vectors
        return xp.moveaxis(self.scale(grad), -1, self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


register(MeanSquaredError, name="mse")
register(MeanAbsoluteError, name="mae")
