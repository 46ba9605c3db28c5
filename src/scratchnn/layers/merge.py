"""Merge layers: several inputs, one output (Add, Subtract, Multiply, Average, Maximum, Concatenate), and
Residual, the shorthand y = x + block(x) for Sequential users.

A merge layer is called on a list: ``layers.Add()([a, b])``. Its forward takes a list of arrays and its
backward returns a list of gradients, one per input (the functional model adds the gradients of a tensor
used by several layers). The input shapes come batch excluded, as for every layer; the error for inputs
that do not fit names both shapes: ``Add 'add' got (None, 16) and (None, 32)``.
"""
from __future__ import annotations

from collections.abc import MutableMapping

from .. import backend
from ..backend import namespace
from ..registry import layer_class
from .base import Layer, register


def _none_shape(shape) -> str:
    return "(" + ", ".join(["None", *map(str, shape)]) + ")"


class Merge(Layer):
    """Base of the layers that take a list of inputs of one shape and combine them element by element."""

    multiple_inputs = True
    min_inputs = 2
    max_inputs: int | None = None

    def __call__(self, inputs, training: bool = False):
        """``Add()([a, b])``: build on the first call from the inputs' shapes, then forward."""
        if not self.built and isinstance(inputs, (list, tuple)) and \
                not any(getattr(x, "is_symbolic", False) for x in inputs):
            self.build([tuple(x.shape[1:]) for x in inputs], backend.make_rng(None))
        return super().__call__(inputs, training)

    def build(self, input_shape, rng=None):
        """input_shape: a list with one shape (batch excluded) per input."""
        shapes = self._check_shapes(input_shape)
        self.input_shape = shapes
        self.output_shape = tuple(self.compute_output_shape(shapes))
        if self.dtype is None:
            self.dtype = backend.floatx()
        self.rng = backend.make_rng(rng)
        self.built = True
        return self.output_shape

    def _check_shapes(self, input_shape) -> list:
        if not isinstance(input_shape, (list, tuple)) or not all(isinstance(s, (list, tuple)) for s in input_shape):
            raise ValueError(f"{self.describe()} takes a list of inputs, e.g. {type(self).__name__}()([a, b]); "
                             f"got one input of shape {input_shape!r}")
        count = len(input_shape)
        if count < self.min_inputs or (self.max_inputs is not None and count > self.max_inputs):
            wanted = (f"exactly {self.min_inputs}" if self.max_inputs == self.min_inputs
                      else f"at least {self.min_inputs}")
            raise ValueError(f"{self.describe()} takes {wanted} inputs, got {count}")
        return [tuple(int(d) for d in s) for s in input_shape]

    def compute_output_shape(self, input_shape):
        shapes = self._check_shapes(input_shape)
        for shape in shapes[1:]:
            if shape != shapes[0]:
                raise ValueError(f"{self.describe()} got {_none_shape(shapes[0])} and {_none_shape(shape)}: "
                                 f"the inputs of {type(self).__name__} must have the same shape")
        return shapes[0]

    def compute_mask(self, inputs, masks=None):
        """The output's padding mask (Embedding(mask_zero=True)) in a functional model: a step is real where
        it is real in every input that has a mask (tf.keras's rule); None when no input has one."""
        given = [m for m in masks or () if m is not None]
        if not given:
            return None
        combined = given[0]
        for mask in given[1:]:
            combined = combined & mask
        return combined

    def check_input(self, inputs) -> None:
        if not isinstance(inputs, (list, tuple)) or len(inputs) != len(self.input_shape):
            got = f"{len(inputs)} arrays" if isinstance(inputs, (list, tuple)) else "one array"
            raise ValueError(f"{self.describe()} expected a list of {len(self.input_shape)} arrays, got {got}")
        for x, shape in zip(inputs, self.input_shape):
            if tuple(x.shape[1:]) != shape:
                raise ValueError(f"{self.describe()} expected inputs of shapes "
                                 f"{', '.join(_none_shape(s) for s in self.input_shape)}, got "
                                 f"{', '.join(_none_shape(x.shape[1:]) for x in inputs)}")


@register
class Add(Merge):
    """y = x_1 + x_2 + ... + x_k;  dL/dx_i = dL/dy (each input gets the output's gradient)."""

    def forward(self, inputs, training=False):
        self.check_input(inputs)
        y = inputs[0] + inputs[1]                                       # a new array: the sums go into it
        for x in inputs[2:]:
            y += x
        return y

    def backward(self, grad_out, input_grad=True):
        return [grad_out] * len(self.input_shape) if input_grad else None       # dx_i = dy


@register
class Subtract(Merge):
    """y = x_1 - x_2 (exactly two inputs);  dL/dx_1 = dL/dy, dL/dx_2 = -dL/dy."""

    max_inputs = 2

    def forward(self, inputs, training=False):
        self.check_input(inputs)
        return inputs[0] - inputs[1]

    def backward(self, grad_out, input_grad=True):
        return [grad_out, -grad_out] if input_grad else None


