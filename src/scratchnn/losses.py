"""Losses: the last step of the network, averaged over the batch; backward already divides by N.

forward(y_pred, y_true, sample_weight=None) -> float     mean over the batch of w_i * loss_i
backward() -> dLoss/dy_pred                              same shape as y_pred

The array module comes from the predictions (``backend.namespace(y_pred)``): the same code runs on NumPy,
CuPy or another array namespace. Class labels are read by ``labels.class_indices``.
"""
from __future__ import annotations

from .backend.namespace import namespace, to_numpy
from .backend.special import log_softmax, sigmoid
from .labels import class_indices

EPSILON = 1e-7


def _as_2d(y):
    return y.reshape(len(y), -1)


class Loss:
    name = "loss"

    def __call__(self, y_true, y_pred, sample_weight=None) -> float:
        """Keras order: loss(y_true, y_pred)."""
        xp = namespace(y_pred, y_true)
        return self.forward(xp.asarray(y_pred), xp.asarray(y_true), sample_weight)

    def reduce(self, per_sample, sample_weight) -> float:
        """Mean over the batch of (optionally weighted) per-sample losses; keeps the weights for backward."""
        n = len(per_sample)
        xp = namespace(per_sample)
        self.weight = None if sample_weight is None else xp.asarray(sample_weight, dtype=per_sample.dtype).reshape(n)
        if self.weight is not None:
            per_sample = per_sample * self.weight
        return float(per_sample.sum() / n)

    def scale(self, grad):
        """Apply 1/N and the per-sample weights to a per-element gradient of shape (N, ...)."""
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
        return {}


class MeanSquaredError(Loss):
    """loss_i = mean_j (y_pred_ij - y_true_ij)^2"""
    name = "mean_squared_error"

    def forward(self, y_pred, y_true, sample_weight=None) -> float:
        y_true = self.check_same_shape(y_pred, y_true)
        self.shape = y_pred.shape
        self.diff = _as_2d(y_pred - y_true)
        return self.reduce((self.diff ** 2).mean(axis=1), sample_weight)

    def backward(self):                                  # dL/dy_pred = 2 (y_pred - y_true) / (N d)
        return self.scale(2 * self.diff / self.diff.shape[1]).reshape(self.shape)


class MeanAbsoluteError(Loss):
    """loss_i = mean_j |y_pred_ij - y_true_ij|"""
    name = "mean_absolute_error"

    def forward(self, y_pred, y_true, sample_weight=None) -> float:
        y_true = self.check_same_shape(y_pred, y_true)
        self.shape = y_pred.shape
        self.diff = _as_2d(y_pred - y_true)
        return self.reduce(namespace(self.diff).abs(self.diff).mean(axis=1), sample_weight)

    def backward(self):                                  # dL/dy_pred = sign(y_pred - y_true) / (N d)
        xp = namespace(self.diff)
        return self.scale(xp.sign(self.diff) / self.diff.shape[1]).reshape(self.shape)


class BinaryCrossentropy(Loss):
    """loss_i = -mean_j [y log p + (1 - y) log(1 - p)], p = sigmoid(z) when from_logits=True.

    With logits the loss is max(z, 0) - z y + log(1 + e^-|z|): no overflow and no log(0) at any z.
    Without logits p is clipped to [1e-7, 1 - 1e-7], as Keras does.
    """
    name = "binary_crossentropy"

    def __init__(self, from_logits: bool = False):
        self.from_logits = bool(from_logits)

    def forward(self, y_pred, y_true, sample_weight=None) -> float:
        xp = namespace(y_pred)
        y_true = self.check_same_shape(y_pred, y_true)
        if xp.any((y_true < 0) | (y_true > 1)):
            raise ValueError("BinaryCrossentropy expected targets in [0, 1], got values in "
                             f"[{y_true.min()}, {y_true.max()}]")
        self.shape = y_pred.shape
        z, y = _as_2d(y_pred), _as_2d(y_true)
        self.y = y
        if self.from_logits:
            self.z = z
            per_elem = xp.maximum(z, 0) - z * y + xp.log1p(xp.exp(-xp.abs(z)))
        else:
            self.p = xp.clip(z, EPSILON, 1 - EPSILON)
            per_elem = -(y * xp.log(self.p) + (1 - y) * xp.log1p(-self.p))
        return self.reduce(per_elem.mean(axis=1), sample_weight)

    def backward(self):
        d = self.y.shape[1]
        if self.from_logits:
            grad = (sigmoid(self.z) - self.y) / d            # dL/dz = (sigmoid(z) - y) / (N d)
        else:
            grad = (self.p - self.y) / (self.p * (1 - self.p)) / d   # dL/dp = (p - y) / (p (1 - p) N d)
        return self.scale(grad).reshape(self.shape)

    def get_config(self) -> dict:
        return {"from_logits": self.from_logits}


