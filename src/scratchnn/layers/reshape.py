"""Layers that only change the shape of their input."""
import numpy as np

from .base import Layer, register


@register
class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...), in C order (channels-last images flatten pixel by pixel)."""

    def compute_output_shape(self, input_shape):
        return (int(np.prod(input_shape)),)

    def forward(self, x, training=False):
        self.check_input(x)
        return x.reshape(x.shape[0], -1)                # y = x viewed as (N, -1)

    def backward(self, grad_out, input_grad=True):
        return grad_out.reshape((grad_out.shape[0], *self.input_shape))   # dx = dy viewed as x
