"""Conv2DTranspose: the adjoint of Conv2D ("deconvolution"), which upsamples channels-last images.

A Conv2D gathers windows of its input (im2col) and multiplies them by the kernel; its transpose multiplies
each input pixel by the kernel and *adds* the product into the window it came from (col2im). The two window
helpers here, ``gather_windows`` and ``scatter_windows``, are each other's adjoint and are shared with
DepthwiseConv2D / SeparableConv2D (layers/depthwise.py).
"""
from __future__ import annotations

from ..backend import namespace
from .base import KernelLayer, check_positive_int, register
from ..validation import check_non_negative_int
from .conv import as_pair, check_image_shape, check_padding, offset_slice


def gather_windows(x_padded, out_hw, strides, dilation, kernel_size):
    """W[n, i, j, a * kw + b, :] = x_p[n, i s_h + a d_h, j s_w + b d_w, :]  -> (N, H_out, W_out, kh * kw, C)."""
    xp = namespace(x_padded)
    (out_h, out_w), (sh, sw), (dh, dw), (kh, kw) = out_hw, strides, dilation, kernel_size
    return xp.stack([x_padded[:, offset_slice(a * dh, sh, out_h), offset_slice(b * dw, sw, out_w)]
                     for a in range(kh) for b in range(kw)], axis=3)


def scatter_windows(windows, padded_shape, strides, dilation, kernel_size):
    """The adjoint of gather_windows: each window value is added back where gather_windows read it."""
    xp = namespace(windows)
    _, out_h, out_w, _, _ = windows.shape
    (sh, sw), (dh, dw), (kh, kw) = strides, dilation, kernel_size
    canvas = xp.zeros(padded_shape, dtype=windows.dtype)
    for a in range(kh):
        for b in range(kw):
            canvas[:, offset_slice(a * dh, sh, out_h), offset_slice(b * dw, sw, out_w)] += windows[:, :, :, a * kw + b]
    return canvas


