"""The Loss contract, the elementwise-loss base a user subclasses, and the registry of losses by name.

forward(y_pred, y_true, sample_weight=None) -> float     the reduction of the per-sample losses w_i * loss_i
backward() -> dLoss/dy_pred                              same shape as y_pred

A loss averages over the batch by default (Keras's reduction "sum_over_batch_size": its backward divides by
N); reduction="sum" adds the samples up, and reduction="none" makes ``loss(y_true, y_pred)`` return the
per-sample losses (a model cannot train on those: compile refuses it). The array module comes from the
predictions (``backend.namespace(y_pred)``).
"""
from __future__ import annotations

import re

from ..backend.namespace import namespace

EPSILON = 1e-7                              # Keras's backend.epsilon(): the clip of probabilities
REDUCTIONS = ("sum_over_batch_size", "sum", "none")
LOSSES: dict[str, type] = {}                # name -> class: compile(loss="huber") and model files


def as_2d(y):
    return y.reshape(len(y), -1)


class Loss:
    """Base of every loss. Subclasses compute per-sample losses and pass them to ``reduce``, and scale their
    per-element gradient with ``scale`` (1 / N and the sample weights)."""
    name = "loss"
    takes_logits = False                    # compile(from_logits=True) applies (the crossentropies)

    def __init__(self, reduction: str = "sum_over_batch_size"):
        if reduction not in REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {list(REDUCTIONS)}, got {reduction!r}")
        self.reduction = reduction

    def __call__(self, y_true, y_pred, sample_weight=None):
        """Keras order: loss(y_true, y_pred) -> a float (the per-sample losses with reduction="none")."""
        xp = namespace(y_pred, y_true)
        value = self.forward(xp.asarray(y_pred), xp.asarray(y_true), sample_weight)
        return self.per_sample if getattr(self, "reduction", REDUCTIONS[0]) == "none" else value

    def reduce(self, per_sample, sample_weight) -> float:
        """The (optionally weighted) per-sample losses reduced: their mean over the batch (their sum with
        reduction="sum" or "none"); keeps the weights for backward."""
        n = len(per_sample)
        xp = namespace(per_sample)
        self.weight = None if sample_weight is None else xp.asarray(sample_weight, dtype=per_sample.dtype).reshape(n)
        if self.weight is not None:
            per_sample = per_sample * self.weight
        self.per_sample = per_sample
        total = per_sample.sum()
        return float(total / n) if getattr(self, "reduction", REDUCTIONS[0]) == REDUCTIONS[0] else float(total)

    def scale(self, grad):
        """Apply 1/N (for the mean over the batch) and the per-sample weights to a gradient of shape (N, ...)."""
        if getattr(self, "reduction", REDUCTIONS[0]) == REDUCTIONS[0]:
            grad /= len(grad)
        if self.weight is not None:
            grad *= self.weight.reshape((-1,) + (1,) * (grad.ndim - 1))
        return grad

    def check_same_shape(self, y_pred, y_true):
        if y_true.shape != y_pred.shape:
            if y_true.ndim == 1 and y_pred.ndim == 2 and y_pred.shape[1] == 1:
                return y_true.reshape(-1, 1).astype(y_pred.dtype)
            raise ValueError(f"{type(self).__name__} expected targets of shape {y_pred.shape} "
                             f"(the model's output), got {y_true.shape}")
        return y_true.astype(y_pred.dtype, copy=False)

    def get_config(self) -> dict:
        """The constructor arguments (the reduction only when it is not the default)."""
        reduction = getattr(self, "reduction", REDUCTIONS[0])
        return {} if reduction == REDUCTIONS[0] else {"reduction": reduction}


class ElementwiseLoss(Loss):
    """A loss given by one function of each (target, prediction) pair and its derivative:

        loss_i = mean over the elements of sample i of fn(y_true, y_pred)     (Keras: mean over the last axis)
        dLoss/dy_pred = grad(y_true, y_pred) / (elements per sample) / N

    Subclasses define ``fn`` and ``grad`` (the derivative of fn in y_pred, elementwise), and may override
    ``targets`` to read the labels (Hinge turns 0 / 1 into -1 / 1) or ``check`` to refuse predictions.
    ``sum_last_axis = True`` sums over the last axis instead of averaging (KLDivergence, as Keras).
    """
    sum_last_axis = False

    def fn(self, y_true, y_pred):
        raise NotImplementedError

    def grad(self, y_true, y_pred):
        raise NotImplementedError

    def targets(self, y_true):
        return y_true

    def check(self, y_pred) -> None:
        """Raise ValueError for predictions this loss is not defined on (nothing by default)."""

    def forward(self, y_pred, y_true, sample_weight=None) -> float:
        y_true = self.targets(self.check_same_shape(y_pred, y_true))
        self.check(y_pred)
        self.y_true, self.y_pred = y_true, y_pred
        per_element = as_2d(self.fn(y_true, y_pred))
        self.factor = (y_pred.shape[-1] if self.sum_last_axis and y_pred.ndim > 1 else 1) / per_element.shape[1]
        return self.reduce(per_element.sum(axis=1) * self.factor, sample_weight)

    def backward(self):
        return self.scale(self.grad(self.y_true, self.y_pred) * self.factor)


def snake_case(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def register(cls=None, *, name=None):
    """Class decorator: ``compile(loss=name)`` finds the loss (default: its class name in snake case, as
    Keras names them) and model files save and load it. ``@register`` or ``@register(name="my_loss")``."""
    def add(cls):
        if not (isinstance(cls, type) and issubclass(cls, Loss)):
            raise TypeError(f"losses.register expected a subclass of losses.Loss, got {cls!r}")
        LOSSES[name or snake_case(cls.__name__)] = cls
        return cls
    return add if cls is None else add(cls)


def get(identifier, from_logits: bool = False) -> Loss:
    """A Loss from a name ("categorical_crossentropy", "mse", "huber", ...) or a Loss instance."""
    if isinstance(identifier, Loss):
        loss = identifier
    elif isinstance(identifier, str) and identifier.lower() in LOSSES:
        cls = LOSSES[identifier.lower()]
        if cls.takes_logits:
            return cls(from_logits=from_logits)
        if from_logits:
            raise ValueError(f"from_logits=True applies to the crossentropy losses, not to {identifier!r}")
        loss = cls()
    elif callable(identifier) and not isinstance(identifier, type):
        raise ValueError(f"a loss needs its gradient as well as its value: {identifier!r} is a plain function; "
                         "subclass scratchnn.losses.ElementwiseLoss with fn and grad (docs/guide/keras_extras.md)")
    else:
        raise ValueError(f"Unknown loss {identifier!r}; valid names: {sorted(LOSSES)}")
    if getattr(loss, "reduction", REDUCTIONS[0]) == "none":
        raise ValueError(f"{type(loss).__name__}(reduction='none') returns one loss per sample, which a model "
                         "cannot train on: use reduction='sum_over_batch_size' (the default) or 'sum'")
    return loss


def serialize(loss: Loss) -> dict:
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def deserialize(config: dict) -> Loss:
    classes = {cls.__name__: cls for cls in LOSSES.values()}
    if config["class_name"] not in classes:
        raise ValueError(f"Unknown loss {config['class_name']!r}; valid: {sorted(classes)} (a loss of your own "
                         "must be registered with @scratchnn.losses.register before loading)")
    return classes[config["class_name"]](**config["config"])
