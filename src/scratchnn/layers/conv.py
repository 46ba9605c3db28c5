"""Conv2D: a 2-D convolution over channels-last images, as one matrix multiply over an im2col view.

This file is the reference a learner reads. On NumPy, ``backend.kernels_cpu.conv2d_forward`` /
``conv2d_backward`` compute the same numbers (tested equal in float64) in cache-sized chunks split over
threads; see docs/performance.md for what that earns.
"""
from __future__ import annotations

from ..backend import integer_types, is_numpy, kernels_cpu, namespace
from .base import KernelLayer, check_positive_int, register

PADDINGS = ("valid", "same")


def as_pair(name, value, owner):
    """An int or a pair of ints -> a pair of positive ints (kernel_size=3 means (3, 3))."""
    pair = (value, value) if isinstance(value, integer_types) and not isinstance(value, bool) else value
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise ValueError(f"{owner}: {name} must be a positive integer or a pair of them, got {value!r}")
    return tuple(check_positive_int(name, v, owner) for v in pair)


def check_padding(padding, owner, allowed=PADDINGS):
    if not isinstance(padding, str) or padding.lower() not in allowed:
        raise ValueError(f"{owner}: padding must be one of {allowed}, got {padding!r}")
    return padding.lower()


def check_image_shape(input_shape, owner):
    """Image layers take (N, H, W, C); a missing channel axis gets a hint on how to add it."""
    if len(input_shape) != 3:
        hint = ": add a channel axis, x[..., None]" if len(input_shape) == 2 else ""
        raise ValueError(f"{owner} expected input of shape (N, height, width, channels), got "
                         f"(N, {', '.join(map(str, input_shape))}){hint}")


