"""The Layer base class: the contract every layer follows (seed 004's idea, made exact).

A layer maps x to y in ``forward`` and dLoss/dy to dLoss/dx in ``backward``. What backward needs is saved
per call on a tape (last in, first out), and parameter gradients are ADDED into ``grads``: a layer applied
twice (shared weights, a loop over time steps, a graph) gets the sum of both gradients, as micrograd's
``+=`` does. The trainer zeroes the gradients once per step (``zero_grad``).
"""
from __future__ import annotations

import contextlib
import contextvars
import re
import threading
from collections.abc import Iterator
from typing import Any

from .. import backend, initializers, regularizers
from ..registry import LAYERS, register_layer
from ..validation import check_positive_int

Shape = tuple[int, ...]
register = register_layer                     # @register: known by class name in configs and files

__all__ = ["Layer", "KernelLayer", "LAYERS", "register", "recording", "reset_names", "shape_str",
           "check_positive_int"]

# None: a forward records for backward exactly when training; recording(True / False) overrides that
# (gradient explanations record in inference mode; finite differences evaluate without recording).
_recording: contextvars.ContextVar[bool | None] = contextvars.ContextVar("scratchnn_recording", default=None)


@contextlib.contextmanager
def recording(enabled: bool) -> Iterator[None]:
    """Inside this context every forward records (True) or does not record (False) for backward."""
    token = _recording.set(bool(enabled))
    try:
        yield
    finally:
        _recording.reset(token)


_name_counts: dict[str, int] = {}
_name_lock = threading.Lock()


