"""Conv1D: a 1-D convolution over channels-last sequences (N, steps, channels), as one matrix multiply.

The same algorithm as Conv2D (layers/conv.py) along one axis: the windows of the padded sequence are gathered
as the rows of a patch matrix (im2col), multiplied by the kernel, and the patch gradients are added back
where their windows read the input (col2im). The time axis adds one padding, "causal": zeros on the left
only, so that output t sees inputs up to t and never after it (WaveNet's convolutions, Keras's ``causal``).
"""
from __future__ import annotations

from ..backend import integer_types, namespace
from .base import KernelLayer, check_positive_int, register
from .conv import check_padding, offset_slice

PADDINGS_1D = ("valid", "same", "causal")


def as_int(name, value, owner):
    """An int or a one-element tuple / list of one (Keras writes kernel_size=(3,)) -> a positive int."""
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, integer_types) or value <= 0:
        raise ValueError(f"{owner}: {name} must be a positive integer (or a tuple of one), got {value!r}")
    return int(value)


def check_padding_1d(padding, owner, allowed=PADDINGS_1D):
    """conv.check_padding with the 1-D paddings ("causal" too, where the layer allows it)."""
    return check_padding(padding, owner, allowed)


def check_sequence_shape(input_shape, owner):
    """Sequence layers take (N, steps, channels); a missing channel axis gets a hint on how to add it."""
    if len(input_shape) != 2:
        hint = ": add a channel axis, x[..., None]" if len(input_shape) == 1 else ""
        raise ValueError(f"{owner} expected input of shape (N, steps, channels), got "
                         f"(N, {', '.join(map(str, input_shape))}){hint}")


