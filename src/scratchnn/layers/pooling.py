"""Pooling layers: max and average over windows of channels-last images, and over the whole image.

Windowed pooling loops over the ph * pw offsets inside a window (4 for the usual 2x2), each a strided view
of the input holding that offset of every window at once. On (128, 26, 26, 32) float32 this measured
faster than a reshape to (N, H/2, 2, W/2, 2, C) followed by max over two axes.
"""
import numpy as np

from .. import backend
from .base import Layer, register
from .conv import as_pair, check_image_shape, check_padding, offset_slice, window_geometry


class Pooling2D(Layer):
    """Shared geometry of MaxPooling2D and AveragePooling2D: pool_size, strides (default pool_size), padding."""

    pad_value = 0.0

    def __init__(self, pool_size=2, strides=None, padding="valid", name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
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
        return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=self.pad_value)

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

    pad_value = -np.inf

    def forward(self, x, training=False):
        self.check_input(x)
        x_padded = self.pad(x)
        offsets = self.offsets()
        y = np.empty((len(x), *self.output_shape), dtype=x.dtype)

        def pool(rows):
            x_rows, y_rows = x_padded[rows], y[rows]
            np.copyto(y_rows, x_rows[offsets[0]])
            for index in offsets[1:]:
                np.maximum(y_rows, x_rows[index], out=y_rows)           # y = max over the window

        backend.parallel_rows(pool, len(x), x_padded.size)
        self.cache = {"x_padded": x_padded, "y": y}
        return y

    def backward(self, grad_out, input_grad=True):
        x_padded, y = self.cache["x_padded"], self.cache["y"]
        grad_padded = np.empty(x_padded.shape, dtype=grad_out.dtype)
        offsets = self.offsets()
        overlapping = any(s < p for s, p in zip(self.strides, self.pool_size))
        # without overlap, and with windows that tile the whole input, each element is written exactly once
        tiled = not overlapping and all(
            size == out * p for size, out, p in zip(x_padded.shape[1:3], self.output_shape, self.pool_size))

        def route(rows):
            x_rows, y_rows, grad_rows, grad_in = x_padded[rows], y[rows], grad_out[rows], grad_padded[rows]
            if not tiled:
                grad_in.fill(0)
            unrouted = None
            for k, index in enumerate(offsets):                         # dX[first argmax of a window] = dY
                if unrouted is None:
                    winner = np.equal(x_rows[index], y_rows)
                    unrouted = ~winner
                elif k == len(offsets) - 1:
                    winner = unrouted                                   # what is left is at the last offset
                else:
                    winner = np.equal(x_rows[index], y_rows)
                    winner &= unrouted
                    unrouted ^= winner
                if overlapping:
                    grad_in[index] += grad_rows * winner
                else:
                    np.multiply(grad_rows, winner, out=grad_in[index])

        backend.parallel_rows(route, len(grad_out), grad_padded.size)
        return self.unpad(grad_padded)


@register
class AveragePooling2D(Pooling2D):
    """y[n, i, j, c] = mean of x over the window under (i, j); with "same" the mean is over the input
    elements only (the padding is not counted), as TensorFlow does."""

    def build(self, input_shape, rng=None):
        super().build(input_shape, rng)
        ones = self.pad(np.ones((1, *input_shape[:2], 1), dtype=self.dtype))
        self.counts = sum(ones[index] for index in self.offsets())[0]  # elements of x in each window
        return self.output_shape

    def forward(self, x, training=False):
        self.check_input(x)
        x_padded = self.pad(x)
        offsets = self.offsets()
        total = x_padded[offsets[0]].copy()
        for index in offsets[1:]:
            total += x_padded[index]
        self.cache = {"padded_shape": x_padded.shape}
        return total / self.counts.astype(total.dtype)                  # y = sum over window / count

    def backward(self, grad_out, input_grad=True):
        grad_padded = np.zeros(self.cache["padded_shape"], dtype=grad_out.dtype)
        share = grad_out / self.counts.astype(grad_out.dtype)
        for index in self.offsets():
            grad_padded[index] += share                                 # dX[window] += dY / count
        return self.unpad(grad_padded)


class GlobalPooling2D(Layer):
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
        return x.mean(axis=(1, 2))                                      # y = mean over H, W

    def backward(self, grad_out, input_grad=True):
        height, width, _ = self.input_shape
        grad_input = np.empty((len(grad_out), *self.input_shape), dtype=grad_out.dtype)
        grad_input[...] = (grad_out / (height * width))[:, None, None, :]   # dX = dY / (H W) everywhere
        return grad_input


@register
class GlobalMaxPooling2D(GlobalPooling2D):
    """(N, H, W, C) -> (N, C): y[n, c] = max over i, j of x[n, i, j, c]; the gradient goes to the first
    maximum in row-major order."""

    def forward(self, x, training=False):
        self.check_input(x)
        pixels = x.reshape(len(x), -1, x.shape[-1])
        winner = pixels.argmax(axis=1)[:, None, :]
        self.cache = {"winner": winner}
        return np.take_along_axis(pixels, winner, axis=1)[:, 0]         # y = max over H, W

    def backward(self, grad_out, input_grad=True):
        height, width, channels = self.input_shape
        grad_pixels = np.zeros((len(grad_out), height * width, channels), dtype=grad_out.dtype)
        np.put_along_axis(grad_pixels, self.cache["winner"], grad_out[:, None, :], axis=1)   # dX[argmax] = dY
        return grad_pixels.reshape(len(grad_out), *self.input_shape)