def snake_case(name: str) -> str:
    """Keras's layer names from class names: Dense -> dense, MaxPooling2D -> max_pooling2d, ReLU -> re_lu."""
    name = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base: str) -> str:
    """base, then base_1, base_2, ... (per type, for the whole session, as Keras names its layers)."""
    with _name_lock:
        count = _name_counts.get(base, 0)
        _name_counts[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def reset_names() -> None:
    """Start the automatic names again from ``dense``, ``conv2d``, ... (Keras's ``clear_session``)."""
    with _name_lock:
        _name_counts.clear()


def shape_str(shape: Shape) -> str:
    return "(" + ", ".join(["N", *map(str, shape)]) + ")"


class Layer:
    """One operation of a network that passes dE/dX back.

    params    trainable arrays by Keras name ("kernel", "bias"); ``grads`` has the same keys and shapes.
    buffers   arrays saved with the model but not trained (BatchNormalization's moving statistics).
    trainable False: the trainer leaves ``params`` alone and summary() counts them as non-trainable.
    build(input_shape, rng) -> output_shape   shapes exclude the batch axis; called once, lazily.
    forward(x, training=False) -> y
        when training (or inside ``recording(True)``) pushes onto the tape what backward needs.
    backward(grad_out, input_grad=True) -> grad_input
        pops the last recorded call, ADDS dLoss/dparam (summed over the batch) into ``grads`` and
        returns dLoss/dx; it may skip that product and return None when input_grad is False.
    """

    #: what the layer takes: "float" inputs are cast to the layer's dtype once; "int" keeps integer ids
    input_kind = "float"
    #: True for a layer called on a list of inputs (the merge layers: forward(list), backward -> list)
    multiple_inputs = False
    #: the axes of one sample the layer takes, when it takes one layout only: 3 for images (H, W, C), 2 for
    #: sequences (T, features); None for any
    sample_rank: int | None = None

    def __new__(cls, *args, **kwargs):
        if "input_shape" in kwargs or "batch_input_shape" in kwargs:     # Keras's Dense(4, input_shape=(8,))
            shape = kwargs.get("input_shape", kwargs.get("batch_input_shape"))
            raise TypeError(f"{cls.__name__}: input_shape belongs to the model here, not to a layer: "
                            f"Sequential([...], input_shape={shape!r}), or scratchnn.Input(shape={shape!r}) "
                            "for a functional Model")
        return super().__new__(cls)

    def __init__(self, name: str | None = None, dtype=None, trainable: bool = True):
        self.name = name if name is not None else unique_name(snake_case(type(self).__name__))
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"{type(self).__name__}: name must be a non-empty string, got {name!r}")
        self.dtype = None if dtype is None else backend.as_dtype(dtype)
        self.trainable = bool(trainable)
        self.params: dict[str, Any] = {}
        self.grads: dict[str, Any] = {}
        self.buffers: dict[str, Any] = {}
        self.tape: list[Any] = []
        self.regularizers: dict[str, Any] = {}
        self.built = False
        self.input_shape: Shape | None = None
        self.output_shape: Shape | None = None

    def __call__(self, x, training: bool = False):
        """Build on the first call (from x's shape), then forward: ``Dense(3)(x)``.

        Called on a symbolic tensor (``scratchnn.Input``, or a layer's output in a functional model), it
        computes nothing: it records the call and returns the symbolic output (models/graph.py)."""
        if getattr(x, "is_symbolic", False) or isinstance(x, (list, tuple)):
            from ..models import graph
            if graph.is_symbolic(x):
                return graph.call_layer(self, x)
        if not self.built:
            self.build(tuple(x.shape[1:]), backend.make_rng(None))
        return self.forward(x, training=training)

    def build(self, input_shape: Shape, rng=None) -> Shape:
        """Create the parameters for inputs of shape (N, *input_shape); return the output shape."""
        self.input_shape = tuple(int(d) for d in input_shape)
        self.output_shape = tuple(self.compute_output_shape(self.input_shape))
        if self.dtype is None:
            self.dtype = backend.floatx()
        self.rng = backend.make_rng(rng)
        self.built = True
        return self.output_shape

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def add_param(self, name: str, value) -> None:
        """Register a trainable array and its gradient (zeros of the same shape)."""
        self.params[name] = backend.host.ascontiguousarray(value, dtype=self.dtype)     # built on the host
        self.grads[name] = backend.host.zeros_like(self.params[name])

    def forward(self, x, training: bool = False):
        raise NotImplementedError

    def backward(self, grad_out, input_grad: bool = True):
        raise NotImplementedError

    # ---- the tape ------------------------------------------------------------------------------
    def records(self, training: bool) -> bool:
        """Whether a call with this ``training`` records for backward: training, unless inside recording(...),
        which decides."""
        flag = _recording.get()
        return training if flag is None else flag

    def remember(self, training: bool, *saved) -> None:
        """Push what backward will need, if this call records (see records)."""
        if self.records(training):
            self.tape.append(saved)

    def recall(self) -> tuple:
        """Pop what the last recorded forward saved (backward runs calls in reverse order)."""
        if not self.tape:
            raise RuntimeError(f"{self.describe()}: backward() without a recorded forward: call "
                               "forward(x, training=True) first (inference calls record nothing)")
        return self.tape.pop()

    def clear_cache(self) -> None:
        """Empty the tape (forward calls whose backward never ran)."""
        self.tape.clear()

    def zero_grad(self) -> None:
        """grads = 0 (micrograd's ``p.grad = 0``); the trainer does this once per step.

        Each gradient becomes a read-only view of one zero (no pass over memory); the first gradient
        added after it is kept as it comes (0 + g is g), later ones are added to it."""
        for name, grad in self.grads.items():
            xp = backend.namespace(grad)
            self.grads[name] = xp.broadcast_to(xp.zeros((), dtype=grad.dtype), grad.shape)
        self._zeroed = set(self.grads)

    def accumulate(self, name: str, value) -> None:
        """grads[name] += value (a layer used twice gets the sum of its gradients)."""
        grad = self.grads[name]
        zeroed = getattr(self, "_zeroed", set())
        if name not in zeroed:
            grad += value
            return
        zeroed.discard(name)
        if value.shape == grad.shape and value.dtype == grad.dtype and value.flags.c_contiguous \
                and getattr(value.flags, "writeable", True):            # CuPy's flags have no writeable
            self.grads[name] = value                                    # 0 + g = g, kept as it is
        else:
            self.grads[name] = backend.namespace(value).asarray(value + grad, dtype=grad.dtype)

    def settle_grads(self) -> None:
        """Make the gradients no backward wrote since zero_grad() writable zeros (the trainer calls this
        before an optimizer step, which may clip gradients in place)."""
        for name in getattr(self, "_zeroed", set()):
            grad = self.grads[name]
            self.grads[name] = backend.namespace(grad).zeros(grad.shape, dtype=grad.dtype)
        self._zeroed = set()

    def to_device(self, move, moved: dict | None = None) -> None:
        """Replace the params, grads and buffers (and those of inner layers) by ``move(array)``: the same
        values on another device (``model.to``). The tape is emptied; an array two layers share (a wrapper
        and its inner layer) stays one array. ``moved`` maps id(original) -> (original, moved)."""
        moved = {} if moved is None else moved
        if id(self) in moved:
            return
        moved[id(self)] = (self, self)
        self.clear_cache()
        for kind in ("params", "grads", "buffers"):
            arrays = vars(self).get(kind)
            if type(arrays) is dict:                            # a joined view (Residual) is its inner layers'
                for name, array in arrays.items():
                    if id(array) not in moved:
                        moved[id(array)] = (array, move(array))
                    arrays[name] = moved[id(array)][1]
        for value in vars(self).values():                        # inner layers: one, a list, or a dict of them
            if isinstance(value, dict):
                value = list(value.values())
            for layer in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(layer, Layer):
                    layer.to_device(move, moved)

    # ---- checks and description ----------------------------------------------------------------
    def check_input(self, x) -> None:
        """Raise a clear error when x does not fit the shape this layer was built for."""
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"{self.describe()} expected input of shape {shape_str(self.input_shape)}, "
                             f"got {shape_str(x.shape[1:])}{self.shape_hint(x.shape[1:])}")

    def shape_hint(self, got: Shape) -> str:
        return ""

    def describe(self) -> str:
        return f"{type(self).__name__} '{self.name}'"

    def regularization_loss(self) -> float:
        """Sum of the penalties on this layer's parameters (0.0 without regularizers)."""
        return float(sum(reg(self.params[name]) for name, reg in self.regularizers.items()))

    def add_regularization_grads(self) -> None:
        for name, reg in self.regularizers.items():
            self.accumulate(name, reg.gradient(self.params[name]))

    def count_params(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    # ---- weights and config --------------------------------------------------------------------
    def get_weights(self) -> list:
        """Copies of the parameters, then the buffers, in their order (Keras's layer.get_weights())."""
        return [backend.to_numpy(a).copy() for a in (*self.params.values(), *self.buffers.values())]

    def set_weights(self, weights) -> None:
        """Write arrays of the shapes get_weights() returns into the parameters and buffers."""
        targets = [*self.params.values(), *self.buffers.values()]
        weights = list(weights)
        if len(weights) != len(targets):
            raise ValueError(f"{self.describe()}.set_weights expected {len(targets)} arrays, got {len(weights)}")
        for i, (target, value) in enumerate(zip(targets, weights)):
            value = backend.namespace(target).asarray(backend.to_numpy(value))
            if value.shape != target.shape:
                raise ValueError(f"{self.describe()}.set_weights: array {i} should have shape {target.shape}, "
                                 f"got {value.shape}")
            target[...] = value

    def get_config(self) -> dict:
        """The constructor arguments that rebuild this layer (JSON-serialisable)."""
        config = {"name": self.name, "dtype": None if self.dtype is None else self.dtype.name}
        if not self.trainable:
            config["trainable"] = False
        return config

    @classmethod
    def from_config(cls, config: dict) -> Layer:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k not in ("name", "dtype"))
        return f"{type(self).__name__}({args})"


