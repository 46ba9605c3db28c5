"""Pooling layers: max and average over windows of channels-last images, and over the whole image.

Windowed pooling loops over the ph * pw offsets inside a window (4 for the usual 2x2), each a strided slice
of the input holding that offset of every window at once. On NumPy, MaxPooling2D runs
``backend.kernels_cpu.max_pool_forward`` / ``max_pool_backward`` (the same numbers, the winners kept as a
mask, the batch split over threads).
"""
from __future__ import annotations

import math

from ..backend import is_numpy, kernels_cpu, namespace
from .base import Layer, register
from .conv import as_pair, check_image_shape, check_padding, offset_slice, window_geometry


class Pooling2D(Layer):
    """Shared geometry of MaxPooling2D and AveragePooling2D: pool_size, strides (default pool_size), padding."""

    sample_rank = 3                                         # images (H, W, C)

    pad_value = 0.0

    def __init__(self, pool_size=2, strides=None, padding="valid", name=None, dtype=None, trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        owner = type(self).__name__
        self.pool_size = as_pair("pool_size", pool_size, owner)
        self.strides = self.pool_size if strides is None else as_pair("strides", strides, owner)
        self.padding = check_padding(padding, owner)

    def compute_output_shape(self, input_shape):
        owner = type(self).__name__
        check_image_shape(input_shape, owner)
        rows = window_geometry(input_shape[0], self.pool_size[0], self.strides[0], self.padding, owner, "pool")
        cols = window_geometry(input_shape[1], self.pool_size[1], self.strides[1], self.padding, owner, "pool")
        self.pads = (rows[1:], cols[1:])
        return rows[0], cols[0], input_shape[2]

    def shape_hint(self, got):
        return ": add a channel axis, x[..., None]" if len(got) == 2 else ""

    def pad(self, x):
        (top, bottom), (left, right) = self.pads
        if top == bottom == left == right == 0:
            return x
        return namespace(x).pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=self.pad_value)

    def offsets(self):
        """For each offset (a, b) inside a window, the index of that element of every window."""
        out_h, out_w, _ = self.output_shape
        return [(slice(None), offset_slice(a, self.strides[0], out_h), offset_slice(b, self.strides[1], out_w))
                for a in range(self.pool_size[0]) for b in range(self.pool_size[1])]

    def unpad(self, grad_padded):
        (top, _), (left, _) = self.pads
        height, width, _ = self.input_shape
        return grad_padded[:, top:top + height, left:left + width]

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding}


@register
class MaxPooling2D(Pooling2D):
    """y[n, i, j, c] = max of x over the window under (i, j); "same" pads with -inf (padding never wins).

    Backward routes each output's gradient to one input: the first maximum of its window in row-major
    order (as PyTorch does for ties).
    """

    pad_value = -math.inf

    def forward(self, x, training=False):
        self.check_input(x)
        xp = namespace(x)
        x_padded = self.pad(x)
        if is_numpy(xp) and kernels_cpu.enabled("max_pool"):
            records = self.records(training)                            # as remember() decides
            y, mask = kernels_cpu.max_pool_forward(self, x_padded, with_mask=records)
            self.remember(training, "fast", mask, x_padded.shape)
            return y
        offsets = self.offsets()
        y = x_padded[offsets[0]]
        for index in offsets[1:]:
            y = xp.maximum(y, x_padded[index])                          # y = max over the window
        self.remember(training, "reference", (x_padded, y), x_padded.shape)
        return y

    def backward(self, grad_out, input_grad=True):
        path, saved, padded_shape = self.recall()
        if path == "fast":
            return self.unpad(kernels_cpu.max_pool_backward(self, grad_out, saved, padded_shape))
        xp = namespace(grad_out)
        x_padded, y = saved
        grad_padded = xp.zeros(padded_shape, dtype=grad_out.dtype)
        unrouted = xp.ones(y.shape, dtype=bool)
        for index in self.offsets():
            winner = (x_padded[index] == y) & unrouted                  # the first maximum of the window
            unrouted = unrouted & ~winner
            grad_padded[index] += grad_out * winner                     # dX[argmax] += dY
        return self.unpad(grad_padded)


class WindowAverage:
    """The average pool's math over any number of window axes (AveragePooling1D and AveragePooling2D): the
    layer gives ``pad``, ``offsets`` (one slice of the padded input per window position) and ``unpad``."""

    def counts(self, xp, dtype):
        """The number of elements of x (not padding) in each window: (*output window axes, 1)."""
        ones = self.pad(xp.ones((1, *self.input_shape[:-1], 1), dtype=dtype))
        return sum(ones[index] for index in self.offsets())[0]

    def forward(self, x, training=False):
        self.check_input(x)
        x_padded = self.pad(x)
        offsets = self.offsets()
        total = x_padded[offsets[0]]
        for index in offsets[1:]:
            total = total + x_padded[index]
        self.remember(training, x_padded.shape)
        return total / self.counts(namespace(x), x.dtype)               # y = sum over window / count

    def backward(self, grad_out, input_grad=True):
        (padded_shape,) = self.recall()
        xp = namespace(grad_out)
        grad_padded = xp.zeros(padded_shape, dtype=grad_out.dtype)
        share = grad_out / self.counts(xp, grad_out.dtype)
        for index in self.offsets():
            grad_padded[index] += share                                 # dX[window] += dY / count
        return self.unpad(grad_padded)


@register
class AveragePooling2D(WindowAverage, Pooling2D):
    """y[n, i, j, c] = mean of x over the window under (i, j); with "same" the mean is over the input
    elements only (the padding is not counted), as TensorFlow does (the math: WindowAverage)."""


class GlobalPooling2D(Layer):
    sample_rank = 3                                         # images (H, W, C)

    def compute_output_shape(self, input_shape):
        check_image_shape(input_shape, type(self).__name__)
        return (input_shape[2],)

    def shape_hint(self, got):
        return ": add a channel axis, x[..., None]" if len(got) == 2 else ""


@register
class GlobalAveragePooling2D(GlobalPooling2D):
    """(N, H, W, C) -> (N, C): y[n, c] = mean over i, j of x[n, i, j, c]."""

    def forward(self, x, training=False):
        self.check_input(x)
        self.remember(training)
        return namespace(x).mean(x, axis=(1, 2))                        # y = mean over H, W

    def backward(self, grad_out, input_grad=True):
        self.recall()
        xp = namespace(grad_out)
        height, width, _ = self.input_shape
        share = (grad_out / (height * width))[:, None, None, :]         # dX = dY / (H W) everywhere
        return xp.asarray(xp.broadcast_to(share, (len(grad_out), *self.input_shape)), copy=True)


@register
class GlobalMaxPooling2D(GlobalPooling2D):
    """(N, H, W, C) -> (N, C): y[n, c] = max over i, j of x[n, i, j, c]; the gradient goes to the first
    maximum in row-major order."""

    def forward(self, x, training=False):
        self.check_input(x)
        xp = namespace(x)
        pixels = xp.reshape(x, (len(x), -1, x.shape[-1]))
        winner = xp.argmax(pixels, axis=1)                              # the first maximum of each channel
        self.remember(training, winner)
        return xp.max(pixels, axis=1)                                   # y = max over H, W

    def backward(self, grad_out, input_grad=True):
        (winner,) = self.recall()
        xp = namespace(grad_out)
        height, width, _ = self.input_shape
        hit = xp.arange(height * width)[None, :, None] == winner[:, None, :]
        grad_pixels = hit * grad_out[:, None, :]                        # dX[argmax] = dY
        return xp.reshape(grad_pixels, (len(grad_out), *self.input_shape))