def window_geometry(size, window, stride, padding, owner, what="kernel"):
    """(output length, pad before, pad after) along one axis; "same" follows TensorFlow's rule.

    valid: out = floor((size - window) / stride) + 1, no padding.
    same:  out = ceil(size / stride), pad_total = max((out - 1) * stride + window - size, 0),
           with the odd element of padding at the end (bottom / right).
    """
    if padding == "valid":
        if window > size:
            raise ValueError(f"{owner}: the {what} spans {window} pixels, more than the input's {size}: "
                             f"use padding='same' or a smaller {what}")
        return (size - window) // stride + 1, 0, 0
    out = -(-size // stride)
    pad_total = max((out - 1) * stride + window - size, 0)
    return out, pad_total // 2, pad_total - pad_total // 2


def offset_slice(offset, stride, count):
    """The positions offset, offset + stride, ... (count of them) along one axis."""
    return slice(offset, offset + stride * (count - 1) + 1, stride)


@register
class Conv2D(KernelLayer):
    r"""2-D convolution (cross-correlation, as in Keras and PyTorch) of channels-last images.

    .. math:: y[n, i, j, f] = b[f] + \sum_{u, v, c} x_p[n, i s_h + u d_h, j s_w + v d_w, c]\, W[u, v, c, f]

    where x_p is x zero-padded ("same") or not ("valid"). Computed as one matrix multiply: the windows
    of x_p are gathered as rows of a patch matrix P (im2col), then ``Y = P @ W.reshape(-1, filters) + b``.
    Backward: ``dW = P.T @ dY``, ``db = sum dY``, ``dP = dY @ W.T``, and each patch gradient is added back
    where its window read x (col2im).

    Args:
        filters: number of output channels.
        kernel_size, strides, dilation_rate: an int or a pair (height, width).
        padding: ``"valid"`` (no padding) or ``"same"`` (output size ceil(in / stride), TensorFlow's rule:
            the extra row / column of padding goes at the bottom / right).
        activation: optional activation, applied after the convolution.
        use_bias, kernel_initializer (default ``"glorot_uniform"``), bias_initializer (``"zeros"``),
        kernel_regularizer: as in Dense.
        groups: split the channels into this many groups (grouped convolution, as in Keras and PyTorch):
            output channels g * F/G ... (g + 1) * F/G - 1 read only input channels g * C/G ... (g + 1) * C/G - 1,
            i.e. Y_g = P_g @ W_g per group, P_g the patches of group g's channels; dW_g = P_g.T @ dY_g,
            dP_g = dY_g @ W_g.T. groups must divide both C_in and filters.

    Shapes: input (N, H, W, C_in), output (N, H_out, W_out, filters); kernel (kh, kw, C_in / groups, filters).

    Example::

        >>> layer = Conv2D(8, 3, padding="same"); layer.build((28, 28, 1), rng=0)
        (28, 28, 8)
    """

    sample_rank = 3                                         # images (H, W, C)

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, groups=1, name=None, dtype=None, trainable=True):
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer, name,
                         dtype, trainable)
        self.filters = check_positive_int("filters", filters, "Conv2D")
        self.groups = check_positive_int("groups", groups, "Conv2D")
        if self.filters % self.groups:
            raise ValueError(f"Conv2D: groups={self.groups} must divide filters={self.filters}")
        self.kernel_size = as_pair("kernel_size", kernel_size, "Conv2D")
        self.strides = as_pair("strides", strides, "Conv2D")
        self.padding = check_padding(padding, "Conv2D")
        self.dilation_rate = as_pair("dilation_rate", dilation_rate, "Conv2D")

    def compute_output_shape(self, input_shape):
        check_image_shape(input_shape, "Conv2D")
        if input_shape[2] % self.groups:
            raise ValueError(f"Conv2D: groups={self.groups} must divide the input's {input_shape[2]} channels")
        span = [(k - 1) * d + 1 for k, d in zip(self.kernel_size, self.dilation_rate)]
        rows = window_geometry(input_shape[0], span[0], self.strides[0], self.padding, "Conv2D")
        cols = window_geometry(input_shape[1], span[1], self.strides[1], self.padding, "Conv2D")
        self.pads = (rows[1:], cols[1:])
        return rows[0], cols[0], self.filters

    def build(self, input_shape, rng=None):
        super().build(input_shape, rng)
        self.add_kernel_and_bias((*self.kernel_size, input_shape[2] // self.groups, self.filters))
        return self.output_shape

    def shape_hint(self, got):
        return ": add a channel axis, x[..., None]" if len(got) == 2 else ""

    def pad(self, x):
        """x inside a zero border of the sizes "same" asks for (x itself for "valid")."""
        (top, bottom), (left, right) = self.pads
        if top == bottom == left == right == 0:
            return x
        return namespace(x).pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))

    def im2col(self, x_padded):
        """Patches (N * H_out * W_out, kh * kw * C_in): row (n, i, j) holds the window under output (i, j),
        gathered one kernel offset (a, b) at a time: P[n, i, j, a, b, :] = x_p[n, i s_h + a d_h, j s_w + b d_w, :]."""
        xp = namespace(x_padded)
        n, _, _, channels = x_padded.shape
        out_h, out_w, _ = self.output_shape
        (sh, sw), (dh, dw), (kh, kw) = self.strides, self.dilation_rate, self.kernel_size
        offsets = [x_padded[:, offset_slice(a * dh, sh, out_h), offset_slice(b * dw, sw, out_w)]
                   for a in range(kh) for b in range(kw)]
        return xp.reshape(xp.stack(offsets, axis=3), (n * out_h * out_w, kh * kw * channels))

    def col2im(self, grad_patches, padded_shape):
        """dX: each patch gradient added back where its window read x (one slice-add per kernel offset)."""
        xp = namespace(grad_patches)
        n = padded_shape[0]
        out_h, out_w, _ = self.output_shape
        (sh, sw), (dh, dw), (kh, kw) = self.strides, self.dilation_rate, self.kernel_size
        grad_patches = xp.reshape(grad_patches, (n, out_h, out_w, kh, kw, -1))
        grad_padded = xp.zeros(padded_shape, dtype=grad_patches.dtype)
        for a in range(kh):
            for b in range(kw):                                         # dX_p[window (a, b)] += dP[.., a, b, :]
                grad_padded[:, offset_slice(a * dh, sh, out_h), offset_slice(b * dw, sw, out_w)] += \
                    grad_patches[:, :, :, a, b]
        (top, _), (left, _) = self.pads
        height, width, _ = self.input_shape
        return grad_padded[:, top:top + height, left:left + width]

    def forward(self, x, training=False):
        self.check_input(x)
        xp = namespace(x)
        if is_numpy(xp) and kernels_cpu.enabled("conv2d") and self.groups == 1:
            y, saved = kernels_cpu.conv2d_forward(self, x, training)
            self.remember(training, "fast", saved)
            return self.activate(y, training)
        x_padded = self.pad(x)                                          # x_p = x inside its zero border
        patches = self.im2col(x_padded)                                 # P: one row per output pixel
        y = self.grouped(patches) if self.groups > 1 \
            else patches @ xp.reshape(self.params["kernel"], (-1, self.filters))      # Y = P @ W + b
        if self.use_bias:
            y = y + self.params["bias"]
        self.remember(training, "reference", (patches, x_padded.shape))
        return self.activate(xp.reshape(y, (len(x), *self.output_shape)), training)

    def backward(self, grad_out, input_grad=True):
        grad_out = self.activate_backward(grad_out)
        path, saved = self.recall()
        if path == "fast":
            grad_input, grad_kernel, grad_bias = kernels_cpu.conv2d_backward(self, grad_out, saved, input_grad)
        else:
            grad_input, grad_kernel, grad_bias = self.reference_backward(grad_out, saved, input_grad)
        self.accumulate("kernel", grad_kernel)
        if self.use_bias:
            self.accumulate("bias", grad_bias)
        return grad_input

    def reference_backward(self, grad_out, saved, input_grad):
        xp = namespace(grad_out)
        patches, padded_shape = saved
        grad_rows = xp.reshape(grad_out, (-1, self.filters))
        if self.groups > 1:
            return self.grouped_backward(patches, grad_rows, padded_shape, input_grad)
        kernel = xp.reshape(self.params["kernel"], (-1, self.filters))
        grad_kernel = xp.reshape(patches.T @ grad_rows, self.params["kernel"].shape)   # dW = P.T @ dY
        grad_bias = xp.sum(grad_rows, axis=0) if self.use_bias else None              # db = sum of dY
        if not input_grad:
            return None, grad_kernel, grad_bias
        return self.col2im(grad_rows @ kernel.T, padded_shape), grad_kernel, grad_bias  # dP = dY @ W.T

    def group_parts(self, patches):
        """Per group g: (P_g (rows, kh kw C/G), W_g (kh kw C/G, F/G), output columns of g)."""
        xp = namespace(patches)
        groups, kernel = self.groups, self.params["kernel"]
        per_group, outputs = kernel.shape[2], self.filters // groups
        windows = xp.reshape(patches, (patches.shape[0], -1, groups, per_group))   # (rows, kh kw, G, C/G)
        for g in range(groups):
            columns = slice(g * outputs, (g + 1) * outputs)
            yield (xp.reshape(windows[:, :, g], (patches.shape[0], -1)),
                   xp.reshape(kernel[..., columns], (-1, outputs)), columns)

    def grouped(self, patches):
        """Y = [P_0 @ W_0, ..., P_{G-1} @ W_{G-1}] (the groups' outputs side by side)."""
        return namespace(patches).concatenate([p @ w for p, w, _ in self.group_parts(patches)], axis=1)

    def grouped_backward(self, patches, grad_rows, padded_shape, input_grad):
        """dW_g = P_g.T @ dY_g, db = sum dY, dP_g = dY_g @ W_g.T (scattered back into group g's channels)."""
        xp = namespace(patches)
        kernel = self.params["kernel"]
        kh, kw, per_group, _ = kernel.shape
        grad_kernel = xp.zeros(kernel.shape, dtype=kernel.dtype)
        grad_patches = xp.zeros((patches.shape[0], kh * kw, self.groups, per_group), dtype=patches.dtype)
        for g, (p, w, columns) in enumerate(self.group_parts(patches)):
            grad_kernel[..., columns] = xp.reshape(p.T @ grad_rows[:, columns], (kh, kw, per_group, -1))
            if input_grad:
                grad_patches[:, :, g] = xp.reshape(grad_rows[:, columns] @ w.T, (-1, kh * kw, per_group))
        grad_bias = xp.sum(grad_rows, axis=0) if self.use_bias else None
        if not input_grad:
            return None, grad_kernel, grad_bias
        grad_patches = xp.reshape(grad_patches, (patches.shape[0], -1))
        return self.col2im(grad_patches, padded_shape), grad_kernel, grad_bias

    def get_config(self):
        config = {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                  "strides": list(self.strides), "padding": self.padding,
                  "dilation_rate": list(self.dilation_rate)}
        if self.groups > 1:
            config["groups"] = self.groups
        return config