class KernelLayer(Layer):
    """Base of the layers with a kernel, an optional bias and an optional activation (Dense, Conv2D).

    Called on its own, the layer applies its activation; ``Sequential`` lists the activation as a layer
    of its own right after it (so the summary, the ONNX graph and the ReLU/MaxPool plan see it).
    """

    def __init__(self, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, name=None, dtype=None, trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        from . import activations
        self.activation = None if activation in (None, "linear") else activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        if kernel_regularizer is not None:
            self.regularizers = {"kernel": regularizers.get(kernel_regularizer)}

    def build(self, input_shape, rng=None):
        output_shape = super().build(input_shape, rng)
        if self.activation is not None:
            if self.activation.dtype is None:
                self.activation.dtype = self.dtype
            self.activation.build(output_shape, self.rng)
        return output_shape

    def add_kernel_and_bias(self, kernel_shape: Shape) -> None:
        """Draw the kernel (and the bias, one per output unit = the kernel's last axis)."""
        self.add_param("kernel", self.kernel_initializer(kernel_shape, self.rng, self.dtype))
        if self.use_bias:
            self.add_param("bias", self.bias_initializer((kernel_shape[-1],), self.rng, self.dtype))

    def activate(self, z, training):
        """y = activation(z), when the layer has one."""
        return z if self.activation is None else self.activation.forward(z, training=training)

    def activate_backward(self, grad_out):
        """dLoss/dz from dLoss/dy, through the activation when the layer has one."""
        return grad_out if self.activation is None else self.activation.backward(grad_out)

    def clear_cache(self):
        super().clear_cache()
        if self.activation is not None:
            self.activation.clear_cache()

    def get_config(self):
        config = {**super().get_config(), "use_bias": self.use_bias,
                  "kernel_initializer": initializers.serialize(self.kernel_initializer),
                  "bias_initializer": initializers.serialize(self.bias_initializer)}
        if self.activation is not None:
            config["activation"] = activation_name(self.activation)
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


def activation_name(layer: Layer):
    """An activation layer as it is written in a config: its name, or {"class_name", "config"}."""
    from .activations import ACTIVATIONS
    config = {k: v for k, v in layer.get_config().items() if k not in ("name", "dtype")}
    for name, cls in ACTIVATIONS.items():
        if type(layer) is cls and not config:
            return name
    return {"class_name": type(layer).__name__, "config": config}
