"""Pooling over time: max and average over windows of channels-last sequences, and over the whole sequence.

The 1-D forms of layers/pooling.py: windowed pooling loops over the pool_size offsets inside a window, each
a strided slice of the input holding that offset of every window at once.
"""
from __future__ import annotations

import math

from ..backend import namespace
from .base import Layer, register
from .conv import offset_slice
from .conv1d import as_int, check_padding_1d, check_sequence_shape, sequence_geometry
from .pooling import WindowAverage


class Pooling1D(Layer):
    """Shared geometry of MaxPooling1D and AveragePooling1D: pool_size, strides (default pool_size), padding
    ("valid" or "same", TensorFlow's rule: the odd step of padding at the end)."""

    sample_rank = 2                                         # sequences (T, features)

    pad_value = 0.0

    def __init__(self, pool_size=2, strides=None, padding="valid", name=None, dtype=None, trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        owner = type(self).__name__
        self.pool_size = as_int("pool_size", pool_size, owner)
        self.strides = self.pool_size if strides is None else as_int("strides", strides, owner)
        self.padding = check_padding_1d(padding, owner, ("valid", "same"))

    def compute_output_shape(self, input_shape):
        owner = type(self).__name__
        check_sequence_shape(input_shape, owner)
        steps, before, after = sequence_geometry(input_shape[0], self.pool_size, self.strides, self.padding, owner,
                                                 "pool")
        self.pads = (before, after)
        return steps, input_shape[1]

    def shape_hint(self, got):
        return ": add a channel axis, x[..., None]" if len(got) == 1 else ""

    def pad(self, x):
        before, after = self.pads
        if before == after == 0:
            return x
        return namespace(x).pad(x, ((0, 0), (before, after), (0, 0)), constant_values=self.pad_value)

    def offsets(self):
        """For each offset a inside a window, the index of that element of every window."""
        steps = self.output_shape[0]
        return [(slice(None), offset_slice(a, self.strides, steps)) for a in range(self.pool_size)]

    def unpad(self, grad_padded):
        before = self.pads[0]
        return grad_padded[:, before:before + self.input_shape[0]]

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding}


@register
class MaxPooling1D(Pooling1D):
    """y[n, t, c] = max of x over the window under t; "same" pads with -inf (padding never wins).

    Backward routes each output's gradient to one input: the first maximum of its window (as PyTorch does
    for ties).
    """

    pad_value = -math.inf

    def forward(self, x, training=False):
        self.check_input(x)
        xp = namespace(x)
        x_padded = self.pad(x)
        offsets = self.offsets()
        y = x_padded[offsets[0]]
        for index in offsets[1:]:
            y = xp.maximum(y, x_padded[index])                          # y = max over the window
        self.remember(training, x_padded, y)
        return y

    def backward(self, grad_out, input_grad=True):
        x_padded, y = self.recall()
        xp = namespace(grad_out)
        grad_padded = xp.zeros(x_padded.shape, dtype=grad_out.dtype)
        unrouted = xp.ones(y.shape, dtype=bool)
        for index in self.offsets():
            winner = (x_padded[index] == y) & unrouted                  # the first maximum of the window
            unrouted = unrouted & ~winner
            grad_padded[index] += grad_out * winner                     # dX[argmax] += dY
        return self.unpad(grad_padded)


@register
class AveragePooling1D(WindowAverage, Pooling1D):
    """y[n, t, c] = mean of x over the window under t; with "same" the mean is over the input steps only
    (the padding is not counted), as TensorFlow does (the math: pooling.WindowAverage)."""


class GlobalPooling1D(Layer):
    """(N, steps, C) -> (N, C), or (N, 1, C) with keepdims=True (Keras's argument)."""

    sample_rank = 2                                         # sequences (T, features)

    def __init__(self, keepdims=False, name=None, dtype=None, trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        self.keepdims = bool(keepdims)

    def compute_output_shape(self, input_shape):
        check_sequence_shape(input_shape, type(self).__name__)
        return (1, input_shape[1]) if self.keepdims else (input_shape[1],)

    def shape_hint(self, got):
        return ": add a channel axis, x[..., None]" if len(got) == 1 else ""

    def get_config(self):
        config = super().get_config()
        if self.keepdims:
            config["keepdims"] = True
        return config


@register
class GlobalAveragePooling1D(GlobalPooling1D):
    """y[n, c] = mean over t of x[n, t, c]; with a padding mask (N, steps), the mean over the real steps only
    (Keras's rule; a sample with no real step gives 0)."""

    supports_masking = True

    def forward(self, x, training=False, mask=None):
        self.check_input(x)
        xp = namespace(x)
        if mask is None:
            self.remember(training, None)
            return xp.mean(x, axis=1, keepdims=self.keepdims)           # y = mean over the steps
        real = xp.asarray(mask, dtype=x.dtype)[:, :, None]              # 1 for a real step, 0 for padding
        share = real / xp.maximum(xp.sum(real, axis=1, keepdims=True), 1)
        self.remember(training, share)
        return xp.sum(x * share, axis=1, keepdims=self.keepdims)        # y = sum_t m_t x_t / sum_t m_t

    def backward(self, grad_out, input_grad=True):
        (share,) = self.recall()
        xp = namespace(grad_out)
        steps, channels = self.input_shape
        grad_out = xp.reshape(grad_out, (len(grad_out), 1, channels))
        if share is not None:
            return grad_out * share                                     # dX = dY m_t / sum m
        share = grad_out / steps                                        # dX = dY / steps everywhere
        return xp.asarray(xp.broadcast_to(share, (len(grad_out), steps, channels)), copy=True)


@register
class GlobalMaxPooling1D(GlobalPooling1D):
    """y[n, c] = max over t of x[n, t, c]; the gradient goes to the first maximum."""

    def forward(self, x, training=False):
        self.check_input(x)
        xp = namespace(x)
        winner = xp.argmax(x, axis=1)                                   # the first maximum of each channel
        self.remember(training, winner)
        return xp.max(x, axis=1, keepdims=self.keepdims)                # y = max over the steps

    def backward(self, grad_out, input_grad=True):
        (winner,) = self.recall()
        xp = namespace(grad_out)
        steps, channels = self.input_shape
        hit = xp.arange(steps)[None, :, None] == winner[:, None, :]
        return hit * xp.reshape(grad_out, (len(grad_out), 1, channels))  # dX[argmax] = dY