@register
class Multiply(Merge):
    """y = x_1 * x_2 * ... * x_k (element by element);  dL/dx_i = dL/dy * prod_{j != i} x_j."""

    def forward(self, inputs, training=False):
        self.check_input(inputs)
        y = inputs[0] * inputs[1]
        for x in inputs[2:]:
            y *= x
        self.remember(training, tuple(inputs))
        return y

    def backward(self, grad_out, input_grad=True):
        (inputs,) = self.recall()
        if not input_grad:
            return None
        grads = []
        for i in range(len(inputs)):
            grad = grad_out
            for j, x in enumerate(inputs):                            # the product of the others (no division:
                if j != i:                                             # exact where an input is 0)
                    grad = grad * x
            grads.append(grad)
        return grads


@register
class Average(Merge):
    """y = (x_1 + ... + x_k) / k;  dL/dx_i = dL/dy / k."""

    def forward(self, inputs, training=False):
        self.check_input(inputs)
        y = inputs[0] + inputs[1]
        for x in inputs[2:]:
            y += x
        y /= len(inputs)
        return y

    def backward(self, grad_out, input_grad=True):
        if not input_grad:
            return None
        return [grad_out / len(self.input_shape)] * len(self.input_shape)     # dx_i = dy / k


@register
class Maximum(Merge):
    """y = max(x_1, ..., x_k) element by element;  dL/dx_i = dL/dy where x_i is the maximum, else 0.

    Where inputs tie, the first of them is the maximum (as MaxPooling2D's first element of a window).
    """

    def forward(self, inputs, training=False):
        self.check_input(inputs)
        xp = namespace(inputs[0])
        stacked = xp.stack(inputs)
        winner = xp.argmax(stacked, axis=0)                            # the first maximum on ties
        self.remember(training, winner)
        return xp.max(stacked, axis=0)

    def backward(self, grad_out, input_grad=True):
        (winner,) = self.recall()
        if not input_grad:
            return None
        return [grad_out * (winner == i) for i in range(len(self.input_shape))]    # dx_i = dy [x_i is max]


@register
class Concatenate(Merge):
    """y = [x_1, x_2, ..., x_k] joined along ``axis``;  dL/dx_i = the slice of dL/dy that x_i filled.

    Args:
        axis: the axis of the full shape, batch included (-1: the last, as Keras); not the batch axis.
    """

    def __init__(self, axis: int = -1, name=None, dtype=None, trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"Concatenate: axis must be an int, got {axis!r}")
        self.axis = axis

    def _axis(self, rank: int) -> int:
        """The axis within a sample's shape (batch excluded) for samples of ``rank`` axes."""
        axis = self.axis + rank + 1 if self.axis < 0 else self.axis
        if not 1 <= axis <= rank:
            raise ValueError(f"{self.describe()}: axis {self.axis} is not an axis of inputs of {rank + 1} axes "
                             "(batch included) other than the batch axis")
        return axis - 1

    def compute_output_shape(self, input_shape):
        shapes = self._check_shapes(input_shape)
        axis = self._axis(len(shapes[0]))
        for shape in shapes[1:]:
            if len(shape) != len(shapes[0]) or any(a != b for k, (a, b) in enumerate(zip(shape, shapes[0]))
                                                   if k != axis):
                raise ValueError(f"{self.describe()} got {_none_shape(shapes[0])} and {_none_shape(shape)}: the "
                                 f"inputs must have the same shape except on axis {self.axis}")
        joined = list(shapes[0])
        joined[axis] = sum(shape[axis] for shape in shapes)
        return tuple(joined)

    def forward(self, inputs, training=False):
        self.check_input(inputs)
        return namespace(inputs[0]).concatenate(inputs, axis=self._axis(len(self.input_shape[0])) + 1)

    def compute_mask(self, inputs, masks=None):
        """Joined along the time axis (or another but the last), the masks are joined too, an input without one
        counting as all real; joined along the features, a step is real where every input's mask says so."""
        rank = len(self.input_shape[0])
        if masks is None or all(m is None for m in masks) or self._axis(rank) == rank - 1:
            return super().compute_mask(inputs, masks)
        xp = namespace(inputs[0])
        full = [xp.ones(x.shape[:-1], dtype=bool) if m is None else m for x, m in zip(inputs, masks)]
        return xp.concatenate(full, axis=self._axis(rank) + 1)

    def backward(self, grad_out, input_grad=True):
        if not input_grad:
            return None
        axis = self._axis(len(self.input_shape[0]))
        grads, start = [], 0
        for shape in self.input_shape:                                 # dx_i = dy[..., start_i:start_i + n_i]
            index = (slice(None),) * (axis + 1) + (slice(start, start + shape[axis]),)
            grads.append(grad_out[index])
            start += shape[axis]
        return grads

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class _Joined(MutableMapping):
    """The arrays of several layers seen as one dict, keyed "index.name" (Residual's params, grads, ...)."""

    def __init__(self, owners):
        self.owners = owners                           # [(prefix, dict)]: the inner layers' own dicts

    def _find(self, key):
        prefix, _, name = key.partition(".")
        for owner_prefix, arrays in self.owners:
            if owner_prefix == prefix and name in arrays:
                return arrays, name
        raise KeyError(key)

    def __getitem__(self, key):
        arrays, name = self._find(key)
        return arrays[name]

    def __setitem__(self, key, value):                 # zero_grad / accumulate write through to the inner layer
        arrays, name = self._find(key)
        arrays[name] = value

    def __delitem__(self, key):
        raise TypeError("Residual's arrays belong to its inner layers")

    def __iter__(self):
        return (f"{prefix}.{name}" for prefix, arrays in self.owners for name in arrays)

    def __len__(self):
        return sum(len(arrays) for _, arrays in self.owners)


