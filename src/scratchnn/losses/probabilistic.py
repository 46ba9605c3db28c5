"""Probabilistic losses: binary and categorical crossentropy, focal crossentropy, Poisson and KL divergence.

Class labels are read by ``labels.class_indices``; the stable log-softmax and sigmoid come from backend.special.
"""
from __future__ import annotations

from ..backend.namespace import namespace, to_numpy
from ..backend.special import log_softmax, sigmoid, softmax
from ..labels import class_indices
from ..validation import check_number
from .base import EPSILON, ElementwiseLoss, Loss, as_2d, register


@register
class BinaryCrossentropy(Loss):
    """loss_i = -mean_j [y log p + (1 - y) log(1 - p)], p = sigmoid(z) when from_logits=True.

    With logits the loss is max(z, 0) - z y + log(1 + e^-|z|): no overflow and no log(0) at any z.
    Probabilities made by a model's final Sigmoid layer are read through that layer's input: the model hands
    the logits z over (``logits=``, as Keras keeps a sigmoid's logits for its crossentropy), the loss is the
    formula above and backward returns dL/dz, which the model passes to the layer below the Sigmoid. Other
    probabilities are clipped to [1e-7, 1 - 1e-7], as Keras does.
    """
    name = "binary_crossentropy"
    takes_logits = True
    fuses_with = "Sigmoid"                  # the final layer whose logits the loss reads (models/sequential.py)

    def __init__(self, from_logits: bool = False, reduction: str = "sum_over_batch_size"):
        super().__init__(reduction)
        self.from_logits = bool(from_logits)

    def forward(self, y_pred, y_true, sample_weight=None, logits=None) -> float:
        """``logits``: the input of the Sigmoid that made the probabilities ``y_pred`` (from_logits=False);
        given, the loss and its gradient (then dL/dlogits) come from them, exact at any logit."""
        xp = namespace(y_pred)
        y_true = self.check_same_shape(y_pred, y_true)
        if xp.any((y_true < 0) | (y_true > 1)):
            raise ValueError("BinaryCrossentropy expected targets in [0, 1], got values in "
                             f"[{y_true.min()}, {y_true.max()}]")
        if logits is not None and logits.shape != y_pred.shape:
            raise ValueError(f"BinaryCrossentropy expected logits of the shape of the predictions {y_pred.shape}, "
                             f"got {logits.shape}")
        self.shape = y_pred.shape
        z, y = as_2d(y_pred if logits is None else logits), as_2d(y_true)
        self.y = y
        self.on_logits = self.from_logits or logits is not None
        if self.on_logits:
            self.z = z
            per_elem = xp.maximum(z, 0) - z * y + xp.log1p(xp.exp(-xp.abs(z)))
        else:
            self.p = xp.clip(z, EPSILON, 1 - EPSILON)
            per_elem = -(y * xp.log(self.p) + (1 - y) * xp.log1p(-self.p))
        return self.reduce(per_elem.mean(axis=1), sample_weight)

    def backward(self):
        d = self.y.shape[1]
        if self.on_logits:
            grad = (sigmoid(self.z) - self.y) / d            # dL/dz = (sigmoid(z) - y) / (N d)
        else:
            grad = (self.p - self.y) / (self.p * (1 - self.p)) / d   # dL/dp = (p - y) / (p (1 - p) N d)
        return self.scale(grad).reshape(self.shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "from_logits": self.from_logits}


