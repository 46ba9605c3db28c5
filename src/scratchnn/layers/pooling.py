"""Pooling layers: max and average over windows of channels-last images, and over the whole image.

Windowed pooling loops over the ph * pw offsets inside a window (4 for the usual 2x2), each a strided view
of the input holding that offset of every window at once. On (128, 26, 26, 32) float32 this measured
faster than a max over two axes of a (N, H/2, 2, W/2, 2, C) view.
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided

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
    order (as PyTorch does for ties). The forward pass keeps that choice as a boolean mask in the shape of
    the windows, (N, H_out, ph, W_out, pw, C); when the windows tile the input (strides = pool_size),
    that mask lies over the input itself and the backward pass is one product, dX = dY * mask.
    """

    pad_value = -np.inf

    def window_view(self, array, writeable=False):
        """(N, H_out, ph, W_out, pw, C): element [n, i, a, j, b, c] is at offset (a, b) of window (i, j)."""
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        out_h, out_w, _ = self.output_shape
        s_n, s_h, s_w, s_c = array.strides
        return as_strided(array, shape=(len(array), out_h, ph, out_w, pw, array.shape[3]),
                          strides=(s_n, s_h * sh, s_h, s_w * sw, s_w, s_c), writeable=writeable)

    def forward(self, x, training=False):
        self.check_input(x)
        x_padded = self.pad(x)
        windows = self.window_view(x_padded)
        (ph, pw) = self.pool_size
        later = [(a, b) for a in range(ph) for b in range(pw)][1:]
        y = np.empty((len(x), *self.output_shape), dtype=x.dtype)
        mask = np.empty(windows.shape, dtype=bool)

        def pool(rows):
            window_rows, y_rows, mask_rows = windows[rows], y[rows], mask[rows]
            np.copyto(y_rows, window_rows[:, :, 0, :, 0])
            for a, b in later:
                np.maximum(y_rows, window_rows[:, :, a, :, b], out=y_rows)      # y = max over the window
            np.equal(window_rows, y_rows[:, :, None, :, None], out=mask_rows)
            if np.count_nonzero(mask_rows) == y_rows.size and not np.isnan(y_rows).any():
                return                                                          # one maximum per window
            seen = mask_rows[:, :, 0, :, 0].copy()
            for k, (a, b) in enumerate(later):                                  # keep the first maximum
                winner = mask_rows[:, :, a, :, b]
                np.greater(winner, seen, out=winner)
                if k < len(later) - 1:
                    seen |= winner

        backend.parallel_rows(pool, len(x), x_padded.size)
        self.cache = {"mask": mask, "padded_shape": x_padded.shape}
        return y

    def backward(self, grad_out, input_grad=True):
        mask = self.cache["mask"]
        grad_padded = np.empty(self.cache["padded_shape"], dtype=grad_out.dtype)
        (ph, pw), (out_h, out_w, _) = self.pool_size, self.output_shape
        tiled = self.strides == self.pool_size
        windows = self.window_view(grad_padded, writeable=True)
        offsets = self.offsets()

        def route(rows):
            grad_rows, grad_in = grad_out[rows][:, :, None, :, None], grad_padded[rows]
            if tiled:                                                   # dX = dY * mask over the windows
                np.multiply(grad_rows, mask[rows], out=windows[rows])
                grad_in[:, out_h * ph:] = 0                             # rows and columns no window covers
                grad_in[:, :, out_w * pw:] = 0
                return
            grad_in.fill(0)
            for k, index in enumerate(offsets):                         # overlapping windows add up
                grad_in[index] += grad_rows[:, :, 0, :, 0] * mask[rows][:, :, k // pw, :, k % pw]

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