class CategoricalCrossentropy(Loss):
    """loss_i = -sum_k y_ik log p_ik, with p = softmax(z) when from_logits=True.

    Targets may be integer class labels of shape (N,) or one-hot (N, K). With logits the log-softmax
    is computed as z - logsumexp(z) and the gradient is softmax(z) - y: exact at any input.
    """
    name = "categorical_crossentropy"

    def __init__(self, from_logits: bool = False):
        self.from_logits = bool(from_logits)

    def one_hot(self, y_true, y_pred):
        """The targets as (N, K) rows: one-hot (or soft) targets as they are, integer labels one-hot encoded.

        Integer labels are read by ``class_indices`` (on the host: they are N small numbers); unlike a
        metric, a loss refuses fractional (N,) targets instead of reading them as probabilities of class 1,
        since rounding a soft target would change the gradient.
        """
        n, k = y_pred.shape
        if y_true.shape == (n, k):
            return y_true.astype(y_pred.dtype, copy=False)
        labels = to_numpy(y_true).reshape(-1) if y_true.shape in ((n,), (n, 1)) else None
        if labels is None or labels.dtype.kind not in "biuf" or (
                labels.dtype.kind == "f" and (labels != labels.round()).any()):
            raise ValueError(f"{type(self).__name__} expected integer labels of shape (N,) or one-hot "
                             f"targets of shape {(n, k)}, got {y_true.dtype} array of shape {y_true.shape}")
        if labels.size and (labels.min() < 0 or labels.max() >= k):
            raise ValueError(f"{type(self).__name__} expected labels in [0, {k}), got labels in "
                             f"[{labels.min()}, {labels.max()}]")
        xp = namespace(y_pred)
        labels = xp.asarray(class_indices(labels, type(self).__name__, num_classes=k))
        return (labels[:, None] == xp.arange(k)).astype(y_pred.dtype)

    def forward(self, y_pred, y_true, sample_weight=None) -> float:
        if y_pred.ndim != 2:
            raise ValueError(f"{type(self).__name__} expected predictions of shape (N, classes), got {y_pred.shape}")
        self.y = self.one_hot(y_true, y_pred)
        if self.from_logits:
            log_p = self.log_p = log_softmax(y_pred)
        else:
            xp = namespace(y_pred)
            self.p = xp.clip(y_pred, EPSILON, 1.0)
            log_p = xp.log(self.p)
        return self.reduce(-(self.y * log_p).sum(axis=1), sample_weight)

    def backward(self):
        if self.from_logits:
            grad = namespace(self.log_p).exp(self.log_p) - self.y               # dL/dz = softmax(z) - y, then / N
        else:
            grad = -self.y / self.p                          # dL/dp = -y / p, then / N
        return self.scale(grad)

    def get_config(self) -> dict:
        return {"from_logits": self.from_logits}


SparseCategoricalCrossentropy = CategoricalCrossentropy

LOSSES = {
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "binary_crossentropy": BinaryCrossentropy, "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": CategoricalCrossentropy,
}


def get(identifier, from_logits: bool = False) -> Loss:
    """A Loss from a name ("categorical_crossentropy", "mse", ...) or a Loss instance."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in LOSSES:
        cls = LOSSES[identifier.lower()]
        if cls in (BinaryCrossentropy, CategoricalCrossentropy):
            return cls(from_logits=from_logits)
        if from_logits:
            raise ValueError(f"from_logits=True applies to the crossentropy losses, not to {identifier!r}")
        return cls()
    raise ValueError(f"Unknown loss {identifier!r}; valid names: {sorted(LOSSES)}")


def serialize(loss: Loss) -> dict:
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def deserialize(config: dict) -> Loss:
    classes = {cls.__name__: cls for cls in LOSSES.values()}
    if config["class_name"] not in classes:
        raise ValueError(f"Unknown loss {config['class_name']!r}; valid: {sorted(classes)}")
    return classes[config["class_name"]](**config["config"])
