"""Dense: the fully connected layer of seed 004, y = x @ kernel + bias, on the last axis."""
from __future__ import annotations

from ..backend import namespace
from .base import KernelLayer, check_positive_int, register


@register
class Dense(KernelLayer):
    r"""Fully connected layer on the last axis: :math:`y = x W + b`.

    Args:
        units: number of output features (positive int).
        activation: optional activation name or layer, applied after the product.
        use_bias: add the learnable bias ``b`` (default True).
        kernel_initializer: name or Initializer for ``W`` (default ``"glorot_uniform"``:
            U(-a, a), a = sqrt(6 / (in + out))); bias_initializer likewise (default ``"zeros"``).
        kernel_regularizer: optional penalty on ``W`` (added to the loss and to the gradient).

    Shapes: input (N, ..., in), output (N, ..., units) (every leading axis is kept, as in Keras and
    PyTorch); kernel (in, units), bias (units,).

    Example::

        >>> import numpy as np
        >>> layer = Dense(3, activation="relu"); layer.build((5, 4), rng=0)
        (5, 3)
        >>> layer(np.ones((2, 5, 4), dtype="float32")).shape
        (2, 5, 3)
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, name=None, dtype=None, trainable=True):
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer, name,
                         dtype, trainable)
        self.units = check_positive_int("units", units, "Dense")

    def compute_output_shape(self, input_shape):
        if len(input_shape) < 1:
            raise ValueError("Dense expected input of shape (N, ..., features), got (N): "
                             "add a feature axis, x[:, None]")
        return (*input_shape[:-1], self.units)

    def build(self, input_shape, rng=None):
        super().build(input_shape, rng)
        self.add_kernel_and_bias((input_shape[-1], self.units))
        return self.output_shape

    def shape_hint(self, got):
        flat = 1
        for d in got:
            flat *= d
        return ": add a Flatten layer first" if len(got) > 1 and flat == self.input_shape[-1] else ""

    def forward(self, x, training=False):
        self.check_input(x)
        y = x @ self.params["kernel"]                                   # Y = X @ W + b
        if self.use_bias:
            y += self.params["bias"]
        self.remember(training, x)
        return self.activate(y, training)

    def backward(self, grad_out, input_grad=True):
        grad_out = self.activate_backward(grad_out)
        (x,) = self.recall()
        xp = namespace(grad_out)
        rows = xp.reshape(x, (-1, x.shape[-1]))                         # every leading axis is a sample
        grad_rows = xp.reshape(grad_out, (-1, self.units))
        self.accumulate("kernel", rows.T @ grad_rows)                   # dW = X.T @ dY
        if self.use_bias:
            self.accumulate("bias", xp.sum(grad_rows, axis=0))          # db = sum over the batch of dY
        if not input_grad:
            return None
        return grad_out @ self.params["kernel"].T                       # dX = dY @ W.T

    def get_config(self):
        return {**super().get_config(), "units": self.units}
