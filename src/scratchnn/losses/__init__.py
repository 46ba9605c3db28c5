"""Losses: the last step of the network, averaged over the batch; backward already divides by N.

forward(y_pred, y_true, sample_weight=None) -> float     mean over the batch of w_i * loss_i
backward() -> dLoss/dy_pred                              same shape as y_pred

Every loss is known by its Keras name (``compile(loss="huber")``) and saved in model files. A loss of your
own: subclass ``ElementwiseLoss`` (its ``fn`` and ``grad``) or ``Loss`` (``forward`` / ``backward`` with
``reduce`` / ``scale``), and ``@register`` it. The array module comes from the predictions
(``backend.namespace(y_pred)``): the same code runs on NumPy, CuPy or another array namespace.
"""
from .base import EPSILON, LOSSES, REDUCTIONS, ElementwiseLoss, Loss, deserialize, get, register, serialize
from .hinge import Hinge, SquaredHinge
from .probabilistic import (BinaryCrossentropy, CategoricalCrossentropy, CategoricalFocalCrossentropy,
                            KLDivergence, Poisson, SparseCategoricalCrossentropy)
from .regression import CosineSimilarity, Huber, LogCosh, MeanAbsoluteError, MeanSquaredError

__all__ = ["Loss", "ElementwiseLoss", "LOSSES", "REDUCTIONS", "EPSILON", "get", "register", "serialize",
           "deserialize", "MeanSquaredError", "MeanAbsoluteError", "Huber", "LogCosh", "CosineSimilarity",
           "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
           "CategoricalFocalCrossentropy", "Poisson", "KLDivergence", "Hinge", "SquaredHinge"]