def transpose_geometry(size, span, stride, padding, output_padding):
    """(output length, crop start, canvas length) along one axis, as Keras's ``deconv_output_length``.

    The full scatter covers ``full = (size - 1) * stride + span`` pixels. Keras's output length:
      output_padding None:  valid: size * stride + max(span - stride, 0);  same: size * stride
      output_padding p:     (size - 1) * stride + span - 2 * pad + p, pad = span // 2 ("same") or 0
    The output is the window [start, start + out) of the full scatter (zero-extended past its end), where
    start is the top / left padding of the Conv2D whose transpose this is (TensorFlow's "same" rule).
    """
    full = (size - 1) * stride + span
    if output_padding is None:
        out = size * stride + (max(span - stride, 0) if padding == "valid" else 0)
    else:
        out = full - 2 * (span // 2 if padding == "same" else 0) + output_padding
    start = max(full - out, 0) // 2 if padding == "same" else 0
    return out, start, max(full, start + out)


@register
class Conv2DTranspose(KernelLayer):
    r"""Transposed 2-D convolution of channels-last images (Keras's Conv2DTranspose, PyTorch's ConvTranspose2d).

    .. math:: z[n, i s_h + u d_h, j s_w + v d_w, f] \mathrel{+}= \sum_c x[n, i, j, c]\, W[u, v, f, c],
              \qquad y = z[:, t : t + H_{out},\ l : l + W_{out}] + b

    i.e. every input pixel stamps the kernel, weighted by its channels, into an output canvas z, which is
    then cropped (or zero-extended) to Keras's output size (see ``transpose_geometry``). This is exactly
    the adjoint of Conv2D with the same kernel, strides, padding and dilation:
    ``<Conv2D(x), y> = <x, Conv2DTranspose(y)>``. As matrix products: rows X (N H W, C_in),
    ``Z_cols = X @ W_m.T`` with W_m = W reshaped (kh kw F, C_in), scattered into the canvas (col2im).
    Backward: dZ = dY placed in a zero canvas, gathered into windows G (im2col, (N H W, kh kw F));
    ``dX = G @ W_m``, ``dW_m = G.T @ X``, ``db = sum dY``.

    Args:
        filters: output channels. kernel_size, strides, dilation_rate: an int or a pair.
        padding: "valid" or "same" (output size = input size * stride).
        output_padding: None, an int or a pair: the extra rows / columns of Keras's formula (each smaller than
            the stride, or than the dilation, as PyTorch allows).
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer: as in Conv2D.

    Shapes: input (N, H, W, C_in), output (N, H_out, W_out, filters); kernel (kh, kw, filters, C_in).
    """

    sample_rank = 3                                         # images (H, W, C)

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, dilation_rate=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, name=None, dtype=None, trainable=True):
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer, name,
                         dtype, trainable)
        owner = "Conv2DTranspose"
        self.filters = check_positive_int("filters", filters, owner)
        self.kernel_size = as_pair("kernel_size", kernel_size, owner)
        self.strides = as_pair("strides", strides, owner)
        self.padding = check_padding(padding, owner)
        self.dilation_rate = as_pair("dilation_rate", dilation_rate, owner)
        self.output_padding = None
        if output_padding is not None:
            pair = (output_padding, output_padding) if not isinstance(output_padding, (tuple, list)) \
                else tuple(output_padding)
            if len(pair) != 2:
                raise ValueError(f"{owner}: output_padding must be None, an int or a pair, got {output_padding!r}")
            pair = tuple(check_non_negative_int("output_padding", p, owner) for p in pair)
            for p, s, d in zip(pair, self.strides, self.dilation_rate):
                if not 0 <= p < max(s, d):
                    raise ValueError(f"{owner}: output_padding must be >= 0 and smaller than the stride (or the "
                                     f"dilation), got output_padding={output_padding!r}, strides={self.strides}")
            self.output_padding = pair

    def compute_output_shape(self, input_shape):
        check_image_shape(input_shape, "Conv2DTranspose")
        spans = [(k - 1) * d + 1 for k, d in zip(self.kernel_size, self.dilation_rate)]
        extras = self.output_padding or (None, None)
        rows, cols = (transpose_geometry(size, span, stride, self.padding, extra)
                      for size, span, stride, extra in zip(input_shape[:2], spans, self.strides, extras))
        self.crops = ((rows[1], cols[1]), (rows[2], cols[2]))         # (top, left), canvas (height, width)
        return rows[0], cols[0], self.filters

    def build(self, input_shape, rng=None):
        super().build(input_shape, rng)
        self.add_param("kernel", self.kernel_initializer((*self.kernel_size, self.filters, input_shape[2]), self.rng,
                                                         self.dtype))
        if self.use_bias:
            self.add_param("bias", self.bias_initializer((self.filters,), self.rng, self.dtype))
        return self.output_shape

    def shape_hint(self, got):
        return ": add a channel axis, x[..., None]" if len(got) == 2 else ""

    def kernel_matrix(self):
        """W_m: the kernel (kh, kw, F, C_in) as a (kh kw F, C_in) matrix."""
        return namespace(self.params["kernel"]).reshape(self.params["kernel"], (-1, self.input_shape[2]))

    def forward(self, x, training=False):
        self.check_input(x)
        xp = namespace(x)
        n, height, width, channels = x.shape
        out_h, out_w, filters = self.output_shape
        (top, left), canvas_hw = self.crops
        rows = xp.reshape(x, (n * height * width, channels))                       # X: one row per input pixel
        stamps = xp.reshape(rows @ self.kernel_matrix().T,                           # X @ W_m.T: each pixel's stamp
                            (n, height, width, self.kernel_size[0] * self.kernel_size[1], filters))
        canvas = scatter_windows(stamps, (n, *canvas_hw, filters), self.strides, self.dilation_rate,
                                 self.kernel_size)                                   # z: stamps added (col2im)
        y = canvas[:, top:top + out_h, left:left + out_w]                            # y = crop of z (+ b)
        if self.use_bias:
            y = y + self.params["bias"]
        self.remember(training, rows)
        return self.activate(y, training)

    def backward(self, grad_out, input_grad=True):
        grad_out = self.activate_backward(grad_out)
        xp = namespace(grad_out)
        (rows,) = self.recall()
        n = grad_out.shape[0]
        height, width, channels = self.input_shape
        out_h, out_w, filters = self.output_shape
        (top, left), canvas_hw = self.crops
        grad_canvas = xp.zeros((n, *canvas_hw, filters), dtype=grad_out.dtype)
        grad_canvas[:, top:top + out_h, left:left + out_w] = grad_out                # dZ: dY inside the canvas
        windows = gather_windows(grad_canvas, (height, width), self.strides, self.dilation_rate, self.kernel_size)
        grads = xp.reshape(windows, (n * height * width, -1))                        # G (im2col of dZ)
        self.accumulate("kernel", xp.reshape(grads.T @ rows, self.params["kernel"].shape))   # dW_m = G.T @ X
        if self.use_bias:
            self.accumulate("bias", xp.sum(grad_out, axis=(0, 1, 2)))                # db = sum dY
        if not input_grad:
            return None
        return xp.reshape(grads @ self.kernel_matrix(), (n, height, width, channels))   # dX = G @ W_m

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding,
                "output_padding": None if self.output_padding is None else list(self.output_padding),
                "dilation_rate": list(self.dilation_rate)}
