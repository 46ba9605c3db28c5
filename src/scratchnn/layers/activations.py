"""Activation layers: each is an elementwise f(x) and its derivative, side by side.

Adding one is a class with two short methods and a line in ACTIVATIONS. The array module comes from the
input (``namespace``); the stable sigmoid / softmax and erf live in ``backend.special``.
"""
from __future__ import annotations

import math

from .. import initializers, regularizers
from ..backend import namespace
from ..backend.special import erf, log_softmax, sigmoid, softmax
from .base import LAYERS, Layer, check_positive_int, register, shape_str

__all__ = ["Elementwise", "Activation", "ACTIVATIONS", "ALIASES", "get", "sigmoid", "softmax", "log_softmax", "erf"]

_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)     # Python floats: they keep float32 arrays float32
_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


class Elementwise(Layer):
    """Base of elementwise activations: subclasses define fn(x) and grad(x, y, grad_out).

    ``keeps`` names what grad reads, the input "x" and/or the output "y": training keeps only those for
    backward (the other comes as None), so a ReLU after a Dense holds its output, which the next layer
    keeps anyway, and lets the Dense's output go."""

    keeps = ("x", "y")

    def forward(self, x, training=False):
        y = self.fn(x)
        self.remember(training, x if "x" in self.keeps else None, y if "y" in self.keeps else None)
        return y

    def backward(self, grad_out, input_grad=True):
        x, y = self.recall()
        return self.grad(x, y, grad_out)


@register
class Linear(Elementwise):
    keeps = ()

    def fn(self, x):
        return x                                    # y = x

    def grad(self, x, y, grad_out):
        return grad_out                             # dx = dy


@register
class Sigmoid(Elementwise):
    keeps = ("y",)

    def fn(self, x):
        return sigmoid(x)                           # y = 1 / (1 + e^-x)

    def grad(self, x, y, grad_out):
        return grad_out * y * (1 - y)               # dx = dy * y (1 - y)


@register
class Tanh(Elementwise):
    keeps = ("y",)

    def fn(self, x):
        return namespace(x).tanh(x)                           # y = tanh x

    def grad(self, x, y, grad_out):
        return grad_out * (1 - y * y)               # dx = dy * (1 - y^2)


@register
class ReLU(Elementwise):
    """The workhorse of convolutional networks. (A threaded kernel for its two passes measured no gain end
    to end, 0.96-0.99x the time without it in benchmarks/kernels.py's networks, and was removed.)"""

    keeps = ("y",)

    def fn(self, x):
        return namespace(x).maximum(x, 0)           # y = max(x, 0)

    def grad(self, x, y, grad_out):
        xp = namespace(y)
        dx = xp.greater(y, 0, out=xp.empty_like(grad_out))    # [x > 0] as 1.0 or 0.0 (y > 0 where x > 0),
        dx *= grad_out                                          # written as floats: no mask array
        return dx                                               # dx = dy * [x > 0]


@register
class LeakyReLU(Elementwise):
    keeps = ("x",)

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
class ELU(Elementwise):
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
class GELU(Elementwise):
    """x * Phi(x) with Phi the standard normal CDF; approximate=True uses the tanh formula."""

    keeps = ("x",)

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
class Softplus(Elementwise):
    keeps = ("x",)

    def fn(self, x):
        xp = namespace(x)
        return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))   # y = log(1 + e^x), stable

    def grad(self, x, y, grad_out):
        return grad_out * sigmoid(x)                # dx = dy * sigmoid(x)


@register
class Softmax(Elementwise):
    """y_i = exp(x_i) / sum_j exp(x_j) over the last axis."""

    keeps = ("y",)

    def fn(self, x):
        return softmax(x)

    def grad(self, x, y, grad_out):                 # dx = y * (dy - sum(dy * y))
        return y * (grad_out - namespace(y).sum(grad_out * y, axis=-1, keepdims=True))


# SELU's constants (Klambauer et al. 2017), as Keras and PyTorch write them
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