@register
class CategoricalCrossentropy(Loss):
    """loss_i = -sum_k y_ik log p_ik, with p = softmax(z) when from_logits=True.

    Targets may be integer class labels of shape (N,) or one-hot (N, K). With logits the log-softmax
    is computed as z - logsumexp(z) and the gradient is softmax(z) - y: exact at any input. Sequence
    outputs (N, T, K) take (N, T) labels (or (N, T, K) one-hot): loss_i is the mean over the T steps.
    ``label_smoothing`` s replaces the targets by y (1 - s) + s / K (Keras's and PyTorch's rule): the gradient
    with logits is then softmax(z) - y (1 - s) - s / K.
    """
    name = "categorical_crossentropy"
    takes_logits = True

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0,
                 reduction: str = "sum_over_batch_size"):
        super().__init__(reduction)
        self.from_logits = bool(from_logits)
        self.label_smoothing = check_number("label_smoothing", label_smoothing, type(self).__name__, 0, 1)

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
        self.steps = None
        if y_pred.ndim == 3:                       # (N, T, K) sequences: loss_i = mean over t of loss_it
            y_pred, y_true = self.flatten_steps(y_pred, y_true)
        elif y_pred.ndim != 2:
            raise ValueError(f"{type(self).__name__} expected predictions of shape (N, classes) or (N, steps, "
                             f"classes), got {y_pred.shape}")
        self.y = self.one_hot(y_true, y_pred)
        if self.label_smoothing:                   # y <- y (1 - s) + s / K
            self.y = self.y * (1 - self.label_smoothing) + self.label_smoothing / self.y.shape[1]
        if self.from_logits:
            log_p = self.log_p = log_softmax(y_pred)
        else:
            xp = namespace(y_pred)
            self.p = xp.clip(y_pred, EPSILON, 1.0)
            log_p = xp.log(self.p)
        per_row = -(self.y * log_p).sum(axis=1)
        if self.steps is not None:
            per_row = per_row.reshape(-1, self.steps).mean(axis=1)
        return self.reduce(per_row, sample_weight)

    def flatten_steps(self, y_pred, y_true):
        """(N, T, K) predictions with (N, T) integer (or (N, T, K) one-hot) targets as N T rows of K.

        Each sample's loss is the mean over its T steps, so the batch loss is the mean over all N T steps
        (Keras's value for a sequence output) and a sample weight weighs a whole sequence."""
        n, steps, k = y_pred.shape
        if y_true.shape not in ((n, steps), (n, steps, 1), (n, steps, k)):
            raise ValueError(f"{type(self).__name__} expected integer labels of shape {(n, steps)} or one-hot "
                             f"targets of shape {(n, steps, k)} for predictions of shape {y_pred.shape}, got "
                             f"{y_true.shape}")
        self.steps = steps
        rows = y_true.reshape(n * steps, k) if y_true.shape == (n, steps, k) else y_true.reshape(n * steps)
        return y_pred.reshape(n * steps, k), rows

    def backward(self):
        if self.from_logits:
            grad = namespace(self.log_p).exp(self.log_p) - self.y               # dL/dz = softmax(z) - y, then / N
        else:
            grad = -self.y / self.p                          # dL/dp = -y / p, then / N
        if getattr(self, "steps", None) is not None:         # the mean over T steps: / T, back to (N, T, K)
            grad = grad.reshape(-1, self.steps, grad.shape[1]) / self.steps
        return self.scale(grad)

    def get_config(self) -> dict:
        config = {**super().get_config(), "from_logits": self.from_logits}
        if self.label_smoothing:                   # written when set (files without it read as 0)
            config["label_smoothing"] = self.label_smoothing
        return config


SparseCategoricalCrossentropy = CategoricalCrossentropy
register(CategoricalCrossentropy, name="sparse_categorical_crossentropy")


