"""Activation layers: each is an elementwise f(x) and its derivative, side by side.

Adding one is a class with two short methods and a line in ACTIVATIONS.
"""
import math

import numpy as np

from .base import Layer, register


def sigmoid(x):
    """1 / (1 + exp(-x)) without overflow: exp is only taken of -|x|."""
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1, z) / (1 + z)


def softmax(x, axis=-1):
    shifted = x - x.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    """x - logsumexp(x), computed with the max subtracted first so it never overflows."""
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


_erf = np.vectorize(math.erf, otypes=[float])


class Activation(Layer):
    """Base of elementwise activations: subclasses define fn(x) and grad(x, y, grad_out)."""

    def forward(self, x, training=False):
        y = self.fn(x)
        self.cache = {"x": x, "y": y}
        return y

    def backward(self, grad_out, input_grad=True):
        return self.grad(self.cache["x"], self.cache["y"], grad_out)


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
        return np.tanh(x)                           # y = tanh x

    def grad(self, x, y, grad_out):
        return grad_out * (1 - y * y)               # dx = dy * (1 - y^2)


@register
class ReLU(Activation):
    def fn(self, x):
        return np.maximum(x, 0)                     # y = max(x, 0)

    def grad(self, x, y, grad_out):
        return grad_out * (y > 0)                   # dx = dy * [x > 0]


@register
class LeakyReLU(Activation):
    def __init__(self, alpha=0.3, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def fn(self, x):
        return np.where(x > 0, x, self.alpha * x)   # y = x if x > 0 else alpha x

    def grad(self, x, y, grad_out):
        return np.where(x > 0, grad_out, self.alpha * grad_out)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


@register
class ELU(Activation):
    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def fn(self, x):
        return np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0)))   # y = alpha (e^x - 1), x <= 0

    def grad(self, x, y, grad_out):
        return np.where(x > 0, grad_out, grad_out * (y + self.alpha))      # dx = dy (y + alpha), x <= 0

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


@register
class GELU(Activation):
    """x * Phi(x) with Phi the standard normal CDF; approximate=True uses the tanh formula."""

    def __init__(self, approximate=False, **kwargs):
        super().__init__(**kwargs)
        self.approximate = bool(approximate)

    def fn(self, x):
        if self.approximate:                        # y = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
            return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
        return (0.5 * x * (1 + _erf(x / np.sqrt(2)))).astype(x.dtype)   # y = x Phi(x)

    def grad(self, x, y, grad_out):
        if self.approximate:
            inner = np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)
            t = np.tanh(inner)
            d_inner = np.sqrt(2 / np.pi) * (1 + 3 * 0.044715 * x ** 2)
            return grad_out * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * d_inner)
        cdf = 0.5 * (1 + _erf(x / np.sqrt(2)))
        pdf = np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)
        return (grad_out * (cdf + x * pdf)).astype(x.dtype)               # dx = dy (Phi(x) + x phi(x))

    def get_config(self):
        return {**super().get_config(), "approximate": self.approximate}


@register
class Softplus(Activation):
    def fn(self, x):
        return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))   # y = log(1 + e^x), stable

    def grad(self, x, y, grad_out):
        return grad_out * sigmoid(x)                # dx = dy * sigmoid(x)


@register
class Softmax(Activation):
    """y_i = exp(x_i) / sum_j exp(x_j) over the last axis."""

    def fn(self, x):
        return softmax(x)

    def grad(self, x, y, grad_out):                 # dx = y * (dy - sum(dy * y))
        return y * (grad_out - (grad_out * y).sum(axis=-1, keepdims=True))


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
    raise ValueError(f"Unknown activation {identifier!r}; valid names: {sorted(ACTIVATIONS)}")