@register
class SELU(Elementwise):
    """y = scale * x for x > 0, scale * alpha * (e^x - 1) otherwise (self-normalising; lecun_normal weights)."""

    def fn(self, x):
        xp = namespace(x)
        return SELU_SCALE * xp.where(x > 0, x, SELU_ALPHA * xp.expm1(xp.minimum(x, 0)))

    def grad(self, x, y, grad_out):                 # dx = dy * scale, x > 0;  dy * (y + scale alpha), x <= 0
        return namespace(x).where(x > 0, SELU_SCALE * grad_out, grad_out * (y + SELU_SCALE * SELU_ALPHA))


@register
class SiLU(Elementwise):
    """y = x * sigmoid(x) (also called Swish)."""

    keeps = ("x",)

    def fn(self, x):
        return x * sigmoid(x)

    def grad(self, x, y, grad_out):                 # dx = dy * s (1 + x (1 - s)), s = sigmoid(x)
        s = sigmoid(x)
        return grad_out * s * (1 + x * (1 - s))


Swish = SiLU


@register
class ReLU6(Elementwise):
    """y = min(max(x, 0), 6)."""

    keeps = ("x",)

    def fn(self, x):
        return namespace(x).clip(x, 0, 6)

    def grad(self, x, y, grad_out):
        return grad_out * ((x > 0) & (x < 6))       # dx = dy * [0 < x < 6]


@register
class HardSigmoid(Elementwise):
    """y = relu6(x + 3) / 6 = clip(x / 6 + 1/2, 0, 1) (Keras 3's and PyTorch's definition)."""

    keeps = ("x",)

    def fn(self, x):
        return namespace(x).clip(x + 3, 0, 6) / 6

    def grad(self, x, y, grad_out):
        return grad_out * ((x > -3) & (x < 3)) / 6  # dx = dy / 6 * [-3 < x < 3]


@register
class Mish(Elementwise):
    """y = x * tanh(softplus(x)) (Misra 2019), softplus(x) = log(1 + e^x) computed without overflow."""

    keeps = ("x",)

    def fn(self, x):
        xp = namespace(x)
        return x * xp.tanh(xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x))))

    def grad(self, x, y, grad_out):                 # dx = dy (t + x (1 - t^2) sigmoid(x)), t = tanh(softplus(x))
        xp = namespace(x)
        t = xp.tanh(xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x))))
        return grad_out * (t + x * (1 - t * t) * sigmoid(x))


@register
class PReLU(Elementwise):
    """y = x for x > 0, alpha * x otherwise, with alpha learned (He et al. 2015).

    Args:
        alpha_initializer: name or Initializer for alpha (default "zeros": the layer starts as a ReLU).
        alpha_regularizer: optional penalty on alpha.
        shared_axes: input axes (1 is the first after the batch) along which one alpha is shared; images
            (N, H, W, C) with shared_axes=[1, 2] learn one alpha per channel, as in the paper.

    Shapes: alpha has the input's shape without the batch, 1 along the shared axes.
    """

    keeps = ("x",)

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, shared_axes=None, name=None, dtype=None,
                 trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        self.alpha_initializer = initializers.get(alpha_initializer)
        if alpha_regularizer is not None:
            self.regularizers = {"alpha": regularizers.get(alpha_regularizer)}
        axes = [shared_axes] if isinstance(shared_axes, int) else list(shared_axes or [])
        for axis in axes:
            check_positive_int("shared_axes", axis, "PReLU")
        self.shared_axes = sorted(set(int(a) for a in axes))

    def build(self, input_shape, rng=None):
        super().build(input_shape, rng)
        if any(axis > len(input_shape) for axis in self.shared_axes):
            raise ValueError(f"PReLU: shared_axes {self.shared_axes} do not fit inputs {shape_str(input_shape)} "
                             f"(axis 1 is the first after the batch, {len(input_shape)} the last)")
        shape = tuple(1 if i + 1 in self.shared_axes else d for i, d in enumerate(input_shape))
        self.add_param("alpha", self.alpha_initializer(shape, self.rng, self.dtype))
        return self.output_shape

    def fn(self, x):
        return namespace(x).where(x > 0, x, self.params["alpha"] * x)     # y = max(x, 0) + alpha min(x, 0)

    def backward(self, grad_out, input_grad=True):
        x, y = self.recall()
        xp = namespace(x)
        summed = (0, *self.shared_axes)                                     # the batch and the shared axes
        self.accumulate("alpha", xp.sum(grad_out * xp.minimum(x, 0), axis=summed, keepdims=True)[0])
        if not input_grad:                                                  # dalpha = sum dy * min(x, 0)
            return None
        return xp.where(x > 0, grad_out, self.params["alpha"] * grad_out)  # dx = dy * (1 if x > 0 else alpha)

    def get_config(self):
        config = {**super().get_config(), "alpha_initializer": initializers.serialize(self.alpha_initializer),
                  "shared_axes": self.shared_axes or None}
        if self.regularizers:
            config["alpha_regularizer"] = regularizers.serialize(self.regularizers["alpha"])
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["alpha_initializer"] = initializers.deserialize(config.get("alpha_initializer", "zeros"))
        if config.get("alpha_regularizer") is not None:
            config["alpha_regularizer"] = regularizers.deserialize(config["alpha_regularizer"])
        return cls(**config)


