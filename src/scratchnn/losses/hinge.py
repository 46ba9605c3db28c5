"""Margin losses for classifiers that output scores: hinge and squared hinge (targets -1 / 1, or 0 / 1)."""
from __future__ import annotations

from ..backend.namespace import namespace
from .base import ElementwiseLoss, register


class _Margin(ElementwiseLoss):
    def targets(self, y_true):
        """Targets of 0 and 1 only are read as -1 and 1 (as Keras does); -1 / 1 targets stay as they are."""
        xp = namespace(y_true)
        if xp.all((y_true == 0) | (y_true == 1)):
            return 2 * y_true - 1
        return y_true


@register
class Hinge(_Margin):
    """loss = mean of max(1 - t y, 0), t the target in {-1, 1} and y the score (an SVM's loss)."""
    name = "hinge"

    def fn(self, y_true, y_pred):
        return namespace(y_pred).maximum(1 - y_true * y_pred, 0)

    def grad(self, y_true, y_pred):                              # d/dy = -t where t y < 1, else 0
        return -y_true * (y_true * y_pred < 1)


@register
class SquaredHinge(_Margin):
    """loss = mean of max(1 - t y, 0)^2, t the target in {-1, 1} and y the score."""
    name = "squared_hinge"

    def fn(self, y_true, y_pred):
        margin = namespace(y_pred).maximum(1 - y_true * y_pred, 0)
        return margin * margin

    def grad(self, y_true, y_pred):                              # d/dy = -2 t max(1 - t y, 0)
        return -2 * y_true * namespace(y_pred).maximum(1 - y_true * y_pred, 0)
