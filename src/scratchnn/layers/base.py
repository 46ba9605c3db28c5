"""The Layer base class: the contract every layer follows (seed 004's idea, made exact)."""
import numpy as np

from .. import backend, initializers, regularizers

LAYERS = {}


def register(cls):
    """Class decorator: make a layer known by its class name (for configs and model files)."""
    LAYERS[cls.__name__] = cls
    return cls


def check_positive_int(name, value, owner):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{owner}: {name} must be a positive integer, got {value!r}")
    return int(value)


def shape_str(shape):
    return "(" + ", ".join(["N", *map(str, shape)]) + ")"


class Layer:
    """One operation of a network that passes dE/dX back.

    params  trainable arrays by name ("kernel", "bias"); grads holds dLoss/dparam with the same keys.
    buffers non-trainable arrays saved with the model (BatchNorm's moving statistics).
    build(input_shape, rng) -> output_shape   shapes exclude the batch axis; called once, lazily.
    forward(x, training=False) -> y            keeps in self.cache what backward needs.
    backward(grad_out, input_grad=True) -> grad_input
        fills self.grads (summed over the batch) and returns dLoss/dx; a layer may skip that last
        product and return None when input_grad is False (the first layer of a network).
    """

    def __init__(self, name=None, dtype=None):
        self.name = name
        self.dtype = None if dtype is None else backend.as_dtype(dtype)
        self.params = {}
        self.grads = {}
        self.buffers = {}
        self.cache = {}
        self.regularizers = {}
        self.built = False
        self.input_shape = None
        self.output_shape = None

    def __call__(self, x, training=False):
        if not self.built:
            self.build(tuple(np.shape(x)[1:]), backend.make_rng(None))
        return self.forward(x, training=training)

    def build(self, input_shape, rng=None):
        """Create the parameters for inputs of shape (N, *input_shape); return the output shape."""
        self.input_shape = tuple(input_shape)
        self.output_shape = self.compute_output_shape(self.input_shape)
        if self.dtype is None:
            self.dtype = backend.floatx()
        self.rng = backend.make_rng(rng)
        self.built = True
        return self.output_shape

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def add_param(self, name, value):
        """Register a trainable array and its gradient buffer."""
        self.params[name] = np.ascontiguousarray(value, dtype=self.dtype)
        self.grads[name] = np.zeros_like(self.params[name])

    def forward(self, x, training=False):
        raise NotImplementedError

    def backward(self, grad_out, input_grad=True):
        raise NotImplementedError

    def clear_cache(self):
        self.cache = {}

    def check_input(self, x):
        """Raise a clear error when x does not fit the shape this layer was built for."""
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"{self.describe()} expected input of shape {shape_str(self.input_shape)}, "
                             f"got {shape_str(x.shape[1:])}{self.shape_hint(x.shape[1:])}")

    def shape_hint(self, got):
        return ""

    def describe(self):
        return f"{type(self).__name__}" + (f" '{self.name}'" if self.name else "")

    def regularization_loss(self):
        """Sum of the penalties on this layer's parameters (0.0 without regularizers)."""
        return float(sum(reg(self.params[name]) for name, reg in self.regularizers.items()))

    def add_regularization_grads(self):
        for name, reg in self.regularizers.items():
            self.grads[name] += reg.gradient(self.params[name])

    def count_params(self):
        return int(sum(p.size for p in self.params.values()))

    def get_config(self):
        """The constructor arguments that rebuild this layer (JSON-serialisable)."""
        return {"name": self.name, "dtype": None if self.dtype is None else self.dtype.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k not in ("name", "dtype"))
        return f"{type(self).__name__}({args})"


class KernelLayer(Layer):
    """Base of the layers with a kernel and an optional bias (Dense, Conv2D): their shared arguments."""

    def __init__(self, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.activation = activation
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        if kernel_regularizer is not None:
            self.regularizers = {"kernel": regularizers.get(kernel_regularizer)}

    def add_kernel_and_bias(self, kernel_shape):
        """Draw the kernel (and the bias, one per output unit = the kernel's last axis)."""
        self.add_param("kernel", self.kernel_initializer(kernel_shape, self.rng, self.dtype))
        if self.use_bias:
            self.add_param("bias", self.bias_initializer((kernel_shape[-1],), self.rng, self.dtype))

    def get_config(self):
        config = {**super().get_config(), "use_bias": self.use_bias,
                  "kernel_initializer": initializers.serialize(self.kernel_initializer),
                  "bias_initializer": initializers.serialize(self.bias_initializer)}
        if self.regularizers:
            config["kernel_regularizer"] = regularizers.serialize(self.regularizers["kernel"])
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("kernel_initializer", "bias_initializer"):
            if key in config:
                config[key] = initializers.deserialize(config[key])
        if config.get("kernel_regularizer") is not None:
            config["kernel_regularizer"] = regularizers.deserialize(config["kernel_regularizer"])
        return cls(**config)
