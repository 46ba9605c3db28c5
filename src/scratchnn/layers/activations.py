"""Activation layers: each is an elementwise f(x) and its derivative, side by side.

Adding one is a class with two short methods and a line in ACTIVATIONS.
"""
import math

import numpy as np

from .. import backend
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


# W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 1969: three
# rational approximations (|x| <= 0.46875, <= 4, > 4) accurate to double precision.
_ERF_A = (3.1611237438705656, 113.864154151050156, 377.485237685302021, 3209.37758913846947, 0.185777706184603153)
_ERF_B = (23.6012909523441209, 244.024637934444173, 1282.61652607737228, 2844.23683343917062)
_ERFC_C = (0.564188496988670089, 8.88314979438837594, 66.1191906371416295, 298.635138197400131,
           881.95222124176909, 1712.04761263407058, 2051.07837782607147, 1230.33935479799725,
           2.15311535474403846e-8)
_ERFC_D = (15.7449261107098347, 117.693950891312499, 537.181101862009858, 1621.38957456669019,
           3290.79923573345963, 4362.61909014324716, 3439.36767414372164, 1230.33935480374942)
_ERFC_P = (0.305326634961232344, 0.360344899949804439, 0.125781726111229246, 0.0160837851487422766,
           6.58749161529837803e-4, 0.0163153871373020978)
_ERFC_Q = (2.56852019228982242, 1.87295284992346047, 0.527905102951428412, 0.0605183413124413191,
           0.00233520497626869185)


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)     # Python floats: they keep float32 arrays float32
_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


def _rational(t, num_coeffs, den_coeffs, steps):
    """Cody's nested evaluation: (((c[-1] t + c0) t + c1) t ...) / (((t + d0) t + d1) t ...)."""
    num, den = num_coeffs[-1] * t, t
    for i in range(steps):
        num, den = (num + num_coeffs[i]) * t, (den + den_coeffs[i]) * t
    return (num + num_coeffs[steps]) / (den + den_coeffs[steps])


def _exp_minus_square(y):
    """exp(-y^2) with y^2 split as (y16^2 + (y - y16)(y + y16)), y16 = y rounded down to 1/16, as Cody does."""
    y16 = np.trunc(y * 16) / 16
    return np.exp(-y16 * y16) * np.exp(-(y - y16) * (y + y16))


def erf(x):
    """The error function of every element, vectorised, accurate to double precision."""
    y = np.abs(np.asarray(x, dtype=np.float64))
    result = np.ones_like(y)
    small, large = y <= 0.46875, y > 4
    middle = ~small & ~large
    ys = y[small]
    result[small] = ys * _rational(ys * ys, _ERF_A, _ERF_B, 3)
    ym = y[middle]
    result[middle] = 1 - _exp_minus_square(ym) * _rational(ym, _ERFC_C, _ERFC_D, 7)
    yl = y[large]
    inv_square = 1 / (yl * yl)
    tail = (1 / math.sqrt(math.pi) - inv_square * _rational(inv_square, _ERFC_P, _ERFC_Q, 4)) / yl
    result[large] = 1 - _exp_minus_square(yl) * tail
    return np.copysign(result, x)


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
    """The workhorse of convolutional networks: its two passes are split over threads on large batches."""

    def fn(self, x):
        y = np.empty_like(x)
        backend.parallel_rows(lambda rows: np.maximum(x[rows], 0, out=y[rows]), len(x), x.size)
        return y                                    # y = max(x, 0)

    def grad(self, x, y, grad_out):
        grad_in = np.empty_like(grad_out)
        backend.parallel_rows(lambda rows: np.multiply(grad_out[rows], y[rows] > 0, out=grad_in[rows]),
                              len(grad_out), grad_out.size)
        return grad_in                              # dx = dy * [x > 0]


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
            return 0.5 * x * (1 + np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x ** 3)))
        return (0.5 * x * (1 + erf(x * _SQRT_HALF))).astype(x.dtype)    # y = x Phi(x)

    def grad(self, x, y, grad_out):
        if self.approximate:
            inner = _SQRT_2_OVER_PI * (x + 0.044715 * x ** 3)
            t = np.tanh(inner)
            d_inner = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x ** 2)
            return grad_out * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * d_inner)
        cdf = 0.5 * (1 + erf(x * _SQRT_HALF))
        pdf = np.exp(-0.5 * x * x) * _INV_SQRT_2PI
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
