"""Activation layers: each is an elementwise f(x) and its derivative, side by side.

Adding one is a class with two short methods and a line in ACTIVATIONS. The array module comes from the
input (``namespace``); the stable sigmoid / softmax and erf live in ``backend.special``.
"""
from __future__ import annotations

import math

from ..backend import namespace
from ..backend.special import erf, log_softmax, sigmoid, softmax
from .base import Layer, register

__all__ = ["Activation", "ACTIVATIONS", "get", "sigmoid", "softmax", "log_softmax", "erf"]

_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)     # Python floats: they keep float32 arrays float32
_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


class Activation(Layer):
    """Base of elementwise activations: subclasses define fn(x) and grad(x, y, grad_out)."""

    def forward(self, x, training=False):
        y = self.fn(x)
        self.remember(training, x, y)
        return y

    def backward(self, grad_out, input_grad=True):
        x, y = self.recall()
        return self.grad(x, y, grad_out)


@register
class Linear(Activation):
    def fn(self, x):
        return x                                    # y = x

    def grad(self, x, y, grad_out):
        return grad_out                             # dx = dy


@register
class Sigmoid(Activation):
    def fn(self, x):
        return sigmoid(x)                           # y = 1 / (1 + e^-x)

    def grad(self, x, y, grad_out):
        return grad_out * y * (1 - y)               # dx = dy * y (1 - y)


@register
class Tanh(Activation):
    def fn(self, x):
        return namespace(x).tanh(x)                           # y = tanh x

    def grad(self, x, y, grad_out):
        return grad_out * (1 - y * y)               # dx = dy * (1 - y^2)


@register
class ReLU(Activation):
    """The workhorse of convolutional networks. (A threaded kernel for its two passes measured no gain end
    to end, 0.96-0.99x the time without it in benchmarks/kernels.py's networks, and was removed.)"""

    def fn(self, x):
        return namespace(x).maximum(x, 0)           # y = max(x, 0)

    def grad(self, x, y, grad_out):
        return grad_out * (y > 0)                   # dx = dy * [x > 0]


@register
class LeakyReLU(Activation):
    def __init__(self, alpha=0.3, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def fn(self, x):
        return namespace(x).where(x > 0, x, self.alpha * x)   # y = x if x > 0 else alpha x

    def grad(self, x, y, grad_out):
        return namespace(x).where(x > 0, grad_out, self.alpha * grad_out)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


@register
class ELU(Activation):
    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def fn(self, x):
        xp = namespace(x)
        return xp.where(x > 0, x, self.alpha * xp.expm1(xp.minimum(x, 0)))   # y = alpha (e^x - 1), x <= 0

    def grad(self, x, y, grad_out):
        return namespace(x).where(x > 0, grad_out, grad_out * (y + self.alpha))      # dx = dy (y + alpha), x <= 0

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


@register
class GELU(Activation):
    """x * Phi(x) with Phi the standard normal CDF; approximate=True uses the tanh formula."""

    def __init__(self, approximate=False, **kwargs):
        super().__init__(**kwargs)
        self.approximate = bool(approximate)

    def fn(self, x):
        xp = namespace(x)
        if self.approximate:                        # y = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
            return 0.5 * x * (1 + xp.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x ** 3)))
        return (0.5 * x * (1 + erf(x * _SQRT_HALF))).astype(x.dtype)    # y = x Phi(x)

    def grad(self, x, y, grad_out):
        xp = namespace(x)
        if self.approximate:
            inner = _SQRT_2_OVER_PI * (x + 0.044715 * x ** 3)
            t = xp.tanh(inner)
            d_inner = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x ** 2)
            return grad_out * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * d_inner)
        cdf = 0.5 * (1 + erf(x * _SQRT_HALF))
        pdf = xp.exp(-0.5 * x * x) * _INV_SQRT_2PI
        return (grad_out * (cdf + x * pdf)).astype(x.dtype)               # dx = dy (Phi(x) + x phi(x))

    def get_config(self):
        return {**super().get_config(), "approximate": self.approximate}


@register
class Softplus(Activation):
    def fn(self, x):
        xp = namespace(x)
        return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))   # y = log(1 + e^x), stable

    def grad(self, x, y, grad_out):
        return grad_out * sigmoid(x)                # dx = dy * sigmoid(x)


@register
class Softmax(Activation):
    """y_i = exp(x_i) / sum_j exp(x_j) over the last axis."""

    def fn(self, x):
        return softmax(x)

    def grad(self, x, y, grad_out):                 # dx = y * (dy - sum(dy * y))
        return y * (grad_out - namespace(y).sum(grad_out * y, axis=-1, keepdims=True))


ACTIVATIONS = {
    "linear": Linear, "sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU, "leaky_relu": LeakyReLU,
    "elu": ELU, "gelu": GELU, "softplus": Softplus, "softmax": Softmax,
}


def get(identifier):
    """An activation layer from a name ("relu"), a class, or a layer instance."""
    if isinstance(identifier, Layer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Layer):
        return identifier()
    if isinstance(identifier, str) and identifier.lower() in ACTIVATIONS:
        return ACTIVATIONS[identifier.lower()]()
    if isinstance(identifier, dict) and identifier.get("class_name") in {c.__name__ for c in ACTIVATIONS.values()}:
        classes = {c.__name__: c for c in ACTIVATIONS.values()}
        return classes[identifier["class_name"]](**identifier.get("config", {}))
    raise ValueError(f"Unknown activation {identifier!r}; valid names: {sorted(ACTIVATIONS)}")