def sequence_geometry(steps, window, stride, padding, owner, what="kernel"):
    """(output length, pad before, pad after) along the time axis.

    valid:  out = floor((steps - window) / stride) + 1, no padding.
    same:   out = ceil(steps / stride), pad_total = max((out - 1) * stride + window - steps, 0), the odd
            step of padding at the end (TensorFlow's rule, as Conv2D).
    causal: window - 1 zeros before the first step and none after: out = ceil(steps / stride), and output
            t reads the inputs t * stride - (window - 1) ... t * stride.
    """
    if padding == "causal":
        return (steps - 1) // stride + 1, window - 1, 0
    if padding == "valid":
        if window > steps:
            raise ValueError(f"{owner}: the {what} spans {window} steps, more than the input's {steps}: "
                             f"use padding='same' or a smaller {what}")
        return (steps - window) // stride + 1, 0, 0
    out = -(-steps // stride)
    pad_total = max((out - 1) * stride + window - steps, 0)
    return out, pad_total // 2, pad_total - pad_total // 2


@register
class Conv1D(KernelLayer):
    r"""1-D convolution (cross-correlation, as in Keras and PyTorch) of channels-last sequences.

    .. math:: y[n, t, f] = b[f] + \sum_{a, c} x_p[n, t s + a d, c]\, W[a, c, f]

    where x_p is x zero-padded as ``padding`` says. As one matrix multiply: the windows of x_p are the rows
    of a patch matrix P (im2col), ``Y = P @ W.reshape(-1, filters) + b``. Backward: ``dW = P.T @ dY``,
    ``db = sum dY``, ``dP = dY @ W.T``, each patch gradient added back where its window read x (col2im).

    Args:
        filters: number of output channels.
        kernel_size, strides, dilation_rate: positive ints (or tuples of one).
        padding: ``"valid"`` (none), ``"same"`` (output length ceil(steps / stride), the odd step of padding
            at the end) or ``"causal"`` ((kernel_size - 1) * dilation_rate zeros on the left only: output t
            depends on inputs up to t, never later ones).
        activation, use_bias, kernel_initializer (default ``"glorot_uniform"``), bias_initializer
        (``"zeros"``), kernel_regularizer: as in Dense.

    Shapes: input (N, steps, C_in), output (N, steps_out, filters); kernel (kernel_size, C_in, filters)
    (Keras's layout; PyTorch's nn.Conv1d weight is its transpose (filters, C_in, kernel_size)).

    Example::

        >>> layer = Conv1D(8, 3, padding="causal", dilation_rate=2); layer.build((20, 1), rng=0)
        (20, 8)
    """

    sample_rank = 2                                         # sequences (T, features)

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, name=None, dtype=None, trainable=True):
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer, name,
                         dtype, trainable)
        self.filters = check_positive_int("filters", filters, "Conv1D")
        self.kernel_size = as_int("kernel_size", kernel_size, "Conv1D")
        self.strides = as_int("strides", strides, "Conv1D")
        self.padding = check_padding_1d(padding, "Conv1D")
        self.dilation_rate = as_int("dilation_rate", dilation_rate, "Conv1D")

    @property
    def span(self):
        """The steps one window covers: (kernel_size - 1) * dilation_rate + 1."""
        return (self.kernel_size - 1) * self.dilation_rate + 1

    def compute_output_shape(self, input_shape):
        check_sequence_shape(input_shape, "Conv1D")
        steps, before, after = sequence_geometry(input_shape[0], self.span, self.strides, self.padding, "Conv1D")
        self.pads = (before, after)
        return steps, self.filters

    def build(self, input_shape, rng=None):
        super().build(input_shape, rng)
        self.add_kernel_and_bias((self.kernel_size, input_shape[1], self.filters))
        return self.output_shape

    def shape_hint(self, got):
        return ": add a channel axis, x[..., None]" if len(got) == 1 else ""

    def pad(self, x):
        """x between the zeros ``padding`` asks for (x itself for "valid")."""
        before, after = self.pads
        if before == after == 0:
            return x
        return namespace(x).pad(x, ((0, 0), (before, after), (0, 0)))

    def im2col(self, x_padded):
        """Patches (N * steps_out, kernel_size * C_in): row (n, t) holds the window under output t, gathered
        one kernel offset a at a time: P[n, t, a, :] = x_p[n, t s + a d, :]."""
        xp = namespace(x_padded)
        n, _, channels = x_padded.shape
        steps = self.output_shape[0]
        offsets = [x_padded[:, offset_slice(a * self.dilation_rate, self.strides, steps)]
                   for a in range(self.kernel_size)]
        return xp.reshape(xp.stack(offsets, axis=2), (n * steps, self.kernel_size * channels))

    def col2im(self, grad_patches, padded_shape):
        """dX: each patch gradient added back where its window read x (one slice-add per kernel offset)."""
        xp = namespace(grad_patches)
        n, steps = padded_shape[0], self.output_shape[0]
        grad_patches = xp.reshape(grad_patches, (n, steps, self.kernel_size, -1))
        grad_padded = xp.zeros(padded_shape, dtype=grad_patches.dtype)
        for a in range(self.kernel_size):                               # dX_p[window a] += dP[.., a, :]
            grad_padded[:, offset_slice(a * self.dilation_rate, self.strides, steps)] += grad_patches[:, :, a]
        before = self.pads[0]
        return grad_padded[:, before:before + self.input_shape[0]]

    def forward(self, x, training=False):
        self.check_input(x)
        xp = namespace(x)
        x_padded = self.pad(x)                                          # x_p = x between its zeros
        patches = self.im2col(x_padded)                                 # P: one row per output step
        kernel = xp.reshape(self.params["kernel"], (-1, self.filters))
        y = patches @ kernel                                            # Y = P @ W + b
        if self.use_bias:
            y = y + self.params["bias"]
        self.remember(training, patches, x_padded.shape)
        return self.activate(xp.reshape(y, (len(x), *self.output_shape)), training)

    def backward(self, grad_out, input_grad=True):
        grad_out = self.activate_backward(grad_out)
        patches, padded_shape = self.recall()
        xp = namespace(grad_out)
        grad_rows = xp.reshape(grad_out, (-1, self.filters))
        kernel = xp.reshape(self.params["kernel"], (-1, self.filters))
        self.accumulate("kernel", xp.reshape(patches.T @ grad_rows, self.params["kernel"].shape))  # dW = P.T dY
        if self.use_bias:
            self.accumulate("bias", xp.sum(grad_rows, axis=0))          # db = sum of dY
        if not input_grad:
            return None
        return self.col2im(grad_rows @ kernel.T, padded_shape)          # dP = dY @ W.T, then col2im

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "dilation_rate": self.dilation_rate}
