"""Layers that only change the shape of their input."""
from __future__ import annotations

import math

from ..backend import namespace
from .base import Layer, register, shape_str


@register
class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...), in C order (channels-last images flatten pixel by pixel)."""

    def compute_output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def forward(self, x, training=False):
        self.check_input(x)
        return namespace(x).reshape(x, (x.shape[0], -1))                        # y = x viewed as (N, -1)

    def backward(self, grad_out, input_grad=True):
        return namespace(grad_out).reshape(grad_out, (grad_out.shape[0], *self.input_shape))   # dx = dy as x


@register
class Reshape(Layer):
    """(N, *input_shape) -> (N, *target_shape), in C order; one entry of target_shape may be -1 (inferred)."""

    def __init__(self, target_shape, name=None, dtype=None, trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        if not isinstance(target_shape, (tuple, list)) or not all(
                isinstance(d, int) and not isinstance(d, bool) and (d > 0 or d == -1)
                for d in target_shape):
            raise ValueError(f"Reshape: target_shape must be a tuple of positive ints (one may be -1), "
                             f"got {target_shape!r}")
        if list(target_shape).count(-1) > 1:
            raise ValueError(f"Reshape: only one entry of target_shape may be -1, got {tuple(target_shape)}")
        self.target_shape = tuple(int(d) for d in target_shape)

    def compute_output_shape(self, input_shape):
        size = math.prod(input_shape)
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape and size % known == 0:
            return tuple(size // known if d == -1 else d for d in self.target_shape)
        if known != size or -1 in self.target_shape:
            raise ValueError(f"Reshape: cannot reshape inputs of shape {shape_str(input_shape)} "
                             f"({size} values per sample) to {shape_str(self.target_shape)}")
        return self.target_shape

    def forward(self, x, training=False):
        self.check_input(x)
        return namespace(x).reshape(x, (len(x), *self.output_shape))    # y = x viewed as (N, *target_shape)

    def backward(self, grad_out, input_grad=True):
        return namespace(grad_out).reshape(grad_out, (len(grad_out), *self.input_shape))   # dx = dy as x

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}