ACTIVATIONS = {
    "linear": Linear, "sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU, "leaky_relu": LeakyReLU,
    "elu": ELU, "gelu": GELU, "softplus": Softplus, "softmax": Softmax,
    "selu": SELU, "silu": SiLU, "relu6": ReLU6, "hard_sigmoid": HardSigmoid, "mish": Mish,
}
ALIASES = {"swish": "silu"}                         # other names of the same function (Keras accepts both)


def _by_name(name):
    key = ALIASES.get(name.lower(), name.lower())
    if key not in ACTIVATIONS:
        raise ValueError(f"Unknown activation {name!r}; valid names: {sorted({*ACTIVATIONS, *ALIASES})}")
    return ACTIVATIONS[key]


def _elementwise_classes():
    return {name: cls for name, cls in LAYERS.items() if isinstance(cls, type) and issubclass(cls, Elementwise)}


def get(identifier):
    """An activation layer from a name ("relu", "swish"), a class, a config dict, or a layer instance."""
    if isinstance(identifier, Layer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Layer):
        return identifier()
    if isinstance(identifier, str):
        return _by_name(identifier)()
    if isinstance(identifier, dict) and identifier.get("class_name") in _elementwise_classes():
        return _elementwise_classes()[identifier["class_name"]].from_config(identifier.get("config", {}))
    raise ValueError(f"Unknown activation {identifier!r}; valid names: {sorted({*ACTIVATIONS, *ALIASES})}")


@register
class Activation(Elementwise):
    """An activation by name, as a layer of its own: ``Activation("relu")`` (Keras's Activation layer).

    It computes what the named layer computes (``Activation("swish")`` is ``SiLU()``); its config keeps the
    name. Activations with weights (PReLU) are layers of their own and are refused here.
    """

    def __init__(self, activation, name=None, dtype=None, trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        if not isinstance(activation, str):
            raise ValueError(f"Activation: activation must be a name such as 'relu', got {activation!r}")
        self.function_name = activation             # not "activation": Sequential splits that attribute off
        self.function = _by_name(activation)()
        self.keeps = self.function.keeps

    def build(self, input_shape, rng=None):
        output_shape = super().build(input_shape, rng)
        self.function.dtype = self.dtype
        self.function.build(input_shape, self.rng)                  # (its ONNX form may read its shapes)
        return output_shape

    def fn(self, x):
        return self.function.fn(x)

    def grad(self, x, y, grad_out):
        return self.function.grad(x, y, grad_out)

    def get_config(self):
        return {**super().get_config(), "activation": self.function_name}
