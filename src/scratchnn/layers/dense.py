"""Dense: the fully connected layer of seed 004, y = x @ kernel + bias."""
import numpy as np

from .. import backend
from .base import KernelLayer, check_positive_int, register


@register
class Dense(KernelLayer):
    r"""Fully connected layer: :math:`y = x W + b`.

    Args:
        units: number of output features (positive int).
        activation: optional activation name or layer; ``Sequential`` appends it as its own layer.
        use_bias: add the learnable bias ``b`` (default True).
        kernel_initializer: name or Initializer for ``W`` (default ``"glorot_uniform"``:
            U(-a, a), a = sqrt(6 / (in + out))); bias_initializer likewise (default ``"zeros"``).
        kernel_regularizer: optional penalty on ``W`` (added to the loss and to the gradient).

    Shapes: input (N, in), output (N, units); kernel (in, units), bias (units,).

    Example::

        >>> layer = Dense(3); layer.build((4,), rng=0); layer.forward(np.ones((2, 4))).shape
        (2, 3)
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, name=None, dtype=None):
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer, name, dtype)
        self.units = check_positive_int("units", units, "Dense")

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 1:
            raise ValueError(f"Dense expected input of shape (N, features), got (N, "
                             f"{', '.join(map(str, input_shape))}): add a Flatten layer first")
        return (self.units,)

    def build(self, input_shape, rng=None):
        super().build(input_shape, rng)
        self.add_kernel_and_bias((input_shape[0], self.units))
        return self.output_shape

    def shape_hint(self, got):
        return ": add a Flatten layer first" if len(got) > 1 else ""

    def forward(self, x, training=False):
        self.check_input(x)
        self.cache["x"] = x
        y = backend.matmul(x, self.params["kernel"])                    # Y = X @ W + b
        if self.use_bias:
            y += self.params["bias"]
        return y

    def backward(self, grad_out, input_grad=True):
        x = self.cache["x"]
        if len(x) == 1:                                                 # one sample: an outer product,
            np.multiply(x.T, grad_out, out=self.grads["kernel"])        # 2x faster than matmul
        else:
            backend.matmul_at(x, grad_out, self.grads["kernel"])        # dW = X.T @ dY
        if self.use_bias:
            np.sum(grad_out, axis=0, out=self.grads["bias"])            # db = sum over batch of dY
        if not input_grad:
            return None
        return backend.matmul(grad_out, self.params["kernel"].T)        # dX = dY @ W.T

    def get_config(self):
        return {**super().get_config(), "units": self.units}