@register
class Residual(Layer):
    """y = x + block(x): a residual connection inside a Sequential (He et al. 2015).

    ``block`` is a layer or a list of layers applied in order; it must give outputs of the input's shape.
    Backward: dL/dx = dL/dy + block.backward(dL/dy) (the identity path and the block's path, added).

    Args:
        block: a Layer or a list of Layers. Their parameters appear here as "0.kernel", "1.bias", ...
            (the index of the inner layer, then its own name); a frozen inner layer's are buffers.

    >>> from scratchnn import layers
    >>> block = Residual([layers.Dense(8, activation="relu"), layers.Dense(8)])
    >>> block.build((8,), rng=0)
    (8,)
    """

    def __init__(self, block, name=None, dtype=None, trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        inner = list(block) if isinstance(block, (list, tuple)) else [block]
        if not inner or not all(isinstance(layer, Layer) and not layer.multiple_inputs for layer in inner):
            raise TypeError(f"Residual: block must be a layer or a non-empty list of single-input layers, "
                            f"got {block!r}")
        self.block = inner

    def build(self, input_shape, rng=None):
        super().build(input_shape, rng)
        shape = self.input_shape
        for layer in self.block:
            if layer.dtype is None:
                layer.dtype = self.dtype
            shape = layer.build(shape, self.rng) if not layer.built else layer.output_shape
        if tuple(shape) != self.input_shape:
            raise ValueError(f"{self.describe()}: the block maps {_none_shape(self.input_shape)} to "
                             f"{_none_shape(shape)}; y = x + block(x) needs the same shape (end the block with "
                             f"a layer giving {_none_shape(self.input_shape)})")
        owned = list(enumerate(self.block))
        self.params = _Joined([(str(i), layer.params) for i, layer in owned if layer.trainable])
        self.grads = _Joined([(str(i), layer.grads) for i, layer in owned if layer.trainable])
        self.buffers = _Joined([(str(i), arrays) for i, layer in owned
                                for arrays in ((layer.buffers,) if layer.trainable else (layer.params, layer.buffers))])
        self.regularizers = _Joined([(str(i), layer.regularizers) for i, layer in owned if layer.trainable])
        return self.output_shape

    @property
    def rng(self):
        return self._rng

    @rng.setter
    def rng(self, generator):
        """The inner layers draw from the Residual's generator (a loaded model points both at its own)."""
        self._rng = generator
        for layer in self.block:
            if layer.built:
                layer.rng = generator

    def forward(self, x, training=False):
        self.check_input(x)
        h = x
        for layer in self.block:
            h = layer.forward(h, training=training)
        return x + h                                                   # y = x + block(x)

    def backward(self, grad_out, input_grad=True):
        grad = grad_out
        for k in range(len(self.block) - 1, -1, -1):
            grad = self.block[k].backward(grad, input_grad=input_grad or k > 0)
        return grad_out + grad if input_grad else None                 # dx = dy + dblock(x)/dx^T dy

    def accumulate(self, name, value):
        prefix, _, inner = name.partition(".")
        self.block[int(prefix)].accumulate(inner, value)

    def zero_grad(self):
        for layer in self.block:
            layer.zero_grad()

    def settle_grads(self):
        for layer in self.block:
            layer.settle_grads()

    def clear_cache(self):
        super().clear_cache()
        for layer in self.block:
            layer.clear_cache()

    def get_config(self):
        return {**super().get_config(),
                "block": [{"class_name": type(layer).__name__, "config": layer.get_config()} for layer in self.block]}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["block"] = [layer_class(entry["class_name"]).from_config(entry["config"]) for entry in config["block"]]
        return cls(**config)


__all__ = ["Merge", "Add", "Subtract", "Multiply", "Average", "Maximum", "Concatenate", "Residual"]