@register
class CategoricalFocalCrossentropy(CategoricalCrossentropy):
    """loss_i = -sum_k alpha y_ik (1 - p_ik)^gamma log p_ik (Lin et al. 2017, Keras's defaults).

    The factor (1 - p)^gamma shrinks the loss of the samples already classified well, so training dwells on
    the hard ones; gamma = 0 and alpha = 1 give the categorical crossentropy. Targets are integer labels or
    one-hot (N, K) rows; ``label_smoothing`` s replaces them by y (1 - s) + s / K. Without logits p is the
    prediction divided by its sum and clipped to [1e-7, 1 - 1e-7] (as Keras); with logits p = softmax(z)
    and log p = log_softmax(z), exact at any logit (Keras clips there too, which differs below p = 1e-7).
    """
    name = "categorical_focal_crossentropy"

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, from_logits: bool = False,
                 label_smoothing: float = 0.0, reduction: str = "sum_over_batch_size"):
        super().__init__(from_logits, label_smoothing, reduction)
        self.alpha = check_number("alpha", alpha, "CategoricalFocalCrossentropy")
        self.gamma = check_number("gamma", gamma, "CategoricalFocalCrossentropy", 0)

    def forward(self, y_pred, y_true, sample_weight=None) -> float:
        if y_pred.ndim != 2:
            raise ValueError(f"{type(self).__name__} expected predictions of shape (N, classes), got {y_pred.shape}")
        xp = namespace(y_pred)
        y = self.one_hot(y_true, y_pred)
        self.y = y * (1 - self.label_smoothing) + self.label_smoothing / y.shape[1]
        if self.from_logits:
            self.p, log_p = softmax(y_pred), log_softmax(y_pred)
        else:
            self.total = xp.sum(y_pred, axis=1, keepdims=True)
            self.ratio = y_pred / self.total                     # r = p / sum(p), then clipped
            self.p = xp.clip(self.ratio, EPSILON, 1 - EPSILON)
            log_p = xp.log(self.p)
        self.log_p = log_p
        focal = (1 - self.p) ** self.gamma                       # (1 - p)^gamma
        return self.reduce(-self.alpha * xp.sum(self.y * focal * log_p, axis=1), sample_weight)

    def backward(self):
        xp = namespace(self.p)
        p, g = self.p, self.gamma
        rest = 1 - p                                             # (1 - p)^(gamma - 1), 0 where p = 1
        lower = xp.where(rest > 0, xp.where(rest > 0, rest, 1) ** (g - 1), 0) if g else 0 * p
        # a = p dL/dp = -alpha y ((1 - p)^gamma - gamma (1 - p)^(gamma - 1) p log p)
        a = -self.alpha * self.y * (rest ** g - g * lower * p * self.log_p)
        if self.from_logits:                                     # dL/dz = a - p sum_k a_k (softmax's Jacobian)
            grad = a - p * xp.sum(a, axis=1, keepdims=True)
        else:                                                    # dL/dr = a / p inside the clip, 0 outside;
            inside = (self.ratio > EPSILON) & (self.ratio < 1 - EPSILON)  # dL/dy = (dr - sum_k dr_k r_k) / sum
            grad_ratio = xp.where(inside, a / p, 0)
            grad = (grad_ratio - xp.sum(grad_ratio * self.ratio, axis=1, keepdims=True)) / self.total
        return self.scale(grad)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "gamma": self.gamma,
                "label_smoothing": self.label_smoothing}


@register
class Poisson(ElementwiseLoss):
    """loss = mean of y_pred - y_true log(y_pred + 1e-7): the negative log-likelihood of counts y_true
    under Poisson rates y_pred (up to a term without y_pred). Rates must be >= 0: end the model in a
    softplus or exp."""
    name = "poisson"

    def check(self, y_pred):
        if namespace(y_pred).any(y_pred < 0):
            raise ValueError(f"Poisson expected rates >= 0, got predictions down to {float(y_pred.min()):.4g}: end "
                             "the model in a non-negative activation (softplus, exp)")

    def fn(self, y_true, y_pred):
        return y_pred - y_true * namespace(y_pred).log(y_pred + EPSILON)

    def grad(self, y_true, y_pred):                              # d/dy_pred = 1 - y_true / (y_pred + 1e-7)
        return 1 - y_true / (y_pred + EPSILON)


@register
class KLDivergence(ElementwiseLoss):
    """loss_i = sum over the last axis of t log(t / p), t and p clipped to [1e-7, 1] (Keras's definition).

    The divergence of the predicted distribution p from the target one t (0 when they are equal).
    """
    name = "kl_divergence"
    sum_last_axis = True

    def fn(self, y_true, y_pred):
        xp = namespace(y_pred)
        t, p = xp.clip(y_true, EPSILON, 1), xp.clip(y_pred, EPSILON, 1)
        return t * xp.log(t / p)

    def grad(self, y_true, y_pred):                              # d/dp = -t / p inside the clip, 0 outside
        xp = namespace(y_pred)
        t = xp.clip(y_true, EPSILON, 1)
        return xp.where((y_pred > EPSILON) & (y_pred < 1), -t / xp.clip(y_pred, EPSILON, 1), 0)


register(KLDivergence, name="kld")
register(KLDivergence, name="kullback_leibler_divergence")
